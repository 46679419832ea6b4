"""The consent form reads as written: paragraphs and bulleted lists (no HTML ever), all of it on the page rather
than in a small inner scroll box; a slider starts unanswered, with no position implied."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import (
    RESEARCHER_PASSWORD,
    capture_ui,
    login_ui,
    open_app,
    shot,
    start_conversation_ui,
    take_consent_ui,
    wait_counts,
)
from tests.support.live_server import ok

pytestmark = pytest.mark.browser
BODY = ("We are listening to people in Plymouth.\n\nYou can:\n- stop at any time\n- ask us to delete what you said\n"
        "* hear your words read back, or have them\n  read to someone you choose\n\n<b>Never</b> <script>alert(1)</script> your name.\n" + "More words. " * 120)


def test_a_consent_form_body_is_paragraphs_and_lists_at_full_height(phone, private_server, private_world):
    w = private_world
    ok(w.admin.post(f"/projects/{w.project_id}/consent-forms", json={
        "title": "Taking part (lists)", "body": BODY, "scopes": ["audio", "quote", "share", "publish"]}))
    page = phone.new_page()
    open_app(page, private_server)
    login_ui(page, w.email, RESEARCHER_PASSWORD)
    start_conversation_ui(page)
    page.click("#add-participant")
    page.wait_for_selector("#consent")
    form = page.locator(".consent-form")
    assert form.locator("ul li").all_inner_texts() == [
        "stop at any time", "ask us to delete what you said",
        "hear your words read back, or have them read to someone you choose"]  # a wrapped point stays one point
    assert form.locator("b, script").count() == 0
    assert "<b>Never</b>" in form.inner_text()
    assert form.evaluate("(el) => el.scrollHeight <= el.clientHeight + 1")  # no inner scroll box
    shot(page, "consent-form-lists")
    page.go_back()
    page.wait_for_selector("body[data-screen=conversation]")

    take_consent_ui(page, {"audio": False, "quote": True, "share": True, "publish": False})
    slider = page.locator("input[type=range][data-question=belonging]")
    assert slider.get_attribute("aria-valuetext") == "Not answered"
    assert page.locator(".slider.unanswered").count() == 1
    # (A thumb's computed style cannot be read from a page: the rule that hides it while unanswered is checked.)
    assert page.evaluate("""() => [...document.styleSheets].some((s) => [...s.cssRules].some((r) =>
        (r.selectorText || '').includes('.unanswered') && (r.selectorText || '').includes('slider-thumb')
        && r.style.opacity === '0'))""")
    capture_ui(page, "Left the slider alone.")
    capture_ui(page, "Moved the slider.", slider=80)
    wait_counts(page, local=0)
    answers = {f["text"]: f.get("answers") for f in w.fragments_on_server()}
    assert not answers["Left the slider alone."]
    assert answers["Moved the slider."] == {"belonging": 80}
