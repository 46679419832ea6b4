"""Coordinator pages in Chromium: tagging twenty fragments with the keyboard alone, bulk tagging, and the
codebook (merge two tags and their fragments follow; export, then import into another project)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.coord_data import audit, goto, laptop_workspace, make_tags, seed
from tests.e2e.helpers import make_world, shot
from tests.support.live_server import ok

pytestmark = pytest.mark.browser


@pytest.fixture
def workspace(browser, server):
    yield from laptop_workspace(browser, server)

SAYINGS = ["The 34 stopped running on Sundays and that was church gone for me.",
           "Some weeks the only person I talk to is the lady at the till.",
           "You ring at eight and by five past all the appointments are gone.",
           "Our street has a WhatsApp group now and it really helps.",
           "It's heat or eat some weeks, honestly."]


def tagged(world, tag_id: str) -> set[str]:
    page = ok(world.admin.get("/fragments", params={"project_id": world.project_id, "tag": tag_id, "limit": 200}))
    return {f["id"] for f in page["items"]}


def test_twenty_fragments_tagged_with_the_keyboard_alone(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    ids = seed(world, [f"{SAYINGS[n % 5]} ({n + 1})" for n in range(20)])
    tags = make_tags(world, {"isolation": "#8a3b12", "transport": "#1d5c8f", "neighbours": "#6b2f6b",
                             "money worries": "#7a6a00"})
    page = workspace(email, world.project_id, "tagging")
    page.wait_for_selector("#tag-pos:has-text('Fragment 1 of 20')")
    kb = page.keyboard
    focus = "document.activeElement && document.activeElement.id"
    for n in range(20):
        kb.press("t")  # focus is back on the fragment after every tag, so `t` is always a key, never a letter
        kb.type("isol")
        page.wait_for_selector("#tag-options [role=option][aria-selected=true]:has-text('isolation')")
        if n == 0:
            shot(page, "coord-tagging")
            audit(page)
        if n % 2:
            kb.press("Shift+Enter")  # apply and move on in one key
        else:
            kb.press("Enter")
            page.wait_for_selector(f"#tag-applied [data-tag='{tags['isolation']}']")
            page.wait_for_function(f"() => {focus} === 'tag-card'")
            kb.press("j")
        if n < 19:
            page.wait_for_selector(f"#tag-pos:has-text('Fragment {n + 2} of 20')")
            page.wait_for_function(f"() => {focus} === 'tag-card'")
    page.wait_for_function("() => document.querySelectorAll('#tag-list tbody tr .chip').length === 20")
    assert tagged(world, tags["isolation"]) == set(ids)

    # The trap of issue 12: a name typed by mistake and Enter make no tag; only "Create …" chosen with ↓ does.
    kb.press("t")
    kb.type("loneliness at night")
    page.wait_for_selector("#tag-options [role=option]:has-text('Create the tag “loneliness at night”')")
    assert page.locator("#tag-options [aria-selected=true]").count() == 0
    kb.press("Enter")
    page.wait_for_selector("#tag-status:has-text('No tag is called')")
    kb.press("Escape")
    kb.press("Escape")
    page.wait_for_function(f"() => {focus} === 'tag-card'")

    # Back with k, a second tag on fragment 19, then u takes the last tag off again.
    kb.press("k")
    page.wait_for_selector("#tag-pos:has-text('Fragment 19 of 20')")
    kb.press("t")
    kb.type("trans")
    page.wait_for_selector("#tag-options [aria-selected=true]:has-text('transport')")
    kb.press("Enter")
    page.wait_for_selector(f"#tag-applied [data-tag='{tags['transport']}']")
    page.wait_for_function(f"() => {focus} === 'tag-card'")  # back on the fragment
    kb.press("u")
    page.wait_for_selector(f"#tag-applied [data-tag='{tags['transport']}']", state="detached")
    assert tagged(world, tags["transport"]) == set()

    # A new tag only by choosing "Create …"; undoing it takes it out of the codebook again (nothing else uses it).
    kb.press("t")
    kb.type("bus shelters")
    kb.press("ArrowDown")
    page.wait_for_selector("#tag-options [aria-selected=true]:has-text('Create the tag “bus shelters”')")
    kb.press("Enter")
    page.wait_for_selector("#tag-applied .chip:has-text('bus shelters')")
    made = next(t for t in ok(world.admin.get(f"/projects/{world.project_id}/tags")) if t["name"] == "bus shelters")
    assert tagged(world, made["id"]) == {ids[18]}
    page.wait_for_function(f"() => {focus} === 'tag-card'")
    kb.press("u")
    page.wait_for_selector("#tag-status:has-text('took it out of the codebook')")
    assert page.locator("#tag-applied .chip:has-text('bus shelters')").count() == 0
    names = {t["name"] for t in ok(world.admin.get(f"/projects/{world.project_id}/tags"))}
    assert names == set(tags)  # no stray tag from any of it

    # x selects for bulk tagging; the selection gets a tag in one request.
    kb.press("x")
    kb.press("k")
    kb.press("x")
    page.wait_for_selector("#bulk-count:has-text('2 selected')")
    page.select_option("#bulk-tag", tags["neighbours"])
    page.click("text=Tag the selection")
    page.wait_for_selector("#bulk-status:has-text('Tagged 2 more')")
    assert tagged(world, tags["neighbours"]) == {ids[17], ids[18]}
    assert page.locator(f"#tag-list tr[data-id='{ids[17]}'] .chip").count() == 2


def test_codebook_merge_moves_fragments_and_export_imports_elsewhere(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    ids = seed(world, SAYINGS[:4])
    tags = make_tags(world, {"buses": "#1d5c8f", "transport": "#2f6b2f", "health services": "#9c2f4b"})
    for fid in ids[:2]:
        world.admin.put(f"/fragments/{fid}/tags/{tags['buses']}").raise_for_status()
    for fid in ids[1:3]:
        world.admin.put(f"/fragments/{fid}/tags/{tags['transport']}").raise_for_status()
    page = workspace(email, world.project_id, "codebook")
    # A new tag under another, made on the page.
    page.fill("#add-tag input[name=name]", "rail")
    page.select_option("#add-tag select[name=parent]", label="transport")
    page.click("#add-tag button[type=submit]")
    page.wait_for_selector(f"[data-tag='{tags['transport']}'] .tree .tag-name:has-text('rail')")

    page.click("[aria-label='Merge buses into another tag']")
    page.select_option(f"[data-tag='{tags['buses']}'] select[name=into]", label="transport")
    warning = page.locator(f"[data-tag='{tags['buses']}'] .notice.warn")
    assert "fragments of “buses” will be tagged “transport” and “buses” removed" in warning.inner_text()
    page.click(f"[data-tag='{tags['buses']}'] button:has-text('Merge')>>nth=-1")
    page.wait_for_selector("#codebook-status:has-text('merged into')")
    assert page.locator(".tag-name", has_text="buses").count() == 0
    assert tagged(world, tags["transport"]) == set(ids[:3])
    names = {t["name"] for t in ok(world.admin.get(f"/projects/{world.project_id}/tags"))}
    assert names == {"transport", "rail", "health services"}

    # Rename with the edit form; the tree shows it and the server has it.
    page.click("[aria-label='Edit health services']")
    page.fill(f"[data-tag='{tags['health services']}'] input[name=name]", "health")
    page.fill(f"[data-tag='{tags['health services']}'] textarea[name=description]", "GP, hospital, pharmacy")
    page.click(f"[data-tag='{tags['health services']}'] button:has-text('Save')")
    page.wait_for_selector(".tag-name:text-is('health')")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Edit health"
    shot(page, "coord-codebook")
    audit(page)

    with page.expect_download() as got:
        page.click("#qdc-export")
    download = got.value
    assert re.search(r"codebook\.qdc$", download.suggested_filename)
    qdc = download.path().read_bytes()
    assert b"urn:QDA-XML:codebook:1.0" in qdc

    # Into another project: a dry run first says what will change, then the import.
    other = ok(world.admin.post("/projects", json={"name": "Second listening round"}))
    user_id = next(m["user_id"] for m in ok(world.admin.get(f"/projects/{world.project_id}/members"))
                   if m["role"] == "coordinator")
    ok(world.admin.put(f"/projects/{other['id']}/members/{user_id}", json={"role": "coordinator"}))
    goto(page, other["id"], "codebook")
    page.set_input_files("#qdc-file", files=[{"name": "codebook.qdc", "mimeType": "application/xml",
                                               "buffer": qdc}])
    page.wait_for_selector("#qdc-confirm:has-text('will add 3 tags')")
    assert ok(world.admin.get(f"/projects/{other['id']}/tags")) == []
    page.click("#qdc-import")
    page.wait_for_selector("#qdc-confirm:has-text('Imported: 3 added')")
    page.wait_for_selector(".tree .tree .tag-name:has-text('rail')")
    imported = {t["name"]: t for t in ok(world.admin.get(f"/projects/{other['id']}/tags"))}
    assert set(imported) == {"transport", "rail", "health"}
    assert imported["rail"]["parent_id"] == imported["transport"]["id"]
    assert imported["health"]["description"] == "GP, hospital, pharmacy"
