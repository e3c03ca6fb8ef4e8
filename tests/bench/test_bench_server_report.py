"""bench/_server_report.py: the native client's bounds (modelyard's client on the stub and on the
PostgreSQL floor) are computed for the figures where that client uses the same routes, and only there."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def report():
    sys.path.insert(0, str(BENCH))
    try:
        import _server_report

        yield _server_report
    finally:
        sys.path.remove(str(BENCH))


def tool(name: str, figures: dict, native: dict | None = None):
    res = {"figures": figures, "errors": {}, "raw": {}, "phases": {}, "server": {}, "checks": {}, "extra": {}}
    if native is not None:
        res["variants"] = {"native": {"figures": native}}
    return SimpleNamespace(tool=name, res=res, problem=None)


def figures_of(report, backend: str, runs: dict) -> dict:
    """The report's figures for ``runs`` (the config only labels entries: every size is 0)."""
    sizes = (
        "search_runs",
        "history_points",
        "big_artifact_mb",
        "small_files",
        "small_file_bytes",
        "writers",
        "writer_seconds",
    )
    cfg = SimpleNamespace(**dict.fromkeys(sizes, 0))
    return report.build_backend_report(backend, ["modelyard", "mlflow"], runs, cfg)["figures"]


def test_native_bounds_where_the_routes_are_the_same(report) -> None:
    lm, small = "log_metric_calls_per_s", "small_files_upload_per_s"
    runs = {
        "modelyard": tool("modelyard", {lm: 300.0, small: 200.0}),
        "mlflow": tool("mlflow", {lm: 100.0, small: 100.0}),
        "native": tool("native", {lm: 800.0, small: 2000.0}),
        "stub": tool("stub", {lm: 400.0, small: 300.0}, native={lm: 1600.0, small: 500.0}),
        "stub_pg": tool("stub_pg", {lm: 250.0}, native={lm: 1000.0}),
    }
    figures = figures_of(report, "pg", runs)
    got = figures[lm]
    assert (got["ratio"], got["ceiling"], got["native_ratio"]) == (3.0, 4.0, 8.0)
    assert (got["native_stub"], got["native_ceiling"], got["native_share"]) == (1600.0, 16.0, 0.5)
    assert (got["native_stub_pg"], got["native_ceiling_pg"], got["native_share_pg"]) == (1000.0, 10.0, 0.8)
    # small files: the native client uses a tar route the stub lacks, so no bound is claimed
    assert figures[small]["native_ratio"] == 20.0 and "native_ceiling" not in figures[small]


def test_the_sqlite_floor_bounds_the_write_figures(report) -> None:
    lm = "log_metric_calls_per_s"
    runs = {
        "modelyard": tool("modelyard", {lm: 300.0}),
        "mlflow": tool("mlflow", {lm: 100.0}),
        "native": tool("native", {lm: 800.0}),
        "stub_sqlite": tool("stub_sqlite", {lm: 400.0}, native={lm: 1000.0}),
    }
    got = figures_of(report, "sqlite", runs)[lm]
    assert (got["stub_sqlite"], got["ceiling_sqlite"], got["share_sqlite"]) == (400.0, 4.0, 0.75)
    assert (got["native_ceiling_sqlite"], got["native_share_sqlite"]) == (10.0, 0.8)


def test_the_sqlite_floor_commits_each_requests_rows(tmp_path) -> None:
    import asyncio
    import sqlite3

    sys.path.insert(0, str(BENCH))
    try:
        import _server_stub
    finally:
        sys.path.remove(str(BENCH))
    floor = _server_stub.SqliteFloor(str(tmp_path / "floor.db"))
    batch = {
        "run_id": "r1",
        "metrics": [{"key": "loss", "value": 0.5, "timestamp": 1, "step": i} for i in range(3)],
        "params": [{"key": "lr", "value": "0.1"}],
    }
    asyncio.run(floor.write("runs/log-batch", batch))
    asyncio.run(floor.write("runs/update", {"run_id": "r1", "status": "FINISHED", "end_time": 9}))
    rows = (
        sqlite3.connect(tmp_path / "floor.db").execute(f"SELECT * FROM {_server_stub.FLOOR_TABLE}").fetchall()
    )
    assert rows == [
        ("r1", "loss", None, 0.5, 1, 0),
        ("r1", "loss", None, 0.5, 1, 1),
        ("r1", "loss", None, 0.5, 1, 2),
        ("r1", "lr", "0.1", None, None, None),
        ("r1", "runs/update", "FINISHED", None, 9, None),
    ]
    asyncio.run(floor.close())
