"""Stores are reached through services: every REST handler, UI page, CLI command, the embedded
clients and the subsystems (features, serving, streaming, jobs, retrain, automl, evaluation, ...)
call a service method (or a client method that calls one) with a RequestContext, never a store.

Only the stores themselves, the services that own them, the wiring that builds them, and the
workers a service hands its store to may read a store attribute (``.store``, ``._store``,
``.registry_store``) or call a store factory (a ``*Store`` class or ``*_store_for`` function
imported from ``modelyard.store``, ``get_store``, ``server_catalog``). A new place that does
fails here; so does an allowance that is no longer used.
"""

from __future__ import annotations

import ast
from pathlib import Path

import modelyard

ROOT = Path(modelyard.__file__).parent
STORE_ATTRS = {"store", "_store", "registry_store", "tracking_store", "feature_store"}
FACTORIES = {"get_store", "server_catalog", "registry_store_for", "feature_store_for"}

# module -> why it may touch stores anywhere in it.
MODULES = {
    # the services: each owns its store
    "tracking/service.py": "service",
    "registry/service.py": "service",
    "features/service.py": "service",
    "jobs/service.py": "service",
    "auth/service.py": "service",
    # wiring: builds stores and hands them to services
    "server/services.py": "wiring",
    "registry/runtime.py": "wiring (swaps the registry store of the services)",
    "auth/runtime.py": "wiring (the auth service over the server's database)",
    "features/catalog.py": "wiring (the server's feature catalog beside its tracking store)",
    # workers and engines a service hands its own store to
    "registry/dispatcher.py": "webhook delivery worker over the registry store's durable queue",
    "tracking/async_logging.py": "async logging worker over the client's tracking store",
    "tracking/loop_writes.py": "PostgreSQL's hot writes on the server's event loop, over the tracking service's store",
    "jobs/scheduler.py": "the jobs engine: claims, leases and state changes below JobService",
    "jobs/local.py": "the jobs engine's local executor",
    "jobs/celery_executor.py": "the jobs engine's Celery dispatcher",
    "jobs/runner.py": "the jobs engine's task runner (log chunks)",
    "auth/ratelimit.py": "sign-in rate limit over the auth store (AuthService's)",
    "serving/auth.py": "the scoring server's token table (its own store)",
}
# module -> functions that may (the clients' store properties, kept for code written against
# stores, and the one place each builds its service).
FUNCTIONS = {
    "tracking/client.py": {"store", "service"},
    "tracking/registry_client.py": {"registry_store", "registry_service"},
    "tracking/context.py": {"store"},
    "features/client.py": {"store", "service", "tables"},
}


def _store_imports(tree: ast.AST) -> set[str]:
    """Names imported from ``modelyard.store`` that build stores."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("modelyard.store"):
            for alias in node.names:
                name = alias.asname or alias.name
                if name.endswith("Store") or name.endswith("_store_for"):
                    names.add(name)
    return names


def touches(tree: ast.AST, factories: set[str]) -> list[tuple[int, str, str]]:
    """(line, enclosing function, what) of every store attribute read or store factory call."""
    found: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else func
            if isinstance(child, ast.Attribute) and isinstance(child.ctx, ast.Load) and child.attr in STORE_ATTRS:
                found.append((child.lineno, name, "." + child.attr))
            if isinstance(child, ast.Call):
                f = child.func
                called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
                if called in factories:
                    found.append((child.lineno, name, called + "()"))
            visit(child, name)

    visit(tree, "<module>")
    return found


def _violations() -> tuple[list[str], set[str]]:
    bad, used = [], set()
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("store/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, func, what in touches(tree, FACTORIES | _store_imports(tree)):
            if rel in MODULES:
                used.add(rel)
            elif func in FUNCTIONS.get(rel, ()):
                used.add(f"{rel}:{func}")
            else:
                bad.append(f"modelyard/{rel}:{line} ({func}) uses {what}: call a service (or a client method) instead")
    return bad, used


def test_only_services_wiring_and_workers_touch_stores():
    bad, _ = _violations()
    assert bad == []


def test_every_allowance_is_still_needed():
    _, used = _violations()
    allowed = set(MODULES) | {f"{m}:{f}" for m, fs in FUNCTIONS.items() for f in fs}
    assert allowed - used == set()


def test_the_check_finds_a_new_violation():
    snippet = (
        "from modelyard.store.features.sql import SqlFeatureStore\n"
        "def pin(client, name):\n"
        "    client.registry_store.get_model_version(name, 1)\n"
        "    return SqlFeatureStore(client.store)\n"
    )
    tree = ast.parse(snippet)
    got = sorted((func, what) for _, func, what in touches(tree, FACTORIES | _store_imports(tree)))
    assert got == [("pin", ".registry_store"), ("pin", ".store"), ("pin", "SqlFeatureStore()")]
