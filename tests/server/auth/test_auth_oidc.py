"""OIDC sign-in against a small provider started in the test: code flow with PKCE, the ID token
checked with the provider's keys, groups mapped to the admin role, a session afterwards."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider  # type: ignore[import-not-found]


@pytest.fixture
def provider():
    provider = Provider({"sub": "u-1", "preferred_username": "olivia", "groups": ["ml-admins", "staff"]})
    server, thread = provider.serve()
    yield provider
    server.should_exit = True
    thread.join(timeout=10)


def _oidc_app(make_auth_api, provider):
    return make_auth_api(
        oidc_discovery_url=f"{provider.url}/.well-known/openid-configuration",
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_admin_groups="ml-admins",
    )


def _sign_in(api) -> httpx.Response:
    start = api.get("/signin/oidc", params={"next": "/admin/users"})
    assert start.status_code == 302
    flow_cookie = start.headers["set-cookie"].split(";")[0]
    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    assert at_provider.status_code == 302
    back = urlsplit(at_provider.headers["location"])
    return api.get(f"{back.path}?{back.query}", headers={"Cookie": flow_cookie})


def test_oidc_sign_in_makes_a_session_and_maps_groups_to_admin(make_auth_api, provider) -> None:
    api = _oidc_app(make_auth_api, provider)
    assert "Sign in with your identity provider" in api.get("/signin").text
    done = _sign_in(api)
    assert done.status_code == 303 and done.headers["location"] == "/admin/users"
    session = {"Cookie": done.headers["set-cookie"].split(";")[0]}
    page = api.get("/admin/users", headers=session)
    assert page.status_code == 200 and "olivia" in page.text and "oidc" in page.text


def test_a_user_outside_the_admin_groups_is_a_plain_user(make_auth_api, provider) -> None:
    provider.user = {"sub": "u-2", "preferred_username": "pat", "groups": ["staff"]}
    api = _oidc_app(make_auth_api, provider)
    session = {"Cookie": _sign_in(api).headers["set-cookie"].split(";")[0]}
    assert api.get("/admin/users", headers=session).status_code == 403
    assert api.get("/experiments", headers=session).status_code == 200


def test_a_callback_without_the_flow_cookie_is_refused(make_auth_api, provider) -> None:
    api = _oidc_app(make_auth_api, provider)
    start = api.get("/signin/oidc")
    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    back = urlsplit(at_provider.headers["location"])
    api._client.cookies.clear()  # the in-process client keeps cookies: drop the flow's
    r = api.get(f"{back.path}?{back.query}")  # no cookie: a forged or replayed callback
    assert r.status_code == 303 and r.headers["location"] == "/signin" and "set-cookie" not in r.headers
