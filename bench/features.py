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
- ``merge``: upserting the label-count of rows into the time-series table (time, process peak RSS).
- ``online``: single-key lookups of 10 features from Redis (p50/p99), when Redis answers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
FEAST_VENV = BENCH / ".venv-feast"
FEAST_REQUIREMENT = "feast==0.67.0"
N_FEATURES = 10


def log(msg: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def sig(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else float(f"{x:.{digits}g}")


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


# -- Feast -------------------------------------------------------------------------------------
def ensure_feast() -> str | None:
    py = FEAST_VENV / "bin" / "python"
    try:
        if not py.exists():
            log("creating bench/.venv-feast")
            subprocess.run([sys.executable, "-m", "venv", str(FEAST_VENV)], check=True, timeout=300)
        probe = subprocess.run([str(py), "-c", "import feast; print(feast.__version__)"], capture_output=True, text=True)
        if probe.returncode == 0:
            return None
        log(f"pip install {FEAST_REQUIREMENT} into bench/.venv-feast (a few minutes)")
        pip = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", FEAST_REQUIREMENT],
                             capture_output=True, text=True, timeout=1800)
        if pip.returncode != 0:
            return f"pip install {FEAST_REQUIREMENT} failed: {pip.stderr.strip().splitlines()[-1:]}"
        return None
    except Exception as exc:  # noqa: BLE001 - reported in the JSON
        return f"{type(exc).__name__}: {exc}"


def run_feast(tmp: Path, series_path: Path, labels_path: Path) -> tuple[float | None, pd.DataFrame | None, str | None]:
    problem = ensure_feast()
    if problem:
        return None, None, problem
    out = tmp / "feast_out.parquet"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_")) and k != "PYTHONPATH"}
    env.update(OMP_WAIT_POLICY="passive", FEAST_USAGE="False", DO_NOT_TRACK="true")
    proc = subprocess.run([str(FEAST_VENV / "bin" / "python"), str(BENCH / "_features_feast.py"), str(series_path),
                           str(labels_path), str(out), str(tmp / "feast_repo")], capture_output=True, text=True, env=env,
                          timeout=3600)
    if proc.returncode != 0:
        return None, None, proc.stderr.strip().splitlines()[-1:][0][:500] if proc.stderr.strip() else "failed"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["seconds"], pd.read_parquet(out), None


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
        feast_s, feast_df, error = run_feast(tmp, series_path, labels_path)
        if error:
            out["feast_error"] = error
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


def score(fc, series, labels, profile, reps: int) -> dict:
    import modelyard
    from modelyard.features import FeatureLookup, join

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
            "overhead": sig(ours_s / hand_s), "identical_predictions": agree, "model_uri": info.model_uri}


def score_cli(fc, labels, tmp: Path, model_uri: str) -> dict:
    """``modelyard models score-batch`` from Parquet to Parquet in a child process: time and peak RSS."""
    source, out = tmp / "batch.parquet", tmp / "scored.parquet"
    labels.drop(columns="y").to_parquet(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(PYTHONPATH=str(REPO), OMP_WAIT_POLICY="passive", MODELYARD_TRACKING_URI=fc.tracking_uri,
               MODELYARD_DEFAULT_ARTIFACT_ROOT=fc.settings.artifacts.default_root)
    cmd = [sys.executable, "-m", "modelyard.cli.main", "models", "score-batch", "-m", model_uri, "--input", str(source),
           "--output", str(out), "--memory-limit", "1GB"]
    err = tmp / "score-batch.stderr"
    start = time.perf_counter()
    with open(err, "w") as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
    took = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        return {"error": err.read_text().strip()[-500:]}
    peak = usage.ru_maxrss / 1024
    log(f"score-batch CLI {took:.2f}s")
    return {"rows": len(labels), "seconds": sig(took), "child_peak_rss_mb": sig(peak)}


def merge(fc, series, rows: int) -> dict:
    rng = np.random.default_rng(11)
    updates = series.sample(n=min(rows, len(series)), random_state=3).copy()
    for i in range(N_FEATURES):
        updates[f"f{i}"] = rng.standard_normal(len(updates))
    took, _ = timed(lambda: fc.write_table("bench.series", updates, mode="merge"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log(f"merge {took:.2f}s")
    return {"rows": len(updates), "into_rows": len(series), "seconds": sig(took), "process_peak_rss_mb": sig(peak)}


def online(fc, keys: int, lookups: int = 2000) -> dict:
    try:
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except Exception as exc:  # noqa: BLE001
        return {"error": f"Redis is not available: {exc}"}
    from modelyard.features.online import open_store
    from modelyard.features.publish import key_strings

    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    uri = f"redis://127.0.0.1:6379/0?prefix={prefix}"
    took, result = timed(lambda: fc.publish_table("bench.profile", uri))
    table = fc.get_table("bench.profile")
    store = open_store(uri)
    names = list(table.feature_names)
    rng = np.random.default_rng(5)
    samples = []
    try:
        for k in rng.integers(0, keys, lookups):
            start = time.perf_counter()
            store.read("bench.profile", key_strings(table, [(int(k),)]), names)
            samples.append(time.perf_counter() - start)
    finally:
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        found = list(client.scan_iter(match=prefix + "*", count=10_000))
        for start in range(0, len(found), 10_000):
            client.delete(*found[start : start + 10_000])
        store.close()
    samples.sort()
    return {"publish_keys": result["written"], "publish_s": sig(took), "lookups": lookups,
            "p50_ms": sig(1000 * samples[len(samples) // 2]), "p99_ms": sig(1000 * samples[int(len(samples) * 0.99)])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--labels", type=int)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--keys", type=int)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--no-feast", action="store_true")
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
        fluent.set_tracking_uri(uri)
        fc = FeatureClient(uri, Settings.defaults(default_artifact_root=str(tmp / "artifacts")))
        log(f"generating {labels_n} labels, {rows_n} feature rows, {keys_n} keys")
        series, labels, profile = make_data(labels_n, rows_n, keys_n)
        took, _ = timed(lambda: fc.create_table("bench.series", primary_keys="key", timestamp_keys="ts", df=series))
        fc.create_table("bench.profile", primary_keys="key", df=profile)
        report["create_table_s"] = sig(took)
        report["pit_join"] = pit_join(fc, series, labels, tmp, not args.no_feast, args.reps)
        report["score_batch"] = score(fc, series, labels, profile, args.reps)
        report["score_batch_cli"] = score_cli(fc, labels, tmp, report["score_batch"].pop("model_uri"))
        report["online"] = online(fc, keys_n)
        report["merge"] = merge(fc, series, labels_n)
    report["machine"]["loadavg_end"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
