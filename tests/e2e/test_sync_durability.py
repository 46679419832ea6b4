"""Nothing captured is lost or doubled: a server dying mid-batch, an ended login, a backup moved
to another phone."""

from __future__ import annotations

import contextlib
import json

import httpx
import pytest

from tests.e2e.helpers import (
    app_eval,
    capture_ui,
    counts,
    login_ui,
    new_phone,
    offline_backup,
    open_app,
    restore,
    shot,
    start_conversation_ui,
    take_consent_ui,
    wait_app,
    wait_counts,
    wait_worker,
)

pytestmark = pytest.mark.browser

SCOPES = {"audio": False, "quote": True, "share": True, "publish": False}

QUEUE_FRAGMENTS = """
    const [consent] = (await A.db.allRecords()).filter((r) => r.type === 'consent');
    const items = Array.from({ length: arg }, (_, i) => ({ type: 'fragment', owner: consent.owner, data: {
      conversation_id: consent.data.conversation_id, consent_id: consent.id, kind: 'observation',
      text: `queued ${i}`, language: 'en', captured_at: new Date().toISOString(), sensitive: false } }));
    await A.db.addRecords(items);
    return items.length;
"""


def test_sync_interrupted_by_a_dying_server_resumes_without_duplicates(browser, private_world, private_server):
    world, server = private_world, private_server
    email = "interrupted@example.org"
    world.add_researcher(email)
    # Request interception cannot see what a service worker fetches, so this phone runs without one.
    phone = new_phone(browser, service_workers="block")
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, email, world.password)
    # With no service worker, the screens loaded on demand must be here before the signal goes.
    app_eval(page, "for (const v of ['conversation', 'consent', 'fragment']) await import(`/app/src/views/${v}.js`);")
    phone.set_offline(True)
    start_conversation_ui(page)
    take_consent_ui(page, SCOPES)
    app_eval(page, QUEUE_FRAGMENTS, 450)
    assert counts(page)["local"] == 452

    seen = []
    killed = []

    def die_mid_batch(route):
        first = not seen
        seen.append(len(json.loads(route.request.post_data)["items"]))
        if first:
            route.fetch()  # the server takes the first batch...
            server.kill()  # ...and dies before the phone hears back
            killed.append(True)
        with contextlib.suppress(Exception):  # the test may have stopped intercepting already
            route.abort("connectionreset")

    page.route("**/api/v1/sync", die_mid_batch)
    phone.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    while not killed:  # (handlers run while the test waits on the page)
        page.wait_for_timeout(50)
    assert seen[0] > 1
    wait_app(page, "return !A.outbox.state.running && A.outbox.state.nextAt !== null;")
    # No receipt reached the phone, so nothing left its outbox.
    assert counts(page) == {"local": 452, "synced": 0, "attention": 0}

    page.unroute_all(behavior="ignoreErrors")
    server.start()
    app_eval(page, "await A.outbox.sync();")
    wait_counts(page, local=0, synced=452, attention=0)
    texts = [f["text"] for f in world.fragments_on_server_of(email)]
    assert len(texts) == 450 and len(set(texts)) == 450
    phone.close()


def _captured_offline(phone, world, server, email: str, text: str):
    """A researcher's page with a conversation, a consent and one fragment queued while offline."""
    world.add_researcher(email)
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, email, world.password)
    wait_worker(page)
    phone.set_offline(True)
    start_conversation_ui(page)
    take_consent_ui(page, SCOPES)
    capture_ui(page, text)
    return page


def test_an_expired_login_keeps_the_queue_and_syncs_after_logging_in_again(phone, world, server):
    email = "expired@example.org"
    page = _captured_offline(phone, world, server, email, "Said while the token was running out.")
    # The token expires while the phone is offline (as a login session does after its lifetime).
    page.route("**/api/v1/**", lambda route: route.fulfill(status=401, content_type="application/json", body=json.dumps(
        {"code": "token_expired", "detail": "This token has expired; log in again."})))
    phone.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    app_eval(page, "A.outbox.sync();")
    page.wait_for_selector("#status [role=alert]")
    assert counts(page) == {"local": 3, "synced": 0, "attention": 0}
    page.goto(page.url.split("#")[0] + "#/")
    page.wait_for_selector("#status [role=alert]")
    shot(page, "09-login-again")
    page.unroute_all(behavior="ignoreErrors")

    page.click("#status [role=alert] button")
    page.wait_for_selector("#login")
    assert page.input_value("#login input[name=email]") == email
    page.fill("#login input[name=password]", world.password)
    page.click("#login button[type=submit]")
    wait_counts(page, local=0, synced=3)
    assert [f["text"] for f in world.fragments_on_server_of(email)] == ["Said while the token was running out."]


