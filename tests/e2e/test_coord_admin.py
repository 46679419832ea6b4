"""The coordinator's settings, researchers, consent register and audit pages, in Chromium at laptop size:
a new project and its consent form reach the phone's capture kit; a phone enrolled by code appears among the
researcher's phones; a withdrawal through the register erases the fragments from every way out of the server;
a researcher is refused; a failed save keeps the edit."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import COORDINATOR, RESEARCHER_PASSWORD, login_ui, make_world, new_phone, open_app, shot
from tests.e2e.test_accessibility import AUDIT
from tests.support.live_server import ADMIN_EMAIL, ADMIN_PASSWORD, admin_client, ensure_admin, login_client, ok

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}


@pytest.fixture
def desk(browser):
    context = browser.new_context(viewport=LAPTOP, device_scale_factor=1, accept_downloads=True)
    context.set_default_timeout(15_000)
    yield context
    context.close()


def login_desk(page, server, email: str, password: str) -> None:
    open_app(page, server)
    login_ui(page, email, password, lands_on=COORDINATOR)


def coordinator(world) -> tuple[str, str]:
    return world.add_coordinator("coord"), RESEARCHER_PASSWORD


def iso(minutes: int = 0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()


def seed_conversation(client, project_id: str, form_id: str, place_id: str | None, label: str,
                      texts: list[str], scopes: tuple[str, ...] = ("audio", "quote", "share", "publish"),
                      ) -> tuple[str, list[str]]:
    """One conversation with one consent (all scopes) and its fragments, synced as a phone would."""
    conv, consent = str(uuid.uuid4()), str(uuid.uuid4())
    frags = [str(uuid.uuid4()) for _ in texts]
    items = [
        {"type": "conversation", "id": conv, "data": {"project_id": project_id, "place_id": place_id,
                                                      "prompt_ids": [], "started_at": iso(-30)}},
        {"type": "consent", "id": consent, "data": {
            "conversation_id": conv, "participant_label": label, "consent_form_id": form_id,
            "scopes": list(scopes), "method": "verbal", "given_at": iso(-29)}},
        *({"type": "fragment", "id": fid, "data": {
            "conversation_id": conv, "consent_id": consent, "kind": "quote", "text": text, "language": "en",
            "captured_at": iso(-20), "sensitive": False}} for fid, text in zip(frags, texts, strict=True)),
    ]
    results = ok(client.post("/sync", json={"device_id": "seed-phone", "items": items}))["results"]
    assert {r["status"] for r in results} == {"created"}, results
    return consent, frags


def assert_accessible(page) -> None:
    """The phone screens' checks, less the touch-target size: these pages are laptop-first (40 px controls)."""
    problems = [p for p in page.evaluate(AUDIT) if not p.startswith(("small target", "small choice"))]
    assert problems == []


def status_of(page, selector: str) -> str:
    return page.inner_text(f"{selector} .co-save .status")


