"""A tap always lands: a live screen that re-renders because a sync receipt came in must not swallow a tap
that began before the receipt and ended after it (a click needs its down and up on the same element)."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import (
    app_eval,
    capture_ui,
    new_researcher_ui,
    shot,
    start_conversation_ui,
    take_consent_ui,
    wait_app,
    wait_counts,
)

pytestmark = pytest.mark.browser


def _conversation_with_unsent_records(phone, server, world):
    # A researcher of its own: the session's shared researcher's fragments are counted by other tests.
    page, _, _ = new_researcher_ui(phone, world, "taps")
    page.wait_for_selector("body[data-ready=capture]")
    phone.set_offline(True)
    conv = start_conversation_ui(page)
    take_consent_ui(page, {"audio": False, "quote": True, "share": True, "publish": False})
    capture_ui(page, "The bench by the church went and nobody asked.")
    page.click("a.back")
    page.wait_for_selector("body[data-screen=conversation] #fragments [data-state=local]")
    return page, conv


def _receipt_arrives_while_held(page, phone):
    """The network comes back and the outbox gets its receipts while the pointer is still down."""
    phone.set_offline(False)
    app_eval(page, "A.outbox.sync();")
    wait_counts(page, local=0)
    # The screen's re-render follows a receipt within its debounce (120 ms); give it ample time to happen.
    page.wait_for_timeout(600)


def test_a_mouse_press_held_across_a_receipt_rerender_still_clicks(phone, world, server):
    page, conv = _conversation_with_unsent_records(phone, server, world)
    link = page.locator("#add-participant")
    box = link.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    _receipt_arrives_while_held(page, phone)
    page.mouse.up()
    page.wait_for_selector("body[data-screen=consent]")
    assert page.url.endswith(f"#/c/{conv}/consent")
    # The deferred re-render happened once the finger was up: back on the list, everything says it is sent.
    page.go_back()
    page.wait_for_selector("#fragments [data-state=synced]")


def test_a_touch_held_across_a_receipt_rerender_still_taps(phone, world, server):
    page, conv = _conversation_with_unsent_records(phone, server, world)
    cdp = phone.new_cdp_session(page)
    box = page.locator("[data-capture]").first.bounding_box()
    point = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
    _receipt_arrives_while_held(page, phone)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_selector("body[data-screen=capture]")
    assert f"#/c/{conv}/capture/" in page.url
    shot(page, "taps-land-after-receipt")


def test_an_unchanged_part_of_a_live_screen_is_kept_across_a_rerender(phone, world, server):
    page, _ = _conversation_with_unsent_records(phone, server, world)
    app_eval(page, "window.__marked = document.querySelector('#add-participant');")
    phone.set_offline(False)
    app_eval(page, "A.outbox.sync();")
    page.wait_for_selector("#fragments [data-state=synced]")
    wait_app(page, "return window.__marked === document.querySelector('#add-participant');")
