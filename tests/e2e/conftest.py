"""Browser tests: a real `hearken serve` on loopback and Debian's Chromium through Playwright.

Without a Chromium binary the tests skip with one line, except on CI (CI=true) where they fail.
Browsers are never downloaded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.e2e.helpers import make_world, new_phone  # noqa: E402
from tests.support.live_server import LiveServer  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = chromium_binary()
    if path is None:
        reason = "browser tests need a Chromium binary (apt-get install -y chromium); none found on PATH"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def phone(browser):
    context = new_phone(browser)
    yield context
    context.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One server for the whole run; tests that stop or kill a server use `private_server`."""
    with LiveServer(tmp_path_factory.mktemp("hearken-e2e")) as srv:
        yield srv


@pytest.fixture(scope="session")
def world(server):
    w = make_world(server)
    yield w
    w.admin.close()


@pytest.fixture(scope="module")
def private_server(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("hearken-private")) as srv:
        yield srv


@pytest.fixture(scope="module")
def private_world(private_server):
    w = make_world(private_server)
    yield w
    w.admin.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, keep a picture of every open page, and print where each page was and what it showed (CI
    keeps only the printed report), and the last lines of the server log."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    from tests.e2e.helpers import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser = item.funcargs.get("browser")
    contexts = browser.contexts if browser else []
    shown = []
    for i, context in enumerate(contexts):
        for j, page in enumerate(context.pages):
            with contextlib.suppress(Exception):
                page.screenshot(path=str(SCREENSHOTS / f"FAILED-{item.name[:60]}-{i}-{j}.png"), full_page=True)
            with contextlib.suppress(Exception):
                shown.append(f"[{i}.{j}] {page.url}\n{page.inner_text('body', timeout=2000)[:1500]}")
    if shown:
        report.sections.append(("open pages", "\n\n".join(shown)))
    server = item.funcargs.get("server") or item.funcargs.get("private_server")
    if server is not None:
        report.sections.append(("server log", server.log_tail()))


def pytest_sessionstart(session):
    """Pictures of failures from an earlier run would mislead; the screens themselves are overwritten.
    Under pytest-xdist only the controller clears them (a late worker would delete another's failure)."""
    from tests.e2e.helpers import SCREENSHOTS

    if hasattr(session.config, "workerinput"):
        return

    for old in SCREENSHOTS.glob("FAILED-*.png"):
        old.unlink()
