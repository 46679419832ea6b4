"""Set-up and phone actions shared by the browser tests."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.live_server import LiveServer, admin_client, login_client, ok

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
PHONE = {"width": 360, "height": 740}
RESEARCHER_PASSWORD = "researcher-pass-123"


def new_phone(browser, **kw):
    """A fresh browser profile the size of a cheap Android phone."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True,
                                  accept_downloads=True, **kw)
    context.set_default_timeout(15_000)
    return context


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

    def add_coordinator(self, name: str = "coordinator", project_id: str | None = None) -> str:
        """A new coordinator (`name-…@example.org`, password RESEARCHER_PASSWORD) of this project or `project_id`;
        answers the email."""
        email = f"{name}-{uuid.uuid4().hex[:6]}@example.org"
        user = ok(self.admin.post("/users", json={"email": email, "password": RESEARCHER_PASSWORD,
                                                  "display_name": "Aisha Coordinator"}))
        ok(self.admin.put(f"/projects/{project_id or self.project_id}/members/{user['id']}",
                          json={"role": "coordinator"}))
        return email

    def fragments_on_server(self) -> list[dict]:
        return self.fragments_on_server_of(self.email)

    def fragments_on_server_of(self, email: str) -> list[dict]:
        """What the server holds for this researcher (a researcher sees only their own)."""
        items: list[dict] = []
        cursor = None
        with login_client(self.server, email, self.password) as client:
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


# ---- what a researcher does on the phone -------------------------------------------------------

APP_MODULE = "/app/src/app.js"


def app_eval(page, body: str, arg=None):
    """Runs `body` (an async function body with `A` = the app state and `arg`) inside the page."""
    return page.evaluate(
        f"async (arg) => {{ const {{ A }} = await import('{APP_MODULE}'); {body} }}", arg)


def wait_app(page, body: str, arg=None, timeout: float = 15) -> None:
    """Until `body` (as in app_eval) returns something truthy. (page.wait_for_function cannot do this: an async
    predicate returns a promise, which is truthy at once.)"""
    deadline = time.monotonic() + timeout
    while not app_eval(page, body, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {body}")
        time.sleep(0.1)


def counts(page) -> dict:
    return app_eval(page, "return await A.db.counts();")


def wait_counts(page, timeout: float = 30, **expected) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got = counts(page)
        if all(got.get(k) == v for k, v in expected.items()):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"records on the phone: {got}, expected {expected}")
        time.sleep(0.2)


def open_app(page, server: LiveServer, query: str = "") -> None:
    page.goto(f"{server.url}/app/{query}")
    page.wait_for_selector("body[data-screen]")


def wait_worker(page) -> None:
    """Until the service worker controls the page, so the shell is cached for offline use."""
    page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller !== null",
                           timeout=15_000)


COORDINATOR = "body[data-screen=coordinator]"  # where a coordinator or an admin lands after logging in


def login_ui(page, email: str, password: str, lands_on: str = "body[data-screen=home]") -> None:
    """Log in through the form; done once `lands_on` shows (a researcher's home by default)."""
    page.fill("#login input[name=email]", email)
    page.fill("#login input[name=password]", password)
    page.click("#login button[type=submit]")
    page.wait_for_selector(lands_on)


def new_researcher_ui(phone, world: World, name: str):
    """A researcher of the test's own (`name-…@example.org`: the shared researcher's records are counted by other
    tests), logged in on a new page of `phone`. Answers (page, email, user id)."""
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.org"
    user_id = world.add_researcher(email)
    page = phone.new_page()
    open_app(page, world.server)
    login_ui(page, email, RESEARCHER_PASSWORD)
    return page, email, user_id


def start_conversation_ui(page, place_index: int = 1, note: str = "") -> str:
    try:
        page.wait_for_selector("body[data-ready=capture]")
    except Exception:
        print("DEBUG", app_eval(page, "return [A.refreshError, Boolean(A.kit), A.projectId, A.me];"))
        raise
    page.click("#start")
    page.wait_for_selector("#new-conversation")
    page.select_option("select[name=place]", index=place_index)
    page.check("input[name=prompt] >> nth=0")
    if note:
        page.fill("#new-conversation textarea[name=note]", note)
    page.click("#new-conversation button[type=submit]")
    page.wait_for_selector("body[data-screen=conversation]")
    return page.url.split("#/c/")[1]


