"""Withdrawal and purge at scale on SQLite, against the plain SQL of the same erasure (issue 13's targets: withdrawing
500 fragments in a 1M-fragment database < 0.5 s, purging 3,000 < 2 s).

    .venv/bin/python scripts/bench_erasure.py                       # 100k fragments
    .venv/bin/python scripts/bench_erasure.py --fragments 1000000   # the full run (seeding takes a few minutes)

Seeding is plain SQL into the migrated schema (`hearken migrate`): the FTS triggers are dropped while the fragments
go in, the search index is built in one INSERT … SELECT, and the triggers come back — the same state the triggers
would have left, in minutes instead of half an hour. Then, timed:

- withdraw: `consent.withdraw` of a consent holding 500 fragments and its commit, as a request runs it (with the
  WAL checkpoint after the commit), against a plain UPDATE emptying 500 other fragments of another consent (the FTS
  triggers fire for both); then the compaction the server starts after it (the search index merged in slices,
  each its own write transaction: the longest slice is the longest a sync waits behind it);
- purge: `hearken purge`'s loop over 3,000 fragments past retention, against a plain UPDATE of 3,000 others, and
  with the compaction the command runs at its end;
- what each withdrawal paid before: one FTS5 'optimize' of the whole index, inside the request.
"""

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PER_CONSENT = 500
PAST_RETENTION = 6000  # the oldest: half erased by plain SQL, half by the purge
RETENTION_DAYS = 365


def words(rnd: random.Random, n: int = 3000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rnd.choice(letters) for _ in range(rnd.randint(2, 10))) for _ in range(n)]


def ts(d: datetime) -> int:
    """A time as SQLite keeps it (api/db.py): microseconds since 1970."""
    from api.db import sqlite_micros

    return sqlite_micros(d)


