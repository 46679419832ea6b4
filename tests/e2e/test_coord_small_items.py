"""The smaller things issue 12 saw, each checked in Chromium: the consent register's researcher column and a
signature shown on request; the audit log's Who filter in emails like its rows; the Researchers page's wording;
overview axis text of at least 12 px; the No places hint leaving once a place is added; prompt numbers from 1;
the settings preview of an unanswered slider with no thumb; and no page scrolling sideways on a 360 px phone."""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid

import pytest

from tests.e2e.coord_data import goto, laptop_workspace, seed
from tests.e2e.helpers import make_world
from tests.support.live_server import REPO, ok

pytestmark = pytest.mark.browser
# A 1×1 PNG, as a phone's signature pad would send (a data URL).
PNG = "data:image/png;base64," + base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()


@pytest.fixture
def workspace(browser, server):
    yield from laptop_workspace(browser, server)


def signed_consent(world) -> str:
    conv, consent = str(uuid.uuid4()), str(uuid.uuid4())
    now = dt.datetime.now(dt.UTC).isoformat()
    items = [{"type": "conversation", "id": conv, "data": {"project_id": world.project_id, "prompt_ids": [],
                                                            "place_id": world.place_ids[0], "started_at": now}},
             {"type": "consent", "id": consent, "data": {
                 "conversation_id": conv, "participant_label": "P-SIGN", "consent_form_id": world.consent_form_id,
                 "scopes": ["quote"], "method": "signed", "given_at": now, "signature": PNG}}]
    with world.researcher() as client:
        results = ok(client.post("/sync", json={"device_id": "sig", "items": items}))["results"]
    assert all(r["status"] == "created" for r in results), results
    return consent


def test_register_names_the_researcher_and_shows_a_signature_on_request(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    consent = signed_consent(world)
    seed(world, ["A verbal one."])
    page = workspace(email, world.project_id, "consents")
    row = page.locator("#consent-table tr[data-label='P-SIGN']")
    row.wait_for()
    heads = page.locator("#consent-table thead th").all_inner_texts()
    researcher = next(u for u in ok(world.admin.get(f"/projects/{world.project_id}/members"))
                      if u["user_id"] == world.user_id)
    cell = row.locator("td").nth(heads.index("Researcher")).inner_text()
    assert cell == (researcher["display_name"] or researcher["email"]) and cell
    row.locator("button:has-text('See the signature')").click()
    img = row.locator("img.signature-img")
    img.wait_for()
    assert img.get_attribute("src") == PNG and img.get_attribute("alt") == "Signature of P-SIGN"
    looks = ok(world.admin.get(f"/projects/{world.project_id}/audit", params={"action": "consent.signature_viewed"}))
    assert [e["entity_id"] for e in (looks["items"] if isinstance(looks, dict) else looks)] == [consent]
    # A verbal consent has nothing to show.
    others = page.locator("#consent-table tr:not([data-label='P-SIGN']) button:has-text('See the signature')")
    assert others.count() == 0


def test_audit_who_filter_lists_the_emails_its_rows_show(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    page = workspace(email, world.project_id, "audit")
    options = page.locator("form select[name=who] option").all_inner_texts()
    members = ok(world.admin.get(f"/projects/{world.project_id}/members"))
    assert set(options[1:]) == {m["email"] for m in members}


def test_settings_places_hint_prompt_numbers_and_slider_preview(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    project = ok(world.admin.post("/projects", json={"name": "Empty settings"}))
    coordinator = next(m["user_id"] for m in ok(world.admin.get(f"/projects/{world.project_id}/members"))
                       if m["role"] == "coordinator")
    ok(world.admin.put(f"/projects/{project['id']}/members/{coordinator}", json={"role": "coordinator"}))
    page = workspace(email, project["id"], "project")
    page.wait_for_selector("#no-places")
    page.fill("#add-place input[name=name]", "Keyham")
    page.click("#add-place button[type=submit]")
    page.wait_for_selector("#place-list li")
    assert page.locator("#no-places").count() == 0
    page.fill("#add-prompt input[name=text]", "What keeps you going?")
    page.click("#add-prompt button[type=submit]")
    page.wait_for_selector("#prompt-list li")
    assert page.input_value("#prompt-list li input[name=position]") == "1"
    assert ok(world.admin.get(f"/projects/{project['id']}/prompts"))[0]["position"] == 1
    page.click("button:has-text('slider')")
    preview = page.locator(".slider-preview input[type=range]")
    preview.wait_for()
    assert "unanswered" in preview.get_attribute("class")
    rules = page.evaluate("[...document.styleSheets]"
                          ".flatMap(s => { try { return [...s.cssRules]; } catch { return []; } })"
                          ".map(r => r.cssText).filter(t => t.includes('.unanswered::-webkit-slider-thumb'))")
    assert rules and "opacity: 0" in rules[0]  # no thumb at 50 before an answer
    preview.click()  # the first touch places it
    assert "unanswered" not in (preview.get_attribute("class") or "")


def test_researchers_wording_and_overview_axis_text(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    seed(world, ["One fragment for the charts."])
    page = workspace(email, world.project_id, "people")
    page.wait_for_selector("h1")
    assert "No phones enrolled." not in page.inner_text(".co-page")
    goto(page, world.project_id, "overview")
    page.wait_for_selector(".chart-svg text")
    sizes = page.evaluate("[...document.querySelectorAll('.chart-svg')].flatMap(svg => {"
                          " const k = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;"
                          " return [...svg.querySelectorAll('text')]"
                          ".map(t => parseFloat(getComputedStyle(t).fontSize) * k); })")
    assert sizes and min(sizes) >= 11.9, sizes


def test_no_coordinator_page_scrolls_sideways_on_a_phone(workspace, server):
    """Laptop first, but a coordinator checking something on a 360 px phone reads every page without scrolling
    sideways (wide tables scroll inside their own box). The two-column forms of People and Project were 396 px."""
    world = make_world(server)
    email = world.add_coordinator()
    seed(world, ["One fragment, so the pages have something to show."])
    page = workspace(email, world.project_id, "overview")
    page.set_viewport_size({"width": 360, "height": 740})
    wide = {}
    pages = re.findall(r"\['([a-z]+)', \(\) => import", (REPO / "webclient/src/coord/shell.js").read_text())
    assert len(pages) >= 12, pages
    for name in pages:
        goto(page, world.project_id, name)
        page.wait_for_timeout(300)  # charts and tables that fill in after the heading
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 361:
            wide[name] = width
    assert wide == {}
