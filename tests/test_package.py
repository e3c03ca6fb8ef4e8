"""The public surface: pinned names, a light import, the error tree, the docs."""

import re
import subprocess
import sys
from pathlib import Path

import modelyard
from modelyard import exceptions
from modelyard.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

EXPECTED_ALL = {
    "ActiveRun", "MlflowClient", "MlflowException", "ModelyardError", "TrackingClient", "ViewType",
    "__version__", "active_run", "autolog", "create_experiment", "delete_experiment", "delete_run", "delete_tag",
    "download_artifacts", "end_run", "flush_async_logging", "get_artifact_uri", "get_experiment", "get_experiment_by_name",
    "get_metric_history", "get_parent_run", "get_run", "get_tracking_uri", "last_active_run",
    "list_artifacts", "log_artifact", "log_artifacts", "log_dict", "log_figure", "log_input",
    "log_metric", "log_metrics", "log_param", "log_params", "log_text", "register_model", "search_experiments",
    "search_runs", "set_experiment", "set_experiment_tag", "set_tag", "set_tags", "set_tracking_uri",
    "start_run", "evaluate", "validate_evaluation_results",
}


def test_all_is_pinned():
    assert set(modelyard.__all__) == EXPECTED_ALL
    for name in modelyard.__all__:
        assert hasattr(modelyard, name), name


def test_import_is_light():
    """`import modelyard` must not pull in SQLAlchemy, pandas, numpy or alembic (start-up time)."""
    code = (
        "import sys, modelyard; "
        "heavy = [m for m in ('sqlalchemy', 'pandas', 'numpy', 'alembic', 'yaml', 'httpx') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_error_tree_codes_and_statuses():
    cases = {
        exceptions.InvalidParameterValue: ("INVALID_PARAMETER_VALUE", 400),
        exceptions.ResourceDoesNotExist: ("RESOURCE_DOES_NOT_EXIST", 404),
        exceptions.ResourceAlreadyExists: ("RESOURCE_ALREADY_EXISTS", 400),
        exceptions.PermissionDenied: ("PERMISSION_DENIED", 403),
        exceptions.Unauthenticated: ("UNAUTHENTICATED", 401),
        exceptions.ModelyardError: ("INTERNAL_ERROR", 500),
    }
    for cls, (code, status) in cases.items():
        err = cls("boom")
        assert (err.error_code, err.http_status) == (code, status)
        assert issubclass(cls, exceptions.ModelyardError)
        assert err.to_dict() == {"error_code": code, "message": "boom"}
    again = exceptions.error_for_code("RESOURCE_DOES_NOT_EXIST", "gone")
    assert isinstance(again, exceptions.ResourceDoesNotExist) and again.message == "gone"
    assert type(exceptions.error_for_code("SOMETHING_NEW", "x")) is exceptions.ModelyardError


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    chapter = readme[readme.index("## Settings\n") : readme.index("\n## ", readme.index("## Settings\n") + 1)]
    parts = re.split(r"^### `(\w+)`$", chapter, flags=re.M)
    by_section = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert list(by_section) == [name for name, _doc in Settings.sections()], "one README heading per section"
    for name, doc in Settings.sections():
        assert doc and doc in by_section[name], f"section {name} has no help text in the README"
    for section, flat, env, _default, help_text in Settings.documented_fields():
        assert help_text.strip(), f"setting {flat} has no help line"
        assert f"| `{env[0]}` |" in by_section[section], f"{env[0]} is missing from the README's {section} table"
        assert f"| `{flat}` |" in by_section[section], f"flag {flat} is missing from the README's {section} table"


def test_settings_precedence_and_coercion():
    env = {"MLFLOW_TRACKING_URI": "sqlite:///a.db", "MODELYARD_SQL_POOL_SIZE": "7", "MODELYARD_SQL_ECHO": "yes"}
    s = Settings.from_env(env)
    assert (s.client.tracking_uri, s.sql.pool_size, s.sql.echo) == ("sqlite:///a.db", 7, True)
    env["MODELYARD_TRACKING_URI"] = "sqlite:///b.db"
    assert Settings.from_env(env).client.tracking_uri == "sqlite:///b.db"
    assert Settings.from_env(env, tracking_uri="sqlite:///c.db").client.tracking_uri == "sqlite:///c.db"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    test_cmd = next(b for b in blocks if "pytest" in b)
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_only_settings_reads_the_environment():
    offenders = []
    for path in (ROOT / "modelyard").rglob("*.py"):
        if path.name == "settings.py" or "cli" in path.parts:
            continue
        text = path.read_text()
        if "os.environ" in text or "os.getenv" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_cli_passes_flags_to_workers_explicitly_not_through_the_environment():
    for path in (ROOT / "modelyard" / "cli").rglob("*.py"):
        text = path.read_text()
        for write in ("os.environ[", "os.environ.update", "os.environ.setdefault", "os.putenv"):
            assert write not in text, f"{path.name} writes the environment ({write})"
