"""A server command that cannot start says why in one line, before announcing anything (issue 19, items 1, 3).

``models serve`` with a model that cannot be resolved or loaded stops with exit 1 (never "listening",
never "version ?"); ``server`` and ``models serve`` with their port taken say "port N is in use"
before loading or migrating anything. ``-h`` is help everywhere (``--host`` is ``-H``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something listens on (127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("uri", "fragments"),
    [
        ("runs:/deadbeef/model", ("runs:/deadbeef/model failed to load", "Run with id=deadbeef not found")),
        ("/nonexistent/model", ("/nonexistent/model failed to load",)),
        ("models:/nope@champion", ("cannot resolve models:/nope@champion", "nope")),
    ],
)
def test_serve_stops_at_once_when_the_model_cannot_be_loaded(client, invoke, expect_error, uri, fragments):
    result = invoke("models", "serve", "-m", uri, "--port", "0")
    line = expect_error(result, 1, "Cannot serve model", *fragments)
    assert "listening" not in result.output and "version ?" not in result.output
    assert "?" not in line.split(":", 2)[1]


def test_serve_of_a_run_without_a_tracking_database_says_so(invoke, expect_error, tmp_path):
    missing = tmp_path / "typo.db"
    result = invoke("--tracking-uri", f"sqlite:///{missing}", "models", "serve", "-m", "runs:/deadbeef/model")
    expect_error(result, 1, f"There is no tracking database at {missing}", "from --tracking-uri")
    assert not missing.exists()


def test_serve_with_several_workers_also_checks_the_models_first(invoke, expect_error):
    result = invoke("models", "serve", "-m", "/nonexistent/model", "--port", "0", "--workers", "2")
    expect_error(result, 1, "Cannot serve model 'model'", "/nonexistent/model failed to load")
    assert "listening" not in result.output


def test_serve_says_the_port_is_in_use_before_loading_the_model(invoke, expect_error, taken_port):
    # The model does not exist either: the port is checked first, so that is what the user reads.
    result = invoke("models", "serve", "-m", "/nonexistent/model", "--port", str(taken_port))
    expect_error(result, 1, f"port {taken_port} is in use on 127.0.0.1", "--port")
    assert "listening" not in result.output


def test_server_says_the_port_is_in_use_before_announcing_anything(tmp_path, taken_port):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    out = subprocess.run(
        [sys.executable, "-m", "modelyard.cli.main", "server", "--port", str(taken_port)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"Error: port {taken_port} is in use on 127.0.0.1: stop what listens there, or pick another port "
        "with --port (0 picks a free one)"
    ]
    assert "listening" not in out.stderr and "startup" not in out.stderr
    assert not (tmp_path / "modelyard.db").exists()  # nothing was created either


@pytest.mark.parametrize("command", [("models", "serve"), ("server",), ("runs", "list"), ("experiments",)])
def test_dash_h_is_help_everywhere(invoke, command):
    result = invoke(*command, "-h")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")


@pytest.mark.parametrize("command", [("models", "serve"), ("server",)])
def test_host_has_a_short_form_that_is_not_help(invoke, command):
    result = invoke(*command, "-h")
    assert "-H, --host" in result.output


def test_serve_names_every_model_that_cannot_be_loaded_in_its_one_line(invoke, expect_error):
    result = invoke("models", "serve", "-m", "a=/missing/a", "-m", "b=/missing/b", "--port", "0")
    line = expect_error(result, 1, "Cannot serve model 'a': /missing/a failed to load")
    assert "Cannot serve model 'b': /missing/b failed to load" in line
