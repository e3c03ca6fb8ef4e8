"""With authentication on, what reads the identity store never runs on the event loop: the
middleware resolves the principal on a handler thread, and on a database whose handlers all run
on threads (PostgreSQL, MySQL) the permission check runs there with the handler; the async routes
outside the API's table (artifact proxy, bulk history, feature data, UI downloads) check on those
threads too."""

from __future__ import annotations

import threading

from auth_helpers import ADMIN, API  # type: ignore[import-not-found]


def test_authentication_and_the_permission_check_run_on_handler_threads(make_auth_api, monkeypatch) -> None:
    api = make_auth_api()
    services = api.app.state.services
    # as on PostgreSQL: no handler runs inline on the event loop
    monkeypatch.setattr(services, "inline_database", lambda: None)
    store = services.auth.auth.store
    authorizer = api.app.state.authorizer
    threads: dict[str, list[str]] = {"identity store": [], "permission check": []}

    def recorded(name, fn):
        def call(*args, **kwargs):
            threads[name].append(threading.current_thread().name)
            return fn(*args, **kwargs)

        return call

    monkeypatch.setattr(store, "generation", recorded("identity store", store.generation))
    monkeypatch.setattr(authorizer, "allows", recorded("permission check", authorizer.allows))

    loop_thread = threading.current_thread().name  # the test's asyncio.Runner runs the app here
    created = api.post(f"{API}/experiments/create", json={"name": "off-the-loop"}, headers=ADMIN)
    assert created.status_code == 200, created.text
    exp_id = created.json()["experiment_id"]
    got = api.get(f"{API}/experiments/get", params={"experiment_id": exp_id}, headers=ADMIN)
    assert got.status_code == 200 and got.json()["experiment"]["name"] == "off-the-loop"
    assert api.get(f"{API}/experiments/get", params={"experiment_id": exp_id}).status_code == 401
    run = api.post(f"{API}/runs/create", json={"experiment_id": exp_id}, headers=ADMIN).json()["run"]
    threads["permission check"].clear()
    # a route of its own (not the API's table): its check goes to the handler threads too
    bulk = api.get(
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk",
        params={"run_id": run["info"]["run_id"], "metric_key": "m"},
        headers=ADMIN,
    )
    assert bulk.status_code == 200, bulk.text

    for name, seen in threads.items():
        assert seen, f"no {name} call recorded"
        assert loop_thread not in seen, (name, seen)
        assert all(t.startswith("modelyard-handler") for t in seen), (name, seen)