def take_consent_ui(page, scopes: dict[str, bool], method: str = "verbal") -> str:
    page.click("#add-participant")
    page.wait_for_selector("#consent")
    label = page.input_value("#consent input[name=label]")
    for scope, yes in scopes.items():
        page.check(f"[data-scope={scope}] input[value={'yes' if yes else 'no'}]")
    page.check(f"#method-{method}")
    if method == "signed":
        canvas = page.locator("canvas.signature")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + 20, box["y"] + 40)
        page.mouse.down()
        page.mouse.move(box["x"] + 200, box["y"] + 110, steps=12)
        page.mouse.move(box["x"] + 260, box["y"] + 50, steps=8)
        page.mouse.up()
    page.click("#consent button[type=submit]")
    page.wait_for_selector("#fragment")
    return label


def capture_ui(page, text: str, kind: str = "paraphrase", sensitive: bool = False,
               slider: int | None = None, choice: str | None = None) -> None:
    page.check(f"input[name=kind][value={kind}]")
    page.fill("#fragment textarea[name=text]", text)
    if slider is not None:
        page.fill("input[type=range][data-question=belonging]", str(slider))
    if choice is not None:
        page.select_option("select[data-question=who]", choice)
    if sensitive:
        page.check("input[name=sensitive]")
    page.click("#fragment button[type=submit]")
    page.wait_for_function("() => document.querySelector('#saved').textContent.length > 0 && "
                           "document.querySelector('#fragment textarea[name=text]').value === ''")


def idb_text(page) -> str:
    """Everything the app keeps in IndexedDB, every store, as one string (Blobs as their text), to look for words
    that must be gone."""
    return page.evaluate("""async () => {
      const db = await new Promise((ok, no) => { const r = indexedDB.open('hearken'); r.onsuccess = () => ok(r.result);
                                                   r.onerror = () => no(r.error); });
      const parts = [];
      for (const name of db.objectStoreNames) {
        const rows = await new Promise((ok, no) => {
          const r = db.transaction(name).objectStore(name).getAll();
          r.onsuccess = () => ok(r.result);
          r.onerror = () => no(r.error);
        });
        for (const row of rows) {
          parts.push(JSON.stringify(row));
          for (const v of Object.values(row)) if (v instanceof Blob) parts.push(await v.text());
        }
      }
      db.close();
      return parts.join('\\n');
    }""")


def offline_backup(browser, world: World, email: str, scopes: dict[str, bool], texts: list[str], folder: Path,
                   screenshot: str = "") -> Path:
    """A phone that never had signal: `email` logs in, starts a conversation, takes a consent (`scopes`), captures
    `texts` as paraphrases and saves a backup file (the phone is then lost). Answers the file."""
    old = new_phone(browser)
    page = old.new_page()
    open_app(page, world.server)
    login_ui(page, email, world.password)
    wait_worker(page)
    old.set_offline(True)
    start_conversation_ui(page)
    take_consent_ui(page, scopes)
    for text in texts:
        capture_ui(page, text)
    page.goto(page.url.split("#")[0] + "#/phone")
    page.wait_for_selector("#export")
    if screenshot:
        shot(page, screenshot)
    with page.expect_download() as download:
        page.click("#export")
    backup = folder / "backup.json"
    download.value.save_as(backup)
    old.close()
    return backup


def restore(browser, world: World, email: str, backup: Path, records: int):
    """A new phone: `email` logs in and imports `backup` (of `records` records). Answers (phone, page)."""
    new = new_phone(browser)
    page = new.new_page()
    open_app(page, world.server)
    login_ui(page, email, world.password)
    page.goto(page.url.split("#")[0] + "#/phone")
    page.set_input_files("#import-file", str(backup))
    page.wait_for_selector(f"#import-result:has-text('{records}')")
    return new, page
