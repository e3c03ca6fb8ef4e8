"""Feature tables and batch inference: modelyard vs pandas by hand, Feast's local offline store and a
hand-written DuckDB job, in one run; ratios as one JSON object on stdout (progress on stderr).

    .venv/bin/python bench/features.py            # 1M labels x 10M-row time series (100k keys, 10 features)
    .venv/bin/python bench/features.py --quick    # 100k labels x 1M rows (10k keys)
    .venv/bin/python bench/features.py --no-feast # skip Feast (and its venv)

Figures (``ratio > 1``: modelyard is faster, except ``score_batch.overhead`` = ours / hand-written):
- ``pit_join``: a point-in-time training set (``create_training_set(...).load_df()``) vs
  ``pandas.merge_asof`` done by hand (sorts included, input order restored) and vs Feast's
  ``get_historical_features`` on a file source (Feast 0.67, installed in bench/.venv-feast on the
  first run). The rows are compared: ``identical`` says whether every tool returned the same values.
- ``score_batch``: scoring with two feature tables (10 features each, LogisticRegression on 20)
  vs the same DuckDB join written by hand plus ``model.predict``.
- ``spark`` (``--spark``): on Spark ``local[2]``, ``score_batch`` of a Spark DataFrame vs the same
  job by hand (as-of join, key join, mapInPandas with the raw model), and ``spark_udf`` vs a plain
  ``pandas_udf`` on the joined columns, each pair run in turn ``--reps`` times (best of each); wall
  and CPU time (of the whole process tree). With
  ``--spark-served`` the model comes from a served artifact store (downloaded, as from a remote one).
- ``merge``: upserting the label-count of rows into the time-series table (time, process peak RSS).
- ``online`` (when Redis answers): lookups of 10 features by key from Redis, p50/p99 per call, rows/s
  and CPU per call: ``fc.online_table(...).get(key)`` (a dict) and ``.get_columns(keys)`` (100 keys,
  a list per feature), the store's raw ``read``, ``OnlineEnricher.lookup`` (the serving and
  streaming path) with one key and with 100 keys per call, and Feast's
  ``get_online_features(...).to_dict()`` on the same Redis with the same keys (``--online-only``:
  just these, and the serving figure below).
- ``serving``: ``modelyard models serve`` of the feature-aware model, single-row requests with only
  the key (20 features looked up in Redis) vs with every feature in the request: p50/p99 and the
  p50 the lookup adds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))
from _features_peers import ensure_feast, log, run_feast, run_feast_online  # noqa: E402,F401 (ensure_feast: bench setup)
from tracking import sig, tree_cpu_s  # noqa: E402

N_FEATURES = 10


def timed_cpu(fn, reps: int = 1) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds of the process tree) of ``reps`` runs of ``fn``."""
    walls, cpus = [], []
    for _ in range(reps):
        cpu0, start = tree_cpu_s(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(tree_cpu_s() - cpu0)
    return min(walls), min(cpus)


def alternated(a, b, reps: int = 1) -> tuple[tuple[float, float], tuple[float, float]]:
    """``timed_cpu`` of ``a`` and of ``b``, run in turn (a b, b a, a b, ...) so that both see the same
    load on a shared machine: ((best wall, best CPU) of a, (best wall, best CPU) of b)."""
    got: dict = {a: ([], []), b: ([], [])}
    for i in range(reps):
        for fn in ((a, b) if i % 2 == 0 else (b, a)):
            wall, cpu = timed_cpu(fn)
            got[fn][0].append(wall)
            got[fn][1].append(cpu)
    return (min(got[a][0]), min(got[a][1])), (min(got[b][0]), min(got[b][1]))


def timed(fn, reps: int = 1):
    best, result = None, None
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        took = time.perf_counter() - start
        best = took if best is None else min(best, took)
    return best, result


# -- data -------------------------------------------------------------------------------------
def make_data(labels: int, rows: int, keys: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    span = 365 * 86400
    series = pd.DataFrame({"key": rng.integers(0, keys, rows), "ts": t0 + pd.to_timedelta(rng.integers(0, span, rows), unit="s")})
    series = series.drop_duplicates(["key", "ts"]).reset_index(drop=True)
    for i in range(N_FEATURES):
        series[f"f{i}"] = rng.standard_normal(len(series))
    label_df = pd.DataFrame({
        "rid": np.arange(labels),
        "key": rng.integers(0, keys, labels),
        "event_ts": t0 + pd.to_timedelta(rng.integers(0, span, labels), unit="s"),
        "y": rng.integers(0, 2, labels),
    })
    profile = pd.DataFrame({"key": np.arange(keys)})
    for i in range(N_FEATURES):
        profile[f"p{i}"] = rng.standard_normal(keys)
    for frame in (series, label_df):  # microseconds, as Delta stores them
        for col in ("ts", "event_ts"):
            if col in frame:
                frame[col] = frame[col].astype("datetime64[us, UTC]")
    return series, label_df, profile


def same(a: pd.Series, b: pd.Series) -> bool:
    x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
    return bool(np.array_equal(np.isnan(x), np.isnan(y)) and np.allclose(x[~np.isnan(x)], y[~np.isnan(y)]))


# -- workloads ------------------------------------------------------------------------------------
def pit_join(fc, series, labels, tmp: Path, feast: bool, reps: int) -> dict:
    from modelyard.features import FeatureLookup

    lookup = [FeatureLookup("bench.series", lookup_key="key", timestamp_lookup_key="event_ts")]
    ours_s, ours = timed(lambda: fc.create_training_set(labels, lookup, label="y").load_df(), reps)
    log(f"pit join modelyard {ours_s:.2f}s")

    def by_hand():
        left = labels.sort_values("event_ts")
        right = series.sort_values("ts")
        joined = pd.merge_asof(left, right, left_on="event_ts", right_on="ts", by="key", direction="backward",
                               allow_exact_matches=True)
        return joined.sort_values("rid").drop(columns="ts").reset_index(drop=True)

    pandas_s, hand = timed(by_hand, reps)
    log(f"pit join pandas merge_asof {pandas_s:.2f}s")
    identical = {"pandas": all(same(ours[f"f{i}"], hand[f"f{i}"]) for i in range(N_FEATURES))}
    out = {"labels": len(labels), "feature_rows": len(series), "modelyard_s": sig(ours_s), "pandas_merge_asof_s": sig(pandas_s),
           "ratio_vs_pandas": sig(pandas_s / ours_s)}
    if feast:
        series_path, labels_path = tmp / "series.parquet", tmp / "labels.parquet"
        series.to_parquet(series_path)
        labels.drop(columns="y").to_parquet(labels_path)
        feast_s, feast_df, error, extra = run_feast(tmp, series_path, labels_path)
        out["feast_peak_rss_mb"] = extra.get("peak_rss_mb")
        if error:
            out["feast_error"] = error
            if "stopped_after_s" in extra:  # Feast had not finished: ours is at least this much faster
                out["ratio_vs_feast_at_least"] = sig(extra["stopped_after_s"] / ours_s)
        else:
            log(f"pit join feast {feast_s:.2f}s")
            # Feast drops label rows that have no feature row at or before them (ours and pandas keep
            # them with nulls); the rows it returns are compared.
            feast_df = feast_df.sort_values("rid").reset_index(drop=True)
            kept = ours[ours["rid"].isin(feast_df["rid"])].reset_index(drop=True)
            identical["feast_on_rows_it_returns"] = all(same(kept[f"f{i}"], feast_df[f"f{i}"]) for i in range(N_FEATURES))
            dropped = ours[~ours["rid"].isin(feast_df["rid"])]
            out.update(feast_s=sig(feast_s), ratio_vs_feast=sig(feast_s / ours_s), feast_rows=len(feast_df),
                       feast_dropped_rows_all_unmatched=bool(dropped["f0"].isna().all()))
    out["identical"] = identical
    return out


def train_model(fc, labels):
    """The feature-aware model the scoring figures use: (model, model info, training set)."""
    import modelyard
    from modelyard.features import FeatureLookup

    defaults_f = {f"f{i}": 0.0 for i in range(N_FEATURES)}
    defaults_p = {f"p{i}": 0.0 for i in range(N_FEATURES)}
    lookups = [FeatureLookup("bench.series", lookup_key="key", timestamp_lookup_key="event_ts", default_values=defaults_f),
               FeatureLookup("bench.profile", lookup_key="key", default_values=defaults_p)]
    sample = labels.head(min(len(labels), 50_000))
    training = fc.create_training_set(sample, lookups, label="y", exclude_columns=["rid", "event_ts", "key"])
    train = training.load_df()
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=200).fit(train.drop(columns="y"), train["y"])
    with modelyard.start_run():
        info = fc.log_model(model, "model", flavor=modelyard.sklearn, training_set=training)
    return model, info, training


def score(fc, series, labels, profile, reps: int) -> dict:
    from modelyard.features import join

    model, info, training = train_model(fc, labels)
    batch = labels.drop(columns="y")
    fc.score_batch(info.model_uri, batch.head(1000))  # warm: model download and load
    ours_s, ours = timed(lambda: fc.score_batch(info.model_uri, batch, batch_rows=200_000), reps)
    log(f"score_batch modelyard {ours_s:.2f}s")
    s_loc, p_loc = fc.get_table("bench.series").location, fc.get_table("bench.profile").location
    cols = list(training.feature_spec.input_columns)

    def by_hand():
        from modelyard.features import delta

        con = join.connect()
        con.register("b", batch)
        con.register("s", delta.dataset(s_loc))
        con.register("p", delta.dataset(p_loc))
        fsel = ", ".join(f"COALESCE(s.f{i}, 0.0) AS f{i}" for i in range(N_FEATURES))
        psel = ", ".join(f"COALESCE(p.p{i}, 0.0) AS p{i}" for i in range(N_FEATURES))
        frame = con.sql(f"SELECT b.*, {fsel}, {psel} FROM b ASOF LEFT JOIN s ON b.key = s.key AND b.event_ts >= s.ts "
                        f"LEFT JOIN p ON b.key = p.key").to_df()
        con.close()
        frame["prediction"] = model.predict(frame[cols])
        return frame

    hand_s, hand = timed(by_hand, reps)
    log(f"score_batch by hand {hand_s:.2f}s")
    agree = bool((ours.sort_values("rid")["prediction"].to_numpy() == hand.sort_values("rid")["prediction"].to_numpy()).all())
    return {"rows": len(batch), "features": 2 * N_FEATURES, "modelyard_s": sig(ours_s), "hand_duckdb_predict_s": sig(hand_s),
            "overhead": sig(ours_s / hand_s), "identical_predictions": agree, "model_uri": info.model_uri, "model": model}


def write_batch(path: Path, rows: int, keys: int, seed: int = 9, chunk: int = 1_000_000) -> None:
    """A scoring batch of ``rows`` rows (rid, key, event_ts) like the labels, written chunk by chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    t0, span = pd.Timestamp("2026-01-01", tz="UTC"), 365 * 86400
    writer = None
    try:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            frame = pd.DataFrame({"rid": np.arange(start, start + n), "key": rng.integers(0, keys, n),
                                  "event_ts": (t0 + pd.to_timedelta(rng.integers(0, span, n), unit="s")).astype("datetime64[us, UTC]")})
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def score_cli(fc, labels, tmp: Path, model_uri: str, source: Path | None = None, memory_limit: str = "512MB") -> dict:
    """``modelyard models score-batch`` from Parquet to Parquet in a child process: time, peak RSS
    and the rows written (of ``labels``, or of the Parquet file ``source`` when given)."""
    import pyarrow.parquet as pq

    out = tmp / "scored.parquet"
    if source is None:
        source = tmp / "batch.parquet"
        labels.drop(columns="y").to_parquet(source)
    rows = pq.ParquetFile(source).metadata.num_rows
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(PYTHONPATH=str(REPO), OMP_WAIT_POLICY="passive", MODELYARD_TRACKING_URI=fc.tracking_uri,
               MODELYARD_DEFAULT_ARTIFACT_ROOT=fc.settings.artifacts.default_root)
    args = ["models", "score-batch", "-m", model_uri, "--input", str(source), "--output", str(out), "--memory-limit", memory_limit]
    status_file = tmp / "score-batch.status"
    # The child's own high-water mark (VmHWM, reset by exec), written as it exits: getrusage's
    # ru_maxrss of a child starts at the parent's RSS at fork on Linux.
    code = (
        "import atexit, runpy, sys; "
        f"atexit.register(lambda: open({str(status_file)!r}, 'w').write(open('/proc/self/status').read())); "
        f"sys.argv = ['modelyard'] + {args!r}; runpy.run_module('modelyard.cli.main', run_name='__main__')"
    )
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=3600)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-500:]}
    hwm = next(line for line in status_file.read_text().splitlines() if line.startswith("VmHWM:"))
    peak = int(hwm.split()[1]) / 1024
    written = pq.ParquetFile(out).metadata.num_rows
    log(f"score-batch CLI {rows} rows {took:.2f}s, peak RSS {peak:.0f} MB")
    return {"rows": rows, "rows_written": written, "memory_limit": memory_limit, "seconds": sig(took), "rows_per_s": sig(rows / took),
            "child_peak_rss_mb": sig(peak)}


def merge(fc, series, rows: int) -> dict:
    rng = np.random.default_rng(11)
    updates = series.sample(n=min(rows, len(series)), random_state=3).copy()
    for i in range(N_FEATURES):
        updates[f"f{i}"] = rng.standard_normal(len(updates))
    took, _ = timed(lambda: fc.write_table("bench.series", updates, mode="merge"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log(f"merge {took:.2f}s")
    return {"rows": len(updates), "into_rows": len(series), "seconds": sig(took), "process_peak_rss_mb": sig(peak)}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _latency(samples: list[float], rows_per_call: int, cpu: list[float] | None = None) -> dict:
    """p50/p99 in ms of per-call seconds, rows/s over all calls, and the client's CPU time per call
    (``cpu_ms_mean``, process CPU: robust to a loaded machine, but without the Redis server's part)."""
    out = {"calls": len(samples), "rows_per_call": rows_per_call, "p50_ms": sig(1000 * _pct(samples, 0.5)),
           "p99_ms": sig(1000 * _pct(samples, 0.99)), "rows_per_s": sig(rows_per_call * len(samples) / sum(samples))}
    if cpu:
        out["cpu_ms_mean"] = sig(1000 * sum(cpu) / len(cpu))
    return out


def _bare_hmget(prefix: str, key_texts: list[str], names: list[str]):
    """``call(i)``: HMGET of the ``names`` fields of the i-th key, pre-encoded, on one plain socket;
    the reply parsed by hiredis and not decoded (the floor of a Python lookup on this machine)."""
    import socket

    import hiredis

    sock = socket.create_connection(("127.0.0.1", 6379))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    fields = b"".join(b"$%d\r\n%s\r\n" % (len(n.encode()), n.encode()) for n in names)
    commands = []
    for text in key_texts:
        key = f"{prefix}bench.profile:{text}".encode()
        commands.append(b"*%d\r\n$5\r\nHMGET\r\n$%d\r\n%s\r\n%s" % (len(names) + 2, len(key), key, fields))
    reader = hiredis.Reader()

    def call(i: int):
        sock.sendall(commands[i])
        while (reply := reader.gets()) is False:
            reader.feed(sock.recv(65536))
        return reply

    assert call(0)[0] is not None
    return call


def online(fc, profile, keys: int, tmp: Path, feast: bool, lookups: int = 2000, batch: int = 100,
           batches: int = 200) -> dict:
    """Online lookup of the 10 features of ``bench.profile`` from Redis (published there), by key:
    - ``lookup_single``: ``fc.online_table(...).get(key)``, the library's lookup returning a dict
      (like for like with Feast's ``get_online_features(...).to_dict()`` for one key);
    - ``lookup_batch``: ``.get_columns(keys)`` of ``batch`` keys, one list per feature (Feast's
      ``to_dict()`` shape), one pipelined round trip;
    - ``store_read``: the Redis online store's ``read`` (one HMGET, a dict per key);
    - ``enricher``: ``OnlineEnricher.lookup`` (what serving and streaming call: a pandas frame of
      keys in, the model's input frame out), one key per call and ``batch`` keys per call;
    - ``bare_roundtrip``: the floor under any Python lookup: the same HMGET of the 10 fields as
      pre-encoded bytes on a plain socket, its answer parsed by hiredis, nothing decoded;
      ``ceiling_vs_feast`` = Feast's figure / that floor, the best ratio any client could show;
    - ``feast``: Feast's ``get_online_features(...).to_dict()`` on the same Redis, the same keys.
    Ours run in two halves, before and after Feast's run (each kind alternating call by call), so both
    span the same stretch of the machine's load. p50/p99 in ms per call, rows/s and the client's CPU
    ms per call; ``ratio_vs_feast`` = Feast's figure / ours, ours / Feast's for rows/s: > 1 is ours
    faster."""
    try:
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except Exception as exc:  # noqa: BLE001
        return {"error": f"Redis is not available: {exc}"}
    from modelyard.features import FeatureLookup
    from modelyard.features.online import open_store
    from modelyard.features.publish import key_strings
    from modelyard.features.serving import OnlineEnricher

    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    uri = f"redis://127.0.0.1:6379/0?prefix={prefix}"
    took, result = timed(lambda: fc.publish_table("bench.profile", uri))
    table = fc.get_table("bench.profile")
    store = open_store(uri)
    reader = fc.online_table("bench.profile", online_store=uri)
    names = list(table.feature_names)
    rng = np.random.default_rng(5)
    single_keys = [int(k) for k in rng.integers(0, keys, lookups)]
    batch_keys = [[int(k) for k in rng.integers(0, keys, batch)] for _ in range(batches)]
    # the model's inputs are the 10 features (the key only finds them), as for the bench's model
    spec = fc.create_training_set(pd.DataFrame({"key": np.array(single_keys[:1], dtype=np.int64)}),
                                  [FeatureLookup("bench.profile", lookup_key="key")], exclude_columns=["key"]).feature_spec
    enricher = OnlineEnricher(spec, fc.tracking_uri)
    single_frames = [pd.DataFrame({"key": np.array([k], dtype=np.int64)}) for k in single_keys]
    batch_frames = [pd.DataFrame({"key": np.array(ks, dtype=np.int64)}) for ks in batch_keys]
    kinds = ("lookup_single", "store_read", "enricher_single", "bare_roundtrip", "lookup_batch", "enricher_batch")
    bare = _bare_hmget(prefix, [key_strings(table, [(k,)])[0] for k in single_keys], names)
    samples: dict[str, list[float]] = {name: [] for name in kinds}
    cpu: dict[str, list[float]] = {name: [] for name in kinds}
    clock = time.process_time
    loads = [os.getloadavg()[0]]

    def measure(kind: str, fn):
        c, start = clock(), time.perf_counter()
        got = fn()
        samples[kind].append(time.perf_counter() - start)
        cpu[kind].append(clock() - c)
        return got

    def half(part: int) -> None:
        singles = range(part * lookups // 2, (part + 1) * lookups // 2)
        for i in singles:  # the single-key kinds alternate, their order turning each call
            k = single_keys[i]
            calls = [("lookup_single", lambda k=k: reader.get(k)),
                     ("store_read", lambda k=k: store.read("bench.profile", key_strings(table, [(k,)]), names)),
                     ("enricher_single", lambda i=i: enricher.lookup(single_frames[i])),
                     ("bare_roundtrip", lambda i=i: bare(i))]
            shift = i % len(calls)
            for kind, fn in calls[shift:] + calls[:shift]:
                got = measure(kind, fn)
                if kind == "enricher_single":
                    assert not got[1]
        for j in range(part * batches // 2, (part + 1) * batches // 2):
            measure("lookup_batch", lambda j=j: reader.get_columns(batch_keys[j]))
            measure("enricher_batch", lambda j=j: enricher.lookup(batch_frames[j]))
        loads.append(os.getloadavg()[0])

    first = reader.get(single_keys[0])
    figures, error = None, None
    try:
        for k in single_keys[:50]:  # warm
            reader.get(k)
            enricher.lookup(single_frames[0])
        half(0)
        if feast:
            figures, error = run_feast_online(tmp, profile, {"single": single_keys, "batches": batch_keys})
            loads.append(os.getloadavg()[0])
        half(1)
        frame, _ = enricher.lookup(single_frames[0])
        assert {n: float(frame[n].iloc[0]) for n in names} == first
        assert reader.get_columns(batch_keys[0]) == {n: [r[n] for r in reader.get_many(batch_keys[0])] for n in names}
    finally:
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        found = list(client.scan_iter(match=prefix + "*", count=10_000))
        for start in range(0, len(found), 10_000):
            client.delete(*found[start : start + 10_000])
        store.close()
        for s in {id(s): s for s in enricher.stores.values()}.values():
            s.close()
    out = {"publish_keys": result["written"], "publish_s": sig(took), "features": len(names),
           "loadavg_1m": [round(x, 1) for x in loads]}
    for kind in kinds:
        out[kind] = _latency(samples[kind], batch if kind.endswith("batch") else 1, cpu[kind])
    # the old top-level figures (the raw read), kept for comparisons with earlier runs
    out["p50_ms"], out["p99_ms"] = out["store_read"]["p50_ms"], out["store_read"]["p99_ms"]
    log(f"online: lookup p50 {out['lookup_single']['p50_ms']} ms ({out['lookup_single']['cpu_ms_mean']} ms CPU), "
        f"enricher single p50 {out['enricher_single']['p50_ms']} ms, batch of {batch} p50 {out['lookup_batch']['p50_ms']} ms")
    if error:
        out["feast_error"] = error
    elif figures is not None:
        fs = {"version": figures["feast_version"], "write_s": sig(figures["write_s"]),
              "single": _latency(figures["single_s"], 1, figures["single_cpu_s"]),
              "batch": _latency(figures["batch_s"], batch, figures["batch_cpu_s"])}
        out["feast"] = fs
        out["identical_first_key"] = all(abs(first[n] - figures["first"][n]) < 1e-12 for n in names)
        ours_1, ours_b = out["lookup_single"], out["lookup_batch"]
        out["ratio_vs_feast"] = {
            "single_p50": sig(fs["single"]["p50_ms"] / ours_1["p50_ms"]),
            "single_p99": sig(fs["single"]["p99_ms"] / ours_1["p99_ms"]),
            "single_cpu": sig(fs["single"]["cpu_ms_mean"] / ours_1["cpu_ms_mean"]),
            "batch_p50": sig(fs["batch"]["p50_ms"] / ours_b["p50_ms"]),
            "batch_rows_per_s": sig(ours_b["rows_per_s"] / fs["batch"]["rows_per_s"]),
            "batch_cpu": sig(fs["batch"]["cpu_ms_mean"] / ours_b["cpu_ms_mean"]),
            "enricher_single_p50": sig(fs["single"]["p50_ms"] / out["enricher_single"]["p50_ms"]),
            "enricher_single_cpu": sig(fs["single"]["cpu_ms_mean"] / out["enricher_single"]["cpu_ms_mean"]),
            "enricher_batch_cpu": sig(fs["batch"]["cpu_ms_mean"] / out["enricher_batch"]["cpu_ms_mean"]),
        }
        floor = out["bare_roundtrip"]
        out["ceiling_vs_feast"] = {"single_p50": sig(fs["single"]["p50_ms"] / floor["p50_ms"]),
                                   "single_cpu": sig(fs["single"]["cpu_ms_mean"] / floor["cpu_ms_mean"])}
        log(f"online feast: single p50 {fs['single']['p50_ms']} ms ({fs['single']['cpu_ms_mean']} ms CPU), "
            f"batch p50 {fs['batch']['p50_ms']} ms")
    return out


def serving_overhead(fc, model_uri: str, labels, tmp: Path, requests: int = 600) -> dict:
    """``modelyard models serve`` of the feature-aware model (both tables published to Redis): the
    single-row latency of a request with only the key (features looked up online) vs the same
    request carrying every feature (no lookup), alternated by blocks of 20 on one server; p50/p99 in
    ms, and the server process's CPU ms per request of each kind (robust to the machine's load)."""
    import http.client
    import socket

    try:
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except Exception as exc:  # noqa: BLE001
        return {"error": f"Redis is not available: {exc}"}
    prefix = f"bench-serve-{uuid.uuid4().hex[:8]}:"
    online_uri = f"redis://127.0.0.1:6379/0?prefix={prefix}"
    for name in ("bench.series", "bench.profile"):
        fc.publish_table(name, online_uri)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(PYTHONPATH=str(REPO), OMP_WAIT_POLICY="passive", MODELYARD_TRACKING_URI=fc.tracking_uri,
               MODELYARD_DEFAULT_ARTIFACT_ROOT=fc.settings.artifacts.default_root)
    log_file = open(tmp / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "modelyard.cli.main", "models", "serve", "-m", model_uri,
                             "-H", "127.0.0.1", "-p", str(port), "--no-access-log"], stdout=log_file, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        deadline = time.perf_counter() + 180
        while True:
            if proc.poll() is not None or time.perf_counter() > deadline:
                return {"error": f"the server did not start: {(tmp / 'serve.log').read_text()[-500:]}"}
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        full = fc.score_batch(model_uri, labels.drop(columns="y").head(requests))
        features = [f"f{i}" for i in range(N_FEATURES)] + [f"p{i}" for i in range(N_FEATURES)]
        bodies = {
            "lookup": [json.dumps({"dataframe_split": {"columns": ["key"], "data": [[int(k)]]}}).encode()
                       for k in full["key"]],
            "in_request": [json.dumps({"dataframe_split": {"columns": ["key", *features],
                                                           "data": [[int(r["key"]), *(float(r[f]) for f in features)]]}}).encode()
                           for _, r in full.iterrows()],
        }
        samples: dict[str, list[float]] = {"lookup": [], "in_request": []}
        cpu = {"lookup": 0.0, "in_request": 0.0}

        def call(payload: bytes) -> float:
            start = time.perf_counter()
            conn.request("POST", "/invocations", payload, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            took = time.perf_counter() - start
            if response.status != 200:
                raise RuntimeError(f"/invocations answered {response.status}")
            return took

        for i in range(min(50, requests)):  # warm: the model, the online store's connection
            call(bodies["lookup"][i])
            call(bodies["in_request"][i])
        def server_cpu() -> float:  # the server process's CPU seconds (one worker: this process)
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        block = 20  # the kinds alternate by blocks (their order turning), each block's server CPU read
        for start in range(0, requests, block):
            for kind in (("lookup", "in_request") if (start // block) % 2 else ("in_request", "lookup")):
                before = server_cpu()
                for i in range(start, min(start + block, requests)):
                    samples[kind].append(call(bodies[kind][i]))
                cpu[kind] += server_cpu() - before
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        log_file.close()
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        for key in client.scan_iter(match=prefix + "*", count=10_000):
            client.delete(key)

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    out = {"requests_each": requests}
    for kind, values in samples.items():
        out[f"{kind}_p50_ms"], out[f"{kind}_p99_ms"] = sig(pct(values, 0.5)), sig(pct(values, 0.99))
    out["added_p50_ms"] = sig(out["lookup_p50_ms"] - out["in_request_p50_ms"])
    for kind, seconds in cpu.items():  # server CPU per request (clock ticks: 10 ms, over 600 requests)
        out[f"{kind}_server_cpu_ms"] = sig(1000 * seconds / len(samples[kind]))
    out["added_server_cpu_ms"] = sig(out["lookup_server_cpu_ms"] - out["in_request_server_cpu_ms"])
    return out


def served(tmp: Path) -> str:
    """The URL of a modelyard server on a thread of this process (127.0.0.1, a free port), on a
    SQLite file, serving the artifacts (``mlflow-artifacts:/``)."""
    import threading

    import uvicorn

    from modelyard.server.app import create_app
    from modelyard.server.services import Services
    from modelyard.settings import Settings

    settings = Settings.defaults(backend_store_uri=f"sqlite:///{tmp / 'served.db'}",
                                 artifacts_destination=str(tmp / "served-artifacts"), serve_artifacts=True)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, Services.from_settings(settings)), host="127.0.0.1",
                                           port=0, log_level="warning", ws="none", lifespan="on"))
    threading.Thread(target=server.run, name="bench-server", daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the bench's server did not start")
        time.sleep(0.01)
    return f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def spark_jobs(fc, model_uri: str, model, labels, tmp: Path, reps: int) -> dict:
    """On Spark ``local[2]``: ``score_batch`` of a Spark DataFrame vs the same job written by hand
    (the as-of join as a union of feature and label rows carrying each key's last feature row
    forward, the key join, and a ``mapInPandas`` predict with the raw model); ``spark_udf`` vs a plain
    ``pandas_udf`` calling the raw model on the joined columns. Each job is written to Spark's
    ``noop`` sink (everything runs, nothing is stored). CPU is the whole process tree's (the bench,
    Spark's JVM and its Python workers)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from deltalake import DeltaTable
    from pyspark.sql import SparkSession, Window
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import DoubleType, StructField, StructType

    spark = (SparkSession.builder.master("local[2]").appName("bench-features").config("spark.ui.enabled", "false")
             .config("spark.sql.session.timeZone", "UTC").config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .config("spark.sql.shuffle.partitions", "4").config("spark.driver.memory", "3g").getOrCreate())
    try:
        source = tmp / "spark_labels.parquet"
        labels.drop(columns="y").to_parquet(source)
        batch = spark.read.parquet(str(source))
        series = spark.read.parquet(*DeltaTable(fc.get_table("bench.series").location).file_uris())
        profile = spark.read.parquet(*DeltaTable(fc.get_table("bench.profile").location).file_uris())
        fs, ps = [f"f{i}" for i in range(N_FEATURES)], [f"p{i}" for i in range(N_FEATURES)]
        cols = fs + ps

        def run(frame) -> None:
            frame.write.format("noop").mode("overwrite").save()

        broadcast = spark.sparkContext.broadcast(model)

        def hand_join(frame):
            rows = frame.withColumn("rid", F.monotonically_increasing_id())
            feat = series.select(F.col("key"), F.col("ts").alias("t"), F.lit(0).alias("side"),
                                 F.struct(*fs).alias("feat"), F.lit(None).cast("long").alias("rid"))
            lab = rows.select(F.col("key"), F.col("event_ts").alias("t"), F.lit(1).alias("side"),
                              F.lit(None).cast(feat.schema["feat"].dataType).alias("feat"), F.col("rid"))
            w = Window.partitionBy("key").orderBy("t", "side").rowsBetween(Window.unboundedPreceding, Window.currentRow)
            asof = (feat.unionByName(lab).withColumn("m", F.last("feat", ignorenulls=True).over(w))
                    .where(F.col("side") == 1).select("rid", *[F.coalesce(F.col(f"m.{f}"), F.lit(0.0)).alias(f) for f in fs]))
            joined = rows.join(asof, "rid", "left").join(profile, "key", "left")
            return joined.select(*frame.columns, *fs, *[F.coalesce(F.col(p), F.lit(0.0)).alias(p) for p in ps])

        def hand() -> None:
            joined = hand_join(batch)

            def predict(frames):
                raw = broadcast.value
                for pdf in frames:
                    yield pdf.assign(prediction=raw.predict(pdf[cols]).astype("float64"))

            schema = StructType([*joined.schema.fields, StructField("prediction", DoubleType())])
            run(joined.mapInPandas(predict, schema))

        # warm both with one full run each (the JVM's code generation, the Python workers of every
        # partition, the model loaded in them): the timed runs compare steady states, and neither
        # pays for workers the other one started
        run(fc.score_batch(model_uri, batch))
        hand()
        prep_s, _ = timed(lambda: fc.score_batch(model_uri, batch), reps)
        log(f"spark score_batch driver-side preparation (model load, spec, plan) {prep_s:.2f}s")
        (ours_s, ours_cpu), (hand_s, hand_cpu) = alternated(lambda: run(fc.score_batch(model_uri, batch)), hand, reps)
        log(f"spark score_batch modelyard {ours_s:.2f}s, CPU {ours_cpu:.2f}s; by hand {hand_s:.2f}s, CPU {hand_cpu:.2f}s")
        joined = hand_join(batch).cache()
        joined.count()
        from modelyard.features.spark import spark_udf

        udf = spark_udf(spark, model_uri, tracking_uri=fc.tracking_uri)

        @pandas_udf("double")
        def plain(*series_cols):
            frame = pd.concat(series_cols, axis=1)
            frame.columns = cols
            return pd.Series(broadcast.value.predict(frame).astype("float64"))

        run(joined.withColumn("prediction", udf(*cols)))  # warm both, in full
        run(joined.withColumn("prediction", plain(*cols)))
        (udf_s, udf_cpu), (plain_s, plain_cpu) = alternated(lambda: run(joined.withColumn("prediction", udf(*cols))),
                                                            lambda: run(joined.withColumn("prediction", plain(*cols))), reps)
        log(f"spark_udf {udf_s:.2f}s (CPU {udf_cpu:.2f}s), plain pandas_udf {plain_s:.2f}s (CPU {plain_cpu:.2f}s)")
        return {"rows": len(labels), "model_uri": model_uri, "score_batch_prepare_s": sig(prep_s),
                "score_batch_s": sig(ours_s), "hand_written_s": sig(hand_s), "score_batch_overhead": sig(ours_s / hand_s),
                "score_batch_cpu_s": sig(ours_cpu), "hand_written_cpu_s": sig(hand_cpu),
                "score_batch_cpu_overhead": sig(ours_cpu / hand_cpu),
                "spark_udf_s": sig(udf_s), "pandas_udf_s": sig(plain_s), "spark_udf_overhead": sig(udf_s / plain_s),
                "spark_udf_cpu_s": sig(udf_cpu), "pandas_udf_cpu_s": sig(plain_cpu),
                "spark_udf_cpu_overhead": sig(udf_cpu / plain_cpu)}
    finally:
        spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--labels", type=int)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--keys", type=int)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--no-feast", action="store_true")
    parser.add_argument("--spark", action="store_true", help="also score on Spark local[2] (score_batch, spark_udf)")
    parser.add_argument("--spark-labels", type=int, help="rows scored on Spark (default: all labels)")
    parser.add_argument("--spark-only", action="store_true", help="only the Spark figures (the tables and the model first)")
    parser.add_argument("--spark-served", action="store_true",
                        help="track through an in-process modelyard server serving the artifacts (the model is "
                             "downloaded to be scored, as from a remote store)")
    parser.add_argument("--pit-only", action="store_true", help="only the point-in-time join figures (pandas, Feast)")
    parser.add_argument("--cli-only", action="store_true",
                        help="only `modelyard models score-batch` (Parquet to Parquet, time and peak RSS) of --cli-rows rows")
    parser.add_argument("--cli-rows", type=int, help="rows scored by the CLI (default: the labels; 10,000,000 with --cli-only)")
    parser.add_argument("--cli-memory-limit", default="512MB", help="the CLI's --memory-limit (DuckDB's; its default is 512MB)")
    parser.add_argument("--online-only", action="store_true", help="only the online lookup figures (and Feast's) and the serving figure")
    parser.add_argument("--out")
    args = parser.parse_args()
    labels_n = args.labels or (100_000 if args.quick else 1_000_000)
    rows_n = args.rows or (1_000_000 if args.quick else 10_000_000)
    keys_n = args.keys or (10_000 if args.quick else 100_000)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    report: dict = {"machine": {"cores": os.cpu_count(), "loadavg_start": os.getloadavg()}}
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-features-") as tmp_name:
        tmp = Path(tmp_name)
        from modelyard.features import FeatureClient
        from modelyard.settings import Settings
        from modelyard.tracking import fluent

        uri = f"sqlite:///{tmp / 'bench.db'}"
        if args.spark_served:
            uri = served(tmp)
        fluent.set_tracking_uri(uri)
        fc = FeatureClient(uri, Settings.defaults(default_artifact_root=str(tmp / "artifacts")))
        log(f"generating {labels_n} labels, {rows_n} feature rows, {keys_n} keys")
        series, labels, profile = make_data(labels_n, rows_n, keys_n)
        took, _ = timed(lambda: fc.create_table("bench.series", primary_keys="key", timestamp_keys="ts", df=series))
        fc.create_table("bench.profile", primary_keys="key", df=profile)
        report["create_table_s"] = sig(took)
        if args.online_only:
            report["online"] = online(fc, profile, keys_n, tmp, not args.no_feast)
            _, info, _ = train_model(fc, labels)
            report["serving"] = serving_overhead(fc, info.model_uri, labels, tmp)
            log(f"serving: {report['serving']}")
            report["machine"]["loadavg_end"] = os.getloadavg()
            print(json.dumps(report, indent=2))
            return
        if args.pit_only:
            report["pit_join"] = pit_join(fc, series, labels, tmp, not args.no_feast, args.reps)
            report["machine"]["loadavg_end"] = os.getloadavg()
            print(json.dumps(report, indent=2))
            return
        if args.cli_only:
            _, info, _ = train_model(fc, labels)
            source = tmp / "cli-batch.parquet"
            write_batch(source, args.cli_rows or 10_000_000, keys_n)
            report["score_batch_cli"] = score_cli(fc, labels, tmp, info.model_uri, source, args.cli_memory_limit)
            report["machine"]["loadavg_end"] = os.getloadavg()
            print(json.dumps(report, indent=2))
            return
        if args.spark_only:
            spark_rows = labels.head(args.spark_labels) if args.spark_labels else labels
            model, info, _ = train_model(fc, labels)
            report["spark"] = spark_jobs(fc, info.model_uri, model, spark_rows, tmp, args.reps)
            report["machine"]["loadavg_end"] = os.getloadavg()
            print(json.dumps(report, indent=2))
            return

        def partial(section: str) -> None:  # each figure as soon as it is measured, in --out
            report["machine"][f"loadavg_after_{section}"] = os.getloadavg()
            if args.out:
                shown = {k: ({n: v for n, v in d.items() if n != "model"} if isinstance(d, dict) else d)
                         for k, d in report.items()}
                Path(args.out).write_text(json.dumps(shown, indent=2))

        report["pit_join"] = pit_join(fc, series, labels, tmp, not args.no_feast, args.reps)
        partial("pit_join")
        report["score_batch"] = score(fc, series, labels, profile, args.reps)
        model_uri = report["score_batch"].pop("model_uri")
        partial("score_batch")
        cli_source = None
        if args.cli_rows:
            cli_source = tmp / "cli-batch.parquet"
            write_batch(cli_source, args.cli_rows, keys_n)
        report["score_batch_cli"] = score_cli(fc, labels, tmp, model_uri, cli_source, args.cli_memory_limit)
        partial("score_batch_cli")
        report["online"] = online(fc, profile, keys_n, tmp, not args.no_feast)
        partial("online")
        report["serving"] = serving_overhead(fc, model_uri, labels, tmp)
        partial("serving")
        if args.spark:
            spark_rows = labels.head(args.spark_labels) if args.spark_labels else labels
            report["spark"] = spark_jobs(fc, model_uri, report["score_batch"].pop("model"), spark_rows, tmp, args.reps)
            partial("spark")
        report["score_batch"].pop("model", None)
        report["merge"] = merge(fc, series, labels_n)
    report["machine"]["loadavg_end"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