def test_a_new_project_and_its_consent_form_reach_the_capture_kit(desk, private_server):
    ensure_admin(private_server)
    page = desk.new_page()
    # An admin who manages no project yet is offered the new-project form, not a refusal.
    login_desk(page, private_server, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.wait_for_selector("#new-project")
    assert_accessible(page)
    shot(page, "coord-new-project")
    page.fill("#project-details input[name=name]", "Listening in Keyham")
    page.fill("#project-details textarea[name=description]", "Conversations at the food bank.")
    page.fill("#project-details input[name=retention_days]", "730")
    page.fill("#project-details input[name=withdrawal_contact]", "Call Ann on 01752 000000")
    page.click("#project-details button[type=submit]")
    page.wait_for_selector("#settings")
    pid = re.search(r"#/co/([\w-]+)/project", page.url).group(1)
    admin = admin_client(private_server)
    project = ok(admin.get(f"/projects/{pid}"))
    assert (project["name"], project["retention_days"], project["withdrawal_contact"]) == (
        "Listening in Keyham", 730, "Call Ann on 01752 000000")  # printed on participants' receipts

    page.fill("#add-place input[name=name]", "Keyham")
    page.click("#add-place button[type=submit]")
    page.wait_for_selector("#place-list li")
    assert page.input_value("#place-list li input[name=name]") == "Keyham"
    page.fill("#add-prompt input[name=text]", "What keeps you going?")
    page.click("#add-prompt button[type=submit]")
    page.wait_for_selector("#prompt-list li")
    assert page.input_value("#prompt-list li input[name=text]") == "What keeps you going?"
    # Rename a place, retire a prompt: each row saves on its own.
    page.fill("#place-list li input[name=name]", "Keyham and Ford")
    page.click("#place-list li button[type=submit]")
    page.wait_for_selector("#place-list li .status.saved")
    page.uncheck("#prompt-list li input[name=active]")
    page.click("#prompt-list li button[type=submit]")
    page.wait_for_selector("#prompt-list li .status.saved")
    assert [p["name"] for p in ok(admin.get(f"/projects/{pid}/places"))] == ["Keyham and Ford"]
    assert [p["active"] for p in ok(admin.get(f"/projects/{pid}/prompts"))] == [False]

    # Questions are checked before they go: a pick-list with one option is refused on the page.
    page.click("#questions button:has-text('Add a slider')")
    page.fill("#question-list fieldset >> nth=0 >> input[name=label]", "How safe do you feel here?")
    page.fill("#question-list fieldset >> nth=0 >> input[name=left]", "Not at all")
    page.fill("#question-list fieldset >> nth=0 >> input[name=right]", "Completely")
    page.click("#questions button:has-text('Add a pick-list')")
    page.fill("#question-list fieldset >> nth=1 >> input[name=label]", "Who is this about?")
    page.fill("#question-list fieldset >> nth=1 >> textarea[name=options]", "Me")
    page.click("#questions button[type=submit]")
    page.wait_for_function("() => document.querySelector('#questions .status').textContent.includes('2 and 20')")
    assert ok(admin.get(f"/projects/{pid}"))["questions"] == []
    page.fill("#question-list fieldset >> nth=1 >> textarea[name=options]", "Me\nMy family\nServices")
    page.click("#questions button[type=submit]")
    page.wait_for_function("() => document.querySelector('#questions .status').textContent === 'Saved.'")
    questions = ok(admin.get(f"/projects/{pid}"))["questions"]
    assert [(q["id"], q["type"]) for q in questions] == [("how-safe-do-you-feel-here", "slider"),
                                                        ("who-is-this-about", "choice")]
    assert questions[1]["options"] == ["Me", "My family", "Services"]

    # A save that never reaches the server says so and keeps the edit; the same button then saves it.
    page.route(f"**/api/v1/projects/{pid}", lambda route: route.abort()
               if route.request.method == "PATCH" else route.continue_())
    page.fill("#project-details textarea[name=description]", "Conversations at the food bank and the library.")
    page.click("#project-details button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('#project-details .status').textContent.startsWith('Not saved')")
    assert "No answer from the server" in status_of(page, "#project-details")
    assert page.input_value("#project-details textarea[name=description]").endswith("and the library.")
    assert ok(admin.get(f"/projects/{pid}"))["description"] == "Conversations at the food bank."
    page.unroute(f"**/api/v1/projects/{pid}")
    page.click("#project-details button[type=submit]")
    page.wait_for_function("() => document.querySelector('#project-details .status').textContent === 'Saved.'")
    assert ok(admin.get(f"/projects/{pid}"))["description"].endswith("and the library.")

    # The first consent form version; its text is shown as text, never as markup.
    page.fill("#form-editor input[name=title]", "Taking part in Keyham")
    page.fill("#form-editor textarea[name=body]", "We listen. <b>You can stop</b> at any time.\n\n- No names.")
    page.uncheck("#form-editor input[name=publish]")
    page.click("#form-editor button[type=submit]")
    page.wait_for_selector("#form-list li[data-version='1']")
    page.click("#form-list li[data-version='1'] summary")
    assert "<b>You can stop</b>" in page.inner_text("#form-list li[data-version='1'] .co-text")
    assert page.locator("#form-list b").count() == 0

    kit = ok(admin.get(f"/projects/{pid}/capture-kit"))
    assert kit["consent_form"]["title"] == "Taking part in Keyham"
    assert sorted(kit["consent_form"]["scopes"]) == ["audio", "quote", "share"]
    assert ([p["name"] for p in kit["places"]], kit["prompts"]) == (["Keyham and Ford"], [])

    # Once a consent refers to version 1 it can only be superseded: a new version starts from it.
    user = ok(admin.post("/users", json={"email": "keyham-r@example.org", "password": RESEARCHER_PASSWORD}))
    ok(admin.put(f"/projects/{pid}/members/{user['id']}", json={"role": "researcher"}))
    # Trained yesterday: trained "today", a conversation started half an hour ago was refused just after midnight.
    today = dt.datetime.now(dt.UTC).date()
    ok(admin.post(f"/projects/{pid}/members/{user['id']}/training",
                  json={"completed_on": str(today - dt.timedelta(days=1)),
                        "expires_on": str(today + dt.timedelta(days=300))}))
    with login_client(private_server, "keyham-r@example.org", RESEARCHER_PASSWORD) as researcher:
        seed_conversation(researcher, pid, kit["consent_form"]["id"], kit["places"][0]["id"], "P-K1", ["Hello."],
                          ("quote",))
    page.reload()
    page.wait_for_selector("#form-list li[data-version='1']")
    row = page.locator("#form-list li[data-version='1']")
    assert "only be superseded" in row.inner_text()
    assert row.locator("button:has-text('Correct')").count() == 0
    row.locator("button:has-text('Write a new version')").click()
    assert page.input_value("#form-editor input[name=title]") == "Taking part in Keyham"
    assert not page.is_checked("#form-editor input[name=publish]")
    page.fill("#form-editor input[name=title]", "Taking part in Keyham, again")
    page.check("#form-editor input[name=publish]")
    page.click("#form-editor button[type=submit]")
    page.wait_for_selector("#form-list li[data-version='2']")
    # Version 2 is not used yet, so it may still be corrected in place.
    page.click("#form-list li[data-version='2'] button:has-text('Correct this version')")
    assert page.inner_text("#form-editor-title") == "Correct version 2"
    page.fill("#form-editor input[name=title]", "Taking part in Keyham (2)")
    page.click("#form-editor button[type=submit]")
    page.wait_for_function("() => document.querySelector('#form-editor .status').textContent === 'Saved.'")
    assert page.locator("#form-list li").count() == 2
    kit = ok(admin.get(f"/projects/{pid}/capture-kit"))
    assert (kit["consent_form"]["version"], kit["consent_form"]["title"]) == (2, "Taking part in Keyham (2)")
    assert sorted(kit["consent_form"]["scopes"]) == ["audio", "publish", "quote", "share"]
    page.evaluate("window.scrollTo(0, 0)")
    assert_accessible(page)
    shot(page, "coord-project")
    admin.close()


def test_b_a_phone_enrolled_by_code_appears_among_the_researchers_phones(desk, browser, server):
    world = make_world(server)
    email = f"enrol-{uuid.uuid4().hex[:6]}@example.org"
    page = desk.new_page()
    login_desk(page, server, *coordinator(world))
    # A new person: their account is made and they join the project in one step.
    page.goto(f"{server.url}/app/#/co/{world.project_id}/people")
    page.wait_for_selector("#add-member")
    page.fill("#add-member input[name=email]", email)
    page.click("#add-member button[type=submit]")
    page.wait_for_function("() => document.querySelector('#add-member .status').textContent.includes('first password')")
    page.fill("#add-member input[name=display_name]", "Jo Researcher")
    page.fill("#add-member input[name=password]", RESEARCHER_PASSWORD)
    page.click("#add-member button[type=submit]")
    page.wait_for_selector("#member[data-user]")
    uid = page.get_attribute("#member", "data-user")
    assert "cannot capture" in page.inner_text("#training-state")
    today = dt.date.today()
    page.fill("#record-training input[name=completed_on]", str(today - dt.timedelta(days=3)))
    page.fill("#record-training input[name=expires_on]", str(today + dt.timedelta(days=362)))
    page.click("#record-training button[type=submit]")
    page.wait_for_selector("#training-table tbody tr")
    assert "Aisha Coordinator" in page.inner_text("#training-table")
    assert "Current, expires on" in page.inner_text("#training-state")
    assert [m["training_current"] for m in ok(world.admin.get(f"/projects/{world.project_id}/members"))
            if m["user_id"] == uid] == [True]

    page.click("#make-code")
    page.wait_for_selector("#enrol-code")
    code = page.inner_text("#enrol-code").strip()
    link = page.get_attribute("#enrol-link", "href")
    assert code and code in link
    assert re.search(r"expires in \d+:\d\d", page.inner_text("#code-left"))
    # The QR code is the server's SVG shown as an image (never inserted as markup).
    assert page.locator("#enrol svg").count() == 0
    page.wait_for_function("() => (document.querySelector('img.co-qr') || {}).naturalWidth > 0")
    assert page.get_attribute("img.co-qr", "src").startswith("blob:")
    assert_accessible(page)
    shot(page, "coord-enrol")

    phone = new_phone(browser)
    handset = phone.new_page()
    handset.goto(link)
    handset.wait_for_selector("#enrol input[name=code]")
    assert handset.input_value("#enrol input[name=code]") == code
    handset.click("#enrol button[type=submit]")
    handset.wait_for_selector("body[data-ready=capture]")
    phone.close()

    page.wait_for_selector("#device-table tbody tr")
    assert "Hearken web app" in page.inner_text("#device-table")
    leaving = world.add_researcher(f"leaving-{uuid.uuid4().hex[:6]}@example.org")  # listed when the page reloads
    page.wait_for_function("() => document.querySelector('#enrol .status').textContent.includes('enrolled')")
    page.click("#member a")  # everyone, with their training and phones
    page.wait_for_selector(f"#members tr[data-user='{uid}']")
    row = page.inner_text(f"#members tr[data-user='{uid}']")
    assert "Current, expires on" in row and "1 phone, last sync" in row  # "phones": with password logins
    assert_accessible(page)
    shot(page, "coord-people")
    page.set_viewport_size(TABLET)
    assert_accessible(page)  # no sideways scrolling on a tablet either
    page.set_viewport_size(LAPTOP)
    # Roles change in place; removing someone asks first.
    other = f"#members tr[data-user='{world.user_id}']"
    page.select_option(f"{other} select[name=role]", "coordinator")
    page.click(f"{other} button[type=submit]")
    page.wait_for_selector(f"{other} .status.saved")
    roles = {m["user_id"]: m["role"] for m in ok(world.admin.get(f"/projects/{world.project_id}/members"))}
    assert roles[world.user_id] == "coordinator"
    gone = f"#members tr[data-user='{leaving}']"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"{gone} button:has-text('Remove')")
    page.wait_for_selector(gone, state="detached")
    members = ok(world.admin.get(f"/projects/{world.project_id}/members"))
    assert leaving not in [m["user_id"] for m in members]
    # A fellow coordinator is out of a coordinator's reach: only an admin changes or removes them.
    page.reload()
    page.wait_for_selector(other)
    assert "Only an admin changes a coordinator" in page.inner_text(other)
    assert page.locator(f"{other} select, {other} button").count() == 0

    page.click(f"#members tr[data-user='{uid}'] a")
    page.wait_for_selector("#device-table tbody tr")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#device-table button:has-text('Revoke')")
    page.wait_for_selector("#device-table >> text=Revoked on")
    devices = ok(world.admin.get(f"/projects/{world.project_id}/devices"))
    assert [d["revoked_at"] is not None for d in devices if d["user_id"] == uid] == [True]


