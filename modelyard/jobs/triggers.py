"""Event triggers. ``publish_event(kind, key, payload)`` is the one call: every unpaused job with
a trigger that matches starts a run, once per (job, trigger, event key), whoever publishes and
however often. Other subsystems publish (a monitoring alert); the scheduler publishes the
platform's events (the registry's new versions and alias moves, a feature table's new version: it
consumes the kernel's event queue, which the registry and the feature catalog fill in the
transaction of the change) and what it finds in watched folders (new files), keyed so that the
same event again fires nothing.
"""

from __future__ import annotations

import fnmatch
import json
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


def from_registry_event(item_id: int, body: str) -> tuple[str, str, dict[str, Any]] | None:
    """The trigger event (kind, key, payload) of an item of the platform's event queue
    (``store/sql/queue.py: EVENTS_QUEUE``: the registry's new versions and alias moves, feature
    tables' new versions), or None when it starts nothing (an alias set
    to the version it already had). An alias move is keyed by the queue item's id: one move, one key,
    however often the item is claimed."""
    message = json.loads(body)
    event, data = message.get("event"), message.get("data") or {}
    if event == "model_version.created":
        return "model_version_created", f"{data['name']}/{data['version']}", {"model": data["name"], "version": str(data["version"])}
    if event == "feature_table.updated":  # a feature table's new version (store/features/sql.py)
        payload = {"table": data["table"], "version": int(data["version"])}
        payload.update({k: data.get(k) for k in ("operation", "rows_written", "rows_inserted", "rows_updated")})
        return "feature_table_updated", f"{data['table']}@{int(data['version'])}", payload
    if event == "model_version_alias.created" and data.get("previous_version") != data.get("version"):
        return "alias_moved", f"{data['name']}@{data['alias']}#{item_id}", {
            "model": data["name"], "alias": data["alias"], "version": data["version"], "from_version": data.get("previous_version"),
        }
    return None


def scan(jobs: list[tuple[str, JobSpec, int]]) -> list[tuple[str, str, dict[str, Any]]]:
    """New files in the folders ``file_arrived`` triggers watch, since each job was deployed:
    (kind, key, payload). Publishing them again is harmless (the event key deduplicates)."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for _job_id, spec, since in jobs:
        for trigger in spec.triggers:
            if trigger.on != "file_arrived" or not trigger.path:
                continue
            try:
                found.extend(_scan_folder(trigger, since))
            except OSError as exc:  # a folder not there yet, unreadable
                logger.debug("trigger scan of job %s (%s): %s", spec.name, trigger.on, exc)
    return found


def _scan_folder(trigger: Trigger, since: int):
    with os.scandir(trigger.path) as entries:
        for entry in entries:
            if entry.is_file() and fnmatch.fnmatch(entry.name, trigger.pattern):
                st = entry.stat()
                if st.st_mtime * 1000 >= since:
                    yield "file_arrived", f"{entry.path}@{st.st_mtime_ns}", {
                        "folder": trigger.path, "path": entry.path, "size": st.st_size,
                    }
