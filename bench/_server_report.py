"""The report of bench/tracking_server.py: which figures it prints, in which order, and how each
tool's raw results become one entry per figure (values, ratio to MLflow, the native client's ratio,
the stub's ceiling, counts and the root error of a missing figure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracking import sig, speedup

if TYPE_CHECKING:  # the runner's types, for reading only
    from _server_workload import ServerConfig
    from tracking_server import ToolRun

TOOLS = ("modelyard", "mlflow")
NATIVE = "native"  # modelyard's client on `modelyard server` at its defaults: the switching user's gain
STUB = "stub"  # the ceiling server (bench/_server_stub.py): the client's own cost
# the stub plus one durable INSERT per write request in PostgreSQL (--pg-floor): the pg backend's floor
STUB_PG = "stub_pg"
# the same on SQLite (--sqlite-floor): one durable transaction per write request in a SQLite file
STUB_SQLITE = "stub_sqlite"
PG_FLOOR_FIGURES = (
    "log_metric_calls_per_s",
    "log_batch_points_per_s",
    "run_creation_runs_per_s",
    "concurrent_writers_calls_per_s",
)
# the figures where modelyard's client uses the same routes against a stub as against its server (no
# fast path a stub lacks: the columnar search, the Arrow history, the small-files tar): only these have
# a native bound
NATIVE_BOUND_FIGURES = (*PG_FLOOR_FIGURES, "artifact_upload_mb_per_s", "artifact_download_mb_per_s")
# the stub keeping artifact files on disk (--disk-floor): the floor of a server that stores them in a folder
STUB_DISK = "stub_disk"
DISK_FLOOR_FIGURES = (
    "artifact_upload_mb_per_s",
    "artifact_download_mb_per_s",
    "small_files_upload_per_s",
    "small_files_download_per_s",
)
# the floors: (tool, the figures it bounds, the suffix of its figures, the only backend it runs on)
FLOORS = (
    (STUB_PG, PG_FLOOR_FIGURES, "_pg", "pg"),
    (STUB_SQLITE, PG_FLOOR_FIGURES, "_sqlite", "sqlite"),
    (STUB_DISK, DISK_FLOOR_FIGURES, "_disk", None),
)
NO_CEILING = ("artifact_upload_peak_rss_mb", "artifact_download_peak_rss_mb")  # the stub keeps files in RAM

# (name, unit, better, what, MLflow 3.17 figure quoted in the issue), in report order.
# fmt: off
FIGURES: list[tuple[str, str, str, str, Any]] = [
    ("launch_to_health_s", "s", "lower", "server process start to the first 200 from GET /health (fresh database)", [12, 15]),
    ("idle_rss_mb", "MB", "lower", "RSS summed over the server's process tree once it is idle after startup", 2300),
    ("log_metric_calls_per_s", "calls/s", "higher", "fluent mlflow.log_metric, one call per step, one run", 15),
    ("log_batch_points_per_s", "points/s", "higher", "MlflowClient.log_batch, 1,000 metric points per call", 3900),
    ("run_creation_runs_per_s", "runs/s", "higher", "start_run + log_params(10) + log_metrics(10) + set_tags(5) + end_run", 5.5),
    ("search_top100_p50_ms", "ms (p50)", "lower", "MlflowClient.search_runs in the search experiment, max_results=100", 810),
    ("search_top1000_p50_ms", "ms (p50)", "lower", "the same search, max_results=1000", 2300),
    ("metric_history_ms", "ms (p50)", "lower", "MlflowClient.get_metric_history of one key", 9300),
    ("artifact_upload_mb_per_s", "MB/s", "higher", "mlflow.log_artifact of one random file (p50)", 236),
    ("artifact_download_mb_per_s", "MB/s", "higher", "mlflow.artifacts.download_artifacts of that file (p50)", 139),
    ("artifact_upload_peak_rss_mb", "MB", "lower", "server tree RSS, peak during the uploads", None),
    ("artifact_download_peak_rss_mb", "MB", "lower", "server tree RSS, peak during the downloads", None),
    ("small_files_upload_per_s", "files/s", "higher", "mlflow.log_artifacts of a folder of 1 KB files", 253),
    ("small_files_download_per_s", "files/s", "higher", "mlflow.artifacts.download_artifacts of that folder", 78),
    ("concurrent_writers_calls_per_s", "calls/s", "higher", "writer processes, each MlflowClient.log_metric on its own run for a fixed time; total", 102),
]
# fmt: on

# Where a missing figure's error is recorded, when not under its own name.
ERROR_SOURCES = {
    "artifact_upload_mb_per_s": ("artifact_big",),
    "artifact_download_mb_per_s": ("artifact_big",),
    "artifact_upload_peak_rss_mb": ("artifact_upload_mb_per_s", "artifact_big"),
    "artifact_download_peak_rss_mb": ("artifact_download_mb_per_s", "artifact_big"),
    "small_files_upload_per_s": ("artifact_small_files",),
    "small_files_download_per_s": ("artifact_small_files",),
    "search_top100_p50_ms": ("search_seed", "populate_search"),
    "search_top1000_p50_ms": ("search_seed", "populate_search"),
    "metric_history_ms": ("history_seed", "populate_history"),
}
PHASE_OF = {
    "launch_to_health_s": "launch",
    "idle_rss_mb": "launch",
    "log_metric_calls_per_s": "writes",
    "log_batch_points_per_s": "writes",
    "run_creation_runs_per_s": "writes",
    "concurrent_writers_calls_per_s": "concurrent",
    "search_top100_p50_ms": "reads",
    "search_top1000_p50_ms": "reads",
    "metric_history_ms": "reads",
}


def figure_error(name: str, r: ToolRun) -> str:
    errors = r.res["errors"]
    for source in (*ERROR_SOURCES.get(name, ()), name):  # the root cause first
        if source in errors:
            text = errors[source] if source == name else f"{source}: {errors[source]}"
            failed = r.res["raw"].get("failed_requests", {}).get(source)
            if failed:
                last = failed[-1]
                text += f" [failed request: {last['request']} -> {last['status']} {last['body'][:300]}]"
            return text
    phase = PHASE_OF.get(name) or ("artifacts" if "artifact" in name or "small_files" in name else None)
    problem = r.res["phases"].get(phase or "", {}).get("problem")
    return problem or r.problem or "not measured"


def _count(name: str, raw: dict) -> Any:
    for key in ("calls", "runs_created", "files", "mb"):
        if key in raw:
            return raw[key]
    for key in ("samples_ms", "samples_s"):
        if key in raw:
            return len(raw[key])
    return None


def _native_bound(entry: dict, stub: ToolRun, name: str, ml, better: str, suffix: str) -> None:
    """modelyard's own client against a stub (its ``native`` variant): ``native_ceiling`` (or
    ``native_ceiling_pg`` against the PostgreSQL floor) is the best native ratio any server could show
    through modelyard's client, ``native_share`` how much of it the native figure reaches."""
    figures = stub.res.get("variants", {}).get("native", {}).get("figures", {})
    if name not in figures or name not in NATIVE_BOUND_FIGURES:
        return
    bound = sig(figures[name])
    entry[f"native_{stub.tool}"] = bound
    entry[f"native_ceiling{suffix}"] = sig(speedup(bound, ml, better), 3)
    if entry.get("native_ratio") and entry[f"native_ceiling{suffix}"]:
        entry[f"native_share{suffix}"] = sig(entry["native_ratio"] / entry[f"native_ceiling{suffix}"], 3)


