"""A phone's device token works for every project of its researcher: enrolled for one project, the phone lists a
second one at its next sync once the researcher joins it (trained) and captures there; a removal from the first
project, while the phone captures for the second, is said on the phone."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.e2e.helpers import (
    app_eval,
    capture_ui,
    shot,
    start_conversation_ui,
    take_consent_ui,
    wait_app,
    wait_counts,
)
from tests.support.live_server import ok

pytestmark = pytest.mark.browser
SCOPES = {"audio": False, "quote": True, "share": True, "publish": False}


def second_project(admin, user_id: str) -> tuple[str, str]:
    name = f"Keyham Voices {uuid.uuid4().hex[:4]}"
    pid = ok(admin.post("/projects", json={"name": name, "description": "A second project."}))["id"]
    ok(admin.post(f"/projects/{pid}/consent-forms", json={
        "title": "Taking part in Keyham", "body": "We listen.", "scopes": ["audio", "quote", "share", "publish"]}))
    ok(admin.post(f"/projects/{pid}/places", json={"name": "Keyham Green"}))
    ok(admin.post(f"/projects/{pid}/prompts", json={"text": "What would you change on the green?"}))
    ok(admin.put(f"/projects/{pid}/members/{user_id}", json={"role": "researcher"}))
    today = dt.date.today()
    ok(admin.post(f"/projects/{pid}/members/{user_id}/training",
                  json={"completed_on": str(today - dt.timedelta(days=2)),
                        "expires_on": str(today + dt.timedelta(days=300))}))
    return pid, name


def home(page) -> None:
    page.goto(page.url.split("#")[0] + "#/")
    page.wait_for_selector("body[data-screen=home]")


def test_an_enrolled_phone_follows_its_researcher_into_a_second_project_and_out_of_the_first(phone, world, server):
    email = f"two-projects-{uuid.uuid4().hex[:6]}@example.org"
    uid = world.add_researcher(email)
    code = ok(world.admin.post(f"/projects/{world.project_id}/enrolment-codes", json={"user_id": uid}))
    page = phone.new_page()
    page.goto(f"{server.url}{code['enrol_url']}")
    page.wait_for_selector("#enrol")
    page.click("#enrol button[type=submit]")
    page.wait_for_selector("body[data-ready=capture]")
    assert app_eval(page, "return A.session.kind;") == "device"
    app_eval(page, "A.kitRefreshMs = 0;")  # no once-a-minute pause between refreshes in a test
    start_conversation_ui(page)
    take_consent_ui(page, SCOPES)
    capture_ui(page, "Captured for the first project.")
    wait_counts(page, local=0, synced=3)
    assert page.locator("#project").count() == 0  # one project: no choice to offer

    pid_b, name_b = second_project(world.admin, uid)
    capture_ui(page, "The next sync brings the second project.")
    wait_counts(page, local=0, synced=4)
    wait_app(page, "return (A.me.memberships || []).some((m) => m.project_id === arg);", pid_b)
    home(page)
    names = page.locator("#project option").all_inner_texts()
    assert sorted(names) == sorted(["Belong in Plymouth 2026", name_b])
    page.select_option("#project", pid_b)
    wait_app(page, "return A.kit && A.kit.project.id === arg;", pid_b)
    page.wait_for_selector("body[data-ready=capture]")
    shot(page, "phone-second-project")
    start_conversation_ui(page, place_index=1)
    take_consent_ui(page, SCOPES)
    capture_ui(page, "Captured for the second project with the same device token.")
    wait_counts(page, local=0, synced=7)
    held = ok(world.admin.get("/fragments", params={"project_id": pid_b}))["items"]
    assert [f["text"] for f in held] == ["Captured for the second project with the same device token."]

    # Removed from the first project while capturing for the second: the phone says so at its next sync.
    r = world.admin.delete(f"/projects/{world.project_id}/members/{uid}")
    assert r.status_code == 204, r.text
    capture_ui(page, "The next sync brings the removal.")
    wait_counts(page, local=0, synced=8)
    wait_app(page, "return !(A.me.memberships || []).some((m) => m.project_id === arg);", world.project_id)
    home(page)
    page.wait_for_selector("#removed")
    assert "Belong in Plymouth 2026" in page.inner_text("#removed")
    assert page.locator("#project").count() == 0
    assert page.inner_text(".project") == name_b
    assert page.locator("#start").is_enabled()  # still capturing for the second project
    shot(page, "phone-removed-from-first-project")
