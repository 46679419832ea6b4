#!/usr/bin/env python3
"""Hearken's benchmark: figures measured side by side in one run on this machine, printed and saved as JSON
under bench-results/. Targets are printed beside the figures; nothing here fails a build.

  (a) sync ingest: 20 batches of 500 items (a conversation, 9 consents, 490 text fragments) POSTed through
      the real HTTP stack (uvicorn + httpx) into SQLite; fragments/s and the server's peak RSS;
  (b) the raw limit: the same rows inserted straight with sqlite3 executemany, one transaction per batch,
      into the same migrated schema; the ratio (a)/(b) (target >= 0.35);
  the review queue and two-filter searches at 100,000 fragments (scripts/bench_review.py, p95 target < 150 ms);
  the audio upload figures of scripts/bench_audio.py (tus throughput against raw write+fsync, the server's
  RSS growth during a 200 MB upload);
  and the browser figures of scripts/bench_browser.py when Chromium is here;
  with --scale N, issue 13's table at N fragments on both databases (scripts/bench_scale.py).
"""

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from api.db import sqlite_micros  # noqa: E402
from tests.support.live_server import LiveServer, admin_client, login_client, ok  # noqa: E402

WORDS = ("bus", "door", "neighbour", "lonely", "church", "hall", "shop", "doctor", "child", "rent", "cold",
         "garden", "friend", "street", "kettle", "phone", "wait", "help", "council", "park")


def _text(rnd: random.Random) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(20, 60)))


def make_batches(project: dict[str, Any], form_id: str, place_id: str, n_batches: int, seed: int = 1) -> list[list[dict]]:
    rnd = random.Random(seed)
    at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    batches = []
    for _ in range(n_batches):
        conv = str(uuid.uuid4())
        items: list[dict[str, Any]] = [{"type": "conversation", "id": conv, "data": {
            "project_id": project["id"], "place_id": place_id, "prompt_ids": [], "started_at": at}}]
        consents = [str(uuid.uuid4()) for _ in range(9)]
        for i, cid in enumerate(consents):
            items.append({"type": "consent", "id": cid, "data": {
                "conversation_id": conv, "participant_label": f"P-{i:04d}", "consent_form_id": form_id,
                "scopes": ["quote", "share"], "method": "verbal", "given_at": at}})
        for _ in range(490):
            items.append({"type": "fragment", "id": str(uuid.uuid4()), "data": {
                "conversation_id": conv, "consent_id": rnd.choice(consents), "kind": rnd.choice(["quote", "paraphrase"]),
                "text": _text(rnd), "language": "en", "captured_at": at, "sensitive": False}})
        batches.append(items)
    return batches


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def set_up_capture(server: LiveServer) -> tuple[httpx.Client, httpx.Client, dict[str, str]]:
    """A project with a trained researcher, a consent form and a place; clients for the admin and the phone."""
    admin = admin_client(server)
    project = ok(admin.post("/projects", json={"name": "Bench"}))
    pid = project["id"]
    researcher = ok(admin.post("/users", json={"email": "r@example.org", "password": "bench-password"}))
    ok(admin.put(f"/projects/{pid}/members/{researcher['id']}", json={"role": "researcher"}))
    today = date.today()
    ok(admin.post(f"/projects/{pid}/members/{researcher['id']}/training", json={
        "completed_on": str(today - timedelta(days=10)), "expires_on": str(today + timedelta(days=300))}))
    form = ok(admin.post(f"/projects/{pid}/consent-forms", json={"title": "c", "body": "b", "scopes": ["quote", "share"]}))
    place = ok(admin.post(f"/projects/{pid}/places", json={"name": "Stonehouse"}))
    phone = login_client(server, "r@example.org", "bench-password")
    return admin, phone, {"project": pid, "form": form["id"], "place": place["id"]}


def http_round(tmp: Path, n_batches: int) -> tuple[float, float, list[list[dict]], dict[str, str]]:
    """One run of (a) on a fresh server and database: seconds, the server's peak RSS, and what was sent."""
    server = LiveServer(tmp)
    with server:
        _, phone, ids = set_up_capture(server)
        batches = make_batches({"id": ids["project"]}, ids["form"], ids["place"], n_batches)
        bodies = [json.dumps({"device_id": "bench", "items": b}).encode() for b in batches]
        started = time.perf_counter()
        for body in bodies:
            r = phone.post("/sync", content=body, headers={"Content-Type": "application/json"})
            r.raise_for_status()
            assert all(x["status"] == "created" for x in r.json()["results"]), r.text[:500]
        seconds = time.perf_counter() - started
        assert server.proc is not None
        rss = peak_rss_mb(server.proc.pid)
    return seconds, rss, batches, ids


def bench_sync(results: dict[str, Any], n_batches: int, rounds: int) -> None:
    """(a) and (b) alternate, `rounds` times each, on fresh databases; the best of each is compared, so a
    burst of load on a shared machine does not decide the ratio."""
    http_runs, raw_runs, rss_runs = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            seconds, rss, batches, ids = http_round(Path(tmp) / f"http{i}", n_batches)
            http_runs.append(seconds)
            rss_runs.append(rss)
            LiveServer(Path(tmp) / f"raw{i}").cli("migrate")
            raw_runs.append(raw_insert(Path(tmp) / f"raw{i}" / "hearken.db", batches, ids["project"], ids["form"],
                                       ids["place"]))
    fragments = n_batches * 490
    http_s, raw_s = min(http_runs), min(raw_runs)
    results["sync_http_fragments_per_s"] = round(fragments / http_s)
    results["sync_raw_fragments_per_s"] = round(fragments / raw_s)
    results["sync_ratio"] = round(raw_s / http_s, 3)
    results["sync_server_peak_rss_mb"] = round(max(rss_runs), 1)
    results["sync_rounds"] = {"http_s": [round(x, 3) for x in http_runs], "raw_s": [round(x, 3) for x in raw_runs]}
    print(f"sync ingest over HTTP : {results['sync_http_fragments_per_s']:>8} fragments/s "
          f"(best of {rounds}; {n_batches} batches of 500 items)")
    print(f"raw sqlite3 inserts   : {results['sync_raw_fragments_per_s']:>8} fragments/s (best of {rounds})")
    print(f"ratio (a)/(b)         : {results['sync_ratio']:>8}   (target >= 0.35)")
    print(f"server peak RSS       : {results['sync_server_peak_rss_mb']:>8} MB")