def build_backend_report(backend: str, tools: list[str], runs: dict[str, ToolRun], cfg: ServerConfig) -> dict:
    figures = {}
    for name, unit, better, what, issue in FIGURES:
        entry: dict[str, Any] = {}
        errors, counts = {}, {}
        for tool in TOOLS:
            r = runs.get(tool)
            value = r.res["figures"].get(name) if r else None
            entry[tool] = sig(value)
            if r is None:
                continue
            if value is None:
                errors[tool] = figure_error(name, r)
            elif name in r.res["raw"]:
                c = _count(name, r.res["raw"][name])
                if c is not None:
                    counts[tool] = c
        ml = entry["mlflow"]
        entry["ratio"] = sig(speedup(entry["modelyard"], ml, better), 3)
        if NATIVE in runs:
            # modelyard's client on its server (defaults) against the mlflow client on MLflow's
            r = runs[NATIVE]
            nv = sig(r.res["figures"].get(name))
            entry[NATIVE] = nv
            entry["native_ratio"] = sig(speedup(nv, ml, better), 3)
            standard = r.res.get("variants", {}).get("standard", {}).get("figures", {})
            if name in standard:  # the same client with its fast paths off (the standard routes)
                sv_ = sig(standard[name])
                entry["native_standard_routes"] = sv_
                if sv_ and ml:
                    entry["native_standard_ratio"] = sig(speedup(sv_, ml, better), 3)
            if nv is None:
                errors[NATIVE] = figure_error(name, r)
        stub = runs.get(STUB)
        if stub is not None:
            # The ceiling: MLflow against the stub, the best ratio any server could show here.
            sv = sig(stub.res["figures"].get(name))
            entry[STUB] = sv
            entry["ceiling"] = sig(speedup(sv, ml, better) if name not in NO_CEILING else None, 3)
            if entry["ratio"] and entry["ceiling"]:  # how much of the ceiling modelyard reaches
                entry["share"] = sig(entry["ratio"] / entry["ceiling"], 3)
            _native_bound(entry, stub, name, ml, better, "")
        for tool, bounded, suffix, _backend in FLOORS:
            floor = runs.get(tool)
            if floor is None or name not in bounded:
                continue
            # A floor: MLflow against the stub doing the least a durable server must (one INSERT per
            # write in PostgreSQL, one transaction in SQLite, the artifact files on disk), the best
            # ratio a server storing there could show.
            fv = sig(floor.res["figures"].get(name))
            entry[tool] = fv
            entry[f"ceiling{suffix}"] = sig(speedup(fv, ml, better), 3)
            if entry["ratio"] and entry[f"ceiling{suffix}"]:
                entry[f"share{suffix}"] = sig(entry["ratio"] / entry[f"ceiling{suffix}"], 3)
            _native_bound(entry, floor, name, ml, better, suffix)
        entry.update(unit=unit, better=better, what=what, mlflow_in_issue=issue)
        if counts:
            entry["n"] = counts
        if name == "launch_to_health_s":
            entry["relaunch_s"] = {
                t: sig(r.res["server"]["launches"][1]["launch_to_health_s"])
                for t, r in runs.items()
                if len(r.res["server"].get("launches", [])) > 1
            }
        elif name == "idle_rss_mb":
            entry["processes"] = {
                t: r.res["server"]["idle"]["processes"] for t, r in runs.items() if "idle" in r.res["server"]
            }
            entry["pss_mb"] = {
                t: sig(r.res["server"]["idle"]["pss_mb"])
                for t, r in runs.items()
                if "idle" in r.res["server"]
            }
        elif name.startswith("search_"):
            entry["runs"] = cfg.search_runs
        elif name == "metric_history_ms":
            entry["points"] = cfg.history_points
        elif name.startswith("artifact_"):
            entry["file_mb"] = cfg.big_artifact_mb
        elif name.startswith("small_files"):
            entry["files"] = cfg.small_files
            entry["file_bytes"] = cfg.small_file_bytes
        elif name == "concurrent_writers_calls_per_s":
            entry["writers"] = cfg.writers
            entry["seconds"] = cfg.writer_seconds
            for t, r in runs.items():
                chk = r.res["checks"].get(name)
                if chk:
                    entry.setdefault("errors", {})[t] = chk["errors"]
                    entry.setdefault("all_values_stored", {})[t] = chk["all_acknowledged_values_stored"]
        if errors:
            entry["error"] = errors
        figures[name] = entry
    details = {}
    for tool, r in runs.items():
        res = r.res
        details[tool] = {
            "problem": r.problem,
            "client": res.get("info"),
            "store": res["server"].get("store"),
            "server": {k: v for k, v in res["server"].items() if k != "store"},
            "phases": {
                k: {kk: sig(vv) if isinstance(vv, float) else vv for kk, vv in v.items()}
                for k, v in res["phases"].items()
            },
            "checks": res["checks"],
            "extra": res["extra"],
            "errors": res["errors"],
            "raw": res["raw"],
        }
    return {"figures": figures, "details": details}
