"""The participant leaves with a receipt: the project, their code (the label the register finds them by), what they
agreed to, and whom to contact to withdraw (the project's withdrawal contact)."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import (
    new_researcher_ui,
    shot,
    start_conversation_ui,
    take_consent_ui,
)
from tests.support.live_server import ok

pytestmark = pytest.mark.browser
CONTACT = "Ana at Belong, 01752 000 000, belong@example.org"


def test_after_consent_the_participant_gets_a_receipt_with_their_code_and_a_contact(phone, world, server):
    ok(world.admin.patch(f"/projects/{world.project_id}", json={"withdrawal_contact": CONTACT}))
    page, _, _ = new_researcher_ui(phone, world, "receipt")
    start_conversation_ui(page)
    label = take_consent_ui(page, {"audio": False, "quote": True, "share": True, "publish": False})
    page.click("#to-receipt")
    page.wait_for_selector("#receipt")
    assert page.inner_text("#receipt-code") == label
    assert page.locator("#receipt-scopes li").all_inner_texts() == [
        "Their exact words may be quoted", "Fragments may be shared with partner organisations"]
    contact = page.inner_text("#receipt-contact")
    assert CONTACT in contact and label in contact
    assert "Belong in Plymouth 2026" in page.inner_text("#receipt")
    shot(page, "receipt-for-the-participant")
    page.click("#receipt-done")
    page.wait_for_selector("#fragment")
    # The code on the receipt is what the consent register finds the participant by.
    found = ok(world.admin.get("/consents", params={"project_id": world.project_id, "participant_label": label}))
    assert [c["participant_label"] for c in found] == [label]


def test_a_removal_from_the_project_says_so_on_the_phone(phone, world, server):
    page, _, user_id = new_researcher_ui(phone, world, "removed")
    page.wait_for_selector("body[data-ready=capture]")
    assert page.locator("#removed").count() == 0
    r = world.admin.delete(f"/projects/{world.project_id}/members/{user_id}")
    assert r.status_code == 204, r.text
    page.reload()
    page.wait_for_selector("#removed")
    assert "Belong in Plymouth 2026" in page.inner_text("#removed")
    assert page.locator("#start").is_disabled()
    shot(page, "removed-from-project")
    page.click("#removed button")
    page.wait_for_selector("#removed", state="detached")
