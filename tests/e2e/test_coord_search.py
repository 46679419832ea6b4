"""The coordinator's Search page in Chromium: the one-line hint on the query language, word forms found, and a
total line that counts right ("1 fragment found", "More than 1,000 fragments found")."""

from __future__ import annotations

import pytest

from tests.e2e.coord_data import goto, laptop_workspace, seed
from tests.e2e.helpers import make_world, shot
from tests.support.live_server import ok

pytestmark = pytest.mark.browser


@pytest.fixture
def workspace(browser, server):
    yield from laptop_workspace(browser, server)


def search(page, q: str) -> None:
    """Submit a search and wait for the page it leads to (the one on screen is marked first)."""
    page.evaluate("() => { document.querySelector('.co').dataset.old = '1'; }")
    page.fill("#search-form input[name=q]", q)
    page.click("#search-form button[type=submit]")
    page.wait_for_selector(".co[data-page=search]:not([data-old]) #search-form")


def test_search_hint_word_forms_and_the_total_line(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    seed(world, ["Two buses a day, if you are lucky.", "The bus driver says hello to everyone.",
                 "You are always welcome at the community hub.", "A quiet street after dark."])
    page = workspace(email, world.project_id, "search")
    hint = page.locator("#search-hint")
    assert "buses → bus" in hint.inner_text() and "OR" in hint.inner_text() and "-word" in hint.inner_text()
    assert page.get_attribute("#search-form input[name=q]", "aria-describedby") == "search-hint"
    page.wait_for_selector("#search-summary:has-text('4 fragments found')")

    search(page, "buses")
    page.wait_for_selector("#search-summary:has-text('2 fragments found')")
    assert page.input_value("#search-form input[name=q]") == "buses"
    search(page, "welcom")
    page.wait_for_selector("#search-summary:has-text('1 fragment found.')")
    search(page, "bus -driver")
    page.wait_for_selector("#search-summary:has-text('1 fragment found.')")
    assert page.locator("#search-results .frag-text").all_inner_texts() == ["Two buses a day, if you are lucky."]
    search(page, '"quiet street" OR hub')
    page.wait_for_selector("#search-summary:has-text('2 fragments found')")
    shot(page, "coord-search-hint")

    search(page, "-bus")
    page.wait_for_selector("#search-results :text('at least one word to find')")

    # Project settings choose exact words (another language); the search page's hint says so.
    goto(page, world.project_id, "project")
    page.select_option("#project-details select[name=search_language]", "simple")
    page.click("#project-details button[type=submit]")
    page.wait_for_selector("#project-details .status:has-text('Saved')")
    assert ok(world.admin.get(f"/projects/{world.project_id}"))["search_language"] == "simple"
    page.reload()
    goto(page, world.project_id, "search", "/?q=buses")
    page.wait_for_selector("#search-hint:has-text('Exact words')")
    page.wait_for_selector("#search-summary:has-text('1 fragment found.')")  # "buses" only, not "bus"


def test_a_total_past_the_cap_says_more_than(workspace, server):
    world = make_world(server)
    email = world.add_coordinator()
    texts = [f"Fragment number {i} about the bus." for i in range(1002)]
    for start in range(0, len(texts), 490):  # a sync batch holds at most 500 items
        seed(world, texts[start:start + 490])
    page = workspace(email, world.project_id, "search")
    page.wait_for_selector("#search-summary:has-text('More than 1,000 fragments found.')")
    search(page, "number 7")  # "7" is a word of one fragment only ("17" is another word)
    page.wait_for_selector("#search-summary:has-text('fragment')")
    assert page.locator("#search-summary").inner_text() == "1 fragment found."
    search(page, "bus")
    page.wait_for_selector("#search-summary:has-text('More than 1,000 fragments found.')")
