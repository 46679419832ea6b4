"""A withdrawal reaches the phone: its copies of the participant's text, answers, clip and signature are erased
from every IndexedDB store, the screens say "Withdrawn — erased from this phone", no new fragment can be captured
for that participant, an unsent fragment of that consent can only be discarded, and the register learns that the
phone confirmed the erasure."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.e2e.helpers import (
    app_eval,
    capture_ui,
    idb_text,
    login_ui,
    new_phone,
    new_researcher_ui,
    offline_backup,
    open_app,
    restore,
    shot,
    start_conversation_ui,
    take_consent_ui,
    wait_app,
    wait_counts,
)
from tests.support.live_server import login_client, ok

pytestmark = pytest.mark.browser
SENT = "Words that must leave the phone: the warden's name"
UNSENT = "Unsent words that must leave the phone too"
CLIP = "clip bytes that must leave the phone"
NOTE = "Met her outside the pharmacy on Union Street"
# A fragment with an audio clip under the consent arg[0], the clip's bytes arg[1] (what the recorder would store).
ADD_FRAGMENT_WITH_CLIP = """
    const consent = await A.db.getRecord(arg[0]);
    await A.db.addRecord('fragment', {
      conversation_id: consent.data.conversation_id, consent_id: consent.id, kind: 'paraphrase',
      text: 'With a clip.', language: 'en', captured_at: new Date().toISOString(), sensitive: false,
    }, consent.owner, undefined, { blob: new Blob([arg[1]], { type: 'audio/webm' }), type: 'audio/webm' });
