"""Coordinator pages in Chromium, a day's analysis work (issue 12): the codebook's counts, deleting a tag after a
preview and the co-occurrence table; review by newest with filters and cards that say who and what was agreed;
exports downloaded from the Data page and parsed; memos linked beside a fragment and erased on withdrawal."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import xml.etree.ElementTree as ET
import zipfile

import pytest

from tests.e2e.coord_data import attach_clip, audit, goto, laptop_workspace, make_tags, seed
from tests.e2e.helpers import make_world, shot
from tests.support.live_server import ok

pytestmark = pytest.mark.browser
NS = {"q": "urn:QDA-XML:project:1.0"}


@pytest.fixture
def workspace(browser, server):
    yield from laptop_workspace(browser, server)


def tag_all(world, tag_id: str, fragment_ids: list[str]) -> None:
    for fid in fragment_ids:
        world.admin.put(f"/fragments/{fid}/tags/{tag_id}").raise_for_status()


def test_codebook_counts_cooccurrence_and_deleting_a_tag_after_a_preview(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    ids = seed(world, [f"Saying number {n}" for n in range(6)])
    tags = make_tags(world, {"transport": "#1d5c8f", "isolation": "#8a3b12", "money": "#7a6a00"})
    child = ok(world.admin.post(f"/projects/{world.project_id}/tags",
                                json={"name": "buses", "parent_id": tags["transport"]}))
    tag_all(world, tags["transport"], ids[:2])
    tag_all(world, child["id"], ids[1:4])
    tag_all(world, tags["isolation"], ids[:5])
    tag_all(world, tags["money"], ids[4:6])
    page = workspace(email, world.project_id, "codebook")
    row = page.locator(f"[data-tag='{tags['transport']}'] > .tag-row .tag-count")
    row.wait_for()
    assert row.inner_text() == "2 fragments, 4 with the tags under it"
    assert page.locator(f"[data-tag='{child['id']}'] .tag-count").inner_text() == "3 fragments"
    assert page.locator(f"[data-tag='{tags['isolation']}'] .tag-count").inner_text() == "5 fragments"
    shot(page, "coord-codebook-counts")

    table = page.locator("#cooccurrence-table")
    table.wait_for()
    heads = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    assert heads[0] == "Tag (fragments)" and set(heads[1:]) == {"isolation", "buses", "transport", "money"}
    cell = {}
    for r in table.locator("tbody tr").all():
        cells = r.locator("td").all_inner_texts()
        name = cells[0].split(" (")[0]
        cell.update({(name, col): v for col, v in zip(heads[1:], cells[1:], strict=True)})
    assert cell[("isolation", "buses")] == "3" and cell[("isolation", "transport")] == "2"
    assert cell[("isolation", "money")] == "1" and cell[("buses", "money")] == "0"
    assert cell[("money", "money")] == "—"
    table.scroll_into_view_if_needed()
    shot(page, "coord-cooccurrence")
    audit(page)

    # Delete "transport": the preview says how many fragments lose it; its child moves up.
    page.click("[aria-label='Delete transport']")
    preview = page.locator("#delete-preview")
    preview.wait_for()
    assert "2 fragments will lose “transport”" in preview.inner_text()
    assert page.locator(".tag-delete legend").inner_text().startswith("1 tag sits under it")
    page.click("#confirm-delete")
    page.wait_for_selector("#codebook-status:has-text('Deleted “transport”')")
    assert "2 fragments untagged, 1 moved up" in page.inner_text("#codebook-status")
    left = {t["name"]: t for t in ok(world.admin.get(f"/projects/{world.project_id}/tags"))}
    assert set(left) == {"isolation", "buses", "money"} and left["buses"]["parent_id"] is None
    assert page.locator(".tag-name", has_text="transport").count() == 0
    entries = ok(world.admin.get(f"/projects/{world.project_id}/audit", params={"action": "tag.delete"}))
    assert len(entries["items"] if isinstance(entries, dict) else entries) == 1

    # Deleting with its children takes the subtree.
    grand = ok(world.admin.post(f"/projects/{world.project_id}/tags", json={"name": "night buses",
                                                                            "parent_id": left["buses"]["id"]}))
    goto(page, world.project_id, "codebook")
    page.click("[aria-label='Delete buses']")
    page.check(".tag-delete input[value=delete]")
    page.click("#confirm-delete")
    page.wait_for_selector("#codebook-status:has-text('and 1 under it')")
    left = {t["name"] for t in ok(world.admin.get(f"/projects/{world.project_id}/tags"))}
    assert left == {"isolation", "money"} and grand["name"] not in left


def test_review_newest_first_with_filters_and_cards_that_say_who(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    now = dt.datetime.now(dt.UTC)
    old = seed(world, ["An old one from last week.", "Another old one, flagged."], sensitive=frozenset({1}),
               start=now - dt.timedelta(days=7))
    today = seed(world, ["Today, in the second place.", "Today again, later."], place=1,
                 start=now - dt.timedelta(hours=1))
    attach_clip(world, today[1], 0.2)
    page = workspace(email, world.project_id, "review")
    items = page.locator(".review-item")
    items.first.wait_for()
    assert [items.nth(i).get_attribute("data-id") for i in range(4)] == [old[1], old[0], today[0], today[1]]
    # Each card: the researcher, the participant's label, the consent's scopes, and an audio marker.
    card = page.locator(f".review-item[data-id='{today[1]}']")
    assert "by " in card.locator(".frag-researcher").inner_text()
    assert card.locator(".frag-label").inner_text().startswith("participant P-")
    assert card.locator(".frag-scopes").inner_text() == "agreed to: audio, quote, share, publish"
    assert card.locator(".audio-mark").inner_text() == "♪ Audio"
    assert page.locator(f".review-item[data-id='{today[0]}'] .audio-mark").count() == 0

    page.select_option("#review-order", "newest")
    page.wait_for_function(f"() => document.querySelectorAll('.review-item')[1]?.dataset.id === '{today[1]}'")
    assert [items.nth(i).get_attribute("data-id") for i in range(4)] == [old[1], today[1], today[0], old[0]]
    page.select_option("#review-flag", "false")
    page.wait_for_function("() => document.querySelectorAll('.review-item').length === 3")
    page.select_option("#review-place", index=2)  # the second place
    page.wait_for_function("() => document.querySelectorAll('.review-item').length === 2")
    assert {items.nth(i).get_attribute("data-id") for i in range(2)} == set(today)
    page.fill("#review-after", (now - dt.timedelta(days=1)).date().isoformat())
    page.dispatch_event("#review-after", "change")
    page.select_option("#review-place", index=0)
    page.wait_for_function("() => document.querySelectorAll('.review-item').length === 2")
    assert "2 shown with these filters" in page.inner_text("#review-matching")
    assert "4 to review" in page.inner_text("#review-counts")
    assert "order=newest" in page.evaluate("location.hash")
    shot(page, "coord-review-filters")
    audit(page)
    researcher = page.locator("#review-researcher option").nth(1).get_attribute("value")
    page.select_option("#review-researcher", researcher)
    page.wait_for_function("() => document.querySelectorAll('.review-item').length === 2")

    # Search cards say the same.
    goto(page, world.project_id, "search", "/?q=again")
    page.wait_for_selector(f".frag[data-id='{today[1]}'] .frag-label")
    assert page.locator(f".frag[data-id='{today[1]}'] .audio-mark").count() == 1


def test_exports_downloaded_from_the_data_page_and_parsed(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    ids = seed(world, ["Buses stop at six.", "The library is warm.", "Nobody calls, and I wait."])
    there = seed(world, ["In the other place."], place=1)
    tags = make_tags(world, {"transport": "#1d5c8f"})
    tag_all(world, tags["transport"], ids[:1])
    ok(world.admin.post(f"/projects/{world.project_id}/memos",
                        json={"text": "Transport & time <matter>.", "fragment_ids": ids[:1],
                              "tag_ids": [tags["transport"]]}))
    page = workspace(email, world.project_id, "data")
    audit(page)
    page.select_option("#data-place", index=1)  # the first place: the three fragments, not the one elsewhere

    def fetch(button: str) -> bytes:
        with page.expect_download() as got:
            page.click(button)
        page.wait_for_selector("#data-status:has-text('Downloaded')")
        return got.value.path().read_bytes()

    rows = list(csv.DictReader(io.StringIO(fetch("#export-csv").decode("utf-8-sig"))))
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert next(r for r in rows if r["id"] == ids[0])["tags"] == "transport"
    lines = [json.loads(x) for x in fetch("#export-jsonl").decode().splitlines()]
    assert sorted(x["id"] for x in lines) == sorted(ids) and there[0] not in {x["id"] for x in lines}
    page.fill("#data-q", "library")
    lines = [json.loads(x) for x in fetch("#export-jsonl").decode().splitlines()]
    assert [x["id"] for x in lines] == [ids[1]]
    page.fill("#data-q", "")
    qde = zipfile.ZipFile(io.BytesIO(fetch("#export-qdpx"))).read("project.qde")
    root = ET.fromstring(qde)
    assert len(root.findall("q:Sources/q:TextSource", NS)) == 3
    notes = root.findall("q:Notes/q:Note", NS)
    assert [n.find("q:PlainTextContent", NS).text for n in notes] == ["Transport & time <matter>."]
    assert {link.get("targetGUID") for link in root.findall("q:Links/q:Link", NS)} == {ids[0], tags["transport"]}
    log = ok(world.admin.get(f"/projects/{world.project_id}/audit", params={"action": "export"}))
    assert len(log["items"] if isinstance(log, dict) else log) >= 4  # each download audited


def test_memos_linked_beside_a_fragment_and_erased_on_withdrawal(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    ids = seed(world, ["The last bus goes at six and after that I am stuck at home.", "The library is warm."])
    tags = make_tags(world, {"transport": "#1d5c8f"})
    page = workspace(email, world.project_id, "tagging")
    page.wait_for_selector("#tag-memos:has-text('No memo mentions this fragment yet')")
    page.click("#tag-memos a:has-text('Write a memo about it')")
    page.wait_for_selector(".co[data-page=memos] h1")
    page.wait_for_selector("#memo-fragments li:has-text('The last bus goes at six')")
    page.fill("#memo-text", 'Transport cuts evenings short: "the last bus goes at six and after that I am stuck '
                            'at home". Check the other estates.')
    page.select_option("#memo-tags", [tags["transport"]])
    page.click("#memo-save")
    page.wait_for_selector("#memo-list .memo:has-text('Transport cuts evenings short')")
    memo = ok(world.admin.get(f"/projects/{world.project_id}/memos"))[0]
    assert memo["fragment_ids"] == [ids[0]] and memo["tag_ids"] == [tags["transport"]]
    ok(world.admin.post(f"/projects/{world.project_id}/memos", json={"text": "Libraries as warm spaces."}))
    page.fill("#memo-q", "warm")
    page.press("#memo-q", "Enter")
    page.wait_for_selector("#memo-list .memo:has-text('Libraries as warm spaces.')")
    page.wait_for_function("() => document.querySelectorAll('#memo-list .memo').length === 1")
    assert "Transport cuts" not in page.inner_text("#memo-list")
    page.fill("#memo-q", "")
    page.press("#memo-q", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#memo-list .memo').length === 2")
    shot(page, "coord-memos")
    audit(page)

    goto(page, world.project_id, "tagging")
    page.wait_for_selector("#tag-memos .memo:has-text('Transport cuts evenings short')")

    consent = ok(world.admin.get(f"/fragments/{ids[0]}"))["consent_id"]
    ok(world.admin.post(f"/consents/{consent}/withdraw", json={}))
    goto(page, world.project_id, "memos")
    page.wait_for_selector("#memo-list .memo:has-text('[withdrawn]')")
    text = page.locator("#memo-list .memo:has-text('[withdrawn]') .memo-text").inner_text()
    assert text == 'Transport cuts evenings short: "[withdrawn]". Check the other estates.'
    assert "stuck at home" not in page.inner_text("#memo-list")
    assert ok(world.admin.get(f"/projects/{world.project_id}/memos", params={"q": "stuck"})) == []
