"""The retraining history in a real browser: model page → retraining history by clicking; the
Approve button of a challenger awaiting approval moves @champion and the page shows it promoted."""

from __future__ import annotations

import re

from test_retraining_page import _seed


def test_approve_a_challenger_by_clicking(ui_server, page, shot):
    _seed(ui_server.services, "churn-retrain-ui")
    registry = ui_server.services.registry.store
    page.goto(ui_server.url + "/models/churn-retrain-ui")
    page.click("#retraining-link")
    page.wait_for_url(re.compile(r"/models/churn-retrain-ui/retraining$"))
    cards = page.locator("div.card.retraining")
    assert cards.count() == 3
    waiting = page.locator("div.card.retraining[data-version='3']")
    assert "awaiting approval" in waiting.locator(".retrain-status").inner_text()
    failed = page.locator("div.card.retraining[data-version='2'] tr[data-passed='false']")
    assert failed.count() == 2
    shot(page, "retraining-history")
    waiting.locator("button.approve").click()
    page.wait_for_selector("div.card.retraining[data-version='3'][data-status='promoted']")
    assert str(registry.get_model_version_by_alias("churn-retrain-ui", "champion").version) == "3"
    card = page.locator("div.card.retraining[data-version='3']")
    assert "@champion" in card.inner_text() and card.locator("button.approve").count() == 0
    assert "approved" in card.locator(".reason").inner_text()
