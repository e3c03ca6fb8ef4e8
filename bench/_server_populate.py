"""Bulk SQL filling of both tools' schemas for bench/tracking_server.py."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RunData  # noqa: E402

# --------------------------------------------------------------------------------------
# Direct-SQL population, into each tool's own schema (SQLite or PostgreSQL)
# --------------------------------------------------------------------------------------


class SqlPopulator:
    """Clones runs into a tool's schema by direct SQL (SQLAlchemy Core, reflected tables).

    The same approach as bench/_workload.py's Populator, for any database: the tool created
    ``template_uuid`` through its API, and every column the benchmark does not set (user,
    source, status, lifecycle, ...) and every system tag is copied from that run's rows.
    Child tables refer to runs by ``run_uuid`` (MLflow) or by the integer ``runs.id``
    (modelyard), read from the schema; new integer ids come from the database itself.
    """

    CHILD_TABLES = ("params", "tags", "metrics", "latest_metrics")

    def __init__(self, url: str, template_uuid: str, user_tag_keys: set[str]) -> None:
        import sqlalchemy as sa

        self.sa = sa
        self.engine = sa.create_engine(url)
        md = sa.MetaData()
        md.reflect(self.engine, only=["runs", *self.CHILD_TABLES])
        self.t = md.tables
        runs = self.t["runs"]
        self.int_keys = "id" in runs.c
        self.template_uuid = template_uuid
        with self.engine.connect() as c:
            self.template = dict(
                c.execute(sa.select(runs).where(runs.c.run_uuid == template_uuid)).mappings().one()
            )
            fk_value = self.template["id"] if self.int_keys else template_uuid
            self.fk_col = {name: self._fk_column(name) for name in self.CHILD_TABLES}
            self.child_templates = {}
            for name in self.CHILD_TABLES:
                t = self.t[name]
                row = (
                    c.execute(sa.select(t).where(t.c[self.fk_col[name]] == fk_value).limit(1))
                    .mappings()
                    .first()
                )
                self.child_templates[name] = dict(row) if row is not None else {}
            tags = self.t["tags"]
            rows = c.execute(
                sa.select(tags.c.key, tags.c.value).where(tags.c[self.fk_col["tags"]] == fk_value)
            )
            self.system_tags = {k: v for k, v in rows if k not in user_tag_keys}

    def _fk_column(self, name: str) -> str:
        cols = self.t[name].c
        if self.int_keys and "run_id" in cols:
            return "run_id"
        if "run_uuid" in cols:
            return "run_uuid"
        raise RuntimeError(f"cannot tell how {name} refers to runs: columns {list(cols.keys())}")

    def _rows(self, name: str, rows: list[dict]) -> list[dict]:
        template = self.child_templates.get(name, {})
        cols = [c.name for c in self.t[name].c]
        return [{c: r[c] if c in r else template.get(c) for c in cols} for r in rows]

    def run_row(self, rd: RunData, start_time: int, columns: list[str]) -> dict:
        """The runs row of ``rd`` (``columns`` of it): the template run's values, with its own id,
        name, times and artifact location."""
        row = {c: self.template.get(c) for c in columns}
        row.update(
            run_uuid=rd.run_uuid,
            name=rd.name,
            start_time=start_time,
            end_time=start_time + 60_000,
            artifact_uri=str(self.template.get("artifact_uri", "")).replace(self.template_uuid, rd.run_uuid),
        )
        return row

    def insert_runs(self, runs: list[RunData], start_time_of: Callable[[int], int]) -> None:
        sa, runs_t = self.sa, self.t["runs"]
        cols = [c.name for c in runs_t.c if not (self.int_keys and c.name == "id")]
        run_rows = [self.run_row(rd, start_time_of(rd.index), cols) for rd in runs]
        with self.engine.begin() as c:
            c.execute(sa.insert(runs_t), run_rows)
            if self.int_keys:
                ids = dict(
                    c.execute(
                        sa.select(runs_t.c.run_uuid, runs_t.c.id).where(
                            runs_t.c.experiment_id == self.template["experiment_id"]
                        )
                    ).all()
                )
            else:
                ids = {rd.run_uuid: rd.run_uuid for rd in runs}
            children: dict[str, list[dict]] = {name: [] for name in self.CHILD_TABLES}
            for rd in runs:
                fk = ids[rd.run_uuid]
                st = start_time_of(rd.index)
                for key, value in rd.params.items():
                    children["params"].append({self.fk_col["params"]: fk, "key": key, "value": value})
                all_tags = {**self.system_tags, **rd.tags}
                if "mlflow.runName" in all_tags:
                    all_tags["mlflow.runName"] = rd.name
                for key, value in all_tags.items():
                    children["tags"].append({self.fk_col["tags"]: fk, "key": key, "value": value})
                for key, value in rd.metrics.items():
                    point = {"key": key, "value": value, "timestamp": st, "step": 0, "is_nan": False}
                    children["metrics"].append({self.fk_col["metrics"]: fk, **point})
                    children["latest_metrics"].append({self.fk_col["latest_metrics"]: fk, **point})
            for name, rows in children.items():
                if rows:
                    c.execute(sa.insert(self.t[name]), self._rows(name, rows))

    def insert_history(self, run_uuid: str, key: str, points: list[tuple[float, int, int]]) -> None:
        """Append (value, timestamp, step) points of one metric and update its latest value."""
        sa, runs_t, m, lm = self.sa, self.t["runs"], self.t["metrics"], self.t["latest_metrics"]
        with self.engine.begin() as c:
            fk = (
                c.execute(sa.select(runs_t.c.id).where(runs_t.c.run_uuid == run_uuid)).scalar_one()
                if self.int_keys
                else run_uuid
            )
            rows = [
                {
                    self.fk_col["metrics"]: fk,
                    "key": key,
                    "value": v,
                    "timestamp": ts,
                    "step": s,
                    "is_nan": False,
                }
                for v, ts, s in points
            ]
            for i in range(0, len(rows), 20_000):
                c.execute(sa.insert(m), self._rows("metrics", rows[i : i + 20_000]))
            v, ts, s = max(points, key=lambda p: (p[2], p[1]))
            fk_col = lm.c[self.fk_col["latest_metrics"]]
            latest = {"value": v, "timestamp": ts, "step": s, "is_nan": False}
            done = c.execute(
                sa.update(lm).where(fk_col == fk, lm.c.key == key, lm.c.step <= s).values(**latest)
            )
            if (
                done.rowcount == 0
                and c.execute(sa.select(lm.c.key).where(fk_col == fk, lm.c.key == key)).first() is None
            ):
                c.execute(
                    sa.insert(lm),
                    self._rows("latest_metrics", [{self.fk_col["latest_metrics"]: fk, "key": key, **latest}]),
                )

    def close(self) -> None:
        self.engine.dispose()
