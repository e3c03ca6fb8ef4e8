"""Settings: sections, one precedence, flat overrides, and a round trip for worker processes."""

import pytest

from modelyard.exceptions import InvalidParameterValue
from modelyard.settings import Settings


def test_sections_hold_their_fields():
    s = Settings.defaults(tracking_token="t", sql_pool_size=9, serve_timeout=3.0, default_artifact_root="/a")
    assert (s.client.tracking_token, s.sql.pool_size, s.serving.timeout, s.artifacts.default_root) == (
        "t",
        9,
        3.0,
        "/a",
    )
    assert [name for name, _doc in Settings.sections()] == [
        "client", "sql", "artifacts", "server", "serving", "features", "jobs", "auth"
    ]  # fmt: skip


def test_precedence_flag_then_modelyard_then_mlflow_then_default():
    env = {"MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"}
    assert Settings.from_env(env).client.tracking_uri == "sqlite:///mlflow.db"
    env["MODELYARD_TRACKING_URI"] = "sqlite:///modelyard.db"
    assert Settings.from_env(env).client.tracking_uri == "sqlite:///modelyard.db"
    assert Settings.from_env(env, tracking_uri="sqlite:///flag.db").client.tracking_uri == "sqlite:///flag.db"
    assert Settings.from_env({}).client.tracking_uri is None


def test_defaults_never_read_the_environment(monkeypatch):
    monkeypatch.setenv("MODELYARD_SERVE_TIMEOUT", "7")
    assert Settings.from_env().serving.timeout == 7.0
    assert Settings.defaults().serving.timeout == 60.0


def test_flat_round_trip_and_replace():
    s = Settings.defaults(host="0.0.0.0", serve_models="m=runs:/x/model", webhook_timeout=1.5)
    assert Settings.from_flat(s.to_flat()) == s
    t = s.replace(port=8080)
    assert (t.server.port, t.server.host, s.server.port) == (8080, "0.0.0.0", 5000)


def test_unknown_flag_and_bad_value_name_the_field():
    with pytest.raises(InvalidParameterValue, match="unknown setting.*pool_size"):
        Settings.defaults(pool_size=3)
    with pytest.raises(InvalidParameterValue, match="MODELYARD_SQL_POOL_SIZE must be an integer"):
        Settings.from_env({"MODELYARD_SQL_POOL_SIZE": "many"})


def test_flat_names_are_unique_across_sections():
    flats = [flat for _section, flat, _env, _default, _help in Settings.documented_fields()]
    assert len(flats) == len(set(flats))


def test_flat_paths_name_where_each_value_lives():
    paths = Settings.flat_paths()
    assert (paths["sql_pool_size"], paths["serve_timeout"], paths["tracking_token"]) == (
        "sql.pool_size",
        "serving.timeout",
        "client.tracking_token",
    )
    s = Settings.defaults(sql_pool_size=3)
    section, field = paths["sql_pool_size"].split(".")
    assert getattr(getattr(s, section), field) == 3
