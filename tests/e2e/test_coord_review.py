"""Coordinator pages in Chromium: the review queue (sensitive first, mark reviewed, a conflicting edit shows
both versions), search with filters kept in the address and saved, and the overview's charts."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.e2e.coord_data import attach_clip, audit, goto, laptop_workspace, make_tags, seed
from tests.e2e.helpers import COORDINATOR, RESEARCHER_PASSWORD, login_ui, make_world, shot
from tests.support.live_server import ok

pytestmark = pytest.mark.browser


@pytest.fixture
def workspace(browser, server):
    yield from laptop_workspace(browser, server)


def queue(world) -> list[str]:
    return [f["id"] for f in ok(world.admin.get(f"/projects/{world.project_id}/review-queue"))["items"]]


def test_review_queue_sensitive_first_mark_reviewed_and_conflict(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    ids = seed(world, ["Getting to the hospital is two buses and a walk up the hill.",
                       "The park is where I feel most at home, watching the kids play.",
                       "I have not left the flat since he shouted at me in the stairwell. I am scared of him."],
               sensitive=frozenset({2}))
    clip = attach_clip(world, ids[1])
    page = workspace(email, world.project_id, "review")
    items = page.locator(".review-item")
    items.first.wait_for()
    assert items.count() == 3
    first = items.nth(0)
    # The sensitive one, captured last, comes first with a marker in words (and an icon), not colour alone.
    assert first.get_attribute("data-id") == ids[2]
    assert "Safeguarding: flagged sensitive" in first.locator(".safeguarding").inner_text()
    assert page.evaluate("getComputedStyle(document.querySelector('.safeguarding'), '::before').content") == '"⚑ "'
    assert "3 to review, 1 of them flagged sensitive" in page.inner_text("#review-counts")
    shot(page, "coord-review")
    audit(page)

    first.locator("[data-action=review]").click()
    page.wait_for_selector(f".review-item[data-id='{ids[2]}']", state="detached")
    page.wait_for_selector("#review-counts:has-text('2 to review, 0 of them')")
    assert ids[2] not in queue(world) and len(queue(world)) == 2
    # Focus moved on to the next fragment, not lost.
    assert page.evaluate("document.activeElement.closest('.review-item').dataset.id") == ids[0]

    # The clip plays from the server (fetched with the coordinator's token, played from a blob: URL).
    listen = page.locator(f".review-item[data-id='{ids[1]}'] .clip button")
    listen.click()
    audio = page.locator(f".review-item[data-id='{ids[1]}'] audio[controls]")
    audio.wait_for()
    page.wait_for_function("a => a.duration > 0.9 && a.duration < 1.1", arg=audio.element_handle())
    assert audio.get_attribute("src").startswith("blob:")
    assert page.evaluate("async a => (await (await fetch(a.src)).arrayBuffer()).byteLength",
                         audio.element_handle()) == len(clip)
    played = audio.get_attribute("src")
    # Leaving the screen lets the clip go from the browser's memory (a shared laptop kept every clip played).
    goto(page, world.project_id, "overview")
    assert page.evaluate("u => fetch(u).then(() => 'kept', () => 'gone')", played) == "gone"
    goto(page, world.project_id, "review")
    page.wait_for_selector(f".review-item[data-id='{ids[0]}']")

    # A conflicting edit: someone changes the fragment after the page loaded it.
    item = page.locator(f".review-item[data-id='{ids[0]}']")
    item.locator("[data-action=edit]").click()
    item.locator("textarea[name=text]").fill("Getting to the hospital takes two buses and a long walk uphill.")
    before = ok(world.admin.get(f"/fragments/{ids[0]}"))
    ok(world.admin.patch(f"/fragments/{ids[0]}", json={"text": "Getting to the hospital: two buses, a hill."},
                         headers={"If-Match": f'"{before["version"]}"'}))
    item.locator("button:has-text('Save the edit')").click()
    conflict = item.locator(".conflict")
    conflict.wait_for()
    assert "two buses, a hill." in conflict.locator(".version.theirs").inner_text()
    assert "two buses and a long walk uphill." in conflict.locator(".version.yours").inner_text()
    assert "Not saved" in item.locator(".status").inner_text()
    shot(page, "coord-review-conflict")
    audit(page)

    # Both changed the text: theirs is never dropped unseen; the box to save starts with both, to edit into one.
    merged = conflict.locator("textarea.merged-text")
    assert "two buses, a hill." in merged.input_value() and "long walk uphill" in merged.input_value()
    merged.fill("Getting to the hospital takes two buses, a hill and a long walk uphill.")
    conflict.locator("button:has-text('Save the merged version')").click()
    page.wait_for_selector(f".review-item[data-id='{ids[0]}'] .frag-text:has-text('a hill and a long walk')")
    now = ok(world.admin.get(f"/fragments/{ids[0]}"))
    assert now["text"] == "Getting to the hospital takes two buses, a hill and a long walk uphill."
    assert now["version"] == before["version"] + 2

    # Keep theirs leaves the server's record as it is and shows it.
    item = page.locator(f".review-item[data-id='{ids[1]}']")
    item.locator("[data-action=edit]").click()
    item.locator("input[name=sensitive]").check()
    current = ok(world.admin.get(f"/fragments/{ids[1]}"))
    ok(world.admin.patch(f"/fragments/{ids[1]}", json={"kind": "quote"},
                         headers={"If-Match": f'"{current["version"]}"'}))
    item.locator("button:has-text('Save the edit')").click()
    item.locator(".conflict button:has-text('Keep theirs')").click()
    page.wait_for_selector(f".review-item[data-id='{ids[1]}'] .frag-meta:has-text('Quote')")
    kept = ok(world.admin.get(f"/fragments/{ids[1]}"))
    assert kept["kind"] == "quote" and kept["sensitive"] is False

    # A save the network drops says so and keeps the edit on the page; the next try goes through.
    def drop(route):
        if route.request.method == "PATCH":
            route.abort()
        else:
            route.continue_()

    page.route("**/api/v1/fragments/*", drop)
    item.locator("[data-action=edit]").click()
    item.locator("textarea[name=text]").fill("The park is where I feel at home.")
    item.locator("button:has-text('Save the edit')").click()
    item.locator(".status:has-text('Not saved — your edit is still here.')").wait_for()
    assert item.locator("textarea[name=text]").input_value() == "The park is where I feel at home."
    page.unroute("**/api/v1/fragments/*", drop)
    page.reload()  # the unsaved edit survives a reload too
    assert item.locator("textarea[name=text]").input_value() == "The park is where I feel at home."
    item.locator("button:has-text('Save the edit')").click()
    page.wait_for_selector(f".review-item[data-id='{ids[1]}'] .frag-text:text-is('The park is where I feel at home.')")
    assert ok(world.admin.get(f"/fragments/{ids[1]}"))["text"] == "The park is where I feel at home."
    page.reload()  # saved, so no draft comes back
    item.locator(".frag-text").wait_for()
    assert item.locator("textarea").count() == 0


def test_search_with_two_filters_saved_and_reopened(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    seed(world, ["The bus to town is every two hours now.", "The bus driver knows everyone by name."],
         place=0, kind="quote")
    seed(world, ["The bus stop has no shelter.", "Nobody takes the bus after dark."], place=1, kind="quote")
    seed(world, ["She said the bus was the only way to get to work."], place=1, kind="paraphrase")
    page = workspace(email, world.project_id, "search")
    page.wait_for_selector("#search-summary:has-text('5 fragments found')")
    page.fill("#search-form input[name=q]", "bus")
    page.select_option("#search-form select[name=place]", label="Stonehouse")
    page.select_option("#search-form select[name=kind]", label="Quote")
    since = str(dt.date.today() - dt.timedelta(days=1))
    page.fill("#search-form input[name=captured_after]", since)
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-summary:has-text('2 fragments found')")
    url = page.evaluate("location.hash")
    assert f"place={world.place_ids[1]}" in url and "kind=quote" in url and "q=bus" in url
    texts = page.locator("#search-results .frag-text").all_inner_texts()
    assert sorted(texts) == ["Nobody takes the bus after dark.", "The bus stop has no shelter."]

    page.fill("#save-search input[name=name]", "Stonehouse bus quotes")
    page.click("#save-search button[type=submit]")
    page.wait_for_selector("#saved-searches a:has-text('Stonehouse bus quotes')")
    saved = ok(world.admin.get(f"/projects/{world.project_id}/saved-searches"))
    query = saved[0]["query"]
    assert dt.datetime.fromisoformat(query.pop("captured_after")).tzinfo is not None  # a moment, as the API takes
    assert query == {"q": "bus", "place": world.place_ids[1], "kind": "quote"}
    shot(page, "coord-search")
    audit(page)

    goto(page, world.project_id, "search")  # a fresh search page: everything again
    page.wait_for_selector("#search-summary:has-text('5 fragments found')")
    page.click("#saved-searches a:has-text('Stonehouse bus quotes')")
    page.wait_for_selector("#search-summary:has-text('2 fragments found')")
    assert page.input_value("#search-form select[name=place]") == world.place_ids[1]
    assert page.input_value("#search-form select[name=kind]") == "quote"
    assert page.input_value("#search-form input[name=q]") == "bus"
    assert page.input_value("#search-form input[name=captured_after]") == since

    page.click("[aria-label='Delete the saved search Stonehouse bus quotes']")
    page.wait_for_selector("#saved-searches:has-text('No saved searches yet.')")
    assert ok(world.admin.get(f"/projects/{world.project_id}/saved-searches")) == []

    # The results go to the tagging page as they are.
    page.click("text=Tag these fragments")
    page.wait_for_selector("#tag-pos:has-text('Fragment 1 of 2')")


def test_overview_draws_a_series_per_place_prompt_and_tag(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    now = dt.datetime.now(dt.UTC)
    today = now.date()  # trained long enough ago to have captured in every week shown
    ok(world.admin.post(f"/projects/{world.project_id}/members/{world.user_id}/training",
                        json={"completed_on": str(today - dt.timedelta(days=120)),
                              "expires_on": str(today + dt.timedelta(days=200))}))
    tags = make_tags(world, {"isolation": "#8a3b12", "transport": "#1d5c8f", "neighbours": "#6b2f6b"})
    names = list(tags)
    for week in range(8):
        for place in (0, 1):
            ids = seed(world, [f"Week {week} at place {place}, story {n}" for n in range(1 + (week + place) % 4)],
                       place=place, prompt=(week + place) % 2, start=now - dt.timedelta(days=7 * week + 1),
                       sensitive=frozenset({0}) if week == 3 else frozenset())
            ok(world.admin.post(f"/tags/{tags[names[(week + place) % 3]]}/fragments", json={"add": ids}))
    page = workspace(email, world.project_id, "overview")
    page.wait_for_selector("#chart-tag svg")
    assert page.locator("#chart-place svg g.series").count() == 2
    assert page.locator("#chart-prompt svg g.series").count() == 2
    assert page.locator("#chart-tag svg g.series").count() == 3
    drawn = page.locator("#chart-tag g.series").evaluate_all("gs => gs.map(g => g.dataset.series)")
    assert sorted(drawn) == sorted(names)
    # Each chart's numbers are there as a table too: a row per series, a column per week.
    assert page.locator("#chart-place details tbody tr").count() == 2
    assert page.locator("#chart-place details thead th").count() == 13
    overview = ok(world.admin.get(f"/projects/{world.project_id}/overview"))
    place_rows = page.locator("#chart-place details tbody tr").all()
    for series, row in zip(overview["per_place"], place_rows, strict=True):
        assert [int(c) for c in row.locator("td").all_text_contents()] == series["counts"]
    assert page.inner_text("[data-total=fragments] strong") == str(overview["totals"]["fragments"])
    assert page.locator("#researchers tbody tr").count() == 1
    assert "Nothing passes the retention period" in page.inner_text("#expiring")
    shot(page, "coord-overview")
    audit(page)


def test_unsaved_edits_leave_the_laptop_with_a_logout_and_never_reach_the_next_coordinator(workspace, server):
    """An edit kept for a reload holds a participant's words: a logout forgets it, the next person's login drops
    what someone else left."""
    world = make_world(server)
    email, other = world.add_coordinator(), world.add_coordinator("next")
    ids = seed(world, ["Words under review that a coordinator starts to correct.",
                       "Words withdrawn while a coordinator corrects them."])
    page = workspace(email, world.project_id, "review")
    drafts = "Object.keys(localStorage).filter((k) => k.startsWith('hearken-draft:'))"
    for fid in ids:
        item = page.locator(f".review-item[data-id='{fid}']")
        item.wait_for()
        item.locator("[data-action=edit]").click()
        item.locator("textarea[name=text]").fill("Words under review, half corrected")
    assert len(page.evaluate(drafts)) == 2
    # Withdrawn while the edit was open: saving says so, and the draft's words go.
    consent = ok(world.admin.get(f"/fragments/{ids[1]}"))["consent_id"]
    ok(world.admin.post(f"/consents/{consent}/withdraw", json={}))
    item.locator("button:has-text('Save the edit')").click()
    item.locator(".status:has-text('erased')").wait_for()
    assert item.locator("textarea").count() == 0 and len(page.evaluate(drafts)) == 1
    page.goto(page.url.split("#")[0] + "#/phone")
    page.click("#logout")
    page.wait_for_selector("body[data-screen=login]")
    assert page.evaluate(drafts) == []
    # A login that ended without a logout left its draft: the next person's login drops it.
    page.evaluate("localStorage.setItem('hearken-draft:someone-else:review:x', '{\"values\": {\"text\": \"words\"}}')")
    login_ui(page, other, RESEARCHER_PASSWORD, lands_on=COORDINATOR)
    assert page.evaluate(drafts) == []
