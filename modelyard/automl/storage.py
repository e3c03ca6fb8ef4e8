"""Where the Optuna study of a search lives.

One process: in memory. Several processes, or workers on other machines
(``modelyard automl worker --study ID``): in PostgreSQL, by default the tracking database itself,
in a schema of its own (``modelyard_automl``) so Optuna's tables and its Alembic version table never
meet modelyard's. SQLite is refused for parallel searches: concurrent writers from several
processes hit "database is locked", and Optuna's documentation advises against SQLite for parallel
optimization. A trial whose worker dies stops sending heartbeats; once ``grace_period`` seconds
have passed the next worker (or the search's end) marks it FAIL, and its run FAILED.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from typing import Any
from urllib.parse import urlsplit

from modelyard.exceptions import InvalidParameterValue

logger = logging.getLogger(__name__)

SCHEMA = "modelyard_automl"
HEARTBEAT_INTERVAL_S = 10
GRACE_PERIOD_S = 30

_SQLITE_REFUSAL = (
    "parallelism > 1 needs the Optuna study in a database that takes concurrent writers from several "
    "processes; SQLite does not (parallel trials fail with 'database is locked', and Optuna's documentation "
    "advises against SQLite for parallel optimization). Track to PostgreSQL "
    "(MODELYARD_TRACKING_URI=postgresql://...) or pass study_storage='postgresql://...'."
)


def _scheme(uri: str) -> str:
    return urlsplit(uri).scheme.split("+")[0].lower()


def storage_uri(tracking_uri: str, study_storage: str | None, parallelism: int) -> str | None:
    """The database URI of the study, or None for an in-memory one (one process)."""
    if study_storage:
        if _scheme(study_storage) == "sqlite" and parallelism > 1:
            raise InvalidParameterValue(_SQLITE_REFUSAL)
        return study_storage
    if parallelism <= 1:
        return None
    scheme = _scheme(tracking_uri)
    if scheme in ("postgresql", "postgres"):
        return tracking_uri
    if scheme == "sqlite" or "://" not in tracking_uri:
        raise InvalidParameterValue(_SQLITE_REFUSAL)
    raise InvalidParameterValue(
        f"parallelism > 1 needs study_storage='postgresql://...' (the study cannot live in the {scheme} "
        "tracking store itself)"
    )


def _sqlalchemy_url(uri: str) -> str:
    scheme = urlsplit(uri).scheme
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg" + uri[len(scheme):]
    if scheme in ("mysql", "mariadb"):
        return "mysql+pymysql" + uri[len(scheme):]
    return uri


def open_storage(uri: str, *, heartbeat_interval: int, grace_period: int, failed_trial_callback: Any = None) -> Any:
    """An Optuna ``RDBStorage`` on ``uri`` (PostgreSQL: in the ``modelyard_automl`` schema)."""
    import optuna
    import sqlalchemy as sa

    url = _sqlalchemy_url(uri)
    engine_kwargs: dict = {"pool_pre_ping": True}
    if _scheme(uri) in ("postgresql", "postgres"):
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        except sa.exc.IntegrityError:  # two processes created it at once
            pass
        finally:
            engine.dispose()
        engine_kwargs["connect_args"] = {"options": f"-csearch_path={SCHEMA}"}
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.9
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # Optuna 4.9 renamed failed_trial_callback to heartbeat_stale_trial_callback
        callback_arg = (
            "heartbeat_stale_trial_callback"
            if "heartbeat_stale_trial_callback" in inspect.signature(optuna.storages.RDBStorage).parameters
            else "failed_trial_callback"
        )
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            **({callback_arg: failed_trial_callback} if failed_trial_callback else {}),
        )
