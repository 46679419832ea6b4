"""A new version of the app (a service-worker update) arrives while records wait in the outbox."""

from __future__ import annotations

import re
import shutil

import httpx
import pytest

from tests.e2e.helpers import (
    REPO,
    app_eval,
    capture_ui,
    counts,
    login_ui,
    make_world,
    open_app,
    shot,
    start_conversation_ui,
    take_consent_ui,
    wait_counts,
    wait_worker,
)
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.browser

NEW_VERSION = "9999.12.31-test"


@pytest.fixture(scope="module")
def copy_server(tmp_path_factory):
    """A server whose web client is a copy this test can change, as a deployment would."""
    webclient = tmp_path_factory.mktemp("webclient-copy") / "webclient"
    shutil.copytree(REPO / "webclient", webclient)
    with LiveServer(tmp_path_factory.mktemp("hearken-sw"), env={"HEARKEN_WEBCLIENT_DIR": str(webclient)}) as srv:
        marker = "/* served from the copy */\n"
        (webclient / "src" / "main.js").write_text(marker + (webclient / "src" / "main.js").read_text())
        served = httpx.get(f"{srv.url}/app/src/main.js").text
        assert served.startswith(marker), "the server must serve the web client from HEARKEN_WEBCLIENT_DIR"
        yield srv, webclient


def release_new_version(webclient) -> None:
    for path in (webclient / "sw.js", webclient / "src" / "app.js"):
        text = path.read_text()
        new = re.sub(r"(const VERSION = ')[^']+(')", rf"\g<1>{NEW_VERSION}\g<2>", text, count=1)
        assert new != text
        path.write_text(new)


def test_service_worker_update_keeps_queued_records(phone, copy_server):
    server, webclient = copy_server
    world = make_world(server)
    page = phone.new_page()
    open_app(page, server)
    login_ui(page, world.email, world.password)
    wait_worker(page)
    old_version = app_eval(page, "const m = await import('/app/src/app.js'); return m.VERSION;")

    phone.set_offline(True)
    start_conversation_ui(page)
    take_consent_ui(page, {"audio": False, "quote": True, "share": True, "publish": False})
    for i in range(5):
        capture_ui(page, f"Before the update {i}")
    # The login ends on the server while the phone is away, so the records stay queued when it is back.
    token = app_eval(page, "return A.session.token;")
    assert httpx.post(f"{server.api}/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    phone.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_selector("#locked-out")  # a revoked login locks the phone; what was not sent stays
    assert counts(page) == {"local": 7, "synced": 0, "attention": 0}

    release_new_version(webclient)
    page.evaluate("async () => (await navigator.serviceWorker.getRegistration()).update()")
    page.wait_for_selector("#update")
    shot(page, "13-update-ready")
    assert counts(page)["local"] == 7  # a waiting update changes nothing

    with page.expect_navigation():
        page.click("#update")
    page.wait_for_selector("body[data-screen]")
    new_version = app_eval(page, "const m = await import('/app/src/app.js'); return m.VERSION;")
    assert old_version != NEW_VERSION and new_version == NEW_VERSION
    assert counts(page) == {"local": 7, "synced": 0, "attention": 0}
    caches = page.evaluate("caches.keys()")
    assert caches == [f"hearken-shell-{NEW_VERSION}"]

    page.goto(f"{server.url}/app/#/login")
    page.wait_for_selector("#login")
    page.fill("#login input[name=email]", world.email)
    page.fill("#login input[name=password]", world.password)
    page.click("#login button[type=submit]")
    wait_counts(page, local=0, synced=7)
    assert sorted(f["text"] for f in world.fragments_on_server()) == [f"Before the update {i}" for i in range(5)]
    world.admin.close()
