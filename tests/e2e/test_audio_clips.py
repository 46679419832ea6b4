"""Audio clips on the phone: record offline with a fake microphone, keep the clip through a reload, and
upload it after its fragment with the server's tus protocol, resuming from the server's offset."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest

from tests.e2e.conftest import CHROMIUM_ARGS
from tests.e2e.helpers import (
    app_eval,
    capture_ui,
    login_ui,
    new_phone,
    open_app,
    shot,
    start_conversation_ui,
    take_consent_ui,
    wait_counts,
    wait_worker,
)
from tests.support.live_server import login_client, ok

pytestmark = pytest.mark.browser

ALL_YES = {"audio": True, "quote": True, "share": True, "publish": True}
FAKE_MIC = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def mic_browser(browser, chromium_path):
    """A second Chromium from the same Playwright, with a fake microphone that needs no asking."""
    b = browser.browser_type.launch(executable_path=chromium_path, args=CHROMIUM_ARGS + FAKE_MIC)
    yield b
    b.close()


def mic_phone(browser, server):
    context = new_phone(browser)
    context.grant_permissions(["microphone"], origin=server.url)
    return context


def clip_row(page, fragment_id: str | None = None) -> dict | None:
    return app_eval(page, """
        const { sha256Hex } = await import('/app/src/upload.js');
        const clips = await A.db.allClips();
        const c = arg ? clips.find((x) => x.id === arg) : clips[0];
        if (!c) return null;
        return { ...c, blob: null, has_blob: Boolean(c.blob), blob_sha: c.blob ? await sha256Hex(c.blob) : null };
    """, fragment_id)


def wait_clip(page, state: str, fragment_id: str | None = None, timeout: float = 45) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        row = clip_row(page, fragment_id)
        if row and row["state"] == state:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"clip on the phone: {row}, expected state {state}")
        time.sleep(0.25)


def record_ui(page, seconds: float = 2.5) -> None:
    page.click("#record")
    page.wait_for_selector("#stop-recording")
    page.wait_for_function("() => document.querySelector('#level') && document.querySelector('#level').value > 0")
    time.sleep(seconds)
    shot(page, "20-recording")
    page.click("#stop-recording")
    page.wait_for_selector("#keep-clip")
    shot(page, "21-recorded-clip")


def test_clip_recorded_offline_uploads_after_its_fragment_byte_identical(mic_browser, world, server):
    email = "voices@example.org"  # its own researcher: other tests count the shared one's fragments
    world.add_researcher(email)
    phone = mic_phone(mic_browser, server)
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, email, world.password)
    page.wait_for_selector("body[data-ready=capture]")
    wait_worker(page)

    phone.set_offline(True)
    page.reload()
    page.wait_for_selector("body[data-ready=capture]")
    page.wait_for_selector("#conn.off")
    conv_id = start_conversation_ui(page)
    take_consent_ui(page, ALL_YES)
    assert page.is_visible("#recorder") and not page.is_visible("#no-audio")
    record_ui(page)
    # Saving is refused until the clip is kept or discarded: it must not be lost or saved by surprise.
    page.fill("#fragment textarea[name=text]", "You can hear the sea from the bus stop.")
    page.click("#fragment button[type=submit]")
    page.wait_for_selector("#fragment .error:not(:empty)")
    page.click("#keep-clip")
    page.wait_for_selector("#clip-kept")
    shot(page, "22-clip-kept")
    page.click("#fragment button[type=submit]")
    page.wait_for_selector("#saved:not(:empty)")
    assert page.is_visible("#record")  # the form is ready for the next fragment

    stored = clip_row(page)
    assert stored["state"] == "local" and stored["has_blob"] and stored["size"] > 1000
    assert stored["type"] in ("audio/webm", "audio/ogg", "audio/mp4")
    assert app_eval(page, "return (await A.db.clipCounts()).bytes;") == stored["size"]

    page.reload()  # still offline: the clip is kept with its fragment
    page.wait_for_selector("body[data-screen=capture]")
    assert clip_row(page)["blob_sha"] == stored["blob_sha"]
    page.goto(page.url.split("#")[0] + f"#/c/{conv_id}")
    page.wait_for_selector("[data-clip-state=local]")

    phone.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_counts(page, local=0, synced=3, attention=0)
    done = wait_clip(page, "done")
    assert done["sha256"] == stored["blob_sha"] and not done["has_blob"]
    page.wait_for_selector("[data-clip-state=done]")
    page.click("[data-action=play]")
    page.wait_for_selector(".clip audio")
    shot(page, "23-clip-on-server")

    with login_client(server, email, world.password) as api:
        frag = ok(api.get(f"/fragments/{stored['id']}"))
        assert frag["audio"]["sha256"] == stored["blob_sha"]
        assert frag["audio"]["size"] == stored["size"]
        audio = api.get(f"/fragments/{stored['id']}/audio")
        assert audio.status_code == 200
        assert hashlib.sha256(audio.content).hexdigest() == stored["blob_sha"]
    phone.close()


def test_recording_is_not_offered_without_the_audio_scope(mic_browser, world, server):
    email = "no-audio@example.org"
    world.add_researcher(email)
    phone = mic_phone(mic_browser, server)
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, email, world.password)
    start_conversation_ui(page)
    take_consent_ui(page, {"audio": False, "quote": True, "share": True, "publish": False})
    assert not page.is_visible("#recorder") and not page.is_visible("#record")
    assert page.is_visible("#no-audio")
    phone.close()


def test_a_clip_the_server_refuses_needs_attention_with_its_reason(mic_browser, world, server):
    email = "not-audio@example.org"
    world.add_researcher(email)
    phone = mic_phone(mic_browser, server)
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, email, world.password)
    conv_id = start_conversation_ui(page)
    take_consent_ui(page, ALL_YES)
    # A text file posing as a WebM clip, as a broken recorder might leave.
    frag_id = app_eval(page, """
        const [consent] = (await A.db.allRecords()).filter((r) => r.type === 'consent');
        const rec = await A.db.addRecord('fragment', {
          conversation_id: consent.data.conversation_id, consent_id: consent.id, kind: 'paraphrase',
          text: 'Not really audio.', language: 'en', captured_at: new Date().toISOString(), sensitive: false,
        }, consent.owner, undefined, { blob: new Blob(['just some text, not a clip'], { type: 'audio/webm' }), type: 'audio/webm' });
        await A.outbox.sync();
        return rec.id;
    """)
    row = wait_clip(page, "attention", frag_id)
    assert row["error"]["status"] in (415, 422) and row["error"]["detail"]
    page.goto(page.url.split("#")[0] + f"#/c/{conv_id}")
    page.wait_for_selector("[data-clip-state=attention]")
    assert row["error"]["detail"] in page.inner_text("[data-clip-reason]")
    page.wait_for_selector("#clips-attention")
    phone.close()


# ---- the tus module alone, in the real browser against the real server ---------------------------

RECORD_IN_PAGE = """async (ms) => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const rec = new MediaRecorder(stream, { mimeType: 'audio/webm;codecs=opus', audioBitsPerSecond: 128000 });
    const parts = [];
    rec.ondataavailable = (e) => parts.push(e.data);
    const done = new Promise((r) => { rec.onstop = r; });
    rec.start(500);
    await new Promise((r) => setTimeout(r, ms));
    rec.stop();
    await done;
    stream.getTracks().forEach((t) => t.stop());
    window.__blob = new Blob(parts, { type: 'audio/webm' });
    return window.__blob.size;
}"""

UPLOAD_IN_PAGE = """async ({ fragmentId, chunk, pauseAt }) => {
    const { A } = await import('/app/src/app.js');
    const { createUploader } = await import('/app/src/upload.js');
    window.__clip = window.__clip || { id: fragmentId, blob: window.__blob, size: window.__blob.size,
      type: 'audio/webm', sha256: null, upload_url: null, offset: 0 };
    const up = createUploader({ getToken: () => A.session.token, chunkSize: chunk });
    try {
      await up.upload(window.__clip, {
        save: async (patch) => { Object.assign(window.__clip, patch); },
        progress: (offset) => { if (pauseAt && offset >= pauseAt) throw new Error('paused'); },
      });
      return { ok: true };
    } catch (err) {
      return { ok: false, status: err.status ?? null, code: err.code || String(err.message) };
    }
}"""


def test_interrupted_upload_resumes_from_the_servers_offset(mic_browser, private_world, private_server):
    server, world = private_server, private_world
    phone = mic_phone(mic_browser, server)
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, world.email, world.password)
    start_conversation_ui(page)
    take_consent_ui(page, ALL_YES)
    capture_ui(page, "The clip of this one goes up in pieces.")
    wait_counts(page, local=0, synced=3)
    frag_id = app_eval(page, "return (await A.db.allRecords()).find((r) => r.type === 'fragment').id;")

    size = page.evaluate(RECORD_IN_PAGE, 3000)
    chunk = 4096
    assert size > 4 * chunk, size
    args = {"fragmentId": frag_id, "chunk": chunk, "pauseAt": 3 * chunk}
    assert page.evaluate(UPLOAD_IN_PAGE, args) == {"ok": False, "status": None, "code": "paused"}
    state = page.evaluate("window.__clip")
    assert state["offset"] == 3 * chunk and state["upload_url"].startswith("/api/v1/uploads/")
    with world.researcher() as api:
        head = api.head(state["upload_url"].removeprefix("/api/v1"), headers={"Tus-Resumable": "1.0.0"})
        assert head.status_code == 200 and int(head.headers["Upload-Offset"]) == 3 * chunk

    server.stop()
    try:
        args["pauseAt"] = None
        failed = page.evaluate(UPLOAD_IN_PAGE, args)
        assert failed["ok"] is False and failed["status"] == 0  # no server: try again later
    finally:
        server.start()

    sent: list[tuple[str, str | None]] = []
    page.on("request", lambda r: sent.append((r.method, r.headers.get("upload-offset")))
            if "/api/v1/uploads" in r.url else None)
    assert page.evaluate(UPLOAD_IN_PAGE, args) == {"ok": True}
    patches = [int(o) for m, o in sent if m == "PATCH"]
    assert sent[0][0] == "HEAD" and "POST" not in [m for m, _ in sent]
    assert patches[0] == 3 * chunk, sent  # from the server's offset, not from zero
    assert sum(min(chunk, size - o) for o in patches) == size - 3 * chunk

    sha = page.evaluate("window.__clip.sha256")
    with login_client(server, world.email, world.password) as api:
        assert ok(api.get(f"/fragments/{frag_id}"))["audio"]["sha256"] == sha
        assert hashlib.sha256(api.get(f"/fragments/{frag_id}/audio").content).hexdigest() == sha
        # Asking again for the same clip is harmless: the server says it is already attached.
        assert page.evaluate(UPLOAD_IN_PAGE, args) == {"ok": True}
    assert httpx.get(f"{server.api}/health").status_code == 200
    phone.close()


def test_app_closed_mid_upload_resumes_from_the_servers_offset_when_opened_again(mic_browser, world, server):
    email = "long-clip@example.org"
    world.add_researcher(email)
    phone = mic_phone(mic_browser, server)
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, email, world.password)
    start_conversation_ui(page)
    take_consent_ui(page, ALL_YES)
    page.evaluate(RECORD_IN_PAGE, 1500)
    # Cut the connection on the second chunk, the way a phone loses its signal.
    cut = {"done": False, "signal": False}

    def flaky(route):
        req = route.request
        if req.method == "PATCH" and req.headers.get("upload-offset") != "0" and not cut["signal"]:
            cut["done"] = True
            route.abort("connectionreset")
        else:
            route.continue_()

    phone.route("**/api/v1/uploads/**", flaky)
    # A real WebM recording padded to three chunks (the server knows audio by its first bytes).
    frag_id = app_eval(page, """
        const [consent] = (await A.db.allRecords()).filter((r) => r.type === 'consent');
        const blob = new Blob([window.__blob, new Uint8Array(2 * 512 * 1024)], { type: 'audio/webm' });
        const rec = await A.db.addRecord('fragment', {
          conversation_id: consent.data.conversation_id, consent_id: consent.id, kind: 'paraphrase',
          text: 'A long story.', language: 'en', captured_at: new Date().toISOString(), sensitive: false,
        }, consent.owner, undefined, { blob, type: 'audio/webm' });
        A.outbox.sync();
        return rec.id;
    """)
    deadline = time.monotonic() + 30
    while not cut["done"] and time.monotonic() < deadline:
        page.wait_for_timeout(100)  # (not time.sleep: the route handler runs while Playwright is waited on)
    assert cut["done"], (clip_row(page, frag_id), app_eval(page, "return [String(A.outbox.state.lastError), A.outbox.state.uploading];"))
    saved = clip_row(page, frag_id)
    assert saved["state"] == "local" and saved["offset"] == 512 * 1024 and saved["upload_url"]
    page.close()
    cut["signal"] = True

    sent: list[tuple[str, str | None]] = []
    phone.on("request", lambda r: sent.append((r.method, r.headers.get("upload-offset")))
             if "/api/v1/uploads" in r.url else None)
    page = phone.new_page()
    open_app(page, server)
    done = wait_clip(page, "done", frag_id)
    assert sent[0][0] == "HEAD" and "POST" not in [m for m, _ in sent], sent
    assert [int(o) for m, o in sent if m == "PATCH"] == [512 * 1024, 2 * 512 * 1024], sent
    with login_client(server, email, world.password) as api:
        audio = api.get(f"/fragments/{frag_id}/audio")
        assert hashlib.sha256(audio.content).hexdigest() == done["sha256"] == saved["sha256"]
    phone.close()
