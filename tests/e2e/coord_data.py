"""Set-up for the coordinator pages' browser tests: a coordinator, fragments synced by a researcher, tags."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import uuid
import wave

from tests.e2e.helpers import COORDINATOR, RESEARCHER_PASSWORD, World, login_ui, open_app
from tests.support.live_server import ok

LAPTOP = {"width": 1280, "height": 800}


def seed(world: World, texts: list[str], *, sensitive: frozenset[int] = frozenset(), place: int = 0,
         prompt: int = 0, kind: str = "paraphrase", start: dt.datetime | None = None,
         step: dt.timedelta = dt.timedelta(minutes=1)) -> list[str]:
    """One conversation whose fragments (texts, in order) a researcher syncs; returns their ids."""
    start = start or dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    conv, consent = str(uuid.uuid4()), str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in texts]
    items = [
        {"type": "conversation", "id": conv, "data": {
            "project_id": world.project_id, "place_id": world.place_ids[place],
            "prompt_ids": world.prompt_ids, "started_at": start.isoformat()}},
        {"type": "consent", "id": consent, "data": {
            "conversation_id": conv, "participant_label": f"P-{uuid.uuid4().hex[:4].upper()}",
            "consent_form_id": world.consent_form_id, "scopes": ["audio", "quote", "share", "publish"],
            "method": "verbal",
            "given_at": start.isoformat()}},
    ]
    items += [{"type": "fragment", "id": fid, "data": {
        "conversation_id": conv, "consent_id": consent, "kind": kind, "text": text, "language": "en",
        "prompt_id": world.prompt_ids[prompt], "captured_at": (start + step * (n + 1)).isoformat(),
        "sensitive": n in sensitive}} for n, (fid, text) in enumerate(zip(ids, texts, strict=True))]
    with world.researcher() as client:
        answer = ok(client.post("/sync", json={"device_id": f"seed-{uuid.uuid4().hex[:6]}", "items": items}))
    results = answer["results"]
    assert all(r["status"] == "created" for r in results), results
    return ids


def make_tags(world: World, names: dict[str, str]) -> dict[str, str]:
    """Tags by name -> id (colour given per name)."""
    path = f"/projects/{world.project_id}/tags"
    return {name: ok(world.admin.post(path, json={"name": name, "colour": colour}))["id"]
            for name, colour in names.items()}


def open_workspace(browser, server, email: str, project_id: str, page_name: str):
    """A laptop-sized browser logged in as `email`, on one coordinator page; returns (context, page)."""
    context = browser.new_context(viewport=LAPTOP, device_scale_factor=1, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    open_app(page, server)
    login_ui(page, email, RESEARCHER_PASSWORD, lands_on=COORDINATOR + " .co[data-page] h1")  # a coordinator lands here
    goto(page, project_id, page_name)
    return context, page


def goto(page, project_id: str, page_name: str, more: str = "") -> None:
    # The page on screen is marked, so the wait is for the new one even when it is the same kind of page.
    page.evaluate("async h => { const co = document.querySelector('.co'); if (co) co.dataset.old = '1';"
                  " (await import('/app/src/app.js')).go(h); }", f"#/co/{project_id}/{page_name}{more}")
    page.wait_for_selector(f".co[data-page={page_name}]:not([data-old]) h1")


def laptop_workspace(browser, server):
    """For a fixture: open(email, project_id, page_name) -> page; the browser closes after the test (so a
    failure's picture is taken first)."""
    contexts = []

    def open_(email: str, project_id: str, page_name: str):
        context, page = open_workspace(browser, server, email, project_id, page_name)
        contexts.append(context)
        return page

    yield open_
    for context in contexts:
        context.close()


def audit(page) -> None:
    """The accessibility checks of the phone's screens, less touch-target sizes (these pages are laptop first)."""
    from tests.e2e.test_accessibility import AUDIT

    problems = [p for p in page.evaluate(AUDIT) if not p.startswith(("small target", "small choice"))]
    assert problems == [], problems
    assert page.locator("h1").count() == 1


def attach_clip(world: World, fragment_id: str, seconds: float = 1.0) -> bytes:
    """A short WAV clip (a quiet tone) uploaded for the fragment by its researcher with tus, as the phone does."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(int(800 * ((n // 20) % 2 * 2 - 1)).to_bytes(2, "little", signed=True)
                               for n in range(int(8000 * seconds))))
    clip = buf.getvalue()
    meta = {"fragment_id": fragment_id, "sha256": hashlib.sha256(clip).hexdigest(), "filename": "clip.wav",
            "filetype": "audio/wav"}
    tus = {"Tus-Resumable": "1.0.0"}
    with world.researcher() as client:
        created = client.post("/uploads/", headers={**tus, "Upload-Length": str(len(clip)), "Upload-Metadata": ",".join(
            f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())})
        assert created.status_code == 201, (created.status_code, created.text, created.headers)
        done = client.patch(created.headers["Location"].removeprefix("/api/v1"), content=clip, headers={
            **tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        assert done.status_code == 204, done.text
    return clip
