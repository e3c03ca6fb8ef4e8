"""Event triggers. ``publish_event(kind, key, payload)`` is the one call: every unpaused job with
a trigger that matches starts a run, once per (job, trigger, event key), whoever publishes and
however often. Other subsystems publish (a feature table's new version, a monitoring alert);
the scheduler publishes what it finds in the registry (new versions, alias moves) and in
watched folders (new files), keyed so that finding the same thing again fires nothing.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from typing import Any

from modelyard.jobs.spec import JobSpec, Trigger

logger = logging.getLogger(__name__)

FIELDS = ("model", "alias", "table")


def matches(trigger: Trigger, kind: str, payload: dict[str, Any]) -> bool:
    if trigger.on == "event":
        return kind == trigger.kind and (trigger.key is None or payload.get("key") == trigger.key)
    if trigger.on != kind:
        return False
    if kind == "file_arrived":
        return payload.get("folder") == trigger.path
    return all(getattr(trigger, f) is None or payload.get(f) == getattr(trigger, f) for f in FIELDS)


def publish(store, jobs: list[tuple[str, JobSpec]], kind: str, key: str, payload: dict[str, Any]) -> list[str]:
    """Start the runs ``(kind, key)`` triggers among ``jobs`` ((job_id, spec) of unpaused jobs)."""
    started = []
    for job_id, spec in jobs:
        for index, trigger in enumerate(spec.triggers):
            if matches(trigger, kind, {**payload, "key": key}):
                run_id = store.fire_event(job_id, index, f"{kind}:{key}", kind, payload)
                if run_id:
                    logger.info("job %s: %s %s started run %s", spec.name, kind, key, run_id)
                    started.append(run_id)
    return started


def scan(registry, ctx, jobs: list[tuple[str, JobSpec, int]]) -> list[tuple[str, str, dict[str, Any]]]:
    """Events found in the registry and in watched folders since each job was deployed:
    (kind, key, payload). Publishing them again is harmless (the event key deduplicates)."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for _job_id, spec, since in jobs:
        for trigger in spec.triggers:
            try:
                found.extend(_scan_one(registry, ctx, trigger, since))
            except Exception as exc:  # a model not registered yet, an unreadable folder
                logger.debug("trigger scan of job %s (%s): %s", spec.name, trigger.on, exc)
    return found


def _scan_one(registry, ctx, trigger: Trigger, since: int):
    if trigger.on == "model_version_created" and trigger.model and registry is not None:
        name = trigger.model.replace("'", "''")
        for mv in registry.search_model_versions(ctx, f"name = '{name}'", max_results=200):
            if (mv.creation_timestamp or 0) >= since:
                yield "model_version_created", f"{mv.name}/{mv.version}", {"model": mv.name, "version": str(mv.version)}
    elif trigger.on == "alias_moved" and trigger.model and registry is not None:
        for ev in registry.get_promotion_history(ctx, trigger.model, alias=trigger.alias, max_results=100):
            if ev.kind == "alias" and ev.action in ("created", "moved") and ev.timestamp >= since:
                yield "alias_moved", f"{ev.name}@{ev.target}#{ev.event_id}", {
                    "model": ev.name, "alias": ev.target, "version": ev.to_version, "from_version": ev.from_version,
                }
    elif trigger.on == "file_arrived" and trigger.path:
        with os.scandir(trigger.path) as entries:
            for entry in entries:
                if entry.is_file() and fnmatch.fnmatch(entry.name, trigger.pattern):
                    st = entry.stat()
                    if st.st_mtime * 1000 >= since:
                        yield "file_arrived", f"{entry.path}@{st.st_mtime_ns}", {
                            "folder": trigger.path, "path": entry.path, "size": st.st_size,
                        }
