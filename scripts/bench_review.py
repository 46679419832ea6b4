#!/usr/bin/env python3
"""The coordinator workspace's figures at scale, for scripts/bench.py (runnable alone too):

100,000 fragments are seeded through POST /sync (scripts/bench_feed.py's seeding), then spread the way a year
of listening would leave them (captured over 365 days, 5 places, 3 % sensitive, 40 % already reviewed, 3 tags
on ~10 % each). A coordinator's token then asks, over HTTP against a live server on SQLite, each at least 50
times: the review queue's first page, its 50th page (reached by following cursors), and two searches with two
filters each (a word + a place; a tag + captured_after). p50 and p95 per query; target p95 < 150 ms.
"""

import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_feed import seed  # noqa: E402

from api.db import sqlite_micros  # noqa: E402
from tests.support.live_server import LiveServer, login_client, ok  # noqa: E402

TARGET_MS = 150.0
WARM_UP = 5


def set_up_workspace(admin: httpx.Client, server: LiveServer,
                     pid: str) -> tuple[httpx.Client, str, list[str], list[str]]:
    """A coordinator (logged in, and their id), four more places and three tags in the project."""
    user = ok(admin.post("/users", json={"email": "coord@example.org", "password": "bench-password"}))
    ok(admin.put(f"/projects/{pid}/members/{user['id']}", json={"role": "coordinator"}))
    places = [ok(admin.post(f"/projects/{pid}/places", json={"name": n}))["id"]
              for n in ("Devonport", "Keyham", "Ford", "Morice Town")]
    tags = [ok(admin.post(f"/projects/{pid}/tags", json={"name": n}))["id"] for n in ("isolation", "transport", "hope")]
    return login_client(server, "coord@example.org", "bench-password"), user["id"], places, tags


def spread(db: Path, places: list[str], tags: list[str], user_id: str) -> None:
    """Give the seeded fragments a year's variety, straight in SQLite while the server is stopped (the text,
    and so the search index, is left as synced)."""
    rnd = random.Random(11)
    now = datetime.now(UTC)
    # As the app keeps them on SQLite (api/db.py): ids as their 16 bytes, times as microseconds since 1970.
    raw = [uuid.UUID(p).bytes for p in places]
    user = uuid.UUID(user_id).bytes

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    ids = [r[0] for r in conn.execute("SELECT id FROM fragments")]
    rows = []
    for fid in ids:
        captured = now - timedelta(seconds=rnd.randrange(365 * 86400))
        reviewed = sqlite_micros(captured + timedelta(days=2)) if rnd.random() < 0.4 else None
        rows.append((sqlite_micros(captured), rnd.choice(raw), int(rnd.random() < 0.03), reviewed,
                     user if reviewed else None, fid))
    conn.executemany("UPDATE fragments SET captured_at = ?, place_id = ?, sensitive = ?, reviewed_at = ?, "
                     "reviewed_by = ? WHERE id = ?", rows)
    stamp = sqlite_micros(now)
    conn.executemany("INSERT INTO fragment_tags (fragment_id, tag_id, tagged_by, tagged_at) VALUES (?, ?, ?, ?)",
                     [(fid, uuid.UUID(t).bytes, user, stamp)
                      for t in tags for fid in rnd.sample(ids, len(ids) // 10)])
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def measure(client: httpx.Client, path: str, params: dict[str, Any], n: int) -> tuple[list[float], int]:
    """Milliseconds per request (after a few unmeasured ones), and how many items the answer held."""
    times = []
    items = 0
    for i in range(WARM_UP + n):
        started = time.perf_counter()
        r = client.get(path, params=params)
        elapsed = (time.perf_counter() - started) * 1000
        r.raise_for_status()
        items = len(r.json()["items"])
        if i >= WARM_UP:
            times.append(elapsed)
    return times, items


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[18]


def run(results: dict[str, Any], fragments: int = 100_000, requests: int = 60) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "review"
        with LiveServer(data) as server:
            admin, ids, total = seed(server, fragments)
            pid = ids["project"]
            coordinator, coordinator_id, places, tags = set_up_workspace(admin, server, pid)
        spread(data / "hearken.db", [ids["place"], *places], tags, coordinator_id)

        with LiveServer(data) as server:
            client = httpx.Client(base_url=server.api, headers=coordinator.headers, timeout=60)
            queue = f"/projects/{pid}/review-queue"
            cursor = None
            for _ in range(49):  # the cursor of page 50, as a coordinator working through the queue would hold
                cursor = ok(client.get(queue, params={"cursor": cursor} if cursor else {}))["next_cursor"]
            since = (datetime.now(UTC) - timedelta(days=90)).isoformat()
            queries = {
                "review queue, page 1": (queue, {}),
                "review queue, page 50": (queue, {"cursor": cursor}),
                "search q=bus + place": ("/fragments", {"project_id": pid, "q": "bus", "place": places[1]}),
                "search tag + captured_after": ("/fragments", {"project_id": pid, "tag": tags[0],
                                                               "captured_after": since}),
            }
            figures = {}
            for label, (path, params) in queries.items():
                times, items = measure(client, path, params, requests)
                figures[label] = {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95(times), 1),
                                  "requests": len(times), "items": items}
            counts = ok(client.get(queue))["counts"]

    results["review_fragments"] = total
    results["review_queue_counts"] = counts
    results["review"] = figures
    print(f"review queue and search over HTTP on SQLite, {total} fragments ({counts['unreviewed']} awaiting review, "
          f"{counts['sensitive']} of them sensitive); target p95 < {TARGET_MS:.0f} ms")
    for label, f in figures.items():
        verdict = "PASS" if f["p95_ms"] < TARGET_MS else "FAIL"
        print(f"  {label:<30}: p50 {f['p50_ms']:>6} ms  p95 {f['p95_ms']:>6} ms  ({f['requests']} requests, "
              f"{f['items']} items/page)  {verdict}")
    results["review_pass"] = all(f["p95_ms"] < TARGET_MS for f in figures.values())


if __name__ == "__main__":
    out: dict[str, Any] = {}
    run(out, int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