def seed(path: Path, n: int) -> dict[str, Any]:
    import sqlite3

    from api.cli import migrate

    migrate(f"sqlite:///{path}")
    rnd = random.Random(7)
    vocab = words(rnd)
    now = datetime.now(UTC)
    base = now - timedelta(days=RETENTION_DAYS, minutes=PAST_RETENTION)
    # Ids as SQLite keeps them (api/db.py): their 16 bytes.
    ids: dict[str, Any] = {k: uuid.uuid4().bytes for k in ("project", "coordinator", "researcher", "form")}
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    conn.execute("INSERT INTO projects (name, description, retention_days, id, questions, created_at) "
                 "VALUES ('Bench', '', ?, ?, '[]', ?)", (RETENTION_DAYS, ids["project"], ts(now)))
    for role in ("coordinator", "researcher"):
        conn.execute("INSERT INTO users (email, display_name, id, password_hash, is_admin, is_active, created_at) "
                     "VALUES (?, ?, ?, NULL, 0, 1, ?)", (f"{role}@bench", role, ids[role], ts(now)))
        conn.execute("INSERT INTO memberships (project_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
                     (ids["project"], ids[role], role, ts(now)))
    conn.execute("INSERT INTO consent_forms (id, project_id, version, title, body, scopes, created_by, created_at) "
                 "VALUES (?, ?, 1, 'Consent', 'Body', '[\"quote\"]', ?, ?)",
                 (ids["form"], ids["project"], ids["coordinator"], ts(now)))
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                            "AND name LIKE 'fragments_fts%'").fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    consents = []
    for c in range((n + PER_CONSENT - 1) // PER_CONSENT):
        conv, part, consent = uuid.uuid4().bytes, uuid.uuid4().bytes, uuid.uuid4().bytes
        at = ts(base + timedelta(minutes=c * PER_CONSENT))
        conn.execute("INSERT INTO conversations (id, project_id, researcher_id, place_id, prompt_ids, started_at, "
                     "note, device_id, received_at, updated_at, version, sync_hash) "
                     "VALUES (?, ?, ?, NULL, '[]', ?, NULL, 'bench', ?, ?, 1, 'x')",
                     (conv, ids["project"], ids["researcher"], at, at, at))
        conn.execute("INSERT INTO participants (id, project_id, conversation_id, label) VALUES (?, ?, ?, ?)",
                     (part, ids["project"], conv, f"P-{c:06d}"))
        conn.execute("INSERT INTO consents (id, project_id, conversation_id, participant_id, consent_form_id, "
                     "scope_audio, scope_quote, scope_share, scope_publish, method, given_at, signature, "
                     "recorded_by, received_at, withdrawn_at, withdrawn_by, version, sync_hash) "
                     "VALUES (?, ?, ?, ?, ?, 0, 1, 1, 0, 'verbal', ?, NULL, ?, ?, NULL, NULL, 1, 'x')",
                     (consent, ids["project"], conv, part, ids["form"], at, ids["researcher"], at))
        consents.append((consent, conv))
    rows = []
    for i in range(n):
        consent, conv = consents[i // PER_CONSENT]
        at = ts(base + timedelta(minutes=i))
        text = " ".join(rnd.choice(vocab) for _ in range(rnd.randint(15, 60)))
        rows.append((uuid.uuid4().bytes, ids["project"], conv, consent, ids["researcher"], text, at, at, at))
        if len(rows) == 50_000 or i == n - 1:
            conn.executemany(
                "INSERT INTO fragments (id, project_id, conversation_id, consent_id, researcher_id, kind, text, "
                "language, sensitive, captured_at, received_at, updated_at, status, version, sync_hash) "
                "VALUES (?, ?, ?, ?, ?, 'quote', ?, 'en', 0, ?, ?, ?, 'active', 1, 'x')", rows)
            rows = []
    conn.execute("INSERT INTO fragments_fts_ids (fragment_id) SELECT id FROM fragments ORDER BY captured_at")
    # The English (stemming) index: a project's search_language defaults to English, so the ids' `english` is 1
    # and the triggers erase from that index (text left in fragments_fts made their 'delete' corrupt it).
    conn.execute("INSERT INTO fragments_fts_english (rowid, text) SELECT i.rowid, f.text FROM fragments_fts_ids i "
                 "JOIN fragments f ON f.id = i.fragment_id")
    for _, sql in triggers:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    ids["withdraw"] = consents[-1][0]
    ids["plain_withdraw"] = consents[-2][0]
    ids["plain_purge_before"] = ts(base + timedelta(minutes=PAST_RETENTION // 2))
    return ids


def plain(path: Path, sql: str, params: tuple) -> tuple[float, int]:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA secure_delete=ON")
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    n = conn.execute(sql, params).rowcount
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    took = time.perf_counter() - started
    conn.close()
    return took, n


def time_optimize(path: Path) -> float:
    """What every withdrawal paid before, inside its transaction: FTS5 'optimize' (on a copy, so the runs below
    meet the index as seeded)."""
    import shutil
    import sqlite3

    copy = path.with_name("optimize-copy.db")
    shutil.copy(path, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    t0 = time.perf_counter()
    conn.execute("INSERT INTO fragments_fts_english (fragments_fts_english) VALUES ('optimize')")
    took = time.perf_counter() - t0
    conn.close()
    for p in (copy, copy.with_name(copy.name + "-wal"), copy.with_name(copy.name + "-shm")):
        p.unlink(missing_ok=True)
    return took


def timed_compaction(path: Path, when: str) -> float:
    """The server's compaction after an erasure, with its slowest slice (the longest a sync waits behind it)."""
    from api.db import get_engine
    from api.fragments import compaction

    engine = get_engine()
    slowest = 0.0
    original = compaction._in_write_turn

    def timed(engine_: object, work: object) -> object:
        nonlocal slowest
        t = time.perf_counter()
        try:
            return original(engine_, work)  # type: ignore[arg-type]
        finally:
            slowest = max(slowest, time.perf_counter() - t)

    compaction._in_write_turn = timed  # type: ignore[assignment]
    t0 = time.perf_counter()
    compaction.compact(engine)
    took = time.perf_counter() - t0
    compaction._in_write_turn = original  # type: ignore[assignment]
    print(f"compaction {when}: {took:.3f}s, slowest write slice {slowest * 1000:.0f} ms", flush=True)
    return took


ERASE = ("UPDATE fragments SET text = NULL, answers = NULL, kind = NULL, language = NULL, sensitive = 0, "
         "status = '{status}', sync_hash = 'erased', version = version + 1 WHERE {where}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fragments", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=None, help="where the database goes (default: a temp dir)")
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="hearken-bench-erasure-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "hearken.db"
    path.unlink(missing_ok=True)

    started = time.perf_counter()
    ids = seed(path, args.fragments)
    seeded = time.perf_counter() - started
    size = path.stat().st_size
    print(f"seeded {args.fragments:,} fragments in {seeded:.1f} s ({size / 2**20:.0f} MB) at {path}", flush=True)
    optimize = time_optimize(path)

    import os

    os.environ["HEARKEN_DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["HEARKEN_DATA_DIR"] = str(workdir / "data")
    from api.config import get_settings
    from api.consent import service as consent_service
    from api.consent.models import Consent
    from api.db import open_session
    from api.fragments import retention
    from api.people.deps import Actor
    from api.people.models import AuthToken, TokenKind, User
    from api.projects.models import Project

    get_settings.cache_clear()  # the seeding's migrate() read the settings before the URL was set
    results = []

    with open_session() as session:
        consent = session.get(Consent, uuid.UUID(bytes=ids["withdraw"]))
        user = session.get(User, uuid.UUID(bytes=ids["coordinator"]))
        actor = Actor(user=user, token=AuthToken(user_id=user.id, token_hash="bench", kind=TokenKind.session,
                                                 expires_at=datetime.now(UTC) + timedelta(hours=1)))
        t0 = time.perf_counter()
        result = consent_service.withdraw(session, actor, consent, None)
        session.commit()  # the checkpoint runs here, as after a request's commit
        took = time.perf_counter() - t0
    plain_took, plain_n = plain(path, ERASE.format(status="withdrawn", where="consent_id = ?"),
                                (ids["plain_withdraw"],))
    results.append(("withdraw one consent", result.fragments_erased, took, plain_took, plain_n, 0.5))
    compaction_seconds = timed_compaction(path, "after the withdrawal")

    plain_purge, plain_purge_n = plain(
        path, ERASE.format(status="expired", where="status = 'active' AND captured_at < ?"),
        (ids["plain_purge_before"],))
    t0 = time.perf_counter()
    purged = 0
    while True:  # the loop of `hearken purge` (api/cli.py)
        with open_session() as session:
            project = session.get(Project, uuid.UUID(bytes=ids["project"]))
            report = retention.purge_project(session, project)
            session.commit()
        purged += report.fragments_erased
        if report.fragments_erased + report.signatures_erased + report.notes_erased == 0:
            break
    took = time.perf_counter() - t0
    results.append(("purge past retention", purged, took, plain_purge, plain_purge_n, 2.0))
    purge_compaction = timed_compaction(path, "after the purge")

    wal = path.with_name(path.name + "-wal")

    print(f"\n{'what':<24} {'erased':>7} {'hearken':>9} {'plain SQL':>10} {'ratio':>6} {'target':>7}")
    for what, n, t, p, pn, target in results:
        ok = "ok" if t < target else "MISSED"
        print(f"{what:<24} {n:>7,} {t:>8.3f}s {p:>9.3f}s {t / p:>6.1f} {target:>6.1f}s {ok}  (plain erased {pn:,})")
    print(f"purge + its compaction: {took + purge_compaction:.3f}s (the whole `hearken purge` run)")
    print(f"compaction after the withdrawal (off the request path): {compaction_seconds:.3f}s")
    print(f"{'FTS5 optimize (before)':<24} {'':>7} {optimize:>8.3f}s   (what every withdrawal paid, in the request)")
    print(f"WAL after the runs: {wal.stat().st_size if wal.exists() else 0} bytes")
    print(json.dumps({"fragments": args.fragments, "seed_seconds": round(seeded, 1),
                      "results": [{"what": r[0], "erased": r[1], "seconds": round(r[2], 4),
                                   "plain_seconds": round(r[3], 4)} for r in results],
                      "compaction_after_withdrawal_seconds": round(compaction_seconds, 3),
                      "compaction_after_purge_seconds": round(purge_compaction, 3),
                      "optimize_seconds": round(optimize, 3)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
