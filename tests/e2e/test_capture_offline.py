"""The researcher's day: log in online, lose the signal, capture, close the app, come back online."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import (
    app_eval,
    capture_ui,
    counts,
    login_ui,
    open_app,
    shot,
    start_conversation_ui,
    take_consent_ui,
    wait_counts,
    wait_worker,
)

pytestmark = pytest.mark.browser

ALL_YES = {"audio": True, "quote": True, "share": True, "publish": True}


def test_offline_capture_of_20_fragments_reaches_the_server_exactly_once(phone, world, server):
    page = phone.new_page()
    open_app(page, server)
    shot(page, "01-login")
    login_ui(page, world.email, world.password)
    page.wait_for_selector("body[data-ready=capture]")
    wait_worker(page)
    shot(page, "02-home")

    phone.set_offline(True)
    page.reload()
    page.wait_for_selector("body[data-ready=capture]")  # the service worker served the shell
    page.wait_for_selector("#conn.off")

    page.click("#start")
    page.wait_for_selector("#new-conversation")
    shot(page, "03-new-conversation")
    page.go_back()
    conv_id = start_conversation_ui(page)
    page.click("#add-participant")
    page.wait_for_selector("#consent")
    shot(page, "04-consent")
    page.go_back()
    page.wait_for_selector("body[data-screen=conversation]")
    label = take_consent_ui(page, ALL_YES, method="signed")
    for i in range(20):
        capture_ui(page, f"Fragment {i:02d}: the bus stopped coming after six.",
                   kind="quote" if i % 3 == 0 else "paraphrase", sensitive=i == 7,
                   slider=10 + i if i % 2 else None, choice="My neighbours" if i % 4 == 0 else None)
    shot(page, "05-capture")
    assert counts(page) == {"local": 22, "synced": 0, "attention": 0}

    page.goto(page.url.split("#")[0] + f"#/c/{conv_id}")
    page.wait_for_selector("#fragments")
    assert page.locator("#fragments [data-state=local]").count() == 20
    assert page.locator("#participants").inner_text().count(label) == 1
    shot(page, "06-conversation-offline")

    # Close the app and open it again, still with no signal.
    page.close()
    page = phone.new_page()
    open_app(page, server)
    page.wait_for_selector("body[data-ready=capture]")
    assert counts(page)["local"] == 22

    phone.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_counts(page, local=0, synced=22, attention=0)
    page.wait_for_selector("#conn.on")
    page.goto(page.url.split("#")[0] + f"#/c/{conv_id}")
    page.wait_for_selector("#fragments")
    page.wait_for_function("() => document.querySelectorAll('#fragments [data-state=synced]').length === 20")
    shot(page, "07-conversation-synced")

    cached = page.evaluate("""async () => {
        const urls = [];
        for (const name of await caches.keys()) {
            for (const req of await (await caches.open(name)).keys()) urls.push(new URL(req.url).pathname);
        }
        return urls;
    }""")
    assert "/app/src/outbox.js" in cached and not [u for u in cached if u.startswith("/api/")]

    on_server = world.fragments_on_server()
    assert len(on_server) == 20
    assert sorted(f["text"] for f in on_server) == [
        f"Fragment {i:02d}: the bus stopped coming after six." for i in range(20)]
    assert sum(1 for f in on_server if f["sensitive"]) == 1

    # Sending everything again (as after a crash mid-sync) changes nothing on the server.
    app_eval(page, """
        const recs = await A.db.allRecords();
        const items = recs.map((r) => ({ type: r.type, id: r.id, data: r.data }));
        const res = await A.api.sync(A.deviceId, items);
        return res.results.map((r) => r.status);
    """)
    assert len(world.fragments_on_server()) == 20


def test_form_refuses_a_quote_without_the_quote_scope(phone, world, server):
    email = "no-quotes@example.org"
    world.add_researcher(email)
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, email, world.password)
    start_conversation_ui(page)
    take_consent_ui(page, {"audio": False, "quote": False, "share": True, "publish": False})
    assert page.is_disabled("input[name=kind][value=quote]")
    assert page.is_visible("#quote-refused")
    # Even if the control is forced, the form refuses before anything is stored.
    page.evaluate("document.querySelector('input[name=kind][value=quote]').disabled = false")
    page.check("input[name=kind][value=quote]")
    page.fill("#fragment textarea[name=text]", "I said exactly this.")
    page.click("#fragment button[type=submit]")
    page.wait_for_selector("#fragment .error:not(:empty)")
    assert counts(page)["local"] + counts(page)["synced"] == 2  # conversation and consent only


def test_rejected_record_shows_the_servers_reason_and_can_be_discarded(phone, world, server):
    email = "rejected@example.org"
    world.add_researcher(email)
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, email, world.password)
    start_conversation_ui(page)
    take_consent_ui(page, {"audio": False, "quote": False, "share": True, "publish": False})
    capture_ui(page, "A fair paraphrase.")
    wait_counts(page, local=0, synced=3)
    # A record the form would never make: a quote under a consent without the quote scope.
    bad_id = app_eval(page, """
        const [consent] = (await A.db.byState('synced')).filter((r) => r.type === 'consent');
        const rec = await A.db.addRecord('fragment', {
          conversation_id: consent.data.conversation_id, consent_id: consent.id, kind: 'quote',
          text: 'Word for word.', language: 'en', captured_at: new Date().toISOString(), sensitive: false,
        }, consent.owner);
        await A.outbox.sync();
        return rec.id;
    """)
    wait_counts(page, attention=1)
    page.click("#status a.warn")
    page.wait_for_selector(f"#attention li[data-id='{bad_id}']")
    item = page.locator(f"#attention li[data-id='{bad_id}']")
    rec = app_eval(page, "return await A.db.getRecord(arg);", bad_id)
    assert rec["state"] == "attention" and rec["error"]["detail"]
    assert rec["error"]["detail"] in item.inner_text()
    shot(page, "08-needs-attention")

    page.once("dialog", lambda d: d.accept())
    item.locator("[data-action=discard]").click()
    wait_counts(page, attention=0, synced=3)
    assert len(world.fragments_on_server_of(email)) == 1
