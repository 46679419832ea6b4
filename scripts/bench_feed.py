#!/usr/bin/env python3
"""The pull API's figures, for scripts/bench.py (runnable alone too):

  - following the change feed over HTTP through 100,000 fragments, as fragments/s, against the raw limit: the
    same rows read with a plain SELECT and encoded to JSON in-process (target ratio >= 0.30);
  - the server's peak memory (VmHWM) while it streams a CSV export of those 100,000 rows (target < 150 MB for
    the whole process).
"""

import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import make_batches, peak_rss_mb, set_up_capture  # noqa: E402

from tests.support.live_server import LiveServer  # noqa: E402


def seed(server: LiveServer, fragments: int) -> tuple[httpx.Client, dict[str, str], int]:
    """A project holding `fragments` text fragments (whole sync batches of 490), sent by a phone through POST
    /sync; answers the admin's client, the project's ids (project, form, place) and how many fragments."""
    n_batches = -(-fragments // 490)
    admin, phone, ids = set_up_capture(server)
    for items in make_batches({"id": ids["project"]}, ids["form"], ids["place"], n_batches, seed=7):
        phone.post("/sync", json={"device_id": "bench", "items": items}).raise_for_status()
    return admin, ids, n_batches * 490


def run(results: dict[str, Any], fragments: int = 100_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with LiveServer(Path(tmp) / "feed") as server:
            admin, ids, total = seed(server, fragments)
            token = admin.post(f"/projects/{ids['project']}/clients", json={
                "name": "bench", "scopes": ["changes:read", "export"], "rate_limit_per_minute": 100_000}).json()["token"]
        db = Path(tmp) / "feed" / "hearken.db"

        # A fresh process, so its peak memory is the feed's and the export's, not the ingest's.
        with LiveServer(Path(tmp) / "feed") as server:
            client = httpx.Client(base_url=server.api, headers={"Authorization": f"Bearer {token}"}, timeout=120)
            started = time.perf_counter()
            after, seen = 0, 0
            while True:
                page = client.get("/changes", params={"after": after, "limit": 1000}).json()
                seen += sum(1 for c in page["items"] if c["entity"] == "fragment")
                after = page["last_seq"]
                if not page["has_more"]:
                    break
            http_s = time.perf_counter() - started
            assert seen == total, (seen, total)
            assert server.proc is not None
            rss_before_export = peak_rss_mb(server.proc.pid)
            started = time.perf_counter()
            size = 0
            with client.stream("GET", f"/projects/{ids['project']}/export/fragments.csv") as r:
                r.raise_for_status()
                for chunk in r.iter_bytes():
                    size += len(chunk)
            export_s = time.perf_counter() - started
            rss_export = peak_rss_mb(server.proc.pid)
        raw_s = raw_read(db)

    results["feed_http_fragments_per_s"] = round(total / http_s)
    results["feed_raw_fragments_per_s"] = round(total / raw_s)
    results["feed_ratio"] = round(raw_s / http_s, 3)
    results["export_csv_rows"] = total
    results["export_csv_mb"] = round(size / 1e6, 1)
    results["export_csv_seconds"] = round(export_s, 2)
    results["export_server_peak_rss_mb"] = round(rss_export, 1)
    results["feed_server_peak_rss_mb"] = round(rss_before_export, 1)
    print(f"change feed over HTTP : {results['feed_http_fragments_per_s']:>8} fragments/s ({total} fragments)")
    print(f"raw SELECT + JSON     : {results['feed_raw_fragments_per_s']:>8} fragments/s")
    print(f"ratio                 : {results['feed_ratio']:>8}   (target >= 0.30)")
    print(f"CSV export            : {results['export_csv_mb']:>8} MB in {results['export_csv_seconds']} s; server peak "
          f"RSS {results['export_server_peak_rss_mb']} MB (target < 150; {rss_before_export:.0f} MB before)")


def raw_read(db: Path) -> float:
    """The floor: every fragment row read with one plain SELECT and encoded to JSON, in-process."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    started = time.perf_counter()
    for row in conn.execute("SELECT * FROM fragments ORDER BY captured_at, id"):
        json.dumps(dict(row), default=bytes.hex)  # ids are 16 bytes on SQLite (api/db.py); JSON takes them as hex
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


if __name__ == "__main__":
    out: dict[str, Any] = {}
    run(out, int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