def raw_insert(path: Path, batches: list[list[dict]], project_id: str, form_id: str, place_id: str) -> float:
    """Insert the batches' rows with plain executemany, one transaction per batch: the floor for (a)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    # As the app keeps them on SQLite (api/db.py): ids as their 16 bytes, times as microseconds since 1970.
    user = uuid.uuid4().bytes
    now = sqlite_micros(datetime.now(UTC))
    pid, fid, plid = (uuid.UUID(x).bytes for x in (project_id, form_id, place_id))
    conn.execute("BEGIN")
    conn.execute("INSERT INTO users (id, email, display_name, is_admin, is_active, created_at) VALUES (?,?,?,?,?,?)",
                 (user, "raw@example.org", "", 0, 1, now))
    conn.execute("INSERT INTO projects (id, name, description, questions, created_at) VALUES (?,?,?,?,?)",
                 (pid, "Raw", "", "[]", now))
    conn.execute("INSERT INTO places (id, project_id, name, active, created_at) VALUES (?,?,?,?,?)",
                 (plid, pid, "Stonehouse", 1, now))
    conn.execute("INSERT INTO consent_forms (id, project_id, version, title, body, scopes, created_by, created_at) "
                 "VALUES (?,?,?,?,?,?,?,?)", (fid, pid, 1, "c", "b", '["quote","share"]', user, now))
    conn.execute("COMMIT")
    started = time.perf_counter()
    for items in batches:
        conv = items[0]
        consents = [i for i in items if i["type"] == "consent"]
        frags = [i for i in items if i["type"] == "fragment"]
        conn.execute("BEGIN")
        cid = uuid.UUID(conv["id"]).bytes
        conn.execute("INSERT INTO conversations (id, project_id, researcher_id, place_id, prompt_ids, started_at, "
                     "received_at, updated_at, version, sync_hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                     (cid, pid, user, plid, "[]", now, now, now, 1, "h"))
        participants = {c["id"]: uuid.uuid4().bytes for c in consents}
        conn.executemany("INSERT INTO participants (id, project_id, conversation_id, label) VALUES (?,?,?,?)",
                         [(participants[c["id"]], pid, cid, c["data"]["participant_label"]) for c in consents])
        conn.executemany(
            "INSERT INTO consents (id, project_id, conversation_id, participant_id, consent_form_id, scope_audio, "
            "scope_quote, scope_share, scope_publish, method, given_at, recorded_by, received_at, version, sync_hash) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(uuid.UUID(c["id"]).bytes, pid, cid, participants[c["id"]], fid, 0, 1, 1, 0, "verbal", now, user, now, 1,
              "h") for c in consents])
        conn.executemany(
            "INSERT INTO fragments (id, project_id, conversation_id, consent_id, researcher_id, place_id, kind, text, "
            "language, sensitive, captured_at, received_at, updated_at, status, version, sync_hash) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(uuid.UUID(f["id"]).bytes, pid, cid, uuid.UUID(f["data"]["consent_id"]).bytes, user, plid,
              f["data"]["kind"], f["data"]["text"], "en", 0, now, now, now, "active", 1, "h") for f in frags])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--skip-feed", action="store_true")
    parser.add_argument("--skip-review", action="store_true")
    parser.add_argument("--skip-audio", action="store_true")
    parser.add_argument("--scale", type=int, metavar="N", default=0,
                        help="also issue 13's table at N fragments on SQLite and PostgreSQL (scripts/bench_scale.py; "
                             "1,000,000 takes most of an hour)")
    parser.add_argument("--skip-workshops", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds")}
    bench_sync(results, args.batches, args.rounds)
    if not args.skip_feed:
        import bench_feed  # scripts/bench_feed.py, beside this file

        bench_feed.run(results)
    if not args.skip_review:
        import bench_review  # scripts/bench_review.py: the review queue and searches at 100,000 fragments

        bench_review.run(results)
    if not args.skip_audio:
        import bench_audio  # scripts/bench_audio.py, beside this file

        bench_audio.run(results)
    if not args.skip_browser:
        try:
            import bench_browser  # scripts/bench_browser.py, beside this file
        except ImportError:
            bench_browser = None
        if bench_browser is not None:
            bench_browser.run(results)
    if args.scale:
        import bench_scale  # scripts/bench_scale.py, beside this file

        for database in ("sqlite", "postgresql"):
            options = bench_scale.arguments().parse_args(["--fragments", str(args.scale), "--database", database])
            results[f"scale_{database}"] = bench_scale.run(options)
    if not args.skip_workshops:
        import bench_workshops  # scripts/bench_workshops.py: board convergence, the 500-card PDF, a 300-card board

        bench_workshops.run(results)
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    path = out / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"saved {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
