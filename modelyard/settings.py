"""One frozen Settings object, made of frozen sections, built once from the environment.

This is the only module that reads the environment. Precedence, written down once:

    explicit argument (or CLI flag) > ``MODELYARD_*`` variable > ``MLFLOW_*`` variable
    (where MLflow has the same knob) > the default below.

``Settings`` is made of sections, one per subsystem: ``client`` (what a tracking client
connects to and how), ``sql`` (the database kernel), ``artifacts`` (artifact stores),
``server`` (``modelyard server``), ``serving`` (``modelyard models serve``), and the
still-empty ``features``, ``jobs`` and ``auth`` that the next subsystems fill. Read a value as
``settings.<section>.<field>`` (``settings.sql.pool_size``).

Every field has a type, a default, a help line and a *flat name* unique across sections
(``sql_pool_size``): ``Settings.from_env(**flat)`` and ``Settings.defaults(**flat)`` take
overrides by flat name (what CLI flags use), and ``to_flat()`` / ``from_flat()`` carry the
whole object to worker processes without touching ``os.environ``.
``tests/test_package.py`` checks that each field is documented in the README's settings table.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.exceptions import InvalidParameterValue

DEFAULT_DB_FILE = "modelyard.db"
DEFAULT_ARTIFACTS_DIR = "modelyard-artifacts"


def _setting(default: Any, help: str, *env: str, flat: str | None = None) -> Any:
    return field(default=default, metadata={"help": help, "env": env, "flat": flat})


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What a tracking client (the fluent API, ``TrackingClient``, the CLI) talks to, and how."""

    tracking_uri: str | None = _setting(
        None,
        "Where runs are tracked: a database URI (sqlite:///path.db, postgresql://..., mysql://...) "
        "or a server (http://host:port). Unset: the embedded default, a SQLite file "
        f"'{DEFAULT_DB_FILE}' in the working directory.",
        "MODELYARD_TRACKING_URI",
        "MLFLOW_TRACKING_URI",
    )
    experiment_name: str | None = _setting(
        None,
        "Experiment that fluent runs go to when set_experiment was not called.",
        "MODELYARD_EXPERIMENT_NAME",
        "MLFLOW_EXPERIMENT_NAME",
    )
    experiment_id: str | None = _setting(
        None,
        "Experiment id that fluent runs go to when set_experiment was not called.",
        "MODELYARD_EXPERIMENT_ID",
        "MLFLOW_EXPERIMENT_ID",
    )
    run_id: str | None = _setting(
        None,
        "Run that start_run() resumes when no run_id is passed.",
        "MODELYARD_RUN_ID",
        "MLFLOW_RUN_ID",
    )
    user: str | None = _setting(
        None,
        "User name recorded on new runs. Unset: the login name of the process.",
        "MODELYARD_USER",
    )
    truncate_long_values: bool = _setting(
        True,
        "Clients truncate param and tag values longer than the limits (6000 / 8000 characters) "
        "instead of failing, as MLflow's client does.",
        "MODELYARD_TRUNCATE_LONG_VALUES",
        "MLFLOW_TRUNCATE_LONG_VALUES",
    )
    async_logging: bool = _setting(
        False,
        "log_metric, log_param and set_tag queue their data and a background thread sends it in batches "
        "(as MLflow's synchronous=False); flushed on end_run and at exit.",
        "MODELYARD_ASYNC_LOGGING",
        "MLFLOW_ENABLE_ASYNC_LOGGING",
    )
    http_request_timeout: float = _setting(
        120.0,
        "Seconds a client waits for a tracking server's answer.",
        "MODELYARD_HTTP_REQUEST_TIMEOUT",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
    )
    http_request_max_retries: int = _setting(
        5,
        "Retries of a request to a tracking server on 429/5xx and connection errors.",
        "MODELYARD_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    )
    fast_paths: bool = _setting(
        True,
        "Against a modelyard server, use the faster routes it offers in server-info (an Arrow metric "
        "history, a columnar run search, batches of small artifacts); off: MLflow's standard routes "
        "only. Other servers always get the standard routes.",
        "MODELYARD_CLIENT_FAST_PATHS",
    )
    tracking_token: str | None = _setting(
        None,
        "Bearer token sent to a tracking server.",
        "MODELYARD_TRACKING_TOKEN",
        "MLFLOW_TRACKING_TOKEN",
    )
    tracking_username: str | None = _setting(
        None,
        "User name for HTTP basic auth to a tracking server (with the password; a token wins over both).",
        "MODELYARD_TRACKING_USERNAME",
        "MLFLOW_TRACKING_USERNAME",
    )
    tracking_password: str | None = _setting(
        None,
        "Password for HTTP basic auth to a tracking server.",
        "MODELYARD_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_PASSWORD",
    )


@dataclass(frozen=True, slots=True)
class SqlSettings:
    """The SQL kernel: connection pool and SQLite locking, for every domain's tables."""

    pool_size: int = _setting(
        5, "Connections kept open per process to PostgreSQL or MySQL.", "MODELYARD_SQL_POOL_SIZE", flat="sql_pool_size"
    )
    max_overflow: int = _setting(
        10, "Extra connections allowed beyond the pool under load.", "MODELYARD_SQL_MAX_OVERFLOW", flat="sql_max_overflow"
    )
    echo: bool = _setting(False, "Log every SQL statement (debugging).", "MODELYARD_SQL_ECHO", flat="sql_echo")
    sqlite_busy_timeout_ms: int = _setting(
        30_000,
        "How long a SQLite writer waits for another process's lock before failing.",
        "MODELYARD_SQLITE_BUSY_TIMEOUT_MS",
    )


@dataclass(frozen=True, slots=True)
class ArtifactSettings:
    """Artifact stores: where new experiments put artifacts, and how S3 is reached."""

    default_root: str | None = _setting(
        None,
        "Where new experiments keep their artifacts (a folder or a URI). Unset: "
        f"'{DEFAULT_ARTIFACTS_DIR}' in the working directory.",
        "MODELYARD_DEFAULT_ARTIFACT_ROOT",
        flat="default_artifact_root",
    )
    s3_endpoint_url: str | None = _setting(
        None,
        "Endpoint of an S3-compatible store for s3:// artifacts (MinIO, SeaweedFS, ...). Unset: AWS S3. "
        "Credentials and region come from the standard AWS chain (AWS_* variables, ~/.aws).",
        "MODELYARD_S3_ENDPOINT_URL",
        "MLFLOW_S3_ENDPOINT_URL",
    )
    s3_ignore_tls: bool = _setting(
        False,
        "Do not verify the TLS certificate of the S3 endpoint (self-signed test setups only).",
        "MODELYARD_S3_IGNORE_TLS",
        "MLFLOW_S3_IGNORE_TLS",
    )


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The tracking server (``modelyard server``): stores, listening, HTTP guards, webhooks."""

    backend_store_uri: str | None = _setting(
        None,
        "Database the server keeps runs in. Unset: the tracking URI if it names a database, else the "
        "embedded SQLite file.",
        "MODELYARD_BACKEND_STORE_URI",
    )
    serve_artifacts: bool = _setting(
        True,
        "The server proxies artifact uploads and downloads (mlflow-artifacts:/ URIs), so clients need no "
        "storage credentials.",
        "MODELYARD_SERVE_ARTIFACTS",
    )
    artifacts_destination: str | None = _setting(
        None,
        f"Where a serving server stores proxied artifacts (a folder or s3://...). Unset: '{DEFAULT_ARTIFACTS_DIR}'.",
        "MODELYARD_ARTIFACTS_DESTINATION",
    )
    host: str = _setting("127.0.0.1", "Address the server listens on.", "MODELYARD_HOST")
    port: int = _setting(5000, "Port the server listens on.", "MODELYARD_PORT")
    workers: int = _setting(
        0,
        "Server worker processes; 0: one per CPU core the server may use, at most 4 ('mlflow server' starts 4).",
        "MODELYARD_WORKERS",
    )
    allowed_hosts: str | None = _setting(
        None,
        "Comma-separated Host header values the server answers (DNS-rebinding guard); '*' allows any. "
        "Unset: localhost, 127.0.0.1, [::1] and the --host address, any port.",
        "MODELYARD_ALLOWED_HOSTS",
    )
    cors_allowed_origins: str | None = _setting(
        None,
        "Comma-separated origins allowed to call the API from a browser; '*' allows any. Unset: "
        "http://localhost:* and http://127.0.0.1:*.",
        "MODELYARD_CORS_ALLOWED_ORIGINS",
    )
    max_header_bytes: int = _setting(
        64 * 1024,
        "Largest request head the tracking server reads (request line plus headers, in bytes): 414 for a longer request "
        "line, 431 for larger headers (JSON error).",
        "MODELYARD_MAX_HEADER_BYTES",
    )
    max_headers: int = _setting(
        100, "Most header lines in one request the tracking server reads (431 beyond).", "MODELYARD_MAX_HEADERS"
    )
    header_timeout: float = _setting(
        10.0,
        "Seconds a connection of the tracking server has to send a request's headers (from its opening, or from the "
        "first byte of its next request): a silent or dribbling connection is closed (408 if it sent anything).",
        "MODELYARD_HEADER_TIMEOUT",
    )
    keep_alive_timeout: float = _setting(
        30.0,
        "Seconds the tracking server keeps an idle connection open between two requests.",
        "MODELYARD_KEEP_ALIVE_TIMEOUT",
    )
    max_connections: int = _setting(
        1000,
        "Open connections per worker process of the tracking server; a connection past it is answered 503 and closed.",
        "MODELYARD_MAX_CONNECTIONS",
    )
    backlog: int = _setting(
        2048,
        "Connections the operating system queues for the tracking server before they are accepted (listen backlog).",
        "MODELYARD_BACKLOG",
    )
    max_json_body_bytes: int = _setting(
        16 * 1024 * 1024,
        "Largest JSON request body the server accepts (413 beyond).",
        "MODELYARD_MAX_JSON_BODY_BYTES",
    )
    page_token_secret: str | None = _setting(
        None,
        "Key that signs search page tokens; give every host the same one. Unset: 'modelyard server' makes one "
        "up for its workers at start (tokens then end with the server).",
        "MODELYARD_PAGE_TOKEN_SECRET",
    )
    webhook_allow_private_targets: bool = _setting(
        False,
        "Let webhooks call loopback, private and link-local addresses (127.0.0.1, 10.x, 169.254.x, ...). "
        "Off: such targets are refused when a webhook is saved and again at each delivery (SSRF guard).",
        "MODELYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS",
    )
    webhook_timeout: float = _setting(
        10.0, "Seconds a webhook delivery waits for the receiver's answer.", "MODELYARD_WEBHOOK_TIMEOUT"
    )
    webhook_max_attempts: int = _setting(
        5,
        "Attempts per webhook delivery (the first one included) before it is marked FAILED.",
        "MODELYARD_WEBHOOK_MAX_ATTEMPTS",
    )
    webhook_retry_backoff: float = _setting(
        2.0,
        "Seconds before the first retry of a failed webhook delivery; doubles per attempt (capped at 10 "
        "minutes, with jitter).",
        "MODELYARD_WEBHOOK_RETRY_BACKOFF",
    )


@dataclass(frozen=True, slots=True)
class ServingSettings:
    """The scoring server (``modelyard models serve``); flat names are ``serve_<field>``."""

    models: str | None = _setting(
        None,
        "Models the scoring server serves: a model URI, or NAME=URI pairs separated by spaces, or a JSON "
        "object {name: uri}. Set by 'modelyard models serve -m'.",
        "MODELYARD_SERVE_MODELS",
        flat="serve_models",
    )
    timeout: float = _setting(
        60.0,
        "Seconds a scoring request may take before it is answered 504 (the server stays up).",
        "MODELYARD_SERVE_TIMEOUT",
        "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT",
        flat="serve_timeout",
    )
    poll_interval: float = _setting(
        2.0,
        "Seconds between checks of a served alias or stage (models:/name@alias) for a new version; 0 checks "
        "only when a registry webhook arrives.",
        "MODELYARD_SERVE_POLL_INTERVAL",
        flat="serve_poll_interval",
    )
    batching: bool = _setting(
        True,
        "Merge concurrent scoring requests into one predict call when they queue up (adaptive micro-batching).",
        "MODELYARD_SERVE_BATCHING",
        flat="serve_batching",
    )
    max_batch_rows: int = _setting(
        1024,
        "Most rows merged into one predict call by micro-batching.",
        "MODELYARD_SERVE_MAX_BATCH_ROWS",
        flat="serve_max_batch_rows",
    )
    max_wait_ms: float = _setting(
        2.0,
        "Longest a batch waits for requests still being read before it runs (only while requests queue up; "
        "an idle server predicts at once).",
        "MODELYARD_SERVE_MAX_WAIT_MS",
        flat="serve_max_wait_ms",
    )
    max_body_bytes: int = _setting(
        64 * 1024 * 1024,
        "Largest scoring request body accepted (413 beyond).",
        "MODELYARD_SERVE_MAX_BODY_BYTES",
        flat="serve_max_body_bytes",
    )
    max_header_bytes: int = _setting(
        64 * 1024,
        "Largest request head the scoring server reads (request line plus headers, in bytes): 414 for a longer request "
        "line, 431 for larger headers (JSON error).",
        "MODELYARD_SERVE_MAX_HEADER_BYTES", flat="serve_max_header_bytes",
    )
    max_headers: int = _setting(
        100, "Most header lines in one request the scoring server reads (431 beyond).", "MODELYARD_SERVE_MAX_HEADERS", flat="serve_max_headers"
    )
    header_timeout: float = _setting(
        10.0,
        "Seconds a connection of the scoring server has to send a request's headers (from its opening, or from the "
        "first byte of its next request): a silent or dribbling connection is closed (408 if it sent anything).",
        "MODELYARD_SERVE_HEADER_TIMEOUT", flat="serve_header_timeout",
    )
    keep_alive_timeout: float = _setting(
        30.0,
        "Seconds the scoring server keeps an idle connection open between two requests.",
        "MODELYARD_SERVE_KEEP_ALIVE_TIMEOUT", flat="serve_keep_alive_timeout",
    )
    max_connections: int = _setting(
        1000,
        "Open connections per worker process of the scoring server; a connection past it is answered 503 and closed.",
        "MODELYARD_SERVE_MAX_CONNECTIONS", flat="serve_max_connections",
    )
    backlog: int = _setting(
        2048,
        "Connections the operating system queues for the scoring server before they are accepted (listen backlog).",
        "MODELYARD_SERVE_BACKLOG", flat="serve_backlog",
    )
    webhook_secret: str | None = _setting(
        None,
        "Secret of the registry webhook that POSTs to the scoring server's /webhooks/registry: its HMAC "
        "signature is checked (unsigned calls refused). Unset: the endpoint accepts any call (it only "
        "triggers a check of the registry).",
        "MODELYARD_SERVE_WEBHOOK_SECRET",
        flat="serve_webhook_secret",
    )
    warmup: bool = _setting(
        True,
        "Predict a model's saved input example once after loading it, before it answers requests.",
        "MODELYARD_SERVE_WARMUP",
        flat="serve_warmup",
    )
    inference_log: str | None = _setting(
        None,
        "Where the scoring server logs each request and response (opt-in): a folder (Parquet files) or a "
        "database URI (sqlite:///..., postgresql://...; table modelyard_inference_log).",
        "MODELYARD_SERVE_INFERENCE_LOG",
        flat="serve_inference_log",
    )
    inference_log_queue: int = _setting(
        10_000,
        "Records the inference log holds in memory before it drops new ones (counted in /metrics).",
        "MODELYARD_SERVE_INFERENCE_LOG_QUEUE",
        flat="serve_inference_log_queue",
    )
    inference_log_flush_s: float = _setting(
        1.0,
        "Seconds between writes of the inference log.",
        "MODELYARD_SERVE_INFERENCE_LOG_FLUSH_S",
        flat="serve_inference_log_flush_s",
    )
    access_log: bool = _setting(
        True,
        "The scoring server writes one structured (JSON) access-log line per request to stderr.",
        "MODELYARD_SERVE_ACCESS_LOG",
        flat="serve_access_log",
    )

    auth_tokens_file: str | None = _setting(
        None,
        "File of bearer tokens (one per line) a scoring server requires on every route but liveness and "
        "readiness. Unset: no authentication.",
        "MODELYARD_SERVE_AUTH_TOKENS_FILE",
        flat="serve_auth_tokens_file",
    )
    auth_store: str | None = _setting(
        None,
        "Tracking database URI whose API tokens a scoring server accepts as bearer tokens (active, unrevoked, "
        "scoped to models at USE, their user allowed to USE each served registry model); revocations take effect "
        "at the next request. Works beside the tokens file.",
        "MODELYARD_SERVE_AUTH_STORE",
        flat="serve_auth_store",
    )

@dataclass(frozen=True, slots=True)
class FeatureSettings:
    """Feature tables (offline and online stores). Empty until that subsystem lands: its knobs go here,
    flat names prefixed ``features_``, variables ``MODELYARD_FEATURES_*``."""


@dataclass(frozen=True, slots=True)
class JobSettings:
    """Workflows (``modelyard.jobs``): the scheduler inside the server, task logs, the Celery broker."""

    scheduler: bool = _setting(
        False,
        "Run the job scheduler (and the local executor) inside the server (modelyard server --scheduler).",
        "MODELYARD_JOBS_SCHEDULER",
        flat="jobs_scheduler",
    )
    logs_dir: str | None = _setting(
        None,
        "Where task logs are written while job tasks run. Unset: './modelyard-job-logs'.",
        "MODELYARD_JOBS_LOGS_DIR",
        flat="jobs_logs_dir",
    )
    broker_url: str | None = _setting(
        None,
        "Celery broker of the jobs' celery executor (amqp://... or redis://...). Unset: redis://127.0.0.1:6379/0.",
        "MODELYARD_JOBS_BROKER_URL",
        flat="jobs_broker_url",
    )


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Authentication and authorization of the server (``modelyard server --auth``): the admin
    account, the default permission, sessions, sign-in limits and OIDC; flat names prefixed ``auth_``."""

    enabled: bool = _setting(
        False,
        "Authentication and per-resource permissions on the server (`modelyard server --auth`). Off: anyone who reaches the server may do anything.",
        "MODELYARD_AUTH",
        flat="auth_enabled",
    )
    admin_username: str = _setting(
        "admin",
        "Name of the admin account created at the first start with authentication on.",
        "MODELYARD_ADMIN_USERNAME",
        flat="auth_admin_username",
    )
    admin_password: str | None = _setting(
        None,
        "Password of the admin account; required with authentication on (there is no default password).",
        "MODELYARD_ADMIN_PASSWORD", "MLFLOW_AUTH_ADMIN_PASSWORD",
        flat="auth_admin_password",
    )
    default_permission: str = _setting(
        "READ",
        "Permission of a signed-in user on a resource nobody granted them anything on: NO_PERMISSIONS, READ, USE, EDIT or MANAGE.",
        "MODELYARD_AUTH_DEFAULT_PERMISSION",
        flat="auth_default_permission",
    )
    secret_key: str | None = _setting(
        None,
        "Key that signs UI session cookies; give every worker and host the same one. Unset: derived from the admin password.",
        "MODELYARD_AUTH_SECRET_KEY", "MLFLOW_FLASK_SERVER_SECRET_KEY",
        flat="auth_secret_key",
    )
    config_path: str | None = _setting(
        None,
        "MLflow's basic_auth.ini, read for admin_username, admin_password and default_permission not set otherwise.",
        "MODELYARD_AUTH_CONFIG_PATH", "MLFLOW_AUTH_CONFIG_PATH",
        flat="auth_config_path",
    )
    cache_ttl: float = _setting(
        5.0,
        "Seconds a worker reuses a checked credential and a user's grants; any change to users, tokens or grants (a revocation, a new password) drops them in every worker at the next request.",
        "MODELYARD_AUTH_CACHE_TTL",
        flat="auth_cache_ttl",
    )
    min_password_length: int = _setting(
        12,
        "Shortest password accepted.",
        "MODELYARD_AUTH_MIN_PASSWORD_LENGTH",
        flat="auth_min_password_length",
    )
    session_max_age: int = _setting(
        43200,
        "Seconds a UI sign-in lasts.",
        "MODELYARD_AUTH_SESSION_MAX_AGE",
        flat="auth_session_max_age",
    )
    max_failed_signins: int = _setting(
        5,
        "Failed sign-ins per user name and per address within the window before further attempts are refused (counted in the database, across every worker).",
        "MODELYARD_AUTH_MAX_FAILED_SIGNINS",
        flat="auth_max_failed_signins",
    )
    signin_window: int = _setting(
        300,
        "Seconds over which failed sign-ins are counted.",
        "MODELYARD_AUTH_SIGNIN_WINDOW",
        flat="auth_signin_window",
    )
    oidc_discovery_url: str | None = _setting(
        None,
        "OpenID Connect discovery URL of an identity provider (…/.well-known/openid-configuration): the UI offers sign-in with it.",
        "MODELYARD_AUTH_OIDC_DISCOVERY_URL",
        flat="auth_oidc_discovery_url",
    )
    oidc_client_id: str | None = _setting(
        None,
        "Client id of this server at the identity provider.",
        "MODELYARD_AUTH_OIDC_CLIENT_ID",
        flat="auth_oidc_client_id",
    )
    oidc_client_secret: str | None = _setting(
        None,
        "Client secret of this server at the identity provider.",
        "MODELYARD_AUTH_OIDC_CLIENT_SECRET",
        flat="auth_oidc_client_secret",
    )
    oidc_groups_claim: str = _setting(
        "groups",
        "ID-token claim that lists the user's groups.",
        "MODELYARD_AUTH_OIDC_GROUPS_CLAIM",
        flat="auth_oidc_groups_claim",
    )
    oidc_admin_groups: str = _setting(
        "",
        "Comma-separated identity-provider groups whose members are admins.",
        "MODELYARD_AUTH_OIDC_ADMIN_GROUPS",
        flat="auth_oidc_admin_groups",
    )



@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of modelyard, one frozen section per subsystem (see the module docstring)."""

    client: ClientSettings = field(default_factory=ClientSettings)
    sql: SqlSettings = field(default_factory=SqlSettings)
    artifacts: ArtifactSettings = field(default_factory=ArtifactSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    serving: ServingSettings = field(default_factory=ServingSettings)
    features: FeatureSettings = field(default_factory=FeatureSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from the environment (``os.environ`` unless ``environ`` is given);
        keyword arguments, by flat name, win over it."""
        env = os.environ if environ is None else environ
        _check_names(overrides)
        values: dict[str, Any] = {}
        for _section, f, flat in _fields():
            if flat in overrides:
                continue
            for var in f.metadata["env"]:
                raw = env.get(var)
                if raw is not None and raw != "":
                    values[flat] = _coerce(f, raw, var)
                    break
        values.update(overrides)
        return cls.from_flat(values)

    @classmethod
    def defaults(cls, **overrides: Any) -> Settings:
        """Settings from the defaults and the given flat overrides only, never the environment
        (what tests and embedded callers use)."""
        _check_names(overrides)
        return cls.from_flat(overrides)

    @classmethod
    def from_flat(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from a mapping of flat names (``to_flat()``'s output, JSON-safe)."""
        _check_names(values)
        sections: dict[str, dict[str, Any]] = {}
        for section, f, flat in _fields():
            if flat in values:
                sections.setdefault(section.name, {})[f.name] = values[flat]
        kinds = {s.name: s.type_class for s in _sections()}
        return cls(**{name: kinds[name](**kw) for name, kw in sections.items()})

    def to_flat(self) -> dict[str, Any]:
        """Every value by its flat name (JSON-safe), the inverse of ``from_flat``."""
        return {flat: getattr(getattr(self, section.name), f.name) for section, f, flat in _fields()}

    def replace(self, **overrides: Any) -> Settings:
        """A copy with the given flat overrides applied (a CLI flag over loaded settings)."""
        _check_names(overrides)
        return Settings.from_flat({**self.to_flat(), **overrides})

    @classmethod
    def documented_fields(cls) -> list[tuple[str, str, tuple[str, ...], Any, str]]:
        """(section, flat name, environment variables, default, help) for every field."""
        return [
            (section.name, flat, f.metadata["env"], f.default, f.metadata["help"])
            for section, f, flat in _fields()
        ]

    @classmethod
    def flat_paths(cls) -> dict[str, str]:
        """Every flat name and where its value lives: ``{"sql_pool_size": "sql.pool_size", ...}``."""
        return {flat: f"{section.name}.{f.name}" for section, f, flat in _fields()}

    @classmethod
    def sections(cls) -> list[tuple[str, str]]:
        """(section name, docstring) for every section, empty ones included."""
        return [(s.name, " ".join((s.type_class.__doc__ or "").split())) for s in _sections()]


@dataclass(frozen=True)
class _Section:
    name: str
    type_class: type


def _sections() -> list[_Section]:
    return [_Section(f.name, f.default_factory) for f in dataclasses.fields(Settings)]


def _fields() -> Iterator[tuple[_Section, dataclasses.Field, str]]:
    for section in _sections():
        for f in dataclasses.fields(section.type_class):
            yield section, f, f.metadata["flat"] or f.name


def _check_names(values: Mapping[str, Any]) -> None:
    known = {flat for _s, _f, flat in _fields()}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvalidParameterValue(f"unknown setting(s): {', '.join(unknown)}")


def _coerce(f: dataclasses.Field, raw: str, var: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind.startswith("bool"):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise InvalidParameterValue(f"{var} must be true or false, got {raw!r}")
    if kind.startswith("int"):
        try:
            return int(raw)
        except ValueError:
            raise InvalidParameterValue(f"{var} must be an integer, got {raw!r}") from None
    if kind.startswith("float"):
        try:
            return float(raw)
        except ValueError:
            raise InvalidParameterValue(f"{var} must be a number, got {raw!r}") from None
    return raw


def login_name() -> str:
    """The process's login name, for the user recorded on runs: ``getpass.getuser()``'s variables
    (read on every call, as they may change), else the password entry of the process's user (looked
    up once: it cannot change, and the lookup costs more than the rest of ``start_run``'s Python)."""
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        name = os.environ.get(var)
        if name:
            return name
    return _passwd_name()


@functools.cache
def _passwd_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def connection_key(uri: str, settings: Settings) -> tuple[str, ...]:
    """The identity of a connection to ``uri`` under ``settings``: the URI, the credentials (token,
    user name and a hash of the password: never the secrets themselves) and the artifact root of new
    experiments. Every cache of stores, HTTP clients or repositories keys on it, so two clients with
    other credentials never share one."""
    c = settings.client
    secret = hashlib.sha256(
        "\0".join(str(v) for v in (c.tracking_token, c.tracking_username, c.tracking_password)).encode()
    ).hexdigest()
    return (uri, c.tracking_username or "", secret, settings.artifacts.default_root or "")


def environment_snapshot(environ: Mapping[str, str] | None = None) -> tuple[Any, ...]:
    """The values of every variable ``Settings`` reads: a cheap way (a few microseconds, it runs on
    every fluent call) to notice that one of them changed."""
    if environ is None:
        data = getattr(os.environ, "_data", None)  # CPython's raw mapping: no decoding per variable
        if isinstance(data, dict):
            return tuple(map(data.get, _encoded_variables()))
        environ = os.environ
    return tuple(environ.get(var) for var in _all_variables())


@functools.cache
def _all_variables() -> tuple[str, ...]:
    return tuple(var for _section, f, _flat in _fields() for var in f.metadata["env"])


@functools.cache
def _encoded_variables() -> tuple[Any, ...]:
    return tuple(os.environ.encodekey(var) for var in _all_variables())  # type: ignore[attr-defined]
def prefer_passive_openmp() -> None:
    """Let OpenMP threads (LightGBM, XGBoost) sleep between parallel regions instead of spinning,
    unless the user chose otherwise: processes sharing a few cores (AutoML workers) stop stealing
    them from each other. Takes effect for libraries loaded afterwards and for child processes."""
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def library_environment(var: str, value: str | None) -> None:
    """Set (``None``: remove) a variable that a third-party library reads from the environment
    itself, in this process and the ones it starts (prometheus_client's multiprocess folder)."""
    if value is None:
        os.environ.pop(var, None)
    else:
        os.environ[var] = value


def become_environment(env: Mapping[str, str]) -> None:
    """Make ``env`` this process's whole environment: a task forked from the warm runner
    (``jobs/prefork.py``) takes the environment it would have been exec'd with."""
    os.environ.clear()
    os.environ.update(env)


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus ``extra``: what a subprocess (a job's task) starts with."""
    return {**os.environ, **extra}
