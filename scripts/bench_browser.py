#!/usr/bin/env python3
"""Browser figures for Hearken's capture client, measured in Debian's Chromium against a real server:

  - cold: navigation to the capture-ready screen of a logged-in phone whose HTTP and service-worker caches are
    empty, with the network throttled through CDP Network.emulateNetworkConditions to slow 3G
    (400 ms round trip, 400 kbit/s each way; target < 3 s); also DevTools' harsher "Slow 3G" preset (2 s latency);
  - warm: the same navigation offline, served by the service worker (target < 500 ms);
  - sync: 500 queued fragments (plus their conversation and consent) sent on loopback (target < 5 s);
  - the app shell's size, gzip -9 of every shell file, and whether the server compresses it.

Run alone (`.venv/bin/python scripts/bench_browser.py`) or from scripts/bench.py, which calls run(results).
"""

from __future__ import annotations

import gzip
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.e2e.helpers import app_eval, login_ui, make_world, new_phone, wait_worker  # noqa: E402
from tests.support.live_server import LiveServer  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SLOW_3G = {"offline": False, "latency": 400, "downloadThroughput": 400 * 1000 / 8, "uploadThroughput": 400 * 1000 / 8}
DEVTOOLS_SLOW_3G = {"offline": False, "latency": 2000, "downloadThroughput": 500 * 1000 / 8 * 0.8,
                    "uploadThroughput": 500 * 1000 / 8 * 0.8}
READY = "window.__hearkenReadyAt !== undefined"


def shell_size() -> dict[str, Any]:
    """The phone's shell: what the service worker keeps at install (its SHELL list, plus sw.js itself). The
    coordinator's workspace is fetched only by coordinators' browsers, so it is counted apart."""
    web = REPO / "webclient"
    listed = re.search(r"const SHELL = \[(.*?)\];", (web / "sw.js").read_text(), re.S)
    names = {n for n in re.findall(r"'([^']+)'", listed.group(1)) if n != "./"} | {"sw.js"}
    files = [web / n for n in sorted(names)]
    everything = [p for p in web.rglob("*") if p.is_file() and not p.name.startswith(".")]
    return {
        "files": len(files),
        "raw_bytes": sum(p.stat().st_size for p in files),
        "gzip_bytes": sum(len(gzip.compress(p.read_bytes(), 9)) for p in files),
        "all_gzip_bytes": sum(len(gzip.compress(p.read_bytes(), 9)) for p in everything),
    }


def ready_ms(page) -> float:
    page.wait_for_function(READY, timeout=60_000)
    return float(page.evaluate("window.__hearkenReadyAt"))


def cold_load(context, url: str, conditions: dict) -> float:
    """Empty the HTTP cache, the service worker and its caches (IndexedDB, with the login, stays), then load."""
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    origin = url.split("/app/")[0]
    cdp.send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "service_workers,cache_storage"})
    cdp.send("Network.enable")
    cdp.send("Network.clearBrowserCache")
    cdp.send("Network.emulateNetworkConditions", conditions)
    page.goto(url, wait_until="commit")
    ms = ready_ms(page)
    from_worker = page.evaluate("performance.getEntriesByType('navigation')[0].workerStart > 0")
    if from_worker:
        raise RuntimeError("a service worker answered the 'cold' load; the measurement would be meaningless")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    wait_worker(page)
    page.wait_for_function("async () => (await caches.keys()).length > 0")
    page.close()
    return ms


def warm_offline(context, url: str) -> float:
    context.set_offline(True)
    try:
        page = context.new_page()
        page.goto(url, wait_until="commit")
        ms = ready_ms(page)
        page.close()
    finally:
        context.set_offline(False)
    return ms


