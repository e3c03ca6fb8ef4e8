"""The sign-in page in Chromium, on a live server with authentication on: a protected page leads to
the form, a wrong password shows the error and keeps you out, the right one lands you signed in
(HttpOnly SameSite session cookie, the page carrying its CSRF token, the sign-out form echoing it),
and signing out ends the session. Console errors fail the test (the ``page`` fixture)."""

from __future__ import annotations

import pytest

ADMIN_PASSWORD = "browser-admin-secret-5"
EXPECTED_401 = "console error: Failed to load resource: the server responded with a status of 401 (Unauthorized)"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory, server_db_template, server_helpers):
    server = server_helpers
    settings = server.server_settings(tmp_path_factory.mktemp("ui-auth"), server_db_template).replace(
        auth_enabled=True, auth_admin_password=ADMIN_PASSWORD
    )
    with server.serve(settings) as live:
        yield live


def test_sign_in_wrong_then_right_then_sign_out(auth_server, page, shot) -> None:
    page.goto(auth_server.url + "/experiments")
    assert page.url == auth_server.url + "/signin?next=%2Fexperiments"
    assert page.locator("h1").inner_text() == "Sign in"

    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "not-the-password-1")
    page.click("button[type=submit]")
    page.wait_for_selector("p.error-box[role=alert]")
    assert "Wrong user name or password" in page.locator("p.error-box").inner_text()
    assert not [c for c in page.context.cookies() if c["name"] == "modelyard_session"]
    # the browser logs the 401 answer to the form post itself, and nothing else
    assert page.console_problems == [EXPECTED_401]
    page.console_problems.clear()

    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(auth_server.url + "/experiments")
    assert page.locator("details.user-menu summary").inner_text() == "admin"
    (session,) = [c for c in page.context.cookies() if c["name"] == "modelyard_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    csrf = page.locator("meta[name=csrf-token]").get_attribute("content")
    assert csrf and len(csrf) >= 20
    assert page.locator("form[action='/signout'] input[name=csrf_token]").get_attribute("value") == csrf
    shot(page, "signed-in")

    page.click("details.user-menu summary")
    page.click("form[action='/signout'] button")
    page.wait_for_url(auth_server.url + "/signin")
    assert not [c for c in page.context.cookies() if c["name"] == "modelyard_session"]
    page.goto(auth_server.url + "/experiments")
    assert page.url.startswith(auth_server.url + "/signin?next=")