def test_c_a_withdrawal_through_the_register_erases_the_fragments_everywhere(desk, server):
    world = make_world(server)  # its own project: other tests count what the shared one holds
    word = f"zephyr{uuid.uuid4().hex[:6]}"
    label = f"P-W{uuid.uuid4().hex[:4].upper()}"
    with world.researcher() as researcher:
        consent_id, fragment_ids = seed_conversation(
            researcher, world.project_id, world.consent_form_id, world.place_ids[0], label,
            [f"The {word} bus stopped coming.", f"Nobody asked us about the {word}.", "We made do."])
        seed_conversation(researcher, world.project_id, world.consent_form_id, world.place_ids[1],
                          f"{label}X", ["Someone else entirely."])
    admin = world.admin
    pid = world.project_id
    assert len(ok(admin.get("/fragments", params={"project_id": pid, "q": word}))["items"]) == 2

    page = desk.new_page()
    login_desk(page, server, *coordinator(world))
    page.goto(f"{server.url}/app/#/co/{pid}/consents")
    page.fill("#consent-filters input[name=participant_label]", label)
    page.select_option("#consent-filters select[name=state]", "active")
    page.click("#consent-filters button[type=submit]")
    page.wait_for_url(re.compile(r"participant_label="))
    page.wait_for_selector(f"#consent-table tr[data-label='{label}']")
    assert page.locator("#consent-table tbody tr").count() == 2  # the label and the one that contains it
    row = page.locator(f"#consent-table tr[data-label='{label}']")
    assert "quotes" in row.inner_text() and "Verbal" in row.inner_text()
    assert row.locator("td").nth(6).inner_text() == "3"
    assert_accessible(page)
    shot(page, "coord-consents")
    page.set_viewport_size(TABLET)
    assert_accessible(page)
    page.set_viewport_size(LAPTOP)

    # The participant's data as a file, before anything is erased.
    with page.expect_download() as got:
        row.locator("button:has-text('Their data')").click()
    held = json.loads(Path(got.value.path()).read_text())
    assert got.value.suggested_filename.startswith(f"hearken-{label}-")
    assert sum(word in f["text"] for f in held["fragments"]) == 2

    row.locator("a:has-text('Withdraw')").click()
    page.wait_for_selector("#withdraw-form")
    erase = page.inner_text("#erase-list")
    assert "3 fragments" in erase and "0 audio clips" in erase and "no signature" in erase
    # The seeding phone sent these records and still holds them: the preview says so before anything is erased.
    assert page.inner_text("#phones-holding") == ("1 phone still holds this participant's records; "
                                                  "it erases them at its next sync.")
    button = page.locator("#withdraw-form button[type=submit]")
    assert button.is_disabled()
    page.fill("#withdraw-form input[name=confirm]", label.lower())
    assert button.is_disabled()
    page.fill("#withdraw-form input[name=confirm]", label)
    assert button.is_enabled()
    page.select_option("#withdraw-form select[name=reason]", "participant_asked")  # a fixed code, never free text
    assert_accessible(page)
    shot(page, "coord-withdraw")
    button.click()
    page.wait_for_selector("#withdraw .notice h2")
    assert "3 fragments erased" in page.inner_text("#withdraw")
    assert "1 phone still holds this participant's records" in page.inner_text("#withdraw")

    # Gone everywhere: list (tombstones without text), search, change feed, CSV export.
    listed = {f["id"]: f for f in
              ok(admin.get("/fragments", params={"project_id": pid, "consent_id": consent_id}))["items"]}
    assert set(listed) == set(fragment_ids)
    assert all(f["erased_at"] and f["text"] is None for f in listed.values()), listed
    assert ok(admin.get("/fragments", params={"project_id": pid, "q": word}))["items"] == []
    changes, after = [], 0
    while True:
        page_ = ok(admin.get("/changes", params={"project_id": pid, "after": after, "limit": 1000}))
        changes += page_["items"]
        if not page_["items"]:
            break
        after = page_["last_seq"]
    last = {c["id"]: c for c in changes}
    assert {last[f]["op"] for f in fragment_ids} == {"tombstone"}, [last[f] for f in fragment_ids]
    assert word not in json.dumps([last[f] for f in fragment_ids])
    exported = admin.get(f"/projects/{pid}/export/fragments.csv")
    assert exported.status_code == 200
    assert word not in exported.text
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig")))}
    assert all(not rows[f].get("text") for f in fragment_ids if f in rows)

    # The phone confirms its erasure at its next sync; the register's withdrawn row leads to when it did.
    with world.researcher() as researcher:
        ok(researcher.post("/sync/erased", json={"device_id": "seed-phone", "consent_ids": [consent_id]}))
    page.click("#withdraw-result a")
    page.wait_for_selector("#consent-table")
    page.goto(f"{server.url}/app/#/co/{pid}/consents/?participant_label={label}&state=withdrawn")
    # The filtered register (its one withdrawn row), not the unfiltered one still on screen while it loads:
    # a click on a row that is being replaced can land on the row that replaces it.
    expect(page.locator("#consent-table tbody tr")).to_have_count(1)
    page.click(f"#consent-table tr[data-label='{label}'] a:has-text('Withdrawn on')")
    page.wait_for_url(re.compile(r"/consents/[0-9a-f-]+/withdraw$"))
    page.wait_for_selector("#phone-erasures li")
    confirmed = page.inner_text("#phone-erasures")
    assert re.search(r"Phone seed-pho confirmed erasing its copy on \S.*\d", confirmed), confirmed
    assert "No phone holds a copy any more." in confirmed
    assert page.locator("#withdraw-form").count() == 0
    assert_accessible(page)
    shot(page, "coord-withdrawn-phones-confirmed")

    # The audit log records the withdrawal with counts only.
    page.goto(f"{server.url}/app/#/co/{pid}/audit")
    page.wait_for_selector("#audit-table")
    assert_accessible(page)
    shot(page, "coord-audit")
    page.select_option("#audit-filters select[name=what]", "consent.withdraw")
    page.click("#audit-filters button[type=submit]")
    page.wait_for_url(re.compile(r"what=consent\.withdraw"))
    page.wait_for_function("() => [...document.querySelectorAll('#audit-table tbody tr')].every("
                           "(tr) => tr.textContent.includes('Withdrew a consent'))")
    first = page.inner_text("#audit-table tbody tr >> nth=0")
    assert "fragments erased: 3" in first and "coord-" in first
    assert word not in page.content()


def test_d_a_researcher_is_refused_the_coordinator_pages(desk, world, server):
    page = desk.new_page()
    open_app(page, server)
    login_ui(page, world.email, world.password)
    for where in ("consents", "people", "project", "audit"):
        page.goto(f"{server.url}/app/#/co/{world.project_id}/{where}")
        page.wait_for_selector("#coord-refused")
        assert page.locator("#consent-table, #members, #settings, #audit-table").count() == 0
    page.goto(f"{server.url}/app/#/co/new")
    page.wait_for_selector("#coord-refused")
    assert page.locator("#new-project").count() == 0
