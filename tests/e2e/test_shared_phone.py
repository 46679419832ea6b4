"""A shared phone: each researcher's records, clips and drafts are theirs alone. The next person to log in never
sees them, never sends them with their own token (no false "login ended"), and a logout with unsent records says
whose they are — or, after a typed confirmation, erases them."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.e2e.helpers import (
    RESEARCHER_PASSWORD,
    capture_ui,
    counts,
    idb_text,
    login_ui,
    open_app,
    shot,
    start_conversation_ui,
    take_consent_ui,
    wait_counts,
)

pytestmark = pytest.mark.browser
SENTINEL = "Jo's secret sentence about the food bank queue"


def _two_researchers(world):
    jo, sam = (f"{n}-{uuid.uuid4().hex[:6]}@example.org" for n in ("jo", "sam"))
    world.add_researcher(jo)
    world.add_researcher(sam)
    return jo, sam


def _jo_captures_offline_and_opens_logout(phone, page, jo):
    login_ui(page, jo, RESEARCHER_PASSWORD)
    page.wait_for_selector("body[data-ready=capture]")
    phone.set_offline(True)
    conv = start_conversation_ui(page)
    take_consent_ui(page, {"audio": False, "quote": True, "share": True, "publish": False})
    capture_ui(page, SENTINEL)
    capture_ui(page, "Jo's second fragment")
    page.wait_for_function("(w) => document.querySelector('#queue').innerText.includes(w)",
                           arg="2 fragments, 1 consent and 1 conversation only on this phone")
    page.goto(page.url.split("#")[0] + "#/phone")
    page.wait_for_selector("#logout")
    page.click("#logout")
    page.wait_for_selector("#logout-unsent")
    return conv


def test_the_next_person_on_a_shared_phone_never_sees_or_sends_the_first_ones_records(phone, world, server):
    jo, sam = _two_researchers(world)
    page = phone.new_page()
    open_app(page, server)
    conv = _jo_captures_offline_and_opens_logout(phone, page, jo)
    text = page.locator("#logout-unsent").inner_text()
    # What is waiting, by kind and with its own plural: never "3 records".
    assert text.startswith("2 fragments, 1 consent and 1 conversation of jo") and "records" not in text
    assert " are not on the server yet" in text and "logs in again" in text
    shot(page, "shared-phone-logout-with-unsent")
    page.click("#logout-keep")
    page.wait_for_selector("body[data-screen=login]")

    phone.set_offline(False)
    login_ui(page, sam, RESEARCHER_PASSWORD)
    page.wait_for_selector("body[data-ready=capture]")
    page.wait_for_timeout(1500)  # time for the outbox to run after the login
    assert page.locator("#status [role=alert]").count() == 0  # no "Your login has ended"
    assert page.locator("#conversations").count() == 0
    assert SENTINEL not in page.content()
    page.goto(page.url.split("#")[0] + f"#/c/{conv}")
    page.wait_for_selector("body[data-screen=home]")
    assert SENTINEL not in page.content()
    assert counts(page)["local"] == 4  # Jo's records are still here, waiting for Jo
    assert world.fragments_on_server_of(sam) == []
    assert world.fragments_on_server_of(jo) == []
    shot(page, "shared-phone-next-person")

    page.goto(page.url.split("#")[0] + "#/phone")
    page.click("#logout")
    page.wait_for_selector("body[data-screen=login]")  # Sam has nothing unsent: no question
    login_ui(page, jo, RESEARCHER_PASSWORD)
    wait_counts(page, local=0, synced=4)
    assert sorted(f["text"] for f in world.fragments_on_server_of(jo)) == sorted([SENTINEL, "Jo's second fragment"])


def test_logging_out_can_erase_unsent_records_after_a_typed_confirmation(phone, world, server):
    jo, _ = _two_researchers(world)
    page = phone.new_page()
    open_app(page, server)
    _jo_captures_offline_and_opens_logout(phone, page, jo)
    assert page.locator("#logout-erase").is_disabled()
    page.fill("#logout-confirm", "erase")  # not the word asked for
    assert page.locator("#logout-erase").is_disabled()
    page.fill("#logout-confirm", "ERASE")
    shot(page, "shared-phone-erase-confirmation")
    page.click("#logout-erase")
    page.wait_for_selector("body[data-screen=login]")
    assert counts(page) == {"local": 0, "synced": 0, "attention": 0}
    assert SENTINEL not in idb_text(page)


def test_the_logout_warning_counts_each_kind_with_its_own_plural(phone, server):
    page = phone.new_page()
    open_app(page, server)
    said = page.evaluate("""async () => {
      const { S } = await import('/app/src/strings.js');
      const n = (fragment, consent, conversation, clip) => ({ fragment, consent, conversation, clip,
        total: fragment + consent + conversation + clip });
      return [S.logoutUnsent(n(1, 0, 0, 0), 'Jo'), S.logoutUnsent(n(2, 1, 0, 0), 'Jo'),
              S.logoutUnsent(n(1, 0, 0, 1), 'Jo'), S.logoutUnsent(n(0, 0, 0, 3), 'Jo')];
    }""")
    assert said[0].startswith("1 fragment of Jo is not on the server yet.") and "it stays here and is sent" in said[0]
    assert said[1].startswith("2 fragments and 1 consent of Jo are not on the server yet.")
    assert said[2].startswith("1 fragment and 1 audio clip of Jo are not")
    assert said[3].startswith("3 audio clips of Jo are not") and "they stay here and are sent" in said[3]


def test_the_backup_file_holds_only_the_records_of_who_is_logged_in(phone, world, server, tmp_path):
    """Jo's unsent words wait on the shared phone for Jo: Sam's backup file must not carry them off."""
    jo, sam = _two_researchers(world)
    page = phone.new_page()
    open_app(page, server)
    _jo_captures_offline_and_opens_logout(phone, page, jo)
    page.click("#logout-keep")
    page.wait_for_selector("body[data-screen=login]")
    phone.set_offline(False)
    login_ui(page, sam, RESEARCHER_PASSWORD)
    page.wait_for_selector("body[data-ready=capture]")
    start_conversation_ui(page)
    take_consent_ui(page, {"audio": False, "quote": True, "share": True, "publish": False})
    capture_ui(page, "Sam's own words")
    page.goto(page.url.split("#")[0] + "#/phone")
    page.wait_for_selector("#export")
    with page.expect_download() as dl:
        page.click("#export")
    backup = tmp_path / "backup.json"
    dl.value.save_as(backup)
    records = json.loads(backup.read_text())["records"]
    assert [r["data"]["text"] for r in records if r["type"] == "fragment"] == ["Sam's own words"]
    assert len(records) == 3 and SENTINEL not in backup.read_text()


def test_the_next_person_never_learns_the_last_ones_projects_or_email(phone, world, server):
    """Jo works only in a project Sam is not in, whose name says who its participants are. After Jo logs out, the
    phone keeps nothing of Jo's session: no email to fill in, no project, no capture kit, and Sam is not told
    "you are no longer a member of" Jo's project."""
    jo, sam = _two_researchers(world)
    secret = f"Domestic abuse survivors {uuid.uuid4().hex[:4]}"
    project = world.admin.post("/projects", json={"name": secret}).json()["id"]
    world.admin.post(f"/projects/{project}/consent-forms", json={"title": "C", "body": "b", "scopes": ["quote"]})
    jo_id = next(u["id"] for u in world.admin.get("/users").json() if u["email"] == jo)
    world.admin.delete(f"/projects/{world.project_id}/members/{jo_id}")
    assert world.admin.put(f"/projects/{project}/members/{jo_id}", json={"role": "researcher"}).status_code == 200
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, jo, RESEARCHER_PASSWORD)
    page.wait_for_function("(s) => document.body.innerText.includes(s)", arg=secret)
    page.goto(page.url.split("#")[0] + "#/phone")
    page.click("#logout")
    page.wait_for_selector("body[data-screen=login]")
    assert page.input_value("#login input[name=email]") == ""
    assert secret not in idb_text(page) and jo not in idb_text(page)

    login_ui(page, sam, RESEARCHER_PASSWORD)
    page.wait_for_selector("body[data-ready=capture]")
    assert page.locator("#removed").count() == 0
    assert secret not in page.inner_text("body") and secret not in idb_text(page)
