"""Web UI benchmark: server time of the UI's pages at 100,000 runs (the runs page in its views,
run pages, compare, experiments, models, logged model, artifacts, features, jobs), and of the
chart data of a 1,000,000-point metric. One JSON object on stdout (progress on stderr); nothing is
asserted. (The issue's size: ``--points 10000000``.)

    .venv/bin/python bench/ui.py [--runs 100000] [--points 1000000] [--reps 9]
                                 [--workdir DIR] [--keep] [--out FILE] [--populator bulk|sql]

The experiment is filled like bench/tracking_server.py fills its search store: a template run is
written through the store's API, the other runs are cloned from its rows by direct SQL, and the
1,000,000-point history is appended by SQL too: by default through ``sqlite3`` in bulk
(``_sqlite_populate.SqliteBulkPopulator``, the history's points computed by SQLite),
with ``--populator sql`` through ``_server_populate.SqlPopulator`` (SQLAlchemy, as
bench/tracking_server.py fills its stores); the rows are the same (same generator and seed,
``_common.generate_runs``). A ``--workdir`` that already holds a filled
database of the same size is reused; a ``--workdir`` is kept, a temporary folder only with ``--keep``.

The app is then called in-process through ``httpx.ASGITransport`` (no sockets, no server
process): the time of one request is the server's time to answer it (routing, the store's
queries, the template, the middleware), plus a few hundred microseconds of httpx. Each request
is made once untimed, then ``--reps`` times; the figure is the median, of wall time (``p50_ms``)
and of this process's CPU time (``cpu_p50_ms``: every thread, the database's work included, and
robust to a loaded machine, where the wall time also counts waiting for a core).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
from _common import generate_runs, short_error  # noqa: E402
from _server_populate import SqlPopulator  # noqa: E402
from _sqlite_populate import SqliteBulkPopulator  # noqa: E402

EXPERIMENT = "ui-bench"
HISTORY_KEY = "loss"
REGISTERED_MODEL = "ui-bench-model"
CHART_POINTS = 1000  # what the run page's charts ask for (modelyard/ui/templates/run.html)


def log(msg: str) -> None:
    print(f"[ui-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


POPULATORS = {"bulk": SqliteBulkPopulator, "sql": SqlPopulator}


def history_point(step: int, now: int) -> tuple[float, int, int]:
    """The history run's point at ``step``: (value, timestamp, step)."""
    return (1.0 / (1 + step / 1000), now + step, step)


# history_point's value in SQL, for the bulk populator's insert_series (the same IEEE operations;
# tests/bench/test_bench_sqlite_populate.py checks both fills write the same rows)
HISTORY_VALUE_SQL = "1.0 / (1 + step / 1000.0)"


def populate(db: Path, artifacts: Path, runs: int, points: int, populator: str = "bulk") -> dict:
    """Fill (or reuse) the database; the ids the requests need."""
    from modelyard.entities import Metric, Param, RunTag
    from modelyard.store.tracking.sql.store import SqlTrackingStore

    marker = db.with_suffix(".json")
    if db.exists() and marker.exists():
        ctx = json.loads(marker.read_text())
        if ctx.get("runs") == runs and ctx.get("points") == points:
            log(f"reusing {db} ({runs} runs, {points} points)")
            ctx["reused"] = True
            return ctx
    if db.exists():
        db.unlink()
    url = f"sqlite:///{db}"
    store = SqlTrackingStore.from_uri(url, default_artifact_root=str(artifacts))
    t0 = time.perf_counter()
    try:
        exp = store.create_experiment(EXPERIMENT)
        first = generate_runs(0, 1)[0]
        now = int(time.time() * 1000)
        run = store.create_run(exp, "bench", now, [RunTag(k, v) for k, v in first.tags.items()], first.name)
        store.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, now, 0) for k, v in first.metrics.items()],
            params=[Param(k, v) for k, v in first.params.items()],
        )
        store.update_run_info(run.info.run_id, "FINISHED", now + 60_000)
        history = store.create_run(exp, "bench", now - 86_400_000, [], "history-1m")
        store.log_batch(history.info.run_id, metrics=[Metric(HISTORY_KEY, 1.0, now, 0)])
        store.update_run_info(history.info.run_id, "FINISHED", now)
    finally:
        store.close()
    pop = POPULATORS[populator](url, run.info.run_id, set(first.tags))
    try:
        base_ms = now - 30 * 86_400_000
        have = 1
        while have < runs - 1:  # the history run is one of the runs
            stop = min(runs - 1, have + 5_000)
            pop.insert_runs(generate_runs(have, stop), lambda i: base_ms + i * 1_000)
            have = stop
            if have % 20_000 < 5_000:
                log(f"{have} runs")
        log(f"{have + 1} runs in {time.perf_counter() - t0:.0f} s; now {points} points of {HISTORY_KEY!r}")
        t1 = time.perf_counter()
        # step 0 was logged through the API
        if isinstance(pop, SqliteBulkPopulator):
            pop.insert_series(history.info.run_id, HISTORY_KEY, 1, points, HISTORY_VALUE_SQL, now)
        else:
            for start in range(1, points, 100_000):
                series = [history_point(s, now) for s in range(start, min(points, start + 100_000))]
                pop.insert_history(history.info.run_id, HISTORY_KEY, series)
        log(f"history in {time.perf_counter() - t1:.0f} s")
    finally:
        pop.close()
    ctx = {
        "runs": runs,
        "points": points,
        "experiment_id": exp,
        "history_run_id": history.info.run_id,
        "populate_s": round(time.perf_counter() - t0, 1),
        "populator": populator,
        "db_bytes": db.stat().st_size,
    }
    marker.write_text(json.dumps(ctx))
    return ctx


