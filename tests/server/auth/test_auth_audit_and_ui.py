"""The audit log (every state change, sign-ins, permission and user changes, token writes) and the
UI's sign-in: session cookie, CSRF, sign-out, the admin and "my tokens" pages."""

from __future__ import annotations

import re

from auth_helpers import ADMIN, ADMIN_PASSWORD, API, PASSWORD, basic, bearer  # type: ignore[import-not-found]

AUDIT = "/api/2.0/modelyard/audit/list"


def entries(api, **params) -> list[dict]:
    r = api.get(AUDIT, params=params, headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def test_changes_sign_ins_grants_and_token_writes_are_audited(auth_api, users) -> None:
    (alice,) = users("alice")
    exp = auth_api.post(
        f"{API}/experiments/create", json={"name": "audited"}, headers={**alice, "X-Request-ID": "req-42"}
    ).json()["experiment_id"]
    auth_api.get(f"{API}/users/current", headers=basic("alice", "wrong-password-123"))
    auth_api.post(
        f"{API}/experiments/permissions/create",
        json={"experiment_id": exp, "username": "admin", "permission": "READ"},
        headers=alice,
    )
    secret = auth_api.post("/api/2.0/modelyard/tokens/create", json={"name": "ci"}, headers=alice).json()[
        "secret"
    ]
    auth_api.post(f"{API}/runs/create", json={"experiment_id": exp}, headers=bearer(secret))
    refused = auth_api.post(
        f"{API}/users/create", json={"username": "x", "password": PASSWORD}, headers=alice
    )
    assert refused.status_code == 403

    mine = entries(auth_api, username="alice")
    actions = [(e["action"], e["status"]) for e in reversed(mine)]
    assert ("POST /api/2.0/mlflow/experiments/create", 200) in actions
    assert ("sign-in", 401) in actions
    assert ("grant", 200) in actions
    assert ("create token", 200) in actions
    assert ("POST /api/2.0/mlflow/users/create", 403) in actions
    created = next(e for e in mine if e["action"] == "POST /api/2.0/mlflow/experiments/create")
    assert created["request_id"] == "req-42" and created["method"] == "password"
    assert (created["resource_kind"], created["resource_id"]) == ("experiment", exp)
    token_write = next(e for e in mine if e["action"] == "POST /api/2.0/mlflow/runs/create")
    assert token_write["method"].startswith("token:")
    assert (token_write["resource_kind"], token_write["resource_id"]) == ("experiment", exp)
    by_resource = entries(auth_api, resource=f"experiment:{exp}")
    assert {e["action"] for e in by_resource} >= {"grant", "POST /api/2.0/mlflow/runs/create"}
    assert entries(auth_api, since=10**15) == []  # nothing in the future


def _signin(api, user: str, password: str):
    return api.post(
        "/signin",
        content=f"username={user}&password={password}&next=/experiments",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def _csrf(page: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def test_ui_sign_in_sets_an_httponly_samesite_cookie_and_state_changes_need_the_csrf_token(
    auth_api, users
) -> None:
    users("alice")
    page = auth_api.get("/experiments", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].startswith("/signin?next=")
    wrong = _signin(auth_api, "alice", "wrong-password-123")
    # the form's page again, with no Basic challenge (a browser would open its own dialog)
    assert wrong.status_code == 401 and "www-authenticate" not in wrong.headers
    r = _signin(auth_api, "alice", PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/experiments"
    cookie = r.headers["set-cookie"]
    assert "modelyard_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    session = {"Cookie": cookie.split(";")[0]}
    home = auth_api.get("/experiments", headers=session)
    assert home.status_code == 200 and "alice" in home.text
    token = _csrf(home.text)
    body = {"name": "from-the-ui"}
    no_csrf = auth_api.post("/ajax-api/2.0/mlflow/experiments/create", json=body, headers=session)
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["message"]
    ok = auth_api.post(
        "/ajax-api/2.0/mlflow/experiments/create", json=body, headers={**session, "X-CSRF-Token": token}
    )
    assert ok.status_code == 200
    # a form without the token is refused too; with it, it works
    form = {"Content-Type": "application/x-www-form-urlencoded", **session}
    assert auth_api.post("/account/tokens", content="action=create&name=t1", headers=form).status_code == 403
    made = auth_api.post("/account/tokens", content=f"action=create&name=t1&csrf_token={token}", headers=form)
    assert made.status_code == 200 and re.search(r"myt_[\w-]+", made.text)
    out = auth_api.post("/signout", content=f"csrf_token={token}", headers=form)
    assert out.status_code == 303 and 'modelyard_session=""' in out.headers["set-cookie"]


def test_sign_in_redirects_only_to_this_site(auth_api) -> None:
    r = auth_api.post(
        "/signin",
        content=f"username=admin&password={ADMIN_PASSWORD}&next=//evil.example/x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/experiments"


def test_admin_pages_are_for_admins(auth_api, users) -> None:
    (alice,) = users("alice")
    assert auth_api.get("/admin/users", headers=alice).status_code == 403
    assert auth_api.get("/admin/audit", headers=alice).status_code == 403
    users_page = auth_api.get("/admin/users", headers=ADMIN)
    assert users_page.status_code == 200 and "alice" in users_page.text
    audit_page = auth_api.get("/admin/audit", headers=ADMIN)
    assert audit_page.status_code == 200 and "POST /api/2.0/mlflow/users/create" in audit_page.text
    perms = auth_api.get(
        "/admin/permissions", params={"kind": "experiment", "resource_id": "0"}, headers=ADMIN
    )
    assert perms.status_code == 200 and "Who has what on experiment 0" in perms.text
