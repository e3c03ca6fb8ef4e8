"""Model-registry benchmark: `mlflow server` vs `modelyard server` with 1,000 registered models x
20 versions (identical data), in one run; one JSON object with both figures and the ratios on stdout.

    .venv/bin/python bench/registry.py [--quick] [--models N] [--versions N] [--reps N] [--out FILE] [--keep]

1. Each tool gets a fresh SQLite database and artifact folder, and its server on a free 127.0.0.1
   port (`bench/.venv-mlflow/bin/mlflow server`, `modelyard server --workers 4`).
2. The real mlflow client (bench/.venv-mlflow) logs one small scikit-learn model to each server and
   registers it once (`zz-sample`, tag, version tag, alias): each tool writes its own rows.
3. Both databases are filled by direct SQL with the same generated catalogue, cloned from those
   rows: N models (tags team/owner, a description), M versions each (stages, tags validated and
   dataset; all pointing at the sample model's files), aliases champion -> M and challenger -> M-1.
4. Once both servers are idle, the searches are timed over raw HTTP (same client for both, requests
   alternating between the tools), then through the mlflow client; answers are checked to match.
5. Alias resolution: `models:/<name>@champion` to local files, a different model each call; the
   mlflow client against mlflow's server, and modelyard's client against modelyard's server.

Progress goes to stderr, only the JSON to stdout. See bench/README.md for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tracking import base_env, ensure_mlflow_venv, machine_info, mlflow_python, sig  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TOOLS = ("modelyard", "mlflow")
MODELYARD_WORKERS = 4  # mlflow server's default
BASE_TIME = 1_700_000_000_000
TEAMS = ("vision", "nlp", "tabular")
SAMPLE = "zz-sample"

# (figure, endpoint, query params, what): the searches timed on both servers.
SEARCHES: list[tuple[str, str, dict[str, Any], str]] = [
    ("rm_search_all_1000_ms", "registered-models/search", {"max_results": 1000},
     "search_registered_models, no filter, max_results=1000 (latest versions, tags, aliases of 1,000 models)"),
    ("rm_search_tag_100_ms", "registered-models/search",
     {"filter": "tags.team = 'vision'", "max_results": 100, "order_by": "last_updated_timestamp DESC"},
     "search_registered_models by tag, 100 per page, newest first"),
    ("rm_search_name_like_ms", "registered-models/search", {"filter": "name LIKE 'model-01%'", "max_results": 100},
     "search_registered_models, name LIKE prefix (100 models)"),
    ("mv_search_one_model_ms", "model-versions/search", {"filter": "name = 'model-0042'"},
     "search_model_versions of one model (20 versions)"),
    ("mv_search_tag_1000_ms", "model-versions/search", {"filter": "tags.validated = 'true'", "max_results": 1000},
     "search_model_versions by tag, 1,000 per page"),
    ("mv_search_all_10000_ms", "model-versions/search", {"max_results": 10000},
     "search_model_versions, no filter, max_results=10,000 (the client's default page)"),
]  # fmt: skip

SAMPLE_SCRIPT = """
import json, sys
import numpy as np
import mlflow
from sklearn.linear_model import LogisticRegression

mlflow.set_experiment("registry-bench")
rng = np.random.default_rng(0)
X = rng.random((50, 4))
y = (X[:, 0] > 0.5).astype(int)
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model")
version = mlflow.register_model(info.model_uri, "{sample}")
client = mlflow.MlflowClient()
client.set_registered_model_tag("{sample}", "team", "vision")
client.set_model_version_tag("{sample}", version.version, "validated", "true")
client.set_registered_model_alias("{sample}", "champion", version.version)
print("RESULT " + json.dumps({{"run_id": run.info.run_id, "model_id": info.model_id}}), flush=True)
"""

CLIENT_SEARCH_SCRIPT = """
import json, statistics, sys, time
import mlflow
client = mlflow.MlflowClient()
reps = int(sys.argv[1])
calls = {
    "rm_search_all_1000_ms": lambda: client.search_registered_models(max_results=1000),
    "rm_search_tag_100_ms": lambda: client.search_registered_models(
        "tags.team = 'vision'", max_results=100, order_by=["last_updated_timestamp DESC"]),
    "mv_search_one_model_ms": lambda: client.search_model_versions("name = 'model-0042'"),
    "mv_search_tag_1000_ms": lambda: client.search_model_versions("tags.validated = 'true'", max_results=1000),
}
out = {}
for figure, call in calls.items():
    n = len(call())  # warm-up, and the answer size
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t) * 1000)
    out[figure] = {"p50": statistics.median(samples), "n": n, "samples": samples}
