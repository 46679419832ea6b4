"""A phone left open picks up a new consent form version at its next sync, not only when reopened."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import (
    RESEARCHER_PASSWORD,
    app_eval,
    capture_ui,
    login_ui,
    open_app,
    start_conversation_ui,
    take_consent_ui,
    wait_app,
    wait_counts,
)
from tests.support.live_server import ok

pytestmark = pytest.mark.browser


def test_a_new_consent_form_reaches_an_open_phone_with_its_next_sync(phone, private_server, private_world):
    page = phone.new_page()
    open_app(page, private_server)
    login_ui(page, private_world.email, RESEARCHER_PASSWORD)
    app_eval(page, "A.kitRefreshMs = 0;")  # no once-a-minute pause between refreshes in a test
    start_conversation_ui(page)
    take_consent_ui(page, {"audio": False, "quote": True, "share": True, "publish": False})
    capture_ui(page, "The bus stop moved and nobody told us.")
    wait_counts(page, local=0, synced=3)
    assert app_eval(page, "return A.kit.consent_form.id;") == private_world.consent_form_id

    newer = ok(private_world.admin.post(f"/projects/{private_world.project_id}/consent-forms", json={
        "title": "Taking part (version 2)", "body": "Now with audio explained.", "scopes": ["quote", "share"]}))
    capture_ui(page, "The library is warm in winter.")
    wait_counts(page, local=0, synced=4)
    wait_app(page, "return A.kit.consent_form.id === arg;", newer["id"], timeout=10)
