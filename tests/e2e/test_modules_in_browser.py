"""Unit tests of webclient/src/db.js and outbox.js, run inside real Chromium.

The page and the modules are served straight from the repository through Playwright's request
routing (no server needed); tests/e2e/unit/module_tests.js holds the tests and a fake API.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
UNIT = Path(__file__).parent / "unit"
ORIGIN = "http://hearken.test"
NAMES = re.findall(r"^test\('([^']+)'", (UNIT / "module_tests.js").read_text(), flags=re.M)


def serve_from_disk(route):
    path = route.request.url[len(ORIGIN):].split("?")[0]
    roots = {"/app/": REPO / "webclient", "/unit/": UNIT}
    for prefix, root in roots.items():
        if path.startswith(prefix):
            file = (root / path[len(prefix):]).resolve()
            if file.is_file() and root.resolve() in file.parents:
                ctype = "text/javascript" if file.suffix == ".js" else mimetypes.guess_type(file.name)[0]
                route.fulfill(status=200, body=file.read_bytes(), content_type=ctype or "text/plain")
                return
    route.fulfill(status=404, body="not found")


@pytest.fixture(scope="module")
def results(browser):
    context = browser.new_context()
    context.route(f"{ORIGIN}/**", serve_from_disk)
    page = context.new_page()
    page.goto(f"{ORIGIN}/unit/index.html")
    out = page.evaluate("async () => (await import('/unit/module_tests.js')).run()")
    context.close()
    return out


def test_every_module_test_was_found(results):
    assert sorted(results) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_module(results, name):
    assert results[name] == "ok", results[name]
