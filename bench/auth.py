"""What authentication costs the tracking server: p50 server time of get-run and log-metric with
authentication off and on (same database, same process, requests interleaved), and of a search
over 10,000 runs with and without permission filtering.

    .venv/bin/python bench/auth.py            # about a minute here
    .venv/bin/python bench/auth.py --quick    # smoke mode

The server is called in-process (httpx.ASGITransport): what is timed is the app's own work plus the
same small transport cost on both sides. Both apps share one ``Services`` (one engine and pool), so
only authentication differs. "on" signs in a non-admin user (HTTP Basic; the checked
credential is reused for cache_ttl, as a real server does) who holds a grant on the experiment, so
every request resolves the user, finds the run's experiment and looks the grant up; "token" does
the same with a bearer token. Besides wall time, the process's CPU time per call (``cpu_*``): on
a loaded machine wall time is mostly waiting for a core, CPU time is the work itself. Targets (issue 17): at most +0.3 ms at p50; search at most +10 %.
No peer: MLflow's basic-auth app is a Flask app in front of a different server, so its overhead
would not be measured on the same requests. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import generate_runs, p50  # noqa: E402
from _server_populate import SqlPopulator  # noqa: E402

PASSWORD = "tiger-lily-password-1"
ADMIN_PASSWORD = "bench-admin-password-1"
API = "/api/2.0/mlflow"
BLOCK = 50


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def main(args) -> dict:
    import httpx

    from modelyard.auth.config import AuthConfig
    from modelyard.server.app import create_app
    from modelyard.server.services import Services
    from modelyard.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    settings = Settings.defaults(
        backend_store_uri=f"sqlite:///{work / 'server.db'}", artifacts_destination=str(work / "a")
    )
    # one Services (one engine, one connection pool) under both apps: only authentication differs
    services_on = services_off = Services.from_settings(settings)
    off = create_app(settings, services_off)
    on = create_app(settings, services_on, auth=AuthConfig(enabled=True, admin_password=ADMIN_PASSWORD))
    c_off = httpx.AsyncClient(transport=httpx.ASGITransport(app=off), base_url="http://localhost")
    c_on = httpx.AsyncClient(transport=httpx.ASGITransport(app=on), base_url="http://localhost")
    admin = basic("admin", ADMIN_PASSWORD)
    user = basic("bench", PASSWORD)

    async def call(client, method, path, headers=None, **kw):
        r = await client.request(method, path, headers=headers, **kw)
        if r.status_code != 200:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    await call(c_on, "POST", f"{API}/users/create", admin, json={"username": "bench", "password": PASSWORD})
    exp = (await call(c_on, "POST", f"{API}/experiments/create", admin, json={"name": "bench"}))[
        "experiment_id"
    ]
    await call(
        c_on,
        "POST",
        f"{API}/experiments/permissions/create",
        admin,
        json={"experiment_id": exp, "username": "bench", "permission": "EDIT"},
    )
    token = (await call(c_on, "POST", "/api/2.0/modelyard/tokens/create", user, json={"name": "bench"}))[
        "secret"
    ]
    bearer = {"Authorization": f"Bearer {token}"}
    run = (await call(c_off, "POST", f"{API}/runs/create", json={"experiment_id": exp}))["run"]["info"][
        "run_id"
    ]
    for _ in range(2):  # warm both apps, the credential and grant caches
        for client, headers in ((c_off, None), (c_on, user), (c_on, bearer)):
            await call(client, "GET", f"{API}/runs/get", headers, params={"run_id": run})

    variants = {"off": (c_off, None), "on": (c_on, user), "token": (c_on, bearer)}
    samples: dict[str, dict[str, list[float]]] = {k: {"get_run": [], "log_metric": []} for k in variants}
    # CPU seconds the process spent on each call (every thread): what the machine's load does not
    # inflate as it does wall time (on a loaded machine a process waits for a core most of the time)
    cpu: dict[str, dict[str, list[float]]] = {k: {"get_run": [], "log_metric": []} for k in variants}
    # Blocks of BLOCK calls per variant, the variants taking turns: the load's drift reaches all of
    # them alike, and each block runs warm (a request for one app right after the other app's is
    # slower for reasons that have nothing to do with authentication).
    step = 0
    for _ in range(max(1, args.calls // BLOCK)):
        for name, (client, headers) in variants.items():
            for op in ("get_run", "log_metric"):
                for _ in range(BLOCK):
                    step += 1
                    c = time.process_time()
                    t = time.perf_counter()
                    if op == "get_run":
                        await call(client, "GET", f"{API}/runs/get", headers, params={"run_id": run})
                    else:
                        await call(
                            client,
                            "POST",
                            f"{API}/runs/log-metric",
                            headers,
                            json={"run_id": run, "key": "m", "value": 1.0, "timestamp": step, "step": step},
                        )
                    samples[name][op].append(time.perf_counter() - t)
                    cpu[name][op].append(time.process_time() - c)

    # the authentication and authorization work alone (no HTTP, no handler): what a request pays
    from modelyard.auth.authenticators import resolve_principal
    from modelyard.auth.context import RequestContext
    from modelyard.auth.permissions import READ, RUN, needs

    runtime = services_on.auth
    permission = needs(RUN, READ, "run_id")
    alone: dict[str, list[float]] = {"basic": [], "token": []}
    for _ in range(args.calls * 4):
        for name, headers in (("basic", user), ("token", bearer)):
            lowered = {k.lower(): v for k, v in headers.items()}
            t = time.perf_counter()
            principal = resolve_principal(lowered, runtime.authenticators, "127.0.0.1")
            ctx = RequestContext(principal, settings, "bench", access=runtime.access(principal, "127.0.0.1"))
            runtime.authorizer.authorize(ctx, permission, run)
            alone[name].append(time.perf_counter() - t)

    # a search over 10,000 runs: the runs are cloned into the experiment by direct SQL
    pop = SqlPopulator(settings.server.backend_store_uri, run, set(generate_runs(0, 1)[0].tags))
    base = int(pop.template["start_time"]) - 86_400_000
    pop.insert_runs(generate_runs(1, args.runs), lambda i: base + i * 1000)
    pop.close()
    search = {"experiment_ids": [exp], "max_results": 1000, "order_by": ["metrics.loss ASC"]}
    search_samples: dict[str, list[float]] = {"off": [], "on": [], "token": []}
    for _ in range(args.search_reps):
        for name, (client, headers) in variants.items():
            await call(client, "POST", f"{API}/runs/search", headers, json=search)  # warm this app
            t = time.perf_counter()
            found = await call(client, "POST", f"{API}/runs/search", headers, json=search)
            search_samples[name].append(time.perf_counter() - t)
            assert len(found["runs"]) == 1000
    experiments_search: dict[str, list[float]] = {"off": [], "on": []}
    for i in range(args.experiments):  # experiments the user may not read, filtered out of searches
        eid = (await call(c_off, "POST", f"{API}/experiments/create", json={"name": f"hidden-{i}"}))[
            "experiment_id"
        ]
        if i % 2:
            services_on.auth.auth.grant(
                services_on.auth.authorizer._system, "experiment", eid, "bench", "NO_PERMISSIONS"
            )
    for _ in range(args.search_reps):
        for name, (client, headers) in (("off", variants["off"]), ("on", variants["on"])):
            await call(client, "POST", f"{API}/experiments/search", headers, json={"max_results": 1000})
            t = time.perf_counter()
            await call(client, "POST", f"{API}/experiments/search", headers, json={"max_results": 1000})
            experiments_search[name].append(time.perf_counter() - t)
    await c_off.aclose()
    await c_on.aclose()
    services_on.close()

    def ms(values):
        return round(p50(values) * 1000, 3)

    figures = {}
    for op in ("get_run", "log_metric"):
        figures[op] = {
            "off_ms": ms(samples["off"][op]),
            "on_ms": ms(samples["on"][op]),
            "token_ms": ms(samples["token"][op]),
            "added_ms": round(ms(samples["on"][op]) - ms(samples["off"][op]), 3),
            "added_ms_token": round(ms(samples["token"][op]) - ms(samples["off"][op]), 3),
            "cpu_off_ms": ms(cpu["off"][op]),
            "cpu_added_ms": round(ms(cpu["on"][op]) - ms(cpu["off"][op]), 3),
            "cpu_added_ms_token": round(ms(cpu["token"][op]) - ms(cpu["off"][op]), 3),
            "target_added_ms": 0.3,
            "calls": args.calls,
        }
    figures["auth_alone_get_run"] = {
        "basic_us": round(p50(alone["basic"]) * 1e6, 1),
        "token_us": round(p50(alone["token"]) * 1e6, 1),
        "calls": len(alone["basic"]),
    }
    figures["search_runs_10k"] = {
        "runs": args.runs,
        "page": 1000,
        "off_ms": ms(search_samples["off"]),
        "on_ms": ms(search_samples["on"]),
        "token_ms": ms(search_samples["token"]),
        "added_pct": round(100 * (p50(search_samples["on"]) / p50(search_samples["off"]) - 1), 1),
        "target_added_pct": 10,
        "reps": args.search_reps,
    }
    figures["search_experiments_filtered"] = {
        "experiments": args.experiments + 2,
        "hidden": args.experiments // 2,
        "off_ms": ms(experiments_search["off"]),
        "on_ms": ms(experiments_search["on"]),
        "added_pct": round(100 * (p50(experiments_search["on"]) / p50(experiments_search["off"]) - 1), 1),
    }
    return {"bench": "auth", "load_average": os.getloadavg()[0], "figures": figures}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--calls", type=int, default=None)
    args = parser.parse_args()
    args.calls = args.calls or (50 if args.quick else 500)
    args.runs = 10_000
    args.search_reps = 3 if args.quick else 7
    args.experiments = 50 if args.quick else 500
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    print(json.dumps(asyncio.run(main(args)), indent=2))