"""


def test_a_withdrawal_erases_the_participants_records_from_the_phone(phone, world, server):
    page, _, _ = new_researcher_ui(phone, world, "withdrawn")
    conv = start_conversation_ui(page, note=NOTE)  # about the one participant: it goes with her consent
    label = take_consent_ui(page, {"audio": True, "quote": True, "share": True, "publish": False}, method="signed")
    capture_ui(page, SENT, slider=30)
    consent_id = app_eval(page, "return (await A.db.allRecords()).find((r) => r.type === 'consent').id;")
    signature = app_eval(page, "return (await A.db.getRecord(arg)).data.signature;", consent_id)
    app_eval(page, ADD_FRAGMENT_WITH_CLIP + "await A.outbox.sync();", [consent_id, CLIP])
    wait_counts(page, local=0, synced=4)
    assert SENT in idb_text(page) and signature in idb_text(page) and NOTE in idb_text(page)

    phone.set_offline(True)
    capture_ui(page, UNSENT)
    ok(world.admin.post(f"/consents/{consent_id}/withdraw", json={"reason": "participant_asked"}))
    phone.set_offline(False)
    app_eval(page, "A.outbox.sync();")
    wait_app(page, "return (await A.db.getRecord(arg)).erased === 'withdrawn';", consent_id, timeout=30)

    stored = idb_text(page)
    for words in (SENT, UNSENT, CLIP, signature, "With a clip.", NOTE):
        assert words not in stored, words
    page.goto(page.url.split("#")[0] + f"#/c/{conv}")
    page.wait_for_selector("#fragments [data-state=withdrawn]")
    assert page.locator("#fragments [data-state=withdrawn]").count() == 3
    assert SENT not in page.content()
    assert page.locator(f"[data-capture='{label}']").count() == 0
    assert "withdrawn" in page.locator("#participants").inner_text().lower()
    shot(page, "withdrawn-erased-from-this-phone")
    # Capture for that participant is refused with a plain reason, even by its address.
    page.goto(page.url.split("#")[0] + f"#/c/{conv}/capture/{consent_id}")
    page.wait_for_selector("#capture-refused")
    assert page.locator("#fragment").count() == 0

    page.goto(page.url.split("#")[0] + "#/attention")
    item = page.locator("#attention [data-code=consent_withdrawn]")
    item.wait_for()
    assert item.locator("[data-action=retry]").count() == 0
    assert item.locator("textarea").count() == 0
    shot(page, "withdrawn-unsent-discard-only")
    page.once("dialog", lambda d: d.accept())
    item.locator("[data-action=discard]").click()
    page.wait_for_selector("#attention [data-code=consent_withdrawn]", state="detached")

    # The phone confirms right after erasing; the register shows when.
    deadline = time.monotonic() + 15
    while not (preview := ok(world.admin.get(f"/consents/{consent_id}/withdrawal-preview")))["phone_erasures"]:
        assert time.monotonic() < deadline, preview
        time.sleep(0.2)
    assert preview["phones_holding"] == 0


def test_a_backup_restored_after_a_withdrawal_does_not_bring_the_words_back(browser, phone, world, server, tmp_path):
    page, email, _ = new_researcher_ui(phone, world, "restored")
    start_conversation_ui(page)
    take_consent_ui(page, {"audio": False, "quote": True, "share": True, "publish": False})
    capture_ui(page, SENT)
    wait_counts(page, local=0, synced=3)
    phone.set_offline(True)
    capture_ui(page, UNSENT)
    consent_id = app_eval(page, "return (await A.db.allRecords()).find((r) => r.type === 'consent').id;")
    page.goto(page.url.split("#")[0] + "#/phone")
    with page.expect_download() as dl:
        page.click("#export")
    backup = tmp_path / "backup.json"
    dl.value.save_as(backup)
    phone.set_offline(False)
    app_eval(page, "A.outbox.sync();")
    wait_counts(page, local=0, synced=4)
    ok(world.admin.post(f"/consents/{consent_id}/withdraw", json={"reason": "participant_asked"}))

    # The phone breaks; on the replacement (which heard of the withdrawal when it logged in) the researcher loads
    # the backup: the withdrawn words do not come back, sent or unsent.
    other = new_phone(browser)
    restored = other.new_page()
    open_app(restored, server)
    login_ui(restored, email, world.password)
    restored.goto(restored.url.split("#")[0] + "#/phone")
    restored.set_input_files("#import-file", str(backup))
    restored.wait_for_selector("#import-result:has-text('4')")
    wait_app(restored, "return (await A.db.getRecord(arg)).erased === 'withdrawn';", consent_id, timeout=30)
    wait_counts(restored, local=0)
    stored = idb_text(restored)
    assert SENT not in stored and UNSENT not in stored
    other.close()


def test_a_lost_phone_revoked_by_its_coordinator_lets_the_words_it_sent_go_and_shows_nothing(phone, world, server):
    """Whoever finds the phone reads nothing without a login; the words the server holds leave the phone at once
    (it could no longer learn of a withdrawal); what was never sent stays, for its researcher's next login."""
    email = f"lost-{uuid.uuid4().hex[:6]}@example.org"
    uid = world.add_researcher(email)
    code = ok(world.admin.post(f"/projects/{world.project_id}/enrolment-codes", json={"user_id": uid}))
    page = phone.new_page()
    page.goto(f"{server.url}{code['enrol_url']}")
    page.click("#enrol button[type=submit]")
    conv = start_conversation_ui(page)
    take_consent_ui(page, {"audio": False, "quote": True, "share": True, "publish": False})
    capture_ui(page, SENT)
    wait_counts(page, local=0, synced=3)
    phone.set_offline(True)
    capture_ui(page, UNSENT)
    [device] = [d for d in ok(world.admin.get(f"/projects/{world.project_id}/devices")) if d["user_id"] == uid]
    assert world.admin.delete(f"/devices/{device['id']}").status_code == 204

    phone.set_offline(False)
    app_eval(page, "A.outbox.sync();")
    page.wait_for_selector("#locked-out")
    stored = idb_text(page)
    assert SENT not in stored and UNSENT in stored
    page.goto(page.url.split("#")[0] + f"#/c/{conv}")
    page.wait_for_selector("body[data-screen=login]")
    assert UNSENT not in page.content()
    shot(page, "lost-phone-locked")

    # Its researcher logs in again on it: the unsent words go, the sent ones say where they went.
    login_ui(page, email, world.password, lands_on="body[data-ready=capture]")
    wait_counts(page, local=0, synced=4)
    page.goto(page.url.split("#")[0] + f"#/c/{conv}")
    page.wait_for_selector("body[data-screen=conversation]")
    assert "when its login was ended" in page.inner_text("#fragments")


