"""Workflows: scheduled and triggered multi-task jobs.

Define a job in YAML or as a dict (``modelyard.jobs.spec``), deploy it (``JobService.deploy``,
``modelyard jobs deploy``), and a scheduler (``modelyard scheduler``) fires it. Inside a task,
``task_value("build")`` is what the upstream task ``build`` returned.
"""

from modelyard.jobs.context import task_info, task_params, task_value

__all__ = ["task_info", "task_params", "task_value"]
