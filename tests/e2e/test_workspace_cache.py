"""The coordinator's workspace costs a researcher's phone nothing: its files are never fetched there, and a
coordinator's browser keeps them (in the versioned cache) once used."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import COORDINATOR, RESEARCHER_PASSWORD, login_ui, open_app, wait_worker
from tests.support.live_server import ADMIN_EMAIL, ADMIN_PASSWORD

pytestmark = pytest.mark.browser

CACHED_WORKSPACE = """async () => {
  const names = await caches.keys();
  const urls = [];
  for (const name of names) for (const req of await (await caches.open(name)).keys()) urls.push(req.url);
  return urls.filter((u) => u.includes('/src/coord/') || u.endsWith('/css/coord.css'));
}"""


def test_a_researchers_phone_never_fetches_the_workspace(phone, server, world):
    page = phone.new_page()
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    open_app(page, server)
    login_ui(page, world.email, RESEARCHER_PASSWORD)
    wait_worker(page)
    page.reload()
    page.wait_for_selector("body[data-screen=home]")
    page.wait_for_timeout(500)  # the other screens are fetched in the background once the first is up
    assert any("/src/views/phone.js" in u for u in fetched), "the phone's own screens are fetched ahead"
    assert not [u for u in fetched if "/coord" in u]
    assert page.evaluate(CACHED_WORKSPACE) == []


def test_a_coordinators_browser_keeps_the_workspace_once_used(browser, server, world):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        open_app(page, server)
        wait_worker(page)
        login_ui(page, ADMIN_EMAIL, ADMIN_PASSWORD, lands_on=COORDINATOR + " .co-page h1")
        page.goto(f"{server.url}/app/#/co/{world.project_id}/review")
        page.wait_for_selector(".co[data-page=review]")
        cached = page.evaluate(CACHED_WORKSPACE)
        assert any(u.endswith("/src/coord/shell.js") for u in cached)
        assert any(u.endswith("/src/coord/review.js") for u in cached)
    finally:
        context.close()