def test_narrowing_away_audio_takes_the_unsent_recording_off_the_phone(phone, world, server):
    """"Keep my words but not my voice": the clip the phone has not sent yet is refused by the server; the phone
    then erases it at once (no "send again", no player) and stops offering to record that participant."""
    page, _, _ = new_researcher_ui(phone, world, "voice")
    conv = start_conversation_ui(page)
    take_consent_ui(page, {"audio": True, "quote": True, "share": True, "publish": False})
    capture_ui(page, "Words without a clip.")
    wait_counts(page, local=0, synced=3)
    consent_id = app_eval(page, "return (await A.db.allRecords()).find((r) => r.type === 'consent').id;")
    phone.set_offline(True)
    app_eval(page, ADD_FRAGMENT_WITH_CLIP, [consent_id, CLIP])
    version = ok(world.admin.get(f"/consents/{consent_id}"))["version"]
    r = world.admin.patch(f"/consents/{consent_id}", json={"scopes": ["quote", "share"]},
                          headers={"If-Match": str(version)})
    assert r.status_code == 200, r.text

    phone.set_offline(False)
    app_eval(page, "A.outbox.sync();")
    wait_app(page, "return (await A.db.allClips()).some((c) => c.state === 'erased');", timeout=30)
    assert CLIP not in idb_text(page)
    consent = app_eval(page, "return await A.db.getRecord(arg);", consent_id)
    assert consent["allowed"] == ["quote", "share"]  # the server's word, beside what was recorded (and is resent)
    assert consent["data"]["scopes"] == ["audio", "quote", "share"]
    page.goto(page.url.split("#")[0] + f"#/c/{conv}")
    page.wait_for_selector("[data-clip-state=erased]")
    assert page.locator("[data-action=play]").count() == 0 and page.locator("[data-action=retry-clip]").count() == 0
    page.goto(page.url.split("#")[0] + f"#/c/{conv}/capture/{consent_id}")
    page.wait_for_selector("#no-audio", state="visible")


def test_the_phone_keeps_the_words_of_synced_records_for_two_weeks_then_a_stub(phone, world, server):
    page, _, _ = new_researcher_ui(phone, world, "keeper")
    conv = start_conversation_ui(page)
    take_consent_ui(page, {"audio": False, "quote": True, "share": True, "publish": False}, method="signed")
    capture_ui(page, "Old words, safely on the server.")
    capture_ui(page, "Newer words, kept a while yet.")
    wait_counts(page, local=0, synced=4)
    assert app_eval(page, "return A.kit.project.phone_keep_days;") == 14  # the project's default
    # Pretend the first fragment and the consent reached the server fifteen days ago, then let the app look.
    app_eval(page, """
        const recs = await A.db.allRecords();
        const old = recs.filter((r) => r.type === 'consent' || (r.data.text || '').startsWith('Old'));
        await A.db.tx('records', 'readwrite', async (tx) => {
          for (const r of old) tx.objectStore('records').put({ ...r, synced_at: Date.now() - 15 * 864e5 });
        });
        const { followErasures } = await import('/app/src/app.js');
        await followErasures();
    """)
    stored = idb_text(page)
    assert "Old words" not in stored and "data:image/png" not in stored
    assert "Newer words" in stored
    page.goto(page.url.split("#")[0] + f"#/c/{conv}")
    page.wait_for_selector("#fragments")
    assert "14 days after reaching the server" in page.inner_text("#fragments")
    shot(page, "stub-after-two-weeks")


QUOTE = "Unsent verbatim words she no longer agrees to have quoted"
KEPT = "A paraphrase she still agrees to"
NARROWED_CLIP = "clip bytes recorded before she took back audio"


