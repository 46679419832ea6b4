#!/usr/bin/env python3
"""Follow Hearken's change feed into a local SQLite file: an example consumer for other tools.

    HEARKEN_URL=https://hearken.example.org HEARKEN_TOKEN=hkc_... python scripts/mirror.py mirror.db

It keeps one table of fragments, applies upserts, deletes on tombstones (a participant withdrew, or the
retention period ran out: your copy must go too; a consent's tombstone means every fragment under that consent, as
when a partner's or the public's tool loses the consent's `share` or `publish`), and remembers the last `seq`, so a
restart resumes where it stopped. With --follow it keeps a long poll open and applies changes as they happen.
Needs only httpx.
"""

import argparse
import json
import os
import sqlite3
import sys
import time

import httpx


def open_mirror(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS fragments (id TEXT PRIMARY KEY, captured_at TEXT, kind TEXT, text TEXT, "
               "tag_ids TEXT, record TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT)")
    return db


def last_seq(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM state WHERE key = 'seq'").fetchone()
    return int(row[0]) if row else 0


def apply(db: sqlite3.Connection, page: dict) -> int:
    """Apply one page and its new position in one transaction, so a crash never half-applies it."""
    with db:
        for change in page["items"]:
            if change["entity"] == "consent" and change["op"] == "tombstone":
                db.execute("DELETE FROM fragments WHERE json_extract(record, '$.consent_id') = ?", (change["id"],))
            if change["entity"] != "fragment":
                continue
            if change["op"] == "tombstone" or change["record"]["status"] != "active":
                db.execute("DELETE FROM fragments WHERE id = ?", (change["id"],))
            else:
                r = change["record"]
                db.execute("INSERT OR REPLACE INTO fragments VALUES (?, ?, ?, ?, ?, ?)",
                           (r["id"], r["captured_at"], r["kind"], r["text"], json.dumps(r["tag_ids"]), json.dumps(r)))
        db.execute("INSERT OR REPLACE INTO state VALUES ('seq', ?)", (str(page["last_seq"]),))
    return len(page["items"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database", help="the local SQLite file to keep the mirror in")
    parser.add_argument("--url", default=os.environ.get("HEARKEN_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("HEARKEN_TOKEN"), help="an API client token (changes:read)")
    parser.add_argument("--follow", action="store_true", help="keep following (long poll) instead of stopping")
    args = parser.parse_args()
    if not args.token:
        parser.error("give --token or HEARKEN_TOKEN")
    db = open_mirror(args.database)
    headers = {"Authorization": f"Bearer {args.token}"}
    with httpx.Client(base_url=args.url.rstrip("/") + "/api/v1", headers=headers, timeout=60) as http:
        while True:
            wait = 25 if args.follow else 0
            r = http.get("/changes", params={"after": last_seq(db), "limit": 500, "wait": wait})
            if r.status_code == 429:
                time.sleep(int(r.headers.get("Retry-After", "5")))
                continue
            r.raise_for_status()
            page = r.json()
            applied = apply(db, page)
            if applied:
                print(f"applied {applied} changes, now at seq {page['last_seq']}", flush=True)
            if not page["has_more"] and not args.follow:
                break
    count = db.execute("SELECT count(*) FROM fragments").fetchone()[0]
    print(f"mirror holds {count} fragments, up to seq {last_seq(db)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
