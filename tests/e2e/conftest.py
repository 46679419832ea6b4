"""Browser tests: a real `hearken serve` on loopback and Debian's Chromium through Playwright.

Without a Chromium binary the tests skip with one line, except on CI (CI=true) where they fail.
Browsers are never downloaded.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.live_server import LiveServer, admin_client, ok  # noqa: E402

ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 360, "height": 740}
RESEARCHER_PASSWORD = "researcher-pass-123"


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = chromium_binary()
    if path is None:
        reason = "browser tests need a Chromium binary (apt-get install -y chromium); none found on PATH"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def playwright_instance(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance, chromium_path):
    b = playwright_instance.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    yield b
    b.close()


def new_phone(browser, **kw):
    """A fresh browser profile the size of a cheap Android phone."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True,
                                  accept_downloads=True, **kw)
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def phone(browser):
    context = new_phone(browser)
    yield context
    context.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@dataclass
class World:
    """One project ready for capture, and a trained researcher in it."""

    server: LiveServer
    admin: httpx.Client
    project_id: str
    email: str
    password: str
    user_id: str
    consent_form_id: str
    place_ids: list[str] = field(default_factory=list)
    prompt_ids: list[str] = field(default_factory=list)

    def researcher(self) -> httpx.Client:
        from tests.support.live_server import login_client

        return login_client(self.server, self.email, self.password)

    def add_researcher(self, email: str, trained: bool = True) -> str:
        user = ok(self.admin.post("/users", json={"email": email, "password": RESEARCHER_PASSWORD,
                                                  "display_name": email.split("@")[0]}))
        ok(self.admin.put(f"/projects/{self.project_id}/members/{user['id']}", json={"role": "researcher"}))
        if trained:
            today = dt.date.today()
            ok(self.admin.post(f"/projects/{self.project_id}/members/{user['id']}/training",
                               json={"completed_on": str(today - dt.timedelta(days=30)),
                                     "expires_on": str(today + dt.timedelta(days=335))}))
        return user["id"]

    def fragments_on_server(self) -> list[dict]:
        items: list[dict] = []
        cursor = None
        with self.researcher() as client:
            while True:
                params = {"project_id": self.project_id, "limit": 200}
                if cursor:
                    params["cursor"] = cursor
                page = ok(client.get("/fragments", params=params))
                items += page["items"]
                cursor = page.get("next_cursor")
                if not cursor:
                    return items


def make_world(server: LiveServer) -> World:
    admin = admin_client(server)
    project = ok(admin.post("/projects", json={
        "name": "Belong in Plymouth 2026",
        "description": "Listening to people in Devonport and Stonehouse.",
        "questions": [
            {"id": "belonging", "type": "slider", "label": "How much do you feel you belong here?",
             "left": "Not at all", "right": "Completely"},
            {"id": "who", "type": "choice", "label": "Who is this story mostly about?",
             "options": ["Me", "My family", "My neighbours", "Services"]},
        ],
    }))
    pid = project["id"]
    form = ok(admin.post(f"/projects/{pid}/consent-forms", json={
        "title": "Taking part in Belong in Plymouth",
        "body": "We are listening to people in Plymouth.\n\nYou can stop at any time and ask us to delete "
                "what you said. We never write down your name.",
        "scopes": ["audio", "quote", "share", "publish"],
    }))
    places = [ok(admin.post(f"/projects/{pid}/places", json={"name": n}))["id"]
              for n in ("Devonport", "Stonehouse")]
    prompts = [ok(admin.post(f"/projects/{pid}/prompts", json={"text": t}))["id"]
               for t in ("What makes you feel at home here?", "Tell me about a time you felt left out.")]
    world = World(server=server, admin=admin, project_id=pid, email="", password=RESEARCHER_PASSWORD,
                  user_id="", consent_form_id=form["id"], place_ids=places, prompt_ids=prompts)
    world.email = f"researcher-{uuid.uuid4().hex[:6]}@example.org"
    world.user_id = world.add_researcher(world.email)
    return world


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("hearken-e2e")) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server) -> World:
    w = make_world(server)
    yield w
    w.admin.close()
