"""A researcher's page lists every phone that captures for the project: phones enrolled through another of their
projects (that project never named) and password logins that sync, each with its last sync."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.helpers import COORDINATOR, RESEARCHER_PASSWORD, login_ui, open_app, shot
from tests.e2e.test_device_projects import second_project
from tests.support.live_server import login_client, ok

pytestmark = pytest.mark.browser
LAPTOP = {"width": 1280, "height": 800}


def test_the_register_shows_phones_enrolled_elsewhere_and_password_logins_but_no_other_project(browser, world, server):
    email = f"devices-{uuid.uuid4().hex[:6]}@example.org"
    uid = world.add_researcher(email)
    other, other_name = second_project(world.admin, uid)
    code = ok(world.admin.post(f"/projects/{other}/enrolment-codes", json={"user_id": uid}))["code"]
    with httpx.Client(base_url=server.api) as anonymous:
        enrolled = ok(anonymous.post("/auth/enrol", json={"code": code, "device_label": "Moto G (Keyham)"}))
    assert enrolled["kind"] == "device"
    with login_client(server, email, RESEARCHER_PASSWORD) as laptop:  # a password login that syncs
        ok(laptop.post("/sync", json={"device_id": "pw-phone", "items": []}))
    coord = f"devices-coord-{uuid.uuid4().hex[:6]}@example.org"
    user = ok(world.admin.post("/users", json={"email": coord, "password": RESEARCHER_PASSWORD}))
    ok(world.admin.put(f"/projects/{world.project_id}/members/{user['id']}", json={"role": "coordinator"}))

    desk = browser.new_context(viewport=LAPTOP, device_scale_factor=1)
    try:
        page = desk.new_page()
        open_app(page, server)
        login_ui(page, coord, RESEARCHER_PASSWORD, lands_on=COORDINATOR)
        page.goto(f"{server.url}/app/#/co/{world.project_id}/people/{uid}")
        page.wait_for_selector("#device-table")
        rows = page.locator("#device-table tbody tr")
        texts = sorted(rows.all_inner_texts())
        assert len(texts) == 2, texts
        phone_row = next(t for t in texts if "Moto G (Keyham)" in t)
        login_row = next(t for t in texts if "Logged in with a password" in t)
        assert "Enrolled in another of their projects" in phone_row and "Revoke" in phone_row
        assert "never" not in login_row and "Revoke" not in login_row  # its last sync is shown
        body = page.inner_text("body")
        assert other_name not in body and other not in page.content()
        shot(page, "coord-devices-of-the-researcher")
        page.goto(f"{server.url}/app/#/co/{world.project_id}/people")
        page.wait_for_selector("#members")
        row = page.locator(f"#members tr[data-user='{uid}']")
        assert "2 phones, last sync" in row.inner_text()
    finally:
        desk.close()
