"""Every screen a researcher uses: labelled controls, named buttons, large touch targets, focus moved to
the screen's heading on navigation; storage warnings shown."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import login_ui, new_researcher_ui, open_app, shot, start_conversation_ui, take_consent_ui

pytestmark = pytest.mark.browser

AUDIT = """() => {
  const problems = [];
  const visible = (el) => el.offsetParent !== null || el.getClientRects().length > 0;
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (!visible(el) || el.type === 'hidden') continue;
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby');
    if (!named) problems.push(`unlabelled ${el.outerHTML.slice(0, 80)}`);
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (!visible(el)) continue;
    if (!el.textContent.trim() && !el.getAttribute('aria-label')) problems.push(`unnamed ${el.outerHTML.slice(0, 80)}`);
    const r = el.getBoundingClientRect();
    const inline = el.tagName === 'A' && getComputedStyle(el).display === 'inline';
    if (!inline && (r.height < 44 || r.width < 44)) {
      problems.push(`small target ${Math.round(r.width)}x${Math.round(r.height)} ${el.outerHTML.slice(0, 60)}`);
    }
  }
  for (const el of document.querySelectorAll('input[type=radio], input[type=checkbox]')) {
    if (!visible(el)) continue;
    const r = el.getBoundingClientRect();
    const label = el.labels && el.labels[0] && el.labels[0].getBoundingClientRect();
    if (Math.max(r.height, label ? label.height : 0) < 44) problems.push(`small choice ${el.outerHTML.slice(0, 60)}`);
  }
  for (const el of document.querySelectorAll('button[aria-label]')) {
    // WCAG 2.5.3: a spoken name holds the visible words, so "click Their data" finds the button.
    const seen = el.textContent.trim().toLowerCase().replace(/[….:]+$/, '');
    if (visible(el) && seen && !el.getAttribute('aria-label').toLowerCase().includes(seen)) {
      problems.push(`name without its visible text ${el.outerHTML.slice(0, 80)}`);
    }
  }
  for (const el of document.querySelectorAll('body *')) {
    // Something that scrolls sideways inside the page must take keyboard focus, or a keyboard cannot scroll it.
    const overflow = getComputedStyle(el).overflowX;
    if (visible(el) && ['auto', 'scroll'].includes(overflow) && el.scrollWidth > el.clientWidth + 1 && el.tabIndex < 0
        && !el.querySelector('a[href], button, input, select, textarea, [tabindex]')) {
      problems.push(`scrolls but takes no focus ${el.outerHTML.slice(0, 60)}`);
    }
  }
  // screen.width too: a mobile browser widens its layout (and innerWidth) to whatever overflows.
  const width = Math.min(window.innerWidth, screen.width);
  if (document.documentElement.scrollWidth > width + 1) problems.push('scrolls sideways at this width');
  if (!document.querySelector('h1')) problems.push('no heading');
  return problems;
}"""


def audit(page, screen: str) -> None:
    page.wait_for_selector(f"body[data-screen={screen}]")
    assert page.evaluate(AUDIT) == [], screen
    assert page.evaluate("document.activeElement && document.activeElement.tagName") in ("H1", "TEXTAREA", "BODY")


def test_screens_are_labelled_and_easy_to_touch(phone, world, server):
    email = "a11y@example.org"
    world.add_researcher(email)
    page = phone.new_page()
    open_app(page, server)
    audit(page, "login")
    login_ui(page, email, world.password)
    audit(page, "home")
    assert page.evaluate("document.activeElement.tagName") == "H1"
    page.click("#start")
    audit(page, "new-conversation")
    page.go_back()
    start_conversation_ui(page)
    audit(page, "conversation")
    page.click("#add-participant")
    audit(page, "consent")
    page.check("#method-signed")
    assert page.evaluate(AUDIT) == []
    page.go_back()
    take_consent_ui(page, {"audio": True, "quote": True, "share": True, "publish": True})
    audit(page, "capture")
    page.goto(page.url.split("#")[0] + "#/phone")
    audit(page, "phone")
    page.goto(page.url.split("#")[0] + "#/attention")
    audit(page, "attention")


def test_large_text_on_a_small_phone_never_scrolls_sideways(phone, world, server):
    """Android's largest text doubles every size: headings wrap, fieldsets and the file picker shrink to fit."""
    page, _, _ = new_researcher_ui(phone, world, "large-text")
    # Through the CSSOM (the page's policy refuses a <style> of ours): the same document stays for every screen.
    page.evaluate("""() => { document.documentElement.style.setProperty('font-size', '32px', 'important');
                             document.body.style.setProperty('font-size', '36px', 'important'); }""")
    # Against the phone's width, not innerWidth: a mobile browser widens its layout to what overflows.
    wide = f"document.documentElement.scrollWidth - {page.viewport_size['width']}"
    for screen, hash_ in (("home", "#/"), ("new-conversation", "#/new"), ("phone", "#/phone")):
        page.goto(page.url.split("#")[0] + hash_)
        page.wait_for_selector(f"body[data-screen={screen}]")
        assert page.evaluate(wide) <= 1, screen
    page.goto(page.url.split("#")[0] + "#/")
    start_conversation_ui(page)
    assert page.evaluate(wide) <= 1, "conversation"
    page.click("#add-participant")
    page.wait_for_selector("body[data-screen=consent]")
    assert page.evaluate(wide) <= 1, "consent"


def test_low_storage_and_persistence_are_shown(browser, world, server):
    from tests.e2e.helpers import new_phone

    email = "full-phone@example.org"
    world.add_researcher(email)
    context = new_phone(browser)
    context.add_init_script("""
        navigator.storage.estimate = async () => ({ usage: 95 * 1024 * 1024, quota: 100 * 1024 * 1024 });
        navigator.storage.persist = async () => false;
        navigator.storage.persisted = async () => false;
    """)
    page = context.new_page()
    open_app(page, server)
    login_ui(page, email, world.password)
    page.goto(page.url.split("#")[0] + "#/phone")
    page.wait_for_selector("#low-storage")
    assert page.get_attribute("#persisted", "data-persisted") == "false"
    shot(page, "14-low-storage")
    context.close()
