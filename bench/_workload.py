"""The benchmark workload, run as subprocesses by bench/tracking.py: per tool, per phase.

    <python> bench/_workload.py --tool modelyard|mlflow --uri sqlite:///<tmp>/x.db \
        --phase writes|history|search_small|search_large --out results.json [--config '{...}']

The driver runs each phase in a fresh process, alternating the tools phase by phase (on a
shared machine, load drifts; interleaving spreads the drift over both tools). Phases of one
tool share its database file: search_large grows the store that search_small built.

It uses only the tool's public API (``import <tool> as mlflow``), except to *populate* the
search store and, when logging would take too long, the 100,000-point history: those rows
are bulk-inserted with direct SQL into the tool's own schema, cloned from runs the tool
created itself (see ``Populator``). Results are rewritten to --out after every figure, so a
crash or a timeout still leaves the figures measured so far. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import closing
from typing import Any

from _common import (
    METRIC_KEYS,
    SEARCH_FILTER,
    SEARCH_ORDER_BY,
    Config,
    RunData,
    generate_runs,
    p50,
    run_workload,
    short_error,
)

perf = time.perf_counter


def log(msg: str) -> None:
    sys.stderr.write(f"[{os.environ.get('BENCH_TOOL', '?')} {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------------------
# Direct-SQL population, into whichever schema the tool created.
# --------------------------------------------------------------------------------------


class Populator:
    """Clones runs into a tool's SQLite schema by direct SQL.

    The tool first creates ``template_run`` through its public API; every column that the
    benchmark does not set explicitly (user, source, status, lifecycle, ...) is copied from
    that run's rows, so the bulk rows look exactly like rows the tool writes itself. System
    tags the tool added to the template run (``mlflow.user``, ``mlflow.source.*``,
    ``mlflow.runName``, ...) are cloned onto every run too.

    Child tables refer to runs either by ``run_uuid`` (MLflow) or by an integer ``run_id``
    pointing at ``runs.id`` (modelyard); this is read from the schema, not assumed.
    """

    CHILD_TABLES = ("params", "tags", "metrics", "latest_metrics")

    def __init__(self, db_path: str, template_run_uuid: str, user_tag_keys: set[str]) -> None:
        self.db_path = db_path
        self.conn = sqlite3.connect(db_path, timeout=60)
        self.conn.row_factory = sqlite3.Row
        self.columns = {t: self._columns(t) for t in ("runs", *self.CHILD_TABLES)}
        runs_cols = self.columns["runs"]
        self.int_keys = "id" in runs_cols
        self.template = dict(
            self.conn.execute("SELECT * FROM runs WHERE run_uuid = ?", (template_run_uuid,)).fetchone()
        )
        self.template_uuid = template_run_uuid
        self.fk_value = self.template["id"] if self.int_keys else template_run_uuid
        self.fk_col = {t: self._fk_column(t) for t in self.CHILD_TABLES}
        self.child_templates = {}
        for t in self.CHILD_TABLES:
            row = self.conn.execute(
                f"SELECT * FROM {t} WHERE {self.fk_col[t]} = ? LIMIT 1", (self.fk_value,)
            ).fetchone()
            self.child_templates[t] = dict(row) if row is not None else {}
        tag_rows = self.conn.execute(
            f"SELECT key, value FROM tags WHERE {self.fk_col['tags']} = ?", (self.fk_value,)
        ).fetchall()
        self.system_tags = {r["key"]: r["value"] for r in tag_rows if r["key"] not in user_tag_keys}
        self.conn.execute("PRAGMA synchronous = OFF")  # this connection only; speeds the load

    def _columns(self, table: str) -> list[str]:
        cols = [r["name"] for r in self.conn.execute(f"PRAGMA table_info({table})")]
        if not cols:
            raise RuntimeError(f"table {table!r} not found in {self.db_path}")
        return cols

    def _fk_column(self, table: str) -> str:
        cols = self.columns[table]
        if self.int_keys and "run_id" in cols:
            return "run_id"
        if "run_uuid" in cols:
            return "run_uuid"
        raise RuntimeError(f"cannot tell how {table} refers to runs: columns {cols}")

    def _insert(self, table: str, rows: list[dict]) -> None:
        if not rows:
            return
        cols = self.columns[table]
        template = self.child_templates.get(table, {}) if table != "runs" else self.template
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        self.conn.executemany(sql, [tuple(r[c] if c in r else template.get(c) for c in cols) for r in rows])

    def insert_runs(self, runs: list[RunData], start_time_of: Callable[[int], int]) -> None:
        next_id = None
        if self.int_keys:
            next_id = (self.conn.execute("SELECT max(id) FROM runs").fetchone()[0] or 0) + 1
        run_rows, params, tags, metrics, latest = [], [], [], [], []
        for rd in runs:
            st = start_time_of(rd.index)
            row = {
                "run_uuid": rd.run_uuid,
                "name": rd.name,
                "start_time": st,
                "end_time": st + 60_000,
                "artifact_uri": str(self.template.get("artifact_uri", "")).replace(
                    self.template_uuid, rd.run_uuid
                ),
            }
            if self.int_keys:
                row["id"] = fk = next_id
                next_id += 1
            else:
                fk = rd.run_uuid
            run_rows.append(row)
            for key, value in rd.params.items():
                params.append({self.fk_col["params"]: fk, "key": key, "value": value})
            all_tags = {**self.system_tags, **rd.tags}
            if "mlflow.runName" in all_tags:
                all_tags["mlflow.runName"] = rd.name
            for key, value in all_tags.items():
                tags.append({self.fk_col["tags"]: fk, "key": key, "value": value})
            for key, value in rd.metrics.items():
                point = {"key": key, "value": value, "timestamp": st, "step": 0, "is_nan": 0}
                metrics.append({self.fk_col["metrics"]: fk, **point})
                latest.append({self.fk_col["latest_metrics"]: fk, **point})
        with self.conn:
            self._insert("runs", run_rows)
            self._insert("params", params)
            self._insert("tags", tags)
            self._insert("metrics", metrics)
            self._insert("latest_metrics", latest)

    def insert_history(self, run_uuid: str, key: str, points: list[tuple[float, int, int]]) -> None:
        """Append (value, timestamp, step) points of one metric and update its latest value."""
        if self.int_keys:
            fk = self.conn.execute("SELECT id FROM runs WHERE run_uuid = ?", (run_uuid,)).fetchone()[0]
        else:
            fk = run_uuid
        rows = [
            {self.fk_col["metrics"]: fk, "key": key, "value": v, "timestamp": ts, "step": s, "is_nan": 0}
            for v, ts, s in points
        ]
        last = max(points, key=lambda p: (p[2], p[1]))
        with self.conn:
            self._insert("metrics", rows)
            lm_fk = self.fk_col["latest_metrics"]
            cur = self.conn.execute(
                f"UPDATE latest_metrics SET value = ?, timestamp = ?, step = ?, is_nan = 0 "
                f"WHERE {lm_fk} = ? AND key = ? AND step <= ?",
                (last[0], last[1], last[2], fk, key, last[2]),
            )
            if (
                cur.rowcount == 0
                and not self.conn.execute(
                    f"SELECT 1 FROM latest_metrics WHERE {lm_fk} = ? AND key = ?", (fk, key)
                ).fetchone()
            ):
                self._insert(
                    "latest_metrics",
                    [
                        {
                            lm_fk: fk,
                            "key": key,
                            "value": last[0],
                            "timestamp": last[1],
                            "step": last[2],
                            "is_nan": 0,
                        }
                    ],
                )

    def db_bytes(self) -> int:
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        total = 0
        for suffix in ("", "-wal", "-shm"):
            p = self.db_path + suffix
            if os.path.exists(p):
                total += os.path.getsize(p)
        return total

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------------------
# A deadline for one slow call
# --------------------------------------------------------------------------------------


class QueryDeadline:
    """Interrupts the SQLite statements of a call that runs past a deadline.

    MLflow's search over 100,000 runs can take minutes, past the benchmark's time budget.
    Instead of killing the process, the benchmark keeps the DB-API connections that
    SQLAlchemy opens (a listener on the ``connect`` event of every Engine, both tools use
    SQLAlchemy) and calls ``sqlite3.Connection.interrupt()`` on them when the deadline
    passes: the running statement fails with "interrupted", the tool raises, and the figure
    is reported as "longer than the deadline". Nothing else about the tool changes.
    """

    def __init__(self) -> None:
        self.connections: list = []
        self.fired = False
        try:
            from sqlalchemy import event
            from sqlalchemy.engine import Engine
        except ImportError:  # a tool without SQLAlchemy: no deadlines, calls run to the end
            return
        event.listen(Engine, "connect", lambda dbapi_conn, _rec: self.connections.append(dbapi_conn))

    def call(self, seconds: float, fn: Callable[[], Any]) -> Any:
        self.fired = False

        def fire() -> None:
            self.fired = True
            for conn in list(self.connections):
                try:
                    conn.interrupt()
                except Exception:  # noqa: BLE001 - closed or not SQLite
                    pass

        timer = threading.Timer(seconds, fire)
        timer.daemon = True
        timer.start()
        try:
            return fn()
        finally:
            timer.cancel()


class DeadlineExceeded(Exception):
    pass


# --------------------------------------------------------------------------------------
# The figures
# --------------------------------------------------------------------------------------


class Workload:
    def __init__(self, tool_name: str, uri: str, out_path: str, cfg: Config) -> None:
        self.started = perf()
        self.tool_name = tool_name
        self.uri = uri
        self.db_path = uri[len("sqlite:///") :]
        self.out_path = out_path
        self.cfg = cfg
        self.results: dict[str, Any] = {"figures": {}, "errors": {}, "raw": {}, "extra": {}, "checks": {}}
        self.mlflow = importlib.import_module(tool_name)
        entities = importlib.import_module(f"{tool_name}.entities")
        self.Metric = entities.Metric
        self.results["info"] = self._info()
        self.flush()
        self.deadline = QueryDeadline()
        self.mlflow.set_tracking_uri(uri)
        self.client = self.mlflow.MlflowClient()

    def _info(self) -> dict:
        info = {
            "tool": self.tool_name,
            "tool_version": getattr(self.mlflow, "__version__", None),
            "python": platform.python_version(),
            "executable": sys.executable,
            "sqlite": sqlite3.sqlite_version,
        }
        try:
            import sqlalchemy

            info["sqlalchemy"] = sqlalchemy.__version__
        except Exception:  # noqa: BLE001 - informational only
            info["sqlalchemy"] = None
        return info

    def flush(self) -> None:
        tmp = self.out_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.results, f, indent=1, default=str)
        os.replace(tmp, self.out_path)

    def figure(self, name: str, fn: Callable[[], Any]) -> None:
        """Run one figure; record its value, or the error, and save the results."""
        log(f"{name} ...")
        t0 = perf()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a failing figure must not stop the others
            self.results["errors"][name] = short_error(exc)
            if not isinstance(exc, DeadlineExceeded):
                self.results["raw"].setdefault("tracebacks", {})[name] = traceback.format_exc()[-4000:]
            log(f"{name} FAILED: {short_error(exc)}")
            try:  # leave no active run behind for the next figure
                while self.mlflow.active_run() is not None:
                    self.mlflow.end_run()
            except Exception:  # noqa: BLE001
                pass
        log(f"{name} done in {perf() - t0:.1f}s: {self.results['figures'].get(name, '-')}")
        self.flush()

    def set(self, name: str, value: float, **raw: Any) -> None:
        self.results["figures"][name] = value
        if raw:
            self.results["raw"][name] = raw

    # -- single log_metric -------------------------------------------------------------
    def bench_log_metric(self) -> None:
        mlflow, cfg, warm = self.mlflow, self.cfg, 20
        mlflow.set_experiment("bench-log-metric")
        mlflow.start_run(run_name="log-metric")
        try:
            for step in range(warm):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            gc.collect()
            calls, t0 = 0, perf()
            end = t0 + cfg.write_budget_s
            for step in range(warm, warm + cfg.log_metric_calls):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
                calls += 1
                if calls % 50 == 0 and perf() > end:
                    break
            elapsed = perf() - t0
        finally:
            mlflow.end_run()
        self.set("log_metric_calls_per_s", calls / elapsed, calls=calls, seconds=elapsed)

    # -- log_batch ---------------------------------------------------------------------
    def bench_log_batch(self) -> None:
        mlflow, cfg = self.mlflow, self.cfg
        keys, steps = 10, cfg.log_batch_size // 10
        ts = now_ms()

        def batch(call: int) -> list:
            base = call * steps
            return [
                self.Metric(key=f"m{k}", value=k + s * 1e-3, timestamp=ts + base + s, step=base + s)
                for s in range(steps)
                for k in range(keys)
            ]

        batches = [batch(c) for c in range(cfg.log_batch_calls + 1)]  # built before timing
        mlflow.set_experiment("bench-log-batch")
        run_id = mlflow.start_run(run_name="log-batch").info.run_id
        try:
            self.client.log_batch(run_id, metrics=batches[0])  # warm-up
            gc.collect()
            calls, t0 = 0, perf()
            end = t0 + cfg.write_budget_s
            for b in batches[1:]:
                self.client.log_batch(run_id, metrics=b)
                calls += 1
                if perf() > end:
                    break
            elapsed = perf() - t0
        finally:
            mlflow.end_run()
        points = calls * len(batches[0])
        self.set("log_batch_points_per_s", points / elapsed, calls=calls, points=points, seconds=elapsed)

    # -- run creation ------------------------------------------------------------------
    def bench_create_runs(self) -> None:
        mlflow, cfg, warm = self.mlflow, self.cfg, 5
        payloads = [
            (
                f"create-{i:05d}",
                {f"param_{j}": f"value-{i}-{j}" for j in range(10)},
                {f"metric_{j}": i * 0.01 + j for j in range(10)},
                {f"tag_{j}": f"tag-{i}-{j}" for j in range(5)},
            )
            for i in range(warm + cfg.create_runs)
        ]
        mlflow.set_experiment("bench-create-runs")

        def create(payload: tuple) -> None:
            name, params, metrics, tags = payload
            mlflow.start_run(run_name=name)
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            mlflow.set_tags(tags)
            mlflow.end_run()

        for p in payloads[:warm]:
            create(p)
        gc.collect()
        runs, t0 = 0, perf()
        end = t0 + cfg.write_budget_s
        for p in payloads[warm:]:
            create(p)
            runs += 1
            if perf() > end:
                break
        elapsed = perf() - t0
        self.set("run_creation_runs_per_s", runs / elapsed, runs_created=runs, seconds=elapsed)

    # -- search_runs -------------------------------------------------------------------
    def bench_search(self, label: str) -> None:
        """Grow the search store to runs_<label> runs, then time the query at each max_results."""
        cfg, mlflow = self.cfg, self.mlflow
        target = cfg.runs_small if label == "small" else cfg.runs_large
        exp_id = mlflow.set_experiment("bench-search").experiment_id
        have = self._count_runs(exp_id)
        if have == 0:  # through the public API: gives each tool's own rows to clone
            for rd in generate_runs(0, min(cfg.api_sample_runs, target)):
                mlflow.start_run(run_name=rd.name)
                mlflow.log_params(rd.params)
                mlflow.log_metrics(rd.metrics)
                mlflow.set_tags(rd.tags)
                mlflow.end_run()
            have = self._count_runs(exp_id)
        template_uuid = self._run_uuid_by_name(exp_id, "run-000000")
        pop = Populator(self.db_path, template_uuid, set(generate_runs(0, 1)[0].tags))
        self.results["extra"]["clone_system_tags"] = sorted(pop.system_tags)
        base_ms = int(pop.template["start_time"]) - 30 * 86_400_000
        t0 = perf()
        try:
            while have < target:
                stop = min(target, have + 20_000)
                pop.insert_runs(generate_runs(have, stop), lambda i: base_ms + i * 1_000)
                have = stop
            self.results["extra"][f"populate_{label}_s"] = perf() - t0
            self.results["extra"][f"db_bytes_{label}"] = pop.db_bytes()
        finally:
            pop.close()
        log(f"search store has {have} runs (filled in {perf() - t0:.1f}s)")
        self.flush()
        expected = _expected_search(generate_runs(0, have))
        for rows in cfg.search_rows:
            name = f"search_{label}_top{rows}_p50_ms"
            self.figure(name, lambda n=name, r=rows: self._time_search(n, exp_id, r, have, expected[:r]))

    def _count_runs(self, exp_id: str) -> int:
        with closing(sqlite3.connect(self.db_path)) as conn:
            return conn.execute(
                "SELECT count(*) FROM runs WHERE experiment_id = ?", (int(exp_id),)
            ).fetchone()[0]

    def _run_uuid_by_name(self, exp_id: str, name: str) -> str:
        with closing(sqlite3.connect(self.db_path)) as conn:
            row = conn.execute(
                "SELECT run_uuid FROM runs WHERE experiment_id = ? AND name = ?", (int(exp_id), name)
            ).fetchone()
        if row is None:
            raise RuntimeError(f"the search store has runs but no {name!r} to clone")
        return row[0]

    def _time_search(self, name: str, exp_id: str, rows: int, n_runs: int, expected: list[str]) -> None:
        cfg = self.cfg

        def search():
            return self.client.search_runs(
                experiment_ids=[exp_id],
                filter_string=SEARCH_FILTER,
                order_by=SEARCH_ORDER_BY,
                max_results=rows,
            )

        t0 = perf()
        try:  # warm-up, and the correctness check
            result = self.deadline.call(cfg.search_deadline_s, search)
        except Exception:
            if self.deadline.fired:
                self.results["raw"][name] = {
                    "runs": n_runs,
                    "max_results": rows,
                    "at_least_ms": (perf() - t0) * 1000,
                }
                raise DeadlineExceeded(
                    f"search_runs did not finish within the {cfg.search_deadline_s:.0f}s deadline "
                    f"({n_runs} runs, max_results={rows}); interrupted"
                ) from None
            raise
        warm_ms = (perf() - t0) * 1000
        got = [r.info.run_name for r in result]
        check = {"rows": len(got), "expected_rows": len(expected), "same_runs_in_order": got == expected}
        if got != expected:
            check["first_difference_at"] = next(
                (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
                min(len(got), len(expected)),
            )
        self.results["checks"][name] = check
        if warm_ms > cfg.search_budget_s * 1000 / 2:  # too slow to repeat within the budget
            self.set(
                name, warm_ms, runs=n_runs, max_results=rows, samples_ms=[warm_ms], note="first call only"
            )
            return
        samples: list[float] = []
        budget_end = perf() + cfg.search_budget_s
        for _ in range(cfg.search_reps):
            gc.collect()
            t0 = perf()
            search()
            samples.append((perf() - t0) * 1000)
            if perf() > budget_end:
                break
        self.set(name, p50(samples), runs=n_runs, max_results=rows, samples_ms=samples, warmup_ms=warm_ms)

    # -- metric history ----------------------------------------------------------------
    def bench_history(self) -> None:
        cfg, mlflow = self.cfg, self.mlflow
        n, per_call = cfg.history_points, 1_000
        mlflow.set_experiment("bench-history")
        run_id = mlflow.start_run(run_name="history").info.run_id
        ts0 = now_ms()
        points = [(1.0 / (s + 1), ts0 + s, s) for s in range(n)]
        method = "log_batch"
        t0 = perf()
        try:
            done = 0
            while done < n:
                chunk = points[done : done + per_call]
                self.client.log_batch(
                    run_id,
                    metrics=[self.Metric(key="loss", value=v, timestamp=t, step=s) for v, t, s in chunk],
                )
                done += len(chunk)
                projected = (perf() - t0) / done * n
                if done < n and done >= 5 * per_call and projected > cfg.history_log_batch_budget_s:
                    log(f"log_batch of the history would take ~{projected:.0f}s; inserting the rest by SQL")
                    pop = Populator(self.db_path, run_id, set())
                    try:
                        pop.insert_history(run_id, "loss", points[done:])
                    finally:
                        pop.close()
                    method = f"log_batch for {done} points, direct SQL for {n - done}"
                    done = n
        finally:
            mlflow.end_run()
        self.results["extra"]["history_fill"] = {"method": method, "seconds": perf() - t0}

        t0 = perf()
        hist = self.client.get_metric_history(run_id, "loss")  # warm-up and check
        warm_ms = (perf() - t0) * 1000
        steps = [m.step for m in hist]
        self.results["checks"]["metric_history_ms"] = {
            "points": len(steps),
            "expected_points": n,
            "all_steps": sorted(steps) == list(range(n)),
            "steps_in_order": steps == list(range(n)),
        }
        samples: list[float] = []
        end = perf() + cfg.history_budget_s
        for _ in range(cfg.history_reps):
            gc.collect()
            t0 = perf()
            self.client.get_metric_history(run_id, "loss")
            samples.append((perf() - t0) * 1000)
            if perf() > end:
                break
        self.set("metric_history_ms", p50(samples), points=n, samples_ms=samples, warmup_ms=warm_ms)

    # -- cold start ----------------------------------------------------------------------
    def bench_cold_start(self) -> None:
        """From the start of this process's work (interpreter start excluded): import the tool,
        open the existing store, start a run, log one metric, end the run."""
        self.mlflow.set_experiment("bench-cold-start")
        self.mlflow.start_run(run_name="cold-start")
        self.mlflow.log_metric("loss", 1.0, step=0)
        self.mlflow.end_run()
        self.set("cold_start_ms", (perf() - self.started) * 1000, samples_ms=[(perf() - self.started) * 1000])

    def run(self, phase: str) -> None:
        if phase == "writes":
            self.figure("log_metric_calls_per_s", self.bench_log_metric)
            self.figure("log_batch_points_per_s", self.bench_log_batch)
            self.figure("run_creation_runs_per_s", self.bench_create_runs)
        elif phase == "history":  # the store exists (the writes phase made it): a cold start
            self.figure("cold_start_ms", self.bench_cold_start)
            self.figure("metric_history_ms", self.bench_history)
        elif phase in ("search_small", "search_large"):
            label = phase.split("_")[1]
            self.figure(f"search_{label}_populate", lambda: self.bench_search(label))
        else:
            raise ValueError(f"unknown phase {phase!r}")
        self.results["done"] = True
        self.flush()


PHASES = ("writes", "history", "search_small", "search_large")


def _expected_search(data: list[RunData]) -> list[str]:
    """Names of the runs the search must return, best first (computed in Python)."""
    matching = [d for d in data if d.metrics["accuracy"] > 0.5 and d.params["optimizer"] == "adam"]
    matching.sort(key=lambda d: d.metrics["loss"])
    return [d.name for d in matching]


assert "loss" in METRIC_KEYS and "accuracy" in METRIC_KEYS  # the query above relies on both


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True, choices=("modelyard", "mlflow"))
    ap.add_argument("--uri", required=True, help="sqlite:///<path>")
    ap.add_argument("--phase", required=True, choices=PHASES)
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="{}", help="JSON of Config fields (defaults: the full run)")
    args = ap.parse_args()
    cfg = Config.from_dict({**Config().to_dict(), **json.loads(args.config)})
    os.environ.setdefault("BENCH_TOOL", args.tool)
    return run_workload(lambda: Workload(args.tool, args.uri, args.out, cfg), args.phase, args.out, log)


if __name__ == "__main__":
    sys.exit(main())