def test_a_narrowing_reaches_the_phone_and_takes_back_what_it_no_longer_allows(phone, world, server):
    """The coordinator records that the participant agreed to less (no quotes, no audio). The phone's copy of the
    consent says so: capture no longer offers a quote or the recorder for her, and what the phone held unsent that
    needed them is erased (the words of a quote, a clip's bytes); her paraphrases stay."""
    page, _, _ = new_researcher_ui(phone, world, "narrowed")
    conv = start_conversation_ui(page)
    take_consent_ui(page, {"audio": True, "quote": True, "share": True, "publish": False})
    capture_ui(page, KEPT)
    consent_id = app_eval(page, "return (await A.db.allRecords()).find((r) => r.type === 'consent').id;")
    wait_counts(page, local=0, synced=3)

    phone.set_offline(True)
    capture_ui(page, QUOTE, kind="quote")
    app_eval(page, ADD_FRAGMENT_WITH_CLIP, [consent_id, NARROWED_CLIP])
    ok(world.admin.patch(f"/consents/{consent_id}", json={"scopes": ["share"]}, headers={"If-Match": '"1"'}))
    phone.set_offline(False)
    app_eval(page, "A.outbox.sync();")
    wait_app(page, "return ((await A.db.getRecord(arg)).allowed || []).join() === 'share';", consent_id, timeout=30)
    wait_app(page, "return (await A.db.allClips()).every((c) => c.state === 'erased' && !c.blob);", timeout=30)
    # What the phone recorded, and would send again, is untouched: the server compares a replay with it.
    assert app_eval(page, "return (await A.db.getRecord(arg)).data.scopes;", consent_id) == ["audio", "quote", "share"]

    stored = idb_text(page)
    assert QUOTE not in stored and NARROWED_CLIP not in stored
    assert KEPT in stored
    # Opened afresh, the form offers neither a quote nor the recorder for her; the conversation says what went.
    page.goto(page.url.split("#")[0] + f"#/c/{conv}")
    page.wait_for_selector("#participants")
    assert "Agreed: share" in page.inner_text("#participants")
    assert page.locator("#fragments [data-state=narrowed]").count() == 1
    assert page.locator("#fragments [data-state=withdrawn]").count() == 0
    page.goto(page.url.split("#")[0] + f"#/c/{conv}/capture/{consent_id}")
    page.wait_for_selector("#fragment")
    assert page.locator("input[name=kind][value=quote]").is_disabled()
    assert page.locator("#no-audio").is_visible()
    shot(page, "narrowed-capture-offers-no-quote-or-recorder")

    page.goto(page.url.split("#")[0] + "#/attention")
    item = page.locator("#attention [data-code=quote_not_consented]")
    item.wait_for()
    assert "no longer agrees to be quoted" in item.inner_text()
    assert item.locator("[data-action=retry]").count() == 0


def test_a_backup_restored_after_a_narrowing_still_sends_what_it_holds(browser, world, server, tmp_path):
    """Phone 1 sent a conversation and its consent, then died; its backup, taken while all was unsent, is restored on
    phone 2 after the coordinator took back `publish`. Phone 2 hears of the narrowing before it sends anything, and
    sends the consent as it was recorded: the server answers `duplicate`, not `conflict`, and her two paraphrases
    (still agreed to) reach it."""
    email = "restored-after-narrowing@example.org"
    world.add_researcher(email)
    texts = ["Backed up paraphrase 0", "Backed up paraphrase 1"]
    backup = offline_backup(browser, world, email, {"audio": False, "quote": True, "share": True, "publish": True},
                            texts, tmp_path)
    records = json.loads(backup.read_text())["records"]
    consent_id = next(r["id"] for r in records if r["type"] == "consent")
    with login_client(server, email, world.password) as last_sync:
        ok(last_sync.post("/sync", json={"device_id": "phone-1", "items": [
            {"type": r["type"], "id": r["id"], "data": r["data"]} for r in records if r["type"] != "fragment"]}))
    ok(world.admin.patch(f"/consents/{consent_id}", json={"scopes": ["quote", "share"]}, headers={"If-Match": '"1"'}))

    _, page = restore(browser, world, email, backup, records=4)
    wait_counts(page, local=0, synced=4)
    assert app_eval(page, "return (await A.db.getRecord(arg)).allowed;", consent_id) == ["quote", "share"]
    assert sorted(f["text"] for f in world.fragments_on_server_of(email)) == texts