def add_extras(db: Path, artifacts: Path, ctx: dict) -> dict:
    """What the other pages show, made through the stores once (kept in the marker): five runs to
    compare, a logged model of the first, and a registered model with three versions of them."""
    if "extras" in ctx:
        return ctx
    from modelyard.settings import Settings
    from modelyard.store.registry.sql.store import SqlRegistryStore
    from modelyard.store.tracking.sql.store import SqlTrackingStore

    store = SqlTrackingStore.from_uri(f"sqlite:///{db}", default_artifact_root=str(artifacts))
    registry = SqlRegistryStore.from_tracking_store(store, Settings.defaults())
    try:
        runs = [r.info.run_id for r in store.search_runs([ctx["experiment_id"]], max_results=5)]
        model = store.create_logged_model(
            ctx["experiment_id"], "model", source_run_id=runs[0], params={"alpha": "1"}
        )
        registry.create_registered_model(REGISTERED_MODEL, description="the UI bench's model")
        for run_id in runs[:3]:
            registry.create_model_version(REGISTERED_MODEL, f"runs:/{run_id}/model", run_id=run_id)
    finally:
        store.close()
    ctx["extras"] = {"runs": runs, "logged_model_id": model.model_id}
    db.with_suffix(".json").write_text(json.dumps({k: v for k, v in ctx.items() if k != "reused"}))
    return ctx


async def timed(client, path: str, reps: int, check) -> dict:
    """One untimed request (checked), then ``reps`` timed ones; milliseconds."""
    first = await client.get(path)
    detail = check(first)
    samples, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        response = await client.get(path)
        samples.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status_code}")
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "cpu_p50_ms": round(statistics.median(cpu), 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
        "n": reps,
        "path": path,
        **detail,
    }


def page_check(expected_rows: int):
    def check(response) -> dict:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
        rows = response.text.count('<tr data-run-id="')
        if rows != expected_rows:
            raise RuntimeError(f"expected {expected_rows} rows on the page, got {rows}")
        return {"rows": rows, "html_bytes": len(response.content)}

    return check


def ok_check(response) -> dict:
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
    return {"html_bytes": len(response.content)}


def chart_check(response) -> dict:
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
    points = response.json().get("metrics", [])
    return {"points_returned": len(points), "last_step": points[-1]["step"] if points else None}


