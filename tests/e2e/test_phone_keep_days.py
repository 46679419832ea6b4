"""How long a phone keeps words the server already holds is each project's setting (default 14 days, 1-90): shown
and saved on the settings page, sent to phones in the capture kit, and applied per record's project on the phone,
with the strictest known setting for a record whose project's kit the phone does not hold."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.helpers import (
    COORDINATOR,
    RESEARCHER_PASSWORD,
    app_eval,
    capture_ui,
    login_ui,
    open_app,
    shot,
    start_conversation_ui,
    take_consent_ui,
    wait_app,
    wait_counts,
)
from tests.e2e.test_device_projects import second_project
from tests.support.live_server import ok

pytestmark = pytest.mark.browser
LAPTOP = {"width": 1280, "height": 800}
SCOPES = {"audio": False, "quote": True, "share": True, "publish": False}
DAY = 24 * 3600 * 1000


def test_a_coordinator_shortens_the_keep_on_the_settings_page(browser, world, server):
    pid, _ = second_project(world.admin, world.user_id)
    email = world.add_coordinator("keep-coord", project_id=pid)
    desk = browser.new_context(viewport=LAPTOP, device_scale_factor=1)
    try:
        page = desk.new_page()
        open_app(page, server)
        login_ui(page, email, RESEARCHER_PASSWORD, lands_on=COORDINATOR)
        page.goto(f"{server.url}/app/#/co/{pid}/project")
        keep = page.locator("#project-details input[name=phone_keep_days]")
        keep.wait_for()
        assert keep.input_value() == "14"
        keep.fill("0")  # out of range: the page does not send it
        page.click("#project-details button[type=submit]")
        assert keep.evaluate("(el) => el.validity.rangeUnderflow") is True
        assert ok(world.admin.get(f"/projects/{pid}"))["phone_keep_days"] == 14
        keep.fill("3")
        page.click("#project-details button[type=submit]")
        page.wait_for_function("() => document.querySelector('#project-details .status').textContent.includes('Saved')")
        shot(page, "coord-phone-keep-days")
        assert ok(world.admin.get(f"/projects/{pid}"))["phone_keep_days"] == 3
        page.reload()
        page.locator("#project-details input[name=phone_keep_days]").wait_for()
        assert page.input_value("#project-details input[name=phone_keep_days]") == "3"
    finally:
        desk.close()


def _stubbed(page) -> dict[str, list[bool]]:
    """Per project id, whether each of its records on the phone is now a stub."""
    return app_eval(page, """
      const all = await A.db.allRecords();
      const proj = Object.fromEntries(all.filter((r) => r.type === 'conversation')
        .map((r) => [r.id, r.data.project_id]));
      const out = {};
      for (const r of all) (out[proj[r.conv]] = out[proj[r.conv]] || []).push(Boolean(r.stub));
      return out;""")


def _researcher_also_in_a_two_day_project(phone, world, server, name: str):
    """A researcher of the world's project (14 days, the default) and of a second one that keeps words 2 days,
    logged in on a new page. Answers (page, the second project's id)."""
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.org"
    short, _ = second_project(world.admin, world.add_researcher(email))
    ok(world.admin.patch(f"/projects/{short}", json={"phone_keep_days": 2}))
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, email, RESEARCHER_PASSWORD)
    return page, short


def test_the_phone_keeps_each_records_words_as_long_as_its_project_allows(phone, world, server):
    page, short = _researcher_also_in_a_two_day_project(phone, world, server, "keep")
    for pid in (world.project_id, short):  # the world's project keeps the default, 14 days
        page.goto(page.url.split("#")[0] + "#/")
        page.wait_for_selector("body[data-screen=home]")
        page.select_option("#project", pid)
        wait_app(page, "return A.kit && A.kit.project.id === arg;", pid)
        start_conversation_ui(page)
        take_consent_ui(page, SCOPES)
        capture_ui(page, f"Kept words for {pid}")
    wait_counts(page, local=0, synced=6)
    assert app_eval(page, "return A.kit.project.phone_keep_days;") == 2

    trim = "const { trimKept } = await import('/app/src/app.js'); return await trimKept(Date.now() + arg);"
    assert app_eval(page, trim, 1 * DAY) == 0
    assert app_eval(page, trim, 3 * DAY) == 3  # the short project's three records, not the other's
    assert _stubbed(page) == {short: [True] * 3, world.project_id: [False] * 3}
    assert f"Kept words for {short}" not in str(app_eval(page, "return await A.db.allRecords();"))

    # The phone no longer knows the default project's setting (neither its kit nor the keep-days it noted): its
    # records get the strictest setting the phone knows.
    app_eval(page, "await A.db.delKV('kit:' + arg); const keep = await A.db.getKV('keep_days'); delete keep[arg]; "
                   "await A.db.setKV('keep_days', keep);", world.project_id)
    assert app_eval(page, trim, 3 * DAY) == 3
    assert _stubbed(page) == {short: [True] * 3, world.project_id: [True] * 3}
    page.goto(page.url.split("#")[0] + "#/")
    page.wait_for_selector("body[data-screen=home]")
    page.click("#conversations a >> nth=0")
    page.wait_for_selector("body[data-screen=conversation]")
    assert "2 days after reaching the server" in page.inner_text("#main")
    shot(page, "phone-keep-days-stub")


def test_words_go_when_their_time_is_up_on_a_phone_left_logged_out_and_offline(phone, world, server):
    """The trim needs neither a login nor a network: a lost phone lets words go when their project says."""
    page, short = _researcher_also_in_a_two_day_project(phone, world, server, "keep-out")
    page.select_option("#project", short)
    wait_app(page, "return A.kit && A.kit.project.id === arg;", short)
    start_conversation_ui(page)
    take_consent_ui(page, SCOPES)
    capture_ui(page, "Words that have had their two days")
    wait_counts(page, local=0, synced=3)
    page.goto(page.url.split("#")[0] + "#/phone")
    page.click("#logout")
    page.wait_for_selector("body[data-screen=login]")
    app_eval(page, """  // as if they had reached the server three days ago
      await A.db.tx(['records'], 'readwrite', (tx) => new Promise((done) => {
        const store = tx.objectStore('records');
        const all = store.getAll();
        all.onsuccess = () => {
          for (const r of all.result) store.put({ ...r, synced_at: r.synced_at - 3 * arg });
          done();
        };
      }));""", DAY)
    assert _stubbed(page) == {short: [False] * 3}
    phone.set_offline(True)
    page.reload()  # the app starts again: logged out, no network
    # (A.db is opened as the app starts: the first look may come before it.)
    wait_app(page, "const all = A.db ? await A.db.allRecords() : []; "
                   "return all.length === 3 && all.every((r) => r.stub);")
    assert "Words that have had their two days" not in str(app_eval(page, "return await A.db.allRecords();"))
    phone.set_offline(False)