print("RESULT " + json.dumps(out), flush=True)
"""

MLFLOW_RESOLVE_SCRIPT = """
import json, os, sys, tempfile, time
import mlflow
first, reps = int(sys.argv[1]), int(sys.argv[2])
samples, files = [], None
for i in range(first, first + reps + 1):  # the first call warms up
    dst = tempfile.mkdtemp()
    t = time.perf_counter()
    path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/model-{i:04d}@champion", dst_path=dst)
    if i > first:
        samples.append((time.perf_counter() - t) * 1000)
    files = sorted(os.listdir(path))
print("RESULT " + json.dumps({"samples": samples, "files": files}), flush=True)
"""

MODELYARD_RESOLVE_SCRIPT = """
import json, os, sys, tempfile, time
from modelyard.models.uri import download_model
first, reps, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
samples, files = [], None
for i in range(first, first + reps + 1):  # the first call warms up
    dst = tempfile.mkdtemp()
    t = time.perf_counter()
    path = download_model(f"models:/model-{i:04d}@champion", dst, tracking_uri=url)
    if i > first:
        samples.append((time.perf_counter() - t) * 1000)
    files = sorted(os.listdir(path))
print("RESULT " + json.dumps({"samples": samples, "files": files}), flush=True)
"""


def log(msg: str) -> None:
    sys.stderr.write(f"[bench-registry {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- servers -------------------------------------------------------------------------------------
class Server:
    def __init__(self, tool: str, folder: Path) -> None:
        self.tool, self.folder = tool, folder
        self.db = folder / f"{tool}.db"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 180.0) -> float:
        args = [
            "--backend-store-uri", f"sqlite:///{self.db}",
            "--artifacts-destination", str(self.folder / "artifacts"),
            "--host", "127.0.0.1",
            "--port", str(self.port),
        ]  # fmt: skip
        env = base_env()
        if self.tool == "mlflow":
            cmd = [str(mlflow_python().parent / "mlflow"), "server", *args]
        else:
            cmd = [
                str(REPO / ".venv" / "bin" / "modelyard"),
                "server",
                *args,
                "--workers",
                str(MODELYARD_WORKERS),
            ]
            env["PYTHONPATH"] = str(REPO)
        logf = open(self.folder / "server.log", "wb")  # noqa: SIM115 - kept open for the server's life
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, cwd=self.folder, env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True
        )
        while time.perf_counter() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.tool} server exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - t0
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.2)
        raise RuntimeError(f"{self.tool} server did not answer /health: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return " | ".join((self.folder / "server.log").read_text(errors="replace").splitlines()[-8:])
        except OSError:
            return "(no log)"

    def settle(self, max_s: float = 120.0) -> bool:
        """Wait until the server's process tree is idle (< 10% of a core for 3 s)."""
        import psutil

        t0 = time.perf_counter()
        while time.perf_counter() - t0 < max_s:
            try:
                root = psutil.Process(self.proc.pid)
                procs = [root, *root.children(recursive=True)]
                before = sum(sum(p.cpu_times()[:2]) for p in procs)
                time.sleep(3.0)
                after = sum(sum(p.cpu_times()[:2]) for p in procs)
            except psutil.Error:
                continue
            if (after - before) / 3.0 < 0.10:
                return True
        return False

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None