async def measure(settings, ctx: dict, reps: int) -> dict:
    import httpx

    from modelyard.auth.context import RequestContext
    from modelyard.server.app import create_app
    from modelyard.server.services import Services

    services = Services.from_settings(settings)
    figures: dict = {}
    errors: dict = {}
    exp, hist = ctx["experiment_id"], ctx["history_run_id"]
    requests = {
        # the page as a user first opens it: 100 runs, newest first, default columns
        "runs_page_first_p50_ms": (f"/experiments/{exp}", page_check(100)),
        "runs_page_sorted_by_metric_p50_ms": (
            f"/experiments/{exp}?order=metrics.loss&dir=asc",
            page_check(100),
        ),
        "runs_page_filtered_p50_ms": (
            f"/experiments/{exp}?filter=" + "metrics.accuracy+%3E+0.5+AND+params.optimizer+%3D+%27adam%27",
            page_check(100),
        ),
        "runs_page_second_page_p50_ms": (None, page_check(100)),  # the first page's "next" link
        "runs_page_chart_view_p50_ms": (f"/experiments/{exp}?view=charts", ok_check),
        "run_page_p50_ms": (f"/runs/{hist}", lambda r: {"status": r.status_code}),
        "chart_data_1m_points_p50_ms": (
            f"/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids={hist}"
            f"&metric_key={HISTORY_KEY}&max_results={CHART_POINTS}",
            chart_check,
        ),
        "experiments_list_p50_ms": ("/experiments", ok_check),
    }
    extras = ctx.get("extras")
    if extras:
        runs, model_id = extras["runs"], extras["logged_model_id"]
        compared = ",".join([*runs, hist])
        requests.update(
            {
                "run_page_of_a_bench_run_p50_ms": (f"/runs/{runs[0]}", ok_check),
                "run_artifacts_page_p50_ms": (f"/runs/{runs[0]}/artifacts", ok_check),
                "compare_6_runs_p50_ms": (f"/compare?runs={compared}", ok_check),
                "compare_chart_data_p50_ms": (
                    "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?"
                    + "&".join(f"run_ids={r}" for r in [*runs, hist])
                    + f"&metric_key={HISTORY_KEY}&max_results={CHART_POINTS}",
                    ok_check,
                ),
                "logged_model_page_p50_ms": (f"/logged-models/{model_id}", ok_check),
                "models_list_p50_ms": ("/models", ok_check),
                "model_page_p50_ms": (f"/models/{REGISTERED_MODEL}", ok_check),
                "model_version_page_p50_ms": (f"/models/{REGISTERED_MODEL}/versions/1", ok_check),
                "model_retraining_page_p50_ms": (f"/models/{REGISTERED_MODEL}/retraining", ok_check),
                "features_list_p50_ms": ("/features", ok_check),
                "jobs_list_p50_ms": ("/jobs", ok_check),
            }
        )
    transport = httpx.ASGITransport(app=create_app(settings, services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            first = await client.get(f"/experiments/{exp}")
            found = re.search(r'href="([^"]*page_token=[^"]*)"', first.text)
            if found:
                requests["runs_page_second_page_p50_ms"] = (html.unescape(found.group(1)), page_check(100))
            for name, (path, check) in requests.items():
                log(name)
                if path is None:
                    errors[name] = "no next-page link on the first page"
                    continue
                try:
                    figures[name] = await timed(client, path, reps, check)
                except Exception as exc:  # noqa: BLE001 - the other figures still run
                    errors[name] = short_error(exc)
                    log(f"{name} failed: {errors[name]}")
        # the store alone, for reading the page figure: how much of it is the query
        t, cpu = [], []
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            services.tracking.search_runs(
                RequestContext(), [exp], max_results=100, order_by=["attributes.start_time DESC"]
            )
            t.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        figures["store_search_runs_first_page_p50_ms"] = {
            "p50_ms": round(statistics.median(t), 1),
            "cpu_p50_ms": round(statistics.median(cpu), 1),
            "n": reps,
        }
    finally:
        services.close()
    return {"figures": figures, "errors": errors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (a --workdir is always kept)"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--populator",
        choices=sorted(POPULATORS),
        default="bulk",
        help="fill through sqlite3 in bulk (default) or through SQLAlchemy (_server_populate.SqlPopulator)",
    )
    args = parser.parse_args(argv)

    from modelyard import __version__
    from modelyard.settings import Settings

    work = args.workdir or Path(tempfile.mkdtemp(prefix="modelyard-ui-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "benchmark": "ui",
        "config": {"runs": args.runs, "points": args.points, "reps": args.reps, "chart_points": CHART_POINTS},
        "machine": {
            "cores": os.cpu_count(),
            "load_before": os.getloadavg(),
            "python": platform.python_version(),
        },
        "version": __version__,
    }
    try:
        db, artifacts = work / "ui.db", work / "artifacts"
        ctx = add_extras(db, artifacts, populate(db, artifacts, args.runs, args.points, args.populator))
        report["store"] = ctx
        settings = Settings.defaults(
            backend_store_uri=f"sqlite:///{db}", artifacts_destination=str(artifacts), serve_artifacts=True
        )
        report.update(asyncio.run(measure(settings, ctx, args.reps)))
    except Exception as exc:  # noqa: BLE001 - print what was measured
        report["error"] = short_error(exc, 2000)
    finally:
        report["machine"]["load_after"] = os.getloadavg()
        if args.keep or args.workdir is not None:
            report["workdir"] = str(work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 1 if "error" in report else 0


if __name__ == "__main__":
    raise SystemExit(main())
