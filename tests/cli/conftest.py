"""Fixtures for the command-line tests: a fresh SQLite store per test, a runner, seeded runs."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from modelyard.cli.main import cli
from modelyard.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from modelyard.tracking import fluent, stores
from modelyard.tracking.client import TrackingClient

ENV_VARS = (
    "MODELYARD_TRACKING_URI",
    "MLFLOW_TRACKING_URI",
    "MODELYARD_DEFAULT_ARTIFACT_ROOT",
    "MODELYARD_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_NAME",
    "MODELYARD_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_ID",
    "MODELYARD_RUN_ID",
    "MLFLOW_RUN_ID",
)

Invoke = Callable[..., Result]


@pytest.fixture(scope="session")
def empty_store_file(tmp_path_factory) -> Path:
    """An empty tracking database at the schema head (copied by each test: reading never creates one)."""
    from modelyard.store.tracking.sql.store import SqlTrackingStore

    path = tmp_path_factory.mktemp("cli-template") / "empty.db"
    SqlTrackingStore.from_uri(f"sqlite:///{path}", default_artifact_root=str(path.parent / "artifacts")).close()
    return path


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch, empty_store_file) -> Iterator[str]:
    """MODELYARD_TRACKING_URI names an empty SQLite store in tmp_path; artifacts go below tmp_path too."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    shutil.copyfile(empty_store_file, tmp_path / "cli.db")
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("MODELYARD_TRACKING_URI", uri)
    fluent.set_tracking_uri(None)
    yield uri
    stores.clear_store_cache()


@pytest.fixture
def client(tracking_uri) -> TrackingClient:
    return TrackingClient(tracking_uri)


@pytest.fixture
def invoke(tracking_uri) -> Invoke:
    """Run ``modelyard ARGS...`` in-process; stdout and stderr are kept apart."""
    runner = CliRunner()

    def run(*args: str, **kwargs) -> Result:
        return runner.invoke(cli, list(args), **kwargs)

    return run


@dataclass
class Seeded:
    experiment_id: str
    run_ids: dict[str, str]  # run name -> run id
    losses: dict[str, float]  # run name -> latest loss


LOSSES = {"r0": 0.3, "r1": 0.1, "r2": 0.15, "r3": 0.25}


@pytest.fixture
def churn(client) -> Seeded:
    """Experiment 'churn' with four runs r0..r3 (loss 0.3, 0.1, 0.15, 0.25; param C; tag team).

    r1 is finished, has a dataset input and an artifact ``sub/notes.txt``.
    """
    experiment_id = client.create_experiment("churn")
    run_ids = {}
    for i, (name, loss) in enumerate(LOSSES.items()):
        run = client.create_run(experiment_id, run_name=name, start_time=1_700_000_000_000 + i)
        rid = run.info.run_id
        client.log_batch(
            rid,
            metrics=[
                Metric("loss", loss, 1_700_000_000_500, 3),
                Metric("acc", 1 - loss, 1_700_000_000_500, 3),
            ],
            params=[Param("C", str(i))],
            tags=[RunTag("team", "growth" if i % 2 else "core")],
        )
        run_ids[name] = rid
    r1 = run_ids["r1"]
    client.log_inputs(
        r1,
        [
            DatasetInput(
                Dataset("customers", "d1g3st", "local", "/data/customers.csv"),
                (InputTag("mlflow.data.context", "train"),),
            )
        ],
    )
    client.set_terminated(r1, end_time=1_700_000_065_001)
    client.log_text(r1, "hello artifacts", "sub/notes.txt")
    return Seeded(experiment_id, run_ids, dict(LOSSES))


@pytest.fixture
def expect_error() -> Callable[..., str]:
    """``expect_error(result, exit_code, *fragments)``: see :func:`assert_one_error_line`."""
    return assert_one_error_line


def assert_one_error_line(result: Result, exit_code: int, *fragments: str) -> str:
    """The command failed with exactly one ``Error: ...`` line on stderr and no traceback."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]