def test_a_revoked_login_locks_the_phone_and_its_queue_syncs_after_logging_in_again(phone, world, server):
    email = "revoked@example.org"
    page = _captured_offline(phone, world, server, email, "Said while the token was being revoked.")
    token = app_eval(page, "return A.session.token;")
    r = httpx.post(f"{server.api}/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204

    phone.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    app_eval(page, "A.outbox.sync();")
    page.wait_for_selector("#locked-out")
    assert counts(page) == {"local": 3, "synced": 0, "attention": 0}  # nothing unsent is lost
    assert page.input_value("#login input[name=email]") == ""
    page.fill("#login input[name=email]", email)
    page.fill("#login input[name=password]", world.password)
    page.click("#login button[type=submit]")
    wait_counts(page, local=0, synced=3)
    assert [f["text"] for f in world.fragments_on_server_of(email)] == ["Said while the token was being revoked."]


def test_backup_file_moves_unsent_records_to_another_phone(browser, world, server, tmp_path):
    email = "dying-phone@example.org"
    world.add_researcher(email)
    backup = offline_backup(browser, world, email, SCOPES, [f"Backed up {i}" for i in range(3)], tmp_path,
                            screenshot="10-this-phone")
    assert len(json.loads(backup.read_text())["records"]) == 5

    new, page = restore(browser, world, email, backup, records=5)
    wait_counts(page, local=0, synced=5)
    # Importing the same file again adds nothing and sends nothing twice.
    page.set_input_files("#import-file", str(backup))
    page.wait_for_selector("#import-result:has-text('5 were already here')")
    assert sorted(f["text"] for f in world.fragments_on_server_of(email)) == [f"Backed up {i}" for i in range(3)]
    new.close()


def test_enrolment_by_qr_link_then_capture(phone, world, server):
    email = "enrolled@example.org"
    uid = world.add_researcher(email)
    code = world.admin.post(f"/projects/{world.project_id}/enrolment-codes", json={"user_id": uid}).json()
    page = phone.new_page()
    page.goto(f"{server.url}{code['enrol_url']}")
    page.wait_for_selector("#enrol")
    assert page.input_value("#enrol input[name=code]") == code["code"]
    shot(page, "11-enrol")
    page.click("#enrol button[type=submit]")
    page.wait_for_selector("body[data-ready=capture]")
    assert app_eval(page, "return A.session.kind;") == "device"
    assert "enrol=" not in page.url
    start_conversation_ui(page)
    take_consent_ui(page, SCOPES)
    capture_ui(page, "From an enrolled phone.", kind="quote")
    wait_counts(page, local=0, synced=3)
    assert len(world.fragments_on_server_of(email)) == 1


def test_a_used_or_wrong_code_is_explained(phone, server):
    page = phone.new_page()
    open_app(page, server)
    page.fill("#enrol input[name=code]", "NOTACODE")
    page.click("#enrol button[type=submit]")
    page.wait_for_selector("#enrol-error:not(:empty)")
    assert "code" in page.inner_text("#enrol-error").lower()


def test_researcher_without_current_training_is_told_why(phone, world, server):
    email = "untrained@example.org"
    world.add_researcher(email, trained=False)
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, email, world.password)
    page.wait_for_selector("#refusal")
    kit = app_eval(page, "return A.kit;")
    assert kit["can_capture"] is False
    assert kit["capture_refusal"]["detail"] in page.inner_text("#refusal")
    assert page.is_disabled("#start")
    shot(page, "12-cannot-capture")


def test_closing_the_app_mid_sync_loses_and_doubles_nothing(phone, world, server):
    email = "closed-mid-sync@example.org"
    world.add_researcher(email)
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, email, world.password)
    wait_worker(page)
    phone.set_offline(True)
    start_conversation_ui(page)
    take_consent_ui(page, SCOPES)
    app_eval(page, QUEUE_FRAGMENTS, 450)
    # Watched from before the network returns: the browser's own `online` event may start the sync at once.
    with page.expect_request("**/api/v1/sync"):
        phone.set_offline(False)
        page.evaluate("window.dispatchEvent(new Event('online'))")
    page.close()  # the tab goes away while the first batch is on the wire

    page = phone.new_page()
    open_app(page, server)
    wait_counts(page, local=0, synced=452, attention=0)
    texts = [f["text"] for f in world.fragments_on_server_of(email)]
    assert len(texts) == 450 and len(set(texts)) == 450


def test_logout_keeps_unsent_records_until_the_researcher_is_back(phone, world, server):
    email = "logs-out@example.org"
    world.add_researcher(email)
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, email, world.password)
    wait_worker(page)
    phone.set_offline(True)
    start_conversation_ui(page)
    take_consent_ui(page, SCOPES)
    capture_ui(page, "Captured before logging out.")
    page.goto(page.url.split("#")[0] + "#/phone")
    page.wait_for_selector("#logout")
    page.click("#logout")
    warning = page.inner_text("#logout-unsent")  # warned: what and whose they are, and that they stay
    assert "1 fragment, 1 consent and 1 conversation of logs-out" in warning
    page.click("#logout-keep")
    page.wait_for_selector("body[data-screen=login]")
    page.goto(page.url.split("#")[0] + "#/")
    page.wait_for_selector("body[data-screen=login]")  # no capturing under nobody's name
    assert counts(page)["local"] == 3

    phone.set_offline(False)
    login_ui(page, email, world.password)
    wait_counts(page, local=0, synced=3)
    assert len(world.fragments_on_server_of(email)) == 1
