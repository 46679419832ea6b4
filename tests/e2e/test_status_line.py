"""One honest status line: online/offline from real requests and the browser's events, and "Everything is on the
server" only when no record, clip or needs-attention item is left on the phone. Each state, in turn."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import (
    app_eval,
    capture_ui,
    new_researcher_ui,
    shot,
    start_conversation_ui,
    take_consent_ui,
)

pytestmark = pytest.mark.browser
ALL_SENT = "Everything is on the server"


def status(page) -> str:
    return page.inner_text("#status")


def wait_status(page, *, has: str, lacks: tuple[str, ...] = ()) -> str:
    page.wait_for_function("(w) => document.querySelector('#status').innerText.includes(w)", arg=has)
    text = status(page)
    for word in lacks:
        assert word not in text, text
    return text


def add_fragment(page, *, kind: str = "paraphrase", clip: bool = False) -> None:
    app_eval(page, """
        const consent = (await A.db.allRecords()).find((r) => r.type === 'consent');
        await A.db.addRecord('fragment', {
          conversation_id: consent.data.conversation_id, consent_id: consent.id, kind: arg[0],
          text: 'Status line fragment.', language: 'en', captured_at: new Date().toISOString(), sensitive: false,
        }, consent.owner, undefined,
           arg[1] ? { blob: new Blob(['not audio'], { type: 'audio/webm' }), type: 'audio/webm' } : undefined);
        A.outbox.sync();
    """, [kind, clip])


def test_the_status_line_tells_the_truth_in_every_state(phone, world, server):
    page, _, _ = new_researcher_ui(phone, world, "status")
    start_conversation_ui(page)
    take_consent_ui(page, {"audio": True, "quote": False, "share": True, "publish": False})
    capture_ui(page, "Online and sent.")
    wait_status(page, has=ALL_SENT, lacks=("No connection", "only on this phone"))
    page.wait_for_selector("#conn.on")
    shot(page, "status-all-sent")

    # The network drops: the line says so at once, without waiting for a send to fail.
    phone.set_offline(True)
    page.wait_for_selector("#conn.off")
    wait_status(page, has="No connection", lacks=("Connected", "kept on this phone"))
    capture_ui(page, "Offline, so only on this phone.")
    wait_status(page, has="1 fragment only on this phone", lacks=(ALL_SENT, "Connected"))
    shot(page, "status-offline-queued")

    phone.set_offline(False)
    app_eval(page, "A.outbox.sync();")
    wait_status(page, has=ALL_SENT, lacks=("No connection", "only on this phone"))
    page.wait_for_selector("#conn.on")

    # A record the server refuses (a quote without the quote scope) is not "on the server".
    add_fragment(page, kind="quote")
    wait_status(page, has="1 record needs attention", lacks=(ALL_SENT,))
    shot(page, "status-attention")
    page.goto(page.url.split("#")[0] + "#/attention")
    page.once("dialog", lambda d: d.accept())
    page.click("#attention [data-action=discard]")
    wait_status(page, has=ALL_SENT, lacks=("attention",))

    # A clip still on the phone (offline) keeps the line from saying everything is on the server.
    phone.set_offline(True)
    page.wait_for_selector("#conn.off")
    add_fragment(page, clip=True)
    text = wait_status(page, has="only on this phone", lacks=(ALL_SENT,))
    assert "1 audio clip only on this phone" in text
    shot(page, "status-clip-on-phone")


def test_a_clip_upload_shows_its_percentage_without_reading_out_each_step(phone, world, server):
    """The status line is a live region: a screen reader reads out what is added to it. An upload's percentage
    changed it at every chunk, and the line was put back whole each time; now "Uploading a clip" is said once and
    each step only changes the percentage shown, which assistive technology is not given (aria-hidden)."""
    page, _, _ = new_researcher_ui(phone, world, "upload-steps")

    def step(offset: int) -> None:
        app_eval(page, """
            A.outbox.state.uploading = { id: 'clip', offset: arg, size: 100 };
            (await import('/app/src/app.js')).go(location.hash);
        """, offset)
        page.wait_for_function("(p) => document.querySelector('#clip-upload')?.textContent.includes(p)",
                               arg=f"{offset}%")

    step(10)
    # What assistive technology is given: the line's text outside aria-hidden parts.
    spoken = page.evaluate("""() => {
        const copy = document.querySelector('#status').cloneNode(true);
        copy.querySelectorAll('[aria-hidden="true"]').forEach((el) => el.remove());
        return copy.textContent;
    }""")
    assert "Uploading a clip" in spoken and "%" not in spoken, spoken
    # Whatever is added to the live region from now on, outside aria-hidden parts, would be read out.
    page.evaluate("""() => {
        window.readOut = [];
        new MutationObserver((changes) => {
            for (const change of changes) {
                if (change.target.closest && change.target.closest('[aria-hidden="true"]')) continue;
                for (const node of change.addedNodes) {
                    if (node.closest && node.closest('[aria-hidden="true"]')) continue;
                    const copy = node.cloneNode(true);
                    if (copy.querySelectorAll) copy.querySelectorAll('[aria-hidden="true"]').forEach((el) => el.remove());
                    window.readOut.push(copy.textContent);
                }
            }
        }).observe(document.querySelector('#status'), { childList: true, subtree: true, characterData: true });
    }""")
    step(55)
    step(90)
    assert page.evaluate("window.readOut") == []  # nothing new to say between two steps
    app_eval(page, "A.outbox.state.uploading = null;")
