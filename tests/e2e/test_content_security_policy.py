"""The web client runs under its Content-Security-Policy: no page of the coordinator's workspace, nor the phone's
home, trips it (a style attribute, an inline script or a foreign fetch would be refused and reported here)."""

import pytest

from tests.e2e.coord_data import goto
from tests.e2e.helpers import COORDINATOR, login_ui, open_app
from tests.e2e.test_coord_admin import LAPTOP, coordinator, seed_conversation
from tests.support.live_server import ok

pytestmark = pytest.mark.browser

WATCH = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
         "e => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));")
PAGES = ("overview", "review", "tagging", "search", "codebook", "consents", "audit", "people", "project")


def test_no_page_of_the_workspace_trips_the_policy(browser, server, world):
    email, password = coordinator(world)
    pid = world.project_id
    tag = ok(world.admin.post(f"/projects/{pid}/tags", json={"name": "csp-check", "colour": "#8a3b12"}))
    with world.researcher() as researcher:
        consent, frags = seed_conversation(researcher, pid, world.consent_form_id, None, "P-CSP1", ["a chip"])
    ok(world.admin.put(f"/fragments/{frags[0]}/tags/{tag['id']}"))
    context = browser.new_context(viewport=LAPTOP, device_scale_factor=1)
    context.set_default_timeout(15_000)
    context.add_init_script(WATCH)
    try:
        page = context.new_page()
        open_app(page, server)
        assert page.evaluate("window.__csp") == []
        login_ui(page, email, password, lands_on=COORDINATOR + " .co[data-page] h1")
        for name in PAGES:
            goto(page, pid, name)
            page.wait_for_timeout(200)  # a report is queued as a task after the refusal
            assert page.evaluate("window.__csp") == [], name
        goto(page, pid, "consents", f"/{consent}/withdraw")
        page.wait_for_selector("#withdraw-form select[name=reason]")
        assert page.evaluate("window.__csp") == []
        goto(page, pid, "codebook")
        swatch = page.locator(".swatch").first
        assert swatch.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    finally:
        context.close()