def run_script(
    tool_python: str, code: str, args: list[str], env_extra: dict[str, str], timeout_s: float = 600
) -> Any:
    env = {**base_env(), **env_extra}
    proc = subprocess.run(
        [tool_python, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
    )
    lines = [ln[len("RESULT ") :] for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"client script failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return json.loads(lines[-1])


# -- the catalogue ----------------------------------------------------------------------------------
def catalogue(models: int, versions: int) -> list[dict]:
    out = []
    for i in range(models):
        created = BASE_TIME + i * 1000
        out.append(
            {
                "name": f"model-{i:04d}",
                "created": created,
                "updated": created + versions,
                "description": f"Model number {i}",
                "tags": {"team": TEAMS[i % 3], "owner": f"user{i % 10}"},
                "aliases": {"champion": versions, "challenger": versions - 1},
                "versions": [
                    {
                        "version": v,
                        "created": created + v,
                        "stage": "Production"
                        if v == versions
                        else "Staging"
                        if v == versions - 1
                        else "Archived"
                        if v <= 5
                        else "None",
                        "tags": {"validated": "true" if v % 4 == 0 else "false", "dataset": f"ds-{v % 3}"},
                    }
                    for v in range(1, versions + 1)
                ],
            }
        )
    return out


def _template(conn: sqlite3.Connection, table: str, where: str, args: tuple) -> dict:
    conn.row_factory = sqlite3.Row
    row = conn.execute(f"SELECT * FROM {table} WHERE {where}", args).fetchone()  # noqa: S608 - our own names
    if row is None:
        raise RuntimeError(f"no sample row in {table}")
    return dict(row)


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"  # noqa: S608
    conn.executemany(sql, [tuple(r[c] for c in cols) for r in rows])


def populate_mlflow(db: Path, data: list[dict]) -> None:
    conn = sqlite3.connect(db)
    rm = _template(conn, "registered_models", "name = ?", (SAMPLE,))
    mv = _template(conn, "model_versions", "name = ? AND version = 1", (SAMPLE,))
    rmt = _template(conn, "registered_model_tags", "name = ?", (SAMPLE,))
    mvt = _template(conn, "model_version_tags", "name = ?", (SAMPLE,))
    alias = _template(conn, "registered_model_aliases", "name = ?", (SAMPLE,))
    models, versions, model_tags, version_tags, aliases = [], [], [], [], []
    for m in data:
        name = m["name"]
        models.append({**rm, "name": name, "creation_time": m["created"], "last_updated_time": m["updated"],
                       "description": m["description"]})  # fmt: skip
        model_tags += [{**rmt, "name": name, "key": k, "value": v} for k, v in m["tags"].items()]
        aliases += [{**alias, "name": name, "alias": a, "version": v} for a, v in m["aliases"].items()]
        for v in m["versions"]:
            versions.append({**mv, "name": name, "version": v["version"], "creation_time": v["created"],
                             "last_updated_time": v["created"], "current_stage": v["stage"]})  # fmt: skip
            version_tags += [
                {**mvt, "name": name, "version": v["version"], "key": k, "value": val}
                for k, val in v["tags"].items()
            ]
    with conn:
        for table, rows in (
            ("registered_models", models),
            ("model_versions", versions),
            ("registered_model_tags", model_tags),
            ("model_version_tags", version_tags),
            ("registered_model_aliases", aliases),
        ):
            _insert(conn, table, rows)
    conn.close()


def _newest_per_stage(m: dict) -> set[int]:
    newest: dict[str, int] = {}
    for v in m["versions"]:
        newest[v["stage"]] = max(newest.get(v["stage"], 0), v["version"])
    return set(newest.values())


def populate_modelyard(db: Path, data: list[dict]) -> None:
    conn = sqlite3.connect(db)
    rm = _template(conn, "registered_models", "name = ?", (SAMPLE,))
    mv = _template(conn, "model_versions", "rm_id = ? AND version = 1", (rm["id"],))
    next_rm = conn.execute("SELECT max(id) FROM registered_models").fetchone()[0] + 1
    next_mv = conn.execute("SELECT max(id) FROM model_versions").fetchone()[0] + 1
    models, versions, model_tags, version_tags, aliases = [], [], [], [], []
    for m in data:
        rm_id, next_rm = next_rm, next_rm + 1
        models.append({**rm, "id": rm_id, "name": m["name"], "creation_time": m["created"],
                       "last_updated_time": m["updated"], "description": m["description"],
                       "last_version": len(m["versions"])})  # fmt: skip
        model_tags += [{"rm_id": rm_id, "key": k, "value": v} for k, v in m["tags"].items()]
        aliases += [{"rm_id": rm_id, "alias": a, "version": v} for a, v in m["aliases"].items()]
        newest = _newest_per_stage(m)  # modelyard flags the newest version of each stage
        for v in m["versions"]:
            mv_id, next_mv = next_mv, next_mv + 1
            versions.append({**mv, "id": mv_id, "rm_id": rm_id, "version": v["version"], "creation_time": v["created"],
                             "last_updated_time": v["created"], "current_stage": v["stage"],
                             "is_latest": int(v["version"] in newest)})  # fmt: skip
            version_tags += [{"mv_id": mv_id, "key": k, "value": val} for k, val in v["tags"].items()]
    with conn:
        for table, rows in (
            ("registered_models", models),
            ("model_versions", versions),
            ("registered_model_tags", model_tags),
            ("model_version_tags", version_tags),
            ("registered_model_aliases", aliases),
        ):
            _insert(conn, table, rows)
    conn.close()


# -- measurements ---------------------------------------------------------------------------------
def _fingerprint(endpoint: str, body: dict) -> list:
    if endpoint.startswith("registered-models"):
        return [
            (m["name"], sorted((v["current_stage"], v["version"]) for v in m.get("latest_versions", [])),
             sorted((a["alias"], a["version"]) for a in m.get("aliases", [])), sorted((t["key"], t["value"]) for t in m.get("tags", [])))
            for m in body.get("registered_models", [])
        ]  # fmt: skip
    # MLflow's search leaves versions' aliases out (mlflow#16734); modelyard fills them in
    return sorted(
        (v["name"], v["version"], v["current_stage"], sorted((t["key"], t["value"]) for t in v.get("tags", [])))
        for v in body.get("model_versions", [])
    )  # fmt: skip


def time_searches(servers: dict[str, Server], reps: int) -> dict[str, dict]:
    """Each search, the tools alternating request by request, over one keep-alive connection each."""
    import httpx

    clients = {
        tool: httpx.Client(base_url=s.url + "/api/2.0/mlflow", timeout=300) for tool, s in servers.items()
    }
    out: dict[str, dict] = {}
    try:
        for figure, endpoint, params, _ in SEARCHES:
            samples: dict[str, list[float]] = {tool: [] for tool in servers}
            answers: dict[str, Any] = {}
            sizes: dict[str, int] = {}
            for rep in range(reps + 1):
                order = list(servers) if rep % 2 == 0 else list(reversed(list(servers)))
                for tool in order:
                    t = time.perf_counter()
                    response = clients[tool].get(f"/{endpoint}", params=params)
                    content = response.content
                    elapsed = (time.perf_counter() - t) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(
                            f"{tool} {endpoint}: HTTP {response.status_code} {content[:300]!r}"
                        )
                    if rep == 0:  # warm-up: check the answer instead
                        body = json.loads(content)
                        answers[tool] = _fingerprint(endpoint, body)
                        sizes[tool] = len(content)
                    else:
                        samples[tool].append(elapsed)
            same = len({json.dumps(a) for a in answers.values()}) == 1
            out[figure] = {
                tool: {"p50": statistics.median(s), "min": min(s), "samples": [sig(x) for x in s]}
                for tool, s in samples.items()
            }
            out[figure]["check"] = {"same_answer": same, "results": {t: len(a) for t, a in answers.items()},
                                    "bytes": sizes}  # fmt: skip
            log(
                f"{figure}: "
                + ", ".join(f"{t} {out[figure][t]['p50']:.1f} ms" for t in servers)
                + f" (same: {same})"
            )
    finally:
        for c in clients.values():
            c.close()
    return out


def time_client_searches(servers: dict[str, Server], reps: int) -> dict[str, dict]:
    """The same searches through the mlflow client (its own overhead included), one process per tool."""
    out: dict[str, dict] = {}
    for tool, server in servers.items():
        env = {"MLFLOW_TRACKING_URI": server.url, "MLFLOW_HTTP_REQUEST_TIMEOUT": "600"}
        out[tool] = run_script(str(mlflow_python()), CLIENT_SEARCH_SCRIPT, [str(reps)], env)
        log(f"mlflow client -> {tool}: " + ", ".join(f"{k} {v['p50']:.0f} ms" for k, v in out[tool].items()))
    return out


def time_resolution(servers: dict[str, Server], reps: int) -> dict[str, dict]:
    """models:/<name>@champion -> local files; each tool's own client; ABBA halves, new model per call."""
    half = max(1, reps // 2)
    runs = {tool: {"samples": [], "files": None} for tool in servers}
    order = ["mlflow", "modelyard", "modelyard", "mlflow"]
    for i, tool in enumerate(order):
        first = i * (half + 1) + 1
        url = servers[tool].url
        if tool == "mlflow":
            env = {"MLFLOW_TRACKING_URI": url}
            res = run_script(str(mlflow_python()), MLFLOW_RESOLVE_SCRIPT, [str(first), str(half)], env)
        else:
            env = {"PYTHONPATH": str(REPO)}
            res = run_script(sys.executable, MODELYARD_RESOLVE_SCRIPT, [str(first), str(half), url], env)
        runs[tool]["samples"] += res["samples"]
        runs[tool]["files"] = res["files"]
    out = {
        tool: {
            "p50": statistics.median(r["samples"]),
            "min": min(r["samples"]),
            "samples": [sig(x) for x in r["samples"]],
        }
        for tool, r in runs.items()
    }
    out["check"] = {"files": {tool: r["files"] for tool, r in runs.items()},
                    "same_files": runs["mlflow"]["files"] == runs["modelyard"]["files"]}  # fmt: skip
    log("resolve: " + ", ".join(f"{t} {out[t]['p50']:.1f} ms" for t in servers))
    return out


def _ratio(figures: dict) -> float | None:
    my, ml = figures.get("modelyard", {}).get("p50"), figures.get("mlflow", {}).get("p50")
    return sig(ml / my) if my and ml else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 models x 20 versions, 3 repetitions")
    parser.add_argument("--models", type=int, default=None)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions per figure")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the databases and artifacts")
    args = parser.parse_args(argv)
    models = args.models or (200 if args.quick else 1000)
    reps = args.reps or (3 if args.quick else 9)
    report: dict[str, Any] = {
        "benchmark": "registry",
        "config": {
            "models": models,
            "versions_per_model": args.versions,
            "reps": reps,
            "modelyard_workers": MODELYARD_WORKERS,
            "backend": "sqlite",
        },  # fmt: skip
        "machine": machine_info(),
        "figures": {},
        "errors": {},
    }
    error = ensure_mlflow_venv()
    if error:
        report["errors"]["mlflow_venv"] = error
        print(json.dumps(report, indent=2))
        return 1
    work = Path(
        tempfile.mkdtemp(
            prefix="bench-registry-", dir=BENCH / ".work" if (BENCH / ".work").exists() else None
        )
    )
    servers = {}
    for tool in TOOLS:
        (work / tool).mkdir()
        servers[tool] = Server(tool, work / tool)
    try:
        report["launch_s"] = {tool: sig(s.start()) for tool, s in servers.items()}
        data = catalogue(models, args.versions)
        populate = {"mlflow": populate_mlflow, "modelyard": populate_modelyard}
        for tool, server in servers.items():
            log(f"{tool}: logging and registering the sample model through the API")
            env = {"MLFLOW_TRACKING_URI": server.url}
            report.setdefault("sample", {})[tool] = run_script(
                str(mlflow_python()), SAMPLE_SCRIPT.format(sample=SAMPLE), [], env
            )
            t = time.perf_counter()
            populate[tool](server.db, data)
            log(
                f"{tool}: {models} models x {args.versions} versions inserted in {time.perf_counter() - t:.1f}s"
            )
        report["settled"] = {tool: s.settle() for tool, s in servers.items()}
        searches = time_searches(servers, reps)
        client_searches = time_client_searches(servers, max(1, reps // 3))
        resolution = time_resolution(servers, reps * 2)
        for figure, _, _, what in SEARCHES:
            f = searches[figure]
            report["figures"][figure] = {
                "modelyard": sig(f["modelyard"]["p50"]),
                "mlflow": sig(f["mlflow"]["p50"]),
                "ratio": _ratio(f),
                "unit": "ms (p50, raw HTTP)",
                "better": "lower",
                "what": what,
                "same_answer": f["check"]["same_answer"],
            }
        for figure, per_tool in client_searches["modelyard"].items():
            report["figures"][f"client_{figure}"] = {
                "modelyard": sig(per_tool["p50"]),
                "mlflow": sig(client_searches["mlflow"][figure]["p50"]),
                "ratio": sig(client_searches["mlflow"][figure]["p50"] / per_tool["p50"]),
                "unit": "ms (p50, mlflow client)",
                "better": "lower",
                "what": "the same search through MlflowClient against each server",
            }
        report["figures"]["resolve_alias_to_files_ms"] = {
            "modelyard": sig(resolution["modelyard"]["p50"]),
            "mlflow": sig(resolution["mlflow"]["p50"]),
            "ratio": _ratio(resolution),
            "unit": "ms (p50)",
            "better": "lower",
            "what": "models:/<name>@champion to local files: mlflow client + mlflow server vs modelyard client + server",
            "same_files": resolution["check"]["same_files"],
        }
        search_ratios = [report["figures"][f]["ratio"] for f, *_ in SEARCHES if report["figures"][f]["ratio"]]
        report["summary"] = {
            "search_ratio_min": min(search_ratios),
            "search_ratio_geomean": sig(statistics.geometric_mean(search_ratios)),
            "resolve_ratio": report["figures"]["resolve_alias_to_files_ms"]["ratio"],
            "targets": {"search": ">= 10x", "resolve": ">= 3x"},
        }
        report["details"] = {
            "searches": searches,
            "client_searches": client_searches,
            "resolution": resolution,
        }
    except Exception as exc:  # noqa: BLE001 - report what we have
        report["errors"]["run"] = f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        for s in servers.values():
            s.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        else:
            report["workdir"] = str(work)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if not report["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