QUEUE = """
    const conv = { project_id: A.projectId, prompt_ids: [], started_at: new Date().toISOString() };
    const [c] = await A.db.addRecords([{ type: 'conversation', data: conv, owner: A.session.user.id }]);
    const [k] = await A.db.addRecords([{ type: 'consent', owner: A.session.user.id, data: {
      conversation_id: c.id, participant_label: 'P-BNCH', consent_form_id: A.kit.consent_form.id,
      scopes: ['quote', 'share'], method: 'verbal', given_at: new Date().toISOString() } }]);
    const words = 'the bus stopped coming after six and nobody asked us about it'.split(' ');
    await A.db.addRecords(Array.from({ length: arg }, (_, i) => ({ type: 'fragment', owner: A.session.user.id, data: {
      conversation_id: c.id, consent_id: k.id, kind: i % 2 ? 'quote' : 'paraphrase',
      text: Array.from({ length: 40 }, (_, j) => words[(i + j) % words.length]).join(' '),
      language: 'en', captured_at: new Date().toISOString(), sensitive: false } })));
    return (await A.db.counts()).local;
"""

SYNC = """
    const t0 = performance.now();
    await A.outbox.sync();
    const ms = performance.now() - t0;
    return { ms, counts: await A.db.counts() };
"""


def run(results: dict) -> None:
    size = shell_size()
    results["shell_raw_bytes"] = size["raw_bytes"]
    results["shell_gzip_bytes"] = size["gzip_bytes"]
    print(f"app shell             : {size['gzip_bytes'] / 1024:>8.1f} KB gzip -9 ({size['files']} files, "
          f"{size['raw_bytes'] / 1024:.1f} KB raw; target <= 80 KB)")
    results["webclient_all_gzip_bytes"] = size["all_gzip_bytes"]
    print(f"with the workspace    : {size['all_gzip_bytes'] / 1024:>8.1f} KB gzip -9 (every file under webclient/)")

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("browser figures       : skipped (no Chromium binary; apt-get install -y chromium)")
        return
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp)) as server, sync_playwright() as pw:
        world = make_world(server)
        served = httpx.get(f"{server.url}/app/src/app.js", headers={"Accept-Encoding": "gzip"})
        results["shell_served_compressed"] = served.headers.get("content-encoding") == "gzip"
        url = f"{server.url}/app/"
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = new_phone(browser)
            context.set_default_timeout(60_000)
            page = context.new_page()
            page.goto(url)
            login_ui(page, world.email, world.password)
            page.wait_for_function(READY)
            wait_worker(page)
            page.close()

            cold = [cold_load(context, url, SLOW_3G) for _ in range(3)]
            cold_devtools = cold_load(context, url, DEVTOOLS_SLOW_3G)
            warm = [warm_offline(context, url) for _ in range(5)]

            page = context.new_page()
            page.goto(url)
            page.wait_for_function(READY)
            queued = app_eval(page, QUEUE, 500)
            out = app_eval(page, SYNC)
            assert out["counts"]["local"] == 0 and out["counts"]["synced"] == queued, out
            on_server = len(world.fragments_on_server())
            assert on_server == 500, on_server
            context.close()
        finally:
            browser.close()
            world.admin.close()

    results["browser_cold_slow3g_ms"] = round(statistics.median(cold))
    results["browser_cold_slow3g_runs_ms"] = [round(x) for x in cold]
    results["browser_cold_devtools_slow3g_ms"] = round(cold_devtools)
    results["browser_warm_offline_ms"] = round(statistics.median(warm))
    results["browser_sync_500_ms"] = round(out["ms"])
    print(f"cold, slow 3G         : {results['browser_cold_slow3g_ms']:>8} ms to capture-ready "
          f"(median of 3; 400 ms RTT, 400 kbit/s; target < 3000)")
    print(f"cold, DevTools Slow 3G: {results['browser_cold_devtools_slow3g_ms']:>8} ms (2000 ms latency, 400 kbit/s)")
    print(f"warm, offline (SW)    : {results['browser_warm_offline_ms']:>8} ms (median of 5; target < 500)")
    print(f"sync 500 fragments    : {results['browser_sync_500_ms']:>8} ms on loopback (502 records; target < 5000)")
    print(f"server compresses app : {'yes' if results['shell_served_compressed'] else 'no'}")


if __name__ == "__main__":
    figures: dict[str, Any] = {}
    run(figures)
