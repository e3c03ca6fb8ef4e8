"""The process of one ``module:function`` task: import, call with the parameters, write the return
value as JSON next to the log. Forked by the warm task runner (``jobs/prefork.py``:
``run_task(ctx)``), or started as ``python -m modelyard.jobs.child <context.json>``."""

from __future__ import annotations

import importlib
import json
import sys
import traceback


def _libc():
    """libc, loaded once (the warm task runner loads it before it forks: ctypes is slow to import)."""
    global _LIBC
    if _LIBC is None and sys.platform.startswith("linux"):
        import ctypes

        try:
            _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            _LIBC = False
    return _LIBC


_LIBC = None


def _die_with_parent() -> None:
    """Linux: end with the process that supervises this task (a killed worker leaves no orphan)."""
    libc = _libc()
    if libc:
        import signal

        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def main(path: str) -> int:
    with open(path) as f:
        return run_task(json.load(f))


def run_task(ctx: dict) -> int:
    """Run the task ``ctx`` describes (run, params, values, info, cwd, result_path); the exit code."""
    _die_with_parent()
    sys.path.insert(0, ctx["cwd"])
    from modelyard.jobs import context

    context.bind(ctx["values"], ctx["params"], ctx["info"])
    module_name, _, attr = ctx["run"].partition(":")
    try:
        target = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
        result = target(**ctx["params"])
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        return 1
    try:
        text = json.dumps(result)
    except (TypeError, ValueError) as exc:
        sys.stderr.write(f"The task's return value is not JSON: {exc}\n")
        return 1
    with open(ctx["result_path"], "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
