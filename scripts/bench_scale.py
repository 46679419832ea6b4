#!/usr/bin/env python3
"""Issue 13's table, measured: Hearken at N fragments (default 100,000; `--fragments 1000000` for the full run) on
SQLite or PostgreSQL (`--database`), each figure over HTTP beside the same work done directly on the database in
the same run, and their ratio. Run alone or through `scripts/bench --scale`.

Both modes (this table and `--queries`) seed once into a template database (kept: `--reuse` measures a fresh copy
of it again without seeding; `--seed-only` only seeds). Seeding goes straight into the schema after `hearken
migrate`, the fast way: rows go in by executemany (SQLite, its triggers dropped and its indexes kept, as a
deployment grows them) or COPY with foreign-key triggers off and secondary indexes built after (PostgreSQL,
`session_replication_role = replica`); the FTS index is filled in one statement (and on SQLite merged as the
background loop merges it), the overview's counts in another, and statistics gathered. The data: 2,000
conversations, 50 places, 30 prompts, 200 tags, 3 consents a conversation, 100–400 characters of English words a
fragment, 20% tagged, one change row each (as the feed would have them),
plus one consent holding 500 fragments for the withdrawal row.

The machine is shared: the load average is printed with the figures; compare ratios, not absolute times.
"""

import argparse
import contextlib
import csv
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import set_up_capture  # noqa: E402

from tests.support.live_server import LiveServer, admin_client, ensure_admin, login_client  # noqa: E402

SENTENCES = ("the bus never comes on time and nobody knows the neighbours any more since the library shut we used "
             "to meet at the church hall on thursdays my daughter cannot afford the rent so she moved away the "
             "doctor says wait six weeks the park is lovely in summer but nobody feels safe after dark the council "
             "never listens the food bank helps a lot kids have nowhere to go my mum lives alone now and I worry")
WORDS = SENTENCES.split()
RARE = "quixotically"  # in 59 fragments whatever N, as in the run
PG_ADMIN = os.environ.get("HEARKEN_BENCH_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "hearken_bench_scale"  # prefixed with --prefix, so people sharing one server keep their databases apart
CONVERSATIONS, PLACES, PROMPTS, TAGS = 2000, 50, 30, 200


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def phone_id(at: datetime | None = None, rnd: random.Random | None = None) -> uuid.UUID:
    """An id as the phone makes one (webclient/src/db.js `uuid`): UUIDv7, the milliseconds of `at` (now) then 74
    random bits, so the seeded file and the bodies synced against it have the ids a deployment's phones send."""
    ms = int((at or datetime.now(UTC)).timestamp() * 1000)
    bits = (rnd or random).getrandbits(74)
    return uuid.UUID(int=(ms << 80) | (0x7 << 76) | (bits >> 62 << 64) | (0b10 << 62) | (bits & ((1 << 62) - 1)))


# --- seeding --------------------------------------------------------------------------------------------------

def _secondary_ddl(conn: sa.Connection, dialect: str, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """(drop, create) statements for what is built again after loading `tables`: on SQLite their triggers, on
    PostgreSQL their secondary indexes."""
    out = []
    if dialect == "sqlite":
        # Triggers only: an index built after the load packs its leaves full, so the first ~20,000 fragments synced
        # afterwards split a leaf each (ingest at 1M measured 1,400/s against 4,600/s once they had). Loaded with
        # the indexes in place, the file is the one a deployment grows by syncing.
        for kind, name, sql in conn.exec_driver_sql(
                "SELECT type, name, sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL "
                f"AND tbl_name IN ({','.join(repr(t) for t in tables)})"):
            out.append((f"DROP {kind.upper()} {name}", sql))
    else:
        for name, sql in conn.exec_driver_sql(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
                f"AND i.tablename IN ({','.join(repr(t) for t in tables)}) AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"):
            out.append((f"DROP INDEX {name}", sql))
    return out


def seed(url: str, dialect: str, ids: dict[str, str], n: int) -> dict[str, Any]:
    from api.db import make_engine  # the app's engine: its types write UUIDs and times as the app reads them

    rnd = random.Random(13)
    from sqlmodel import SQLModel

    import api.models  # noqa: F401 (every table, typed as the app types them)

    engine = make_engine(url)
    t = SQLModel.metadata.tables
    project, form, researcher = uuid.UUID(ids["project"]), uuid.UUID(ids["form"]), uuid.UUID(ids["researcher"])
    now = datetime.now(UTC)
    start = now - timedelta(days=730)
    places = [uuid.UUID(ids["place"])] + [uuid.uuid4() for _ in range(PLACES - 1)]
    prompts = [uuid.uuid4() for _ in range(PROMPTS)]
    tags = [uuid.uuid4() for _ in range(TAGS)]
    convs = [phone_id(start, rnd) for _ in range(CONVERSATIONS + 1)]
    consents = [[phone_id(start, rnd) for _ in range(3)] for _ in convs]
    big_consent = consents[-1][0]  # the last conversation: one consent holding 500 fragments
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(t["places"].insert(), [{"id": p, "project_id": project, "name": f"Place {i}", "active": True,
                                             "created_at": now} for i, p in enumerate(places) if i])
        conn.execute(t["prompts"].insert(), [{"id": p, "project_id": project, "text": f"Prompt {i}?", "position": i,
                                              "active": True, "created_at": now} for i, p in enumerate(prompts)])
        conn.execute(t["tags"].insert(), [{"id": g, "project_id": project, "name": f"tag {i}", "description": "",
                                           "created_at": now, "updated_at": now} for i, g in enumerate(tags)])
        conn.execute(t["conversations"].insert(), [
            {"id": c, "project_id": project, "researcher_id": researcher, "place_id": places[i % PLACES],
             "prompt_ids": [], "started_at": start, "received_at": now, "updated_at": now, "version": 1,
             "sync_hash": _hash(c)} for i, c in enumerate(convs)])
        parts, cons = [], []
        for c, cs in zip(convs, consents, strict=True):
            for j, k in enumerate(cs):
                p = uuid.uuid4()
                parts.append({"id": p, "project_id": project, "conversation_id": c, "label": f"P-{k.hex[:4]}{j}"})
                cons.append({"id": k, "project_id": project, "conversation_id": c, "participant_id": p,
                             "consent_form_id": form, "scope_audio": False, "scope_quote": True,
                             "scope_share": True, "scope_publish": j == 0, "method": "verbal", "given_at": start,
                             "recorded_by": researcher, "received_at": now, "version": 1, "sync_hash": _hash(k)})
        conn.execute(t["participants"].insert(), parts)
        conn.execute(t["consents"].insert(), cons)
        ddl = _secondary_ddl(conn, dialect, ("fragments", "fragment_tags", "changes"))
        for drop, _ in ddl:
            conn.exec_driver_sql(drop)
    rare = set(rnd.sample(range(n), min(59, n)))
    texts = [_text(rnd) for _ in range(9973)]
    step = timedelta(days=730) / max(n, 1)

    def rows() -> Any:
        for i in range(n):
            big = i >= n - 500
            ci = CONVERSATIONS if big else rnd.randrange(CONVERSATIONS)
            text = texts[i % len(texts)]
            if i in rare:
                text = f"{RARE} {text}"
            fid = phone_id(start + step * i, rnd)
            yield {"id": fid, "project_id": project, "conversation_id": convs[ci],
                   "consent_id": big_consent if big else rnd.choice(consents[ci]), "researcher_id": researcher,
                   "place_id": places[ci % PLACES], "prompt_id": rnd.choice(prompts),
                   "kind": rnd.choice(("quote", "paraphrase", "observation")), "text": text,
                   "answers": None, "language": "en", "sensitive": rnd.random() < 0.02,
                   "captured_at": start + step * i, "received_at": now, "updated_at": now, "status": "active",
                   "version": 1, "sync_hash": _hash(fid)}

    tagged: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []

    def flush(conn: sa.Connection) -> None:
        if not batch:
            return
        if dialect == "postgresql":
            _copy(conn, t["fragments"], batch)
        else:
            conn.execute(t["fragments"].insert(), batch)
        batch.clear()

    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.exec_driver_sql("SET session_replication_role = replica")  # no FK trigger per row while loading
            _search_vector_trigger(conn, always=True)
        for row in rows():
            batch.append(row)
            if rnd.random() < 0.2:
                for g in rnd.sample(tags, rnd.choice((1, 1, 2))):
                    tagged.append({"fragment_id": row["id"], "tag_id": g, "tagged_by": researcher, "tagged_at": now})
            changes.append({"project_id": project, "owner_id": researcher, "entity": "fragment",
                            "entity_id": row["id"], "op": "upsert", "at": now})
            if len(batch) >= 20_000:
                flush(conn)
        flush(conn)
        if dialect == "postgresql":
            _search_vector_trigger(conn, always=False)
            _copy(conn, t["fragment_tags"], tagged)
            _copy(conn, t["changes"], changes)
        else:
            conn.execute(t["fragment_tags"].insert(), tagged)
            conn.execute(t["changes"].insert(), changes)
    loaded = time.perf_counter() - started
    with engine.begin() as conn:
        for _, create in ddl:
            conn.exec_driver_sql(create)
        if dialect == "sqlite":
            # Only the seeded rows: those synced before seeding are indexed already.
            before = conn.exec_driver_sql("SELECT coalesce(max(rowid), 0) FROM fragments_fts_ids").scalar_one()
            conn.exec_driver_sql("INSERT OR IGNORE INTO fragments_fts_ids (fragment_id) SELECT id FROM fragments "
                                 "WHERE text IS NOT NULL")
            # The project is English: its words go to the stemmed table (fragments_fts_ids.english defaults to 1).
            conn.exec_driver_sql("INSERT INTO fragments_fts_english (rowid, text) SELECT i.rowid, f.text "
                                 "FROM fragments_fts_ids i JOIN fragments f ON f.id = i.fragment_id "
                                 f"WHERE i.rowid > {before}")
            conn.exec_driver_sql("ANALYZE")
        rebuild_rollup(conn, dialect)
    if dialect == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        # The one-statement fill leaves the search index in many segments: merged as the background loop would
        # have merged them while the fragments arrived.
        from api.fragments import compaction

        compaction.merge_new_segments(engine)
    engine.dispose()
    return {"seconds_load": round(loaded, 1), "seconds_total": round(time.perf_counter() - started, 1),
            "big_consent": str(big_consent), "tag": str(_most_used(tagged)), "place": str(places[1]),
            "tags": tags}


def _search_vector_trigger(conn: sa.Connection, always: bool) -> None:
    """PostgreSQL: the trigger that fills search_vector fires while loading (replica mode skips the others, and
    without it no seeded fragment could be found by its words)."""
    conn.exec_driver_sql(f"ALTER TABLE fragments ENABLE {'ALWAYS ' if always else ''}TRIGGER fragments_fts_vector")


def rebuild_rollup(conn: sa.Connection, dialect: str) -> None:
    """overview_counts recomputed in one statement (its triggers were off while loading)."""
    conn.exec_driver_sql("DELETE FROM overview_counts")
    conn.exec_driver_sql(rollup_sql(dialect))


def rollup_sql(dialect: str) -> str:
    """The statement that fills overview_counts, as the migration that created it backfills it, with a capture's
    week as the newest migration computes it from SQLite's microseconds."""
    created, newest = _migration("*-search.py"), _migration("*-sqlite_ids_as_bytes.py")
    week = created._week
    created._week = lambda d, column: newest._week(column, stored_as_micros=True) if d == "sqlite" else week(d, column)
    return created._backfill(dialect)


def _migration(pattern: str) -> Any:
    import importlib.util

    path = next((REPO / "migrations" / "versions").glob(pattern))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hash(record_id: uuid.UUID) -> str:
    """A content hash as long as a synced record's (64 hex digits): the database size counts it."""
    return hashlib.sha256(record_id.bytes).hexdigest()


def _text(rnd: random.Random) -> str:
    size, words = rnd.randint(100, 400), []
    length = 0
    while length < size:
        words.append(rnd.choice(WORDS))
        length += len(words[-1]) + 1
    return " ".join(words)


def _most_used(tagged: list[dict[str, Any]]) -> uuid.UUID:
    counts: dict[uuid.UUID, int] = {}
    for r in tagged:
        counts[r["tag_id"]] = counts.get(r["tag_id"], 0) + 1
    return max(counts, key=lambda k: counts[k])


def _copy(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    names = [c.name for c in table.columns if c.name in rows[0]]
    raw = conn.connection.driver_connection
    with raw.cursor().copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:  # type: ignore[union-attr]
        for r in rows:
            copy.write_row([json.dumps(v) if isinstance(v, list | dict) else v for v in (r[k] for k in names)])


# --- measuring ------------------------------------------------------------------------------------------------

def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """p50 and p95 in ms over `runs` calls (after one warm-up)."""
    fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class RssWatch:
    """The server's highest resident memory while a block runs (VmHWM would remember older peaks)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self) -> "RssWatch":
        self.peak = rss_mb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, what: str, http: str, plain: str = "", ratio: str = "") -> None:
        self.rows.append((what, http, plain, ratio))
        print(f"  {what:<44} {http:<34} {plain:<24} {ratio}", flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    n, dialect = args.fragments, args.database
    want = _selection(args.only)
    table = Table()
    results: dict[str, Any] = {"fragments": n, "database": dialect, "load_before": load()}
    print(f"Hearken at {n:,} fragments on {dialect} (load {load()})", flush=True)
    ids = _prepare_template(args)
    results["seed"] = ids.get("seed")
    if args.seed_only:
        return results
    tmp = Path(tempfile.mkdtemp(prefix=f"{args.prefix}hearken-scale-"))
    empty_rate = _empty_rate(dialect, tmp / "empty") if want("sync") else 0.0
    url = _clone(args, tmp)
    env = dict(QUIET_ENV)
    if dialect == "postgresql":
        env["HEARKEN_DATABASE_URL"] = url
    engine = sa.create_engine(url)
    size = _size(engine, dialect, tmp)
    if want("size") and dialect == "sqlite":
        results["objects"] = _sqlite_objects(url, n)
    server = LiveServer(tmp, env=env)
    with server:
        assert server.proc is not None
        pid = server.proc.pid
        admin, phone, _ = set_up_capture_again(server, ids)
        pid_ = uuid.UUID(ids["project"])
        base = f"/fragments?project_id={ids['project']}"

        def plain_page(where: str = "", params: dict | None = None) -> Callable[[], Any]:
            sql = sa.text(f"SELECT * FROM fragments WHERE project_id = :p AND status = 'active' {where} "
                          "ORDER BY captured_at, id LIMIT 51")

            def go() -> Any:
                with engine.connect() as c:
                    return c.execute(sql, {"p": _dbid(pid_, dialect), **(params or {})}).all()
            return go

        def http(path: str) -> Callable[[], Any]:
            return lambda: admin.get(path).raise_for_status()

        tag, place = ids["tag"], ids["place"]
        for what, path, plain in () if not want("pages") else (
                ("first page of /fragments", base, plain_page()),
                ("/fragments?q=<rare word>", f"{base}&q={RARE}", None),
                ("/fragments?q=<common word>", f"{base}&q=neighbours", None),
                ("tag filter, most used tag", f"{base}&tag={tag}", plain_page(
                    "AND id IN (SELECT fragment_id FROM fragment_tags WHERE tag_id = :t)",
                    {"t": _dbid(uuid.UUID(tag), dialect)})),
                ("place + tag", f"{base}&tag={tag}&place={place}", None),
                ("review queue, first page", f"/projects/{ids['project']}/review-queue", None),
                ("project overview", f"/projects/{ids['project']}/overview", None)):
            runs = 3 if "overview" in what else 15
            p50, p95 = timed(http(path), runs)
            if plain:
                b50, _ = timed(plain, min(runs, 5))
                table.add(what, f"p50 {p50:.1f} ms, p95 {p95:.1f} ms", f"{b50:.1f} ms", f"×{p50 / b50:.1f}")
            else:
                table.add(what, f"p50 {p50:.1f} ms, p95 {p95:.1f} ms")
            results[what] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}

        if want("feed") or want("exports"):
            _feed_and_exports(table, results, admin, server, ids, engine, dialect, pid_, pid, n, want)
        if want("sync"):
            _sync_rows(table, results, phone, ids, pid, url, n, empty_rate)
        if want("withdraw"):
            _withdraw_row(table, results, admin, ids)
    table.add("database size", f"{size / 1e9:.2f} GB", f"{size / n / 1000:.2f} KB a fragment")
    results["db_bytes"] = size
    results["load_after"] = load()
    engine.dispose()
    if dialect == "postgresql":
        _pg_admin(f"DROP DATABASE IF EXISTS {args.prefix}hearken_scale_run WITH (FORCE)")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"(load average before {results['load_before']}, after {results['load_after']})")
    return results


def _empty_rate(dialect: str, folder: Path) -> float:
    """/sync fragments/s into an empty database (the baseline of the ingest row), measured in the same run."""
    env = dict(QUIET_ENV)
    if dialect == "postgresql":
        _fresh_pg()
        env["HEARKEN_DATABASE_URL"] = _pg_url(PG_DB)
    folder.mkdir()
    server = LiveServer(folder, env=env)
    server.cli("migrate")
    ensure_admin(server)
    with server:
        _, phone, ids = set_up_capture(server)
        rate = _sync_rate(phone, ids)
    if dialect == "postgresql":
        _pg_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
    return rate


def _feed_and_exports(table: "Table", results: dict[str, Any], admin: httpx.Client, server: LiveServer,
                      ids: dict[str, str], engine: sa.Engine, dialect: str, pid_: uuid.UUID, pid: int, n: int,
                      want: Callable[[str], bool]) -> None:
    token = admin.post(f"/projects/{ids['project']}/clients", json={
        "name": "bench", "scopes": ["changes:read", "export", "fragments:read"],
        "rate_limit_per_minute": 100_000}).json()["token"]
    tool = httpx.Client(base_url=server.api, timeout=600, headers={"Authorization": f"Bearer {token}"})
    if want("feed"):
        feed_s, feed_n = _follow(tool)
        plain_feed = _plain_feed(engine, dialect)
        table.add(f"change feed, all {n:,}, pages of 1000", f"{feed_s:.1f} s ({feed_n / feed_s:,.0f}/s)",
                  f"{plain_feed:.1f} s", f"{plain_feed / feed_s:.2f} of plain")
        results["feed"] = {"seconds": round(feed_s, 1), "rows": feed_n, "plain_seconds": round(plain_feed, 1)}
    if want("exports"):
        plain_export = _plain_export(engine, dialect, pid_)
        for fmt in ("fragments.csv", "fragments.jsonl", "project.qdpx"):
            before = rss_mb(pid)
            with RssWatch(pid) as watch:
                secs, size_out, first = _download(admin, f"/projects/{ids['project']}/export/{fmt}")
            growth = watch.peak - before
            plain = plain_export["csv" if fmt.endswith("csv") else "jsonl"]
            table.add(f"{fmt} export", f"{secs:.1f} s, {size_out / 1e6:.0f} MB, 1st byte {first * 1000:.0f} ms",
                      f"{plain:.1f} s", f"{plain / secs:.2f} of plain, RSS +{growth:.0f} MB")
            results[fmt] = {"seconds": round(secs, 1), "mb": round(size_out / 1e6, 1),
                            "first_byte_ms": round(first * 1000), "plain_seconds": round(plain, 1),
                            "rss_growth_mb": round(growth)}


def _withdraw_row(table: "Table", results: dict[str, Any], admin: httpx.Client, ids: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    r = admin.post(f"/consents/{ids['big_consent']}/withdraw", json={"reason": "other"})
    withdraw_s = time.perf_counter() - t0
    table.add("withdraw one consent of 500 fragments", f"{withdraw_s:.2f} s ({r.status_code})")
    results["withdraw_s"] = round(withdraw_s, 2)


ONLY = ("pages", "feed", "exports", "sync", "withdraw", "size")
# The sync rows: one-record syncs, then batches near the 500-item limit, then the ingest rate (also into the empty
# database), each the same number of times in every run. Enough of each for about a second of server CPU: with
# 100 syncs and 4 batches, three runs on one quiet machine gave 2.6-3.7 ms and 0.18-0.21 ms.
ONE_RECORD_SYNCS = 300
BATCH, BATCHES = 498, 10
SLICES = 5
RATE_BATCH, RATE_BATCHES = 490, 6


def _selection(only: str | None) -> Callable[[str], bool]:
    """`--only sync,size`: which groups of rows to measure (the database size is always printed)."""
    chosen = set(ONLY if not only else only.split(","))
    unknown = chosen - set(ONLY)
    if unknown:
        raise SystemExit(f"--only takes some of {', '.join(ONLY)}; not {', '.join(sorted(unknown))}")
    return lambda group: group in chosen


def _sync_rows(table: "Table", results: dict[str, Any], phone: httpx.Client, ids: dict[str, str], pid: int,
               url: str, n: int, empty_rate: float) -> None:
    """Server CPU of a one-record /sync and of a batch of BATCH, beside the CPU the same rows cost inserted
    directly (Core executemany, triggers and all, in this process); then the ingest rate at N against empty."""
    one = _sync_cpu(phone, ids, pid, records=1, batches=ONE_RECORD_SYNCS)
    many = _sync_cpu(phone, ids, pid, records=BATCH, batches=BATCHES)
    raw_one = _raw_insert_cpu(url, ids, records=1, batches=ONE_RECORD_SYNCS)
    raw_many = _raw_insert_cpu(url, ids, records=BATCH, batches=BATCHES)
    table.add("one-record /sync, server CPU", f"{one * 1000:.2f} ms a request",
              f"{raw_one * 1000:.2f} ms raw insert", f"×{one / raw_one:.1f}")
    table.add(f"batch of {BATCH}, server CPU", f"{many * 1000:.3f} ms a record",
              f"{raw_many * 1000:.3f} ms raw insert", f"×{many / raw_many:.1f}")
    floor = _health_cpu(phone, pid)
    table.add("GET /health, server CPU (this machine's floor)", f"{floor * 1000:.2f} ms a request", "",
              f"one-record /sync ×{one / floor:.1f}")
    results["sync_cpu_ms"] = {"one_record": round(one * 1000, 2), "per_record_in_498": round(many * 1000, 3),
                              "raw_one_record": round(raw_one * 1000, 2),
                              "raw_per_record_in_498": round(raw_many * 1000, 3), "health": round(floor * 1000, 2)}
    full_rate = _sync_rate(phone, ids)
    table.add(f"/sync ingest at {n:,}", f"{full_rate:,.0f}/s", f"{empty_rate:,.0f}/s into an empty DB",
              f"{full_rate / empty_rate:.2f}")
    results["sync_rate"] = {"at_n": round(full_rate), "empty": round(empty_rate)}
    if url.startswith("sqlite"):
        # What the syncs above left to the background loop (FTS5 merges no segment inside a write): its cost, per
        # fragment synced, belongs beside the rates.
        from api.db import make_engine
        from api.fragments import compaction

        engine = make_engine(url)
        t0 = time.perf_counter()
        slices = compaction.merge_new_segments(engine)
        merged = time.perf_counter() - t0
        engine.dispose()
        synced = ONE_RECORD_SYNCS + BATCH * BATCHES + RATE_BATCH * (RATE_BATCHES + 1)  # the rate's warm-up too
        table.add("search index merges left by them (background)", f"{merged:.2f} s, {slices} slices",
                  f"{merged / synced * 1000:.3f} ms a fragment synced")
        results["search_merge"] = {"seconds": round(merged, 2), "slices": slices, "fragments_synced": synced}


def _raw_insert_cpu(url: str, ids: dict[str, str], records: int, batches: int) -> float:
    """This process's CPU seconds per transaction (records=1) or per record to insert the rows a /sync of the same
    batch writes (conversation, participant, consent, fragments, their change rows), one transaction a batch.
    As for `_sync_cpu`, a one-record batch finds its parents stored already."""
    from sqlmodel import SQLModel

    import api.models  # noqa: F401
    from api.db import make_engine

    engine = make_engine(url)
    t = SQLModel.metadata.tables
    project, form, researcher = uuid.UUID(ids["project"]), uuid.UUID(ids["form"]), uuid.UUID(ids["researcher"])
    place, now = uuid.UUID(ids["place"]), datetime.now(UTC)

    def parents(conn: sa.Connection) -> tuple[uuid.UUID, uuid.UUID]:
        conv, part, consent = phone_id(), uuid.uuid4(), phone_id()
        conn.execute(t["conversations"].insert(), [{
            "id": conv, "project_id": project, "researcher_id": researcher, "place_id": place, "prompt_ids": [],
            "started_at": now, "received_at": now, "updated_at": now, "version": 1, "sync_hash": "raw"}])
        conn.execute(t["participants"].insert(), [{"id": part, "project_id": project, "conversation_id": conv,
                                                   "label": "P-RAW"}])
        conn.execute(t["consents"].insert(), [{
            "id": consent, "project_id": project, "conversation_id": conv, "participant_id": part,
            "consent_form_id": form, "scope_audio": False, "scope_quote": True, "scope_share": True,
            "scope_publish": False, "method": "verbal", "given_at": now, "recorded_by": researcher,
            "received_at": now, "version": 1, "sync_hash": "raw"}])
        return conv, consent

    def fragments(conv: uuid.UUID, consent: uuid.UUID) -> list[dict[str, Any]]:
        return [{"id": phone_id(), "project_id": project, "conversation_id": conv, "consent_id": consent,
                 "researcher_id": researcher, "place_id": place, "prompt_id": None, "kind": "paraphrase",
                 "text": " ".join(WORDS[i % 50:][:30]), "answers": None, "language": "en", "sensitive": False,
                 "captured_at": now, "received_at": now, "updated_at": now, "status": "active", "version": 1,
                 "sync_hash": "raw"} for i in range(records)]

    with engine.begin() as conn:
        held = [parents(conn) for _ in range(batches)] if records == 1 else []
    used = 0.0
    for b in range(batches):
        cpu0 = time.process_time()
        with engine.begin() as conn:
            conv, consent = held[b] if held else parents(conn)
            rows = fragments(conv, consent)
            conn.execute(t["fragments"].insert(), rows)
            conn.execute(t["changes"].insert(), [{"project_id": project, "owner_id": researcher, "entity": "fragment",
                                                  "entity_id": r["id"], "op": "upsert", "at": now} for r in rows])
        used += time.process_time() - cpu0
    engine.dispose()
    return used / batches / records


def _sqlite_objects(url: str, n: int) -> dict[str, int]:
    """Every table and index of the SQLite file with its bytes (dbstat), largest first, printed per fragment."""
    engine = sa.create_engine(url)
    with engine.connect() as c:
        rows = c.exec_driver_sql("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").all()
    engine.dispose()
    for name, size in rows:
        if size >= n / 2:  # half a byte a fragment or more
            print(f"    {name:<48} {size / 1e6:8.1f} MB {size / n:7.0f} B a fragment")
    return {name: size for name, size in rows}


def _dbid(value: uuid.UUID, dialect: str) -> Any:
    """An id as a plain query binds it: its 16 bytes on SQLite (api/db.py)."""
    return value.bytes if dialect == "sqlite" else value


def _dbtime(value: datetime, dialect: str) -> Any:
    """A time as a plain query binds it: microseconds since 1970 on SQLite (api/db.py)."""
    from api.db import sqlite_micros

    return sqlite_micros(value) if dialect == "sqlite" else value


def set_up_capture_again(server: LiveServer, ids: dict[str, str]) -> tuple[httpx.Client, httpx.Client, None]:
    from tests.support.live_server import admin_client, login_client

    return admin_client(server), login_client(server, "r@example.org", "bench-password"), None


def _size(engine: sa.Engine, dialect: str, tmp: Path) -> int:
    if dialect == "sqlite":
        with engine.connect() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in tmp.glob("hearken.db*"))
    with engine.connect() as c:
        return c.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()


def _follow(tool: httpx.Client) -> tuple[float, int]:
    after, count = 0, 0
    t0 = time.perf_counter()
    while True:
        page = tool.get("/changes", params={"after": after, "limit": 1000}).raise_for_status().json()
        count += len(page["items"])
        after = page["last_seq"]
        if not page["has_more"]:
            return time.perf_counter() - t0, count


def _plain_feed(engine: sa.Engine, dialect: str) -> float:
    """The feed's rows read with a plain keyset SELECT (changes joined to fragments) and encoded with json."""
    sql = sa.text("SELECT c.seq, c.entity, c.entity_id, c.op, c.at, f.id, f.project_id, f.conversation_id, "
                  "f.consent_id, f.researcher_id, f.place_id, f.prompt_id, f.kind, f.text, f.answers, f.language, "
                  "f.sensitive, f.captured_at, f.received_at, f.updated_at, f.status, f.version FROM changes c "
                  "LEFT JOIN fragments f ON f.id = c.entity_id WHERE c.seq > :a ORDER BY c.seq LIMIT 1000")
    t0 = time.perf_counter()
    after = 0
    while True:
        with engine.connect() as c:
            rows = c.execute(sql, {"a": after}).all()
        if not rows:
            return time.perf_counter() - t0
        json.dumps([{k: str(v) for k, v in r._mapping.items()} for r in rows])
        after = rows[-1][0]


def _plain_export(engine: sa.Engine, dialect: str, project: uuid.UUID) -> dict[str, float]:
    """The export's rows by a plain keyset SELECT, encoded as CSV and as JSON Lines in-process."""
    out = {}
    for fmt in ("csv", "jsonl"):
        sql = sa.text("SELECT id, captured_at, place_id, prompt_id, kind, language, text, sensitive, answers, "
                      "conversation_id, consent_id FROM fragments WHERE project_id = :p AND status = 'active' AND "
                      "(captured_at, id) > (:at, :id) ORDER BY captured_at, id LIMIT 2000")
        t0 = time.perf_counter()
        at, last = _dbtime(datetime(1970, 1, 1, tzinfo=UTC), dialect), _dbid(uuid.UUID(int=0), dialect)
        while True:
            with engine.connect() as c:
                rows = c.execute(sql, {"p": _dbid(project, dialect), "at": at, "id": last}).all()
            if not rows:
                break
            buf = io.StringIO()
            if fmt == "csv":
                csv.writer(buf).writerows(rows)
            else:
                for r in rows:
                    buf.write(json.dumps({k: str(v) for k, v in r._mapping.items()}) + "\n")
            buf.getvalue().encode()
            at, last = rows[-1][1], rows[-1][0]
        out[fmt] = time.perf_counter() - t0
    return out


def _download(client: httpx.Client, path: str) -> tuple[float, int, float]:
    t0 = time.perf_counter()
    first, size = 0.0, 0
    with client.stream("GET", path, timeout=1200) as r:
        r.raise_for_status()
        for chunk in r.iter_raw():
            if not size:
                first = time.perf_counter() - t0
            size += len(chunk)
    return time.perf_counter() - t0, size, first


def _batch(ids: dict[str, str], records: int) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    conv, consent = str(phone_id()), str(phone_id())
    items: list[dict[str, Any]] = [
        {"type": "conversation", "id": conv, "data": {"project_id": ids["project"], "place_id": ids["place"],
                                                      "prompt_ids": [], "started_at": at}},
        {"type": "consent", "id": consent, "data": {"conversation_id": conv, "participant_label": "P-BNCH",
                                                    "consent_form_id": ids["form"], "scopes": ["quote", "share"],
                                                    "method": "verbal", "given_at": at}}]
    items += [{"type": "fragment", "id": str(phone_id()), "data": {
        "conversation_id": conv, "consent_id": consent, "kind": "paraphrase", "text": " ".join(WORDS[i % 50:][:30]),
        "language": "en", "captured_at": at, "sensitive": False}} for i in range(records)]
    return {"device_id": "bench", "items": items}


def _sync_cpu(phone: httpx.Client, ids: dict[str, str], pid: int, records: int, batches: int) -> float:
    """Server CPU seconds per request (records=1: a conversation and consent went first) or per record: the median
    of SLICES slices of the requests. The server's background work (the search index's merges, the WAL's
    checkpoints) lands in whichever slice it falls in, and has a row of its own; a single total moved by a third
    between runs."""
    bodies = []
    for _ in range(batches):
        body = _batch(ids, records)
        if records == 1:
            phone.post("/sync", json={"device_id": "bench", "items": body["items"][:2]}).raise_for_status()
            body["items"] = body["items"][2:]
        bodies.append(json.dumps(body).encode())
    per_slice = []
    size = max(1, batches // SLICES)
    for start in range(0, batches, size):
        cpu0 = cpu_seconds(pid)
        for body in bodies[start:start + size]:
            phone.post("/sync", content=body, headers={"Content-Type": "application/json"}).raise_for_status()
        per_slice.append((cpu_seconds(pid) - cpu0) / len(bodies[start:start + size]) / records)
    return statistics.median(per_slice)


def _health_cpu(phone: httpx.Client, pid: int) -> float:
    """Server CPU seconds of GET /health, the least a request costs (HTTP, middleware, routing): machines differ
    (the same code measured 0.64 ms here on one and 1.3 ms on another), the ratio to it less so."""
    n = 5 * ONE_RECORD_SYNCS  # each costs little: more of them, so the clock's 10 ms ticks do not show
    cpu0 = cpu_seconds(pid)
    for _ in range(n):
        phone.get("/health").raise_for_status()
    return (cpu_seconds(pid) - cpu0) / n


def _sync_rate(phone: httpx.Client, ids: dict[str, str]) -> float:
    """Fragments/s over RATE_BATCHES batches of RATE_BATCH, after one more as a warm-up."""
    phone.post("/sync", json=_batch(ids, RATE_BATCH)).raise_for_status()  # warm-up, not counted
    bodies = [json.dumps(_batch(ids, RATE_BATCH)).encode() for _ in range(RATE_BATCHES)]
    t0 = time.perf_counter()
    for body in bodies:
        phone.post("/sync", content=body, headers={"Content-Type": "application/json"}).raise_for_status()
    return RATE_BATCHES * RATE_BATCH / (time.perf_counter() - t0)


class WorkersServer(LiveServer):
    """`hearken serve --workers N`, the way a deployment runs it."""

    def __init__(self, data_dir: Path, workers: int, env: dict[str, str]) -> None:
        super().__init__(data_dir, env=env)
        self.workers = workers

    def start(self) -> "WorkersServer":
        self.cli("migrate")
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child owns it)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning", "--workers", str(self.workers)],
            cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api}/health", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.2)
        raise RuntimeError(self.log_tail())


def phones(workers: int, phones: int = 4, batches: int = 8, size: int = 200) -> float:
    """/sync fragments/s with `phones` phones syncing at once, each `batches` batches of `size` fragments, against
    `hearken serve --workers N` on PostgreSQL (a fresh database)."""
    _fresh_pg()
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_DB
    with tempfile.TemporaryDirectory() as tmp, \
            WorkersServer(Path(tmp), workers, {"HEARKEN_DATABASE_URL": url}) as server:
        ensure_admin(server)
        _, phone, ids = set_up_capture(server)
        clients = [phone] + [login_client(server, "r@example.org", "bench-password") for _ in range(phones - 1)]
        for c in clients:  # warm every worker's connections
            c.post("/sync", json=_batch(ids, 10)).raise_for_status()
        bodies = [[json.dumps(_batch(ids, size)).encode() for _ in range(batches)] for _ in clients]

        def send(i: int) -> None:
            for body in bodies[i]:
                clients[i].post("/sync", content=body, headers={"Content-Type": "application/json"}).raise_for_status()

        t0 = time.perf_counter()
        with ThreadPoolExecutor(phones) as pool:
            list(pool.map(send, range(phones)))
        return phones * batches * size / (time.perf_counter() - t0)


def _fresh_pg() -> None:
    admin_engine = sa.create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"),
                                    isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        c.exec_driver_sql(f"CREATE DATABASE {PG_DB}")
    admin_engine.dispose()


# --- --queries: search, filters, review queue, overview, withdrawal and purge (issue 13's read targets) --------
#
# Seeds once into a template (kept with --reuse: a PostgreSQL database or a SQLite file named with --prefix), then
# every run measures a copy of it: first without planner statistics (a fresh load, or a server whose autovacuum
# is off), then after `hearken maintain` gathered them. 3,000 of the oldest fragments are moved past a 731-day
# retention for the purge row.

EXPIRED = 3000
# Servers measured run no optional background job: the template's expired fragments wait for the purge row, and no
# webhook, media, search-merge or statistics round runs in the middle of a timing (SQLite's WAL checkpoint, part of
# what every write costs, still runs; the search index's merges are timed as a row of their own).
QUIET_ENV = {"HEARKEN_WEBHOOK_WORKER": "false", "HEARKEN_MEDIA_WORKER_SECONDS": "0", "HEARKEN_PURGE_HOURS": "0"}


def _template_paths(prefix: str, dialect: str, n: int) -> tuple[str, Path]:
    """(the PostgreSQL template database's name, the directory of the SQLite template and the ids)."""
    return f"{prefix}hearken_scale_seed_{n}", Path(tempfile.gettempdir()) / f"{prefix}hearken_scale_seed_{dialect}_{n}"


def _pg_url(db: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + db


def _pg_admin(*statements: str) -> None:
    admin_engine = sa.create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"),
                                    isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as c:
        for s in statements:
            c.exec_driver_sql(s)
    admin_engine.dispose()


def _prepare_template(args: argparse.Namespace) -> dict[str, Any]:
    n, dialect, prefix = args.fragments, args.database, args.prefix
    db, folder = _template_paths(prefix, dialect, n)
    ids_file = folder / "ids.json"
    if args.reuse and ids_file.exists():
        print(f"  reusing the seeded template ({db if dialect == 'postgresql' else folder})", flush=True)
        return json.loads(ids_file.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    env = dict(QUIET_ENV)
    if dialect == "postgresql":
        _pg_admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", f"CREATE DATABASE {db}")
        url = _pg_url(db)
        env["HEARKEN_DATABASE_URL"] = url
    else:
        url = f"sqlite:///{folder / 'hearken.db'}"
    server = LiveServer(folder, env=env)
    server.cli("migrate")
    ensure_admin(server)
    with server:
        _, phone, ids = set_up_capture(server)
        ids["researcher"] = phone.get("/me").json()["user"]["id"]
    seeded = seed(url, dialect, ids, n)
    print(f"  seeded in {seeded['seconds_total']} s (rows {seeded['seconds_load']} s, then indexes and FTS)",
          flush=True)
    from api.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        # The oldest EXPIRED fragments go 800 days further back, past a retention of 731 days (the rest span 730).
        old = conn.execute(sa.text("SELECT id FROM fragments ORDER BY captured_at LIMIT :n"), {"n": EXPIRED}).scalars()
        shifted = [{"i": i} for i in old]
        interval = f"captured_at - {800 * 86400 * 10**6}" if dialect == "sqlite" else \
            "captured_at - interval '800 days'"  # (microseconds on SQLite: api/db.py)
        conn.execute(sa.text(f"UPDATE fragments SET captured_at = {interval} WHERE id = :i"), shifted)
        conn.execute(sa.text("UPDATE projects SET retention_days = 731 WHERE id = :p"),
                     {"p": _dbid(uuid.UUID(ids["project"]), dialect)})
        rebuild_rollup(conn, dialect)
    engine.dispose()
    ids.update({k: v for k, v in seeded.items() if k in ("big_consent", "tag", "place")})
    ids["seed"] = {k: seeded[k] for k in ("seconds_load", "seconds_total")}
    ids["prompt"] = str(_first(url, dialect, "SELECT prompt_id FROM fragments WHERE prompt_id IS NOT NULL LIMIT 1"))
    ids["rare_tag"] = str(_first(url, dialect, "SELECT tag_id FROM fragment_tags GROUP BY tag_id "
                                               "ORDER BY count(*) LIMIT 1"))
    ids_file.write_text(json.dumps(ids))
    return ids


def _first(url: str, dialect: str, sql: str) -> Any:
    from api.db import make_engine

    engine = make_engine(url)
    with engine.connect() as c:
        value = c.exec_driver_sql(sql).scalar_one()
    engine.dispose()
    return uuid.UUID(bytes=value) if isinstance(value, bytes) else value  # an id as SQLite keeps it (api/db.py)


def _clone(args: argparse.Namespace, tmp: Path) -> str:
    """A fresh copy of the template for this run (its withdrawal and purge change it); answers its URL."""
    db, folder = _template_paths(args.prefix, args.database, args.fragments)
    if args.database == "postgresql":
        work = f"{args.prefix}hearken_scale_run"
        _pg_admin(f"DROP DATABASE IF EXISTS {work} WITH (FORCE)", f"CREATE DATABASE {work} TEMPLATE {db}")
        return _pg_url(work)
    for f in folder.glob("hearken.db*"):
        shutil.copy(f, tmp / f.name)
    return f"sqlite:///{tmp / 'hearken.db'}"


def _forget_statistics(engine: sa.Engine, dialect: str) -> None:
    with engine.begin() as c:
        if dialect == "sqlite":
            for t in ("sqlite_stat1", "sqlite_stat4"):
                if c.exec_driver_sql(f"SELECT 1 FROM sqlite_master WHERE name = '{t}'").first():
                    c.exec_driver_sql(f"DELETE FROM {t}")
        else:
            c.exec_driver_sql("DELETE FROM pg_statistic WHERE starelid IN (SELECT c.oid FROM pg_class c JOIN "
                              "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public')")


def _explain(engine: sa.Engine, dialect: str, sql: str, params: dict[str, Any]) -> str:
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    with engine.connect() as c:
        return "\n".join(str(r[-1]) for r in c.execute(sa.text(prefix + sql), params))


def _reads(ids: dict[str, str], dialect: str, n: int) -> list[tuple[str, str, str, dict[str, Any], str]]:
    """(what, path, plain SQL WHERE added to the project's active fragments, its parameters, which client)."""
    p = ids["project"]
    base = f"/fragments?project_id={p}"
    mid = (datetime.now(UTC) - timedelta(days=365)).replace(microsecond=0)
    week = (mid + timedelta(days=7))
    tag, rare_tag, place, prompt = (uuid.UUID(ids[k]) for k in ("tag", "rare_tag", "place", "prompt"))
    def d(v: uuid.UUID) -> Any:
        return _dbid(v, dialect)

    def at(t: datetime) -> Any:
        return _dbtime(t, dialect)
    in_tag = "AND id IN (SELECT fragment_id FROM fragment_tags WHERE tag_id = :t)"
    if dialect == "sqlite":
        # Each row of the capture-order walk looked up in the set of matches (an IN of every match's fragment id
        # would build that set first: 12 s for a common word at 1M).
        text = ("AND EXISTS (SELECT 1 FROM fragments_fts_ids i WHERE i.fragment_id = fragments.id AND i.rowid IN "
                "(SELECT rowid FROM fragments_fts_english WHERE fragments_fts_english MATCH :w))")
    else:
        text = "AND search_vector @@ plainto_tsquery('english', :w)"
    dates = f"&captured_after={mid.isoformat().replace('+00:00', 'Z')}&captured_before=" \
            f"{week.isoformat().replace('+00:00', 'Z')}"
    return [
        ("first page of /fragments", base, "", {}, "admin"),
        ("researcher's own first page", base, "AND researcher_id = :r", {"r": d(uuid.UUID(ids["researcher"]))},
         "phone"),
        ("q=<rare word>", f"{base}&q={RARE}", text, {"w": RARE}, "admin"),
        ("q=<common word>", f"{base}&q=neighbours", text, {"w": "neighbours"}, "admin"),
        ("q=<two common words>", f"{base}&q=council%20rent", text.replace(":w", ":w2") + " " + text,
         {"w": "council", "w2": "rent"}, "admin"),
        ("tag, most used", f"{base}&tag={tag}", in_tag, {"t": d(tag)}, "admin"),
        ("tag, least used", f"{base}&tag={rare_tag}", in_tag, {"t": d(rare_tag)}, "admin"),
        ("place", f"{base}&place={place}", "AND place_id = :pl", {"pl": d(place)}, "admin"),
        ("prompt", f"{base}&prompt_id={prompt}", "AND prompt_id = :pr", {"pr": d(prompt)}, "admin"),
        ("status=active", f"{base}&status=active", "AND status = 'active'", {}, "admin"),
        ("status=withdrawn (few)", f"{base}&status=withdrawn", "__withdrawn", {}, "admin"),
        ("kind=quote", f"{base}&kind=quote", "AND kind = 'quote'", {}, "admin"),
        ("sensitive=true", f"{base}&sensitive=true", "AND sensitive = :s", {"s": True}, "admin"),
        ("date range (one week)", base + dates, "AND captured_at >= :a AND captured_at < :b",
         {"a": at(mid), "b": at(week)}, "admin"),
        ("place + tag", f"{base}&tag={tag}&place={place}", in_tag + " AND place_id = :pl",
         {"t": d(tag), "pl": d(place)}, "admin"),
        ("prompt + place", f"{base}&prompt_id={prompt}&place={place}", "AND prompt_id = :pr AND place_id = :pl",
         {"pr": d(prompt), "pl": d(place)}, "admin"),
        ("rare word + tag", f"{base}&q={RARE}&tag={tag}", text + " " + in_tag, {"w": RARE, "t": d(tag)}, "admin"),
        ("common word + place", f"{base}&q=neighbours&place={place}", text + " AND place_id = :pl",
         {"w": "neighbours", "pl": d(place)}, "admin"),
        ("tag + date range", f"{base}&tag={tag}" + dates, in_tag + " AND captured_at >= :a AND captured_at < :b",
         {"t": d(tag), "a": at(mid), "b": at(week)}, "admin"),
        ("review queue, first page + counts", f"/projects/{p}/review-queue", "__review", {}, "admin"),
        ("review queue, researcher filter", f"/projects/{p}/review-queue?researcher={ids['researcher']}",
         "__review", {}, "admin"),
        ("review queue, place filter", f"/projects/{p}/review-queue?place={place}", "__review_place",
         {"pl": d(place)}, "admin"),
        ("project overview", f"/projects/{p}/overview", "", {}, "admin"),
    ]


def _plain_sql(where: str, dialect: str) -> str:
    if where == "__withdrawn":
        return ("SELECT * FROM fragments WHERE project_id = :p AND status = 'withdrawn' "
                "ORDER BY captured_at, id LIMIT 51")
    if where.startswith("__review"):
        place = " AND place_id = :pl" if where == "__review_place" else ""
        return ("SELECT * FROM fragments WHERE project_id = :p AND status = 'active' AND reviewed_at IS NULL "
                f"{place} ORDER BY sensitive DESC, captured_at, id LIMIT 51")
    return f"SELECT * FROM fragments WHERE project_id = :p {where} ORDER BY captured_at, id LIMIT 51"


def _measure_reads(label: str, table: "Table", results: dict[str, Any], engine: sa.Engine, dialect: str,
                   clients: dict[str, httpx.Client], ids: dict[str, str], n: int, runs: int,
                   plans: dict[str, str]) -> None:
    pid = _dbid(uuid.UUID(ids["project"]), dialect)
    for what, path, where, params, who in _reads(ids, dialect, n):
        client = clients[who]
        p50, p95 = timed(lambda: client.get(path).raise_for_status(), runs)  # noqa: B023
        key = f"{what} [{label}]"
        results[key] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
        if what == "project overview":
            table.add(key, f"p50 {p50:.1f} ms, p95 {p95:.1f} ms")
            continue
        sql = _plain_sql(where, dialect)

        def plain() -> Any:
            with engine.connect() as c:
                return c.execute(sa.text(sql), {"p": pid, **params}).all()  # noqa: B023
        b50, _ = timed(plain, min(runs, 5))
        results[key]["plain_ms"] = round(b50, 1)
        table.add(key, f"p50 {p50:.1f} ms, p95 {p95:.1f} ms", f"{b50:.1f} ms", f"×{p50 / max(b50, 0.01):.1f}")
        plans[key] = _explain(engine, dialect, sql, {"p": pid, **params})


def _overview_exact(url: str, project: str) -> bool:
    """The rollup the overview reads equals the same counts recomputed from the fragments."""
    from sqlmodel import Session

    from api.db import make_engine
    from api.projects import overview
    from api.projects.models import Project

    engine = make_engine(url)
    with Session(engine) as s:
        p = s.get(Project, uuid.UUID(project))
        same = overview.recount(s, p) == overview.stored(s, p)
    engine.dispose()
    return same


def _purge_timed(url: str, data_dir: Path) -> dict[str, Any]:
    """What `hearken purge` does, in this process, with its two parts timed: the erasing transactions, then the
    compaction that takes the erased words out of the files."""
    os.environ["HEARKEN_DATA_DIR"] = str(data_dir)
    if url.startswith("postgresql"):
        os.environ["HEARKEN_DATABASE_URL"] = url
    from api.config import get_settings
    from api.db import get_engine
    from api.fragments import compaction, retention

    get_settings.cache_clear()
    t0 = time.perf_counter()
    reports = retention.purge_all()
    erase_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    compaction.compact(get_engine())
    compact_s = time.perf_counter() - t0
    get_engine().dispose()
    return {"erase_s": round(erase_s, 2), "compact_s": round(compact_s, 1),
            "fragments": sum(r.fragments_erased for _, r in reports)}


def run_queries(args: argparse.Namespace) -> dict[str, Any]:
    n, dialect = args.fragments, args.database
    results: dict[str, Any] = {"fragments": n, "database": dialect, "load_before": load(), "mode": "queries"}
    print(f"Search, filters, overview, withdrawal and purge at {n:,} fragments on {dialect} (load {load()})",
          flush=True)
    ids = _prepare_template(args)
    if args.seed_only:
        return results
    tmp = Path(tempfile.mkdtemp(prefix=f"{args.prefix}hearken-scale-"))
    url = _clone(args, tmp)
    from api.db import make_engine

    engine = make_engine(url)
    _forget_statistics(engine, dialect)
    # No background job: statistics stay absent until `hearken maintain`, the purge waits for its row.
    env = dict(QUIET_ENV)
    if dialect == "postgresql":
        env["HEARKEN_DATABASE_URL"] = url
    table, plans = Table(), {}
    server = LiveServer(tmp, env=env)
    with server:
        clients = {"admin": admin_client(server), "phone": login_client(server, "r@example.org", "bench-password")}
        _measure_reads("no statistics", table, results, engine, dialect, clients, ids, n, max(3, args.runs // 4),
                       plans)
        t0 = time.perf_counter()
        server.cli("maintain")
        table.add("hearken maintain (ANALYZE)", f"{time.perf_counter() - t0:.1f} s")
        _measure_reads("statistics", table, results, engine, dialect, clients, ids, n, args.runs, plans)
        exact = _overview_exact(url, ids["project"])
        table.add("overview rollup equals a recount", str(exact))
        results["overview_exact"] = exact
        t0 = time.perf_counter()
        r = clients["admin"].post(f"/consents/{ids['big_consent']}/withdraw", json={"reason": "other"})
        withdraw_s = time.perf_counter() - t0
        table.add("withdraw one consent of 500 fragments", f"{withdraw_s:.2f} s ({r.status_code}, "
                  f"{r.json().get('fragments_erased')} erased)")
        results["withdraw_s"] = round(withdraw_s, 2)
        exact = _overview_exact(url, ids["project"])
        table.add("overview still exact after the withdrawal", str(exact))
        results["overview_exact_after_withdrawal"] = exact
    purged = _purge_timed(url, tmp)
    table.add(f"hearken purge of {EXPIRED:,} expired fragments", f"{purged['erase_s']:.2f} s "
              f"({purged['fragments']} erased)", f"then compaction {purged['compact_s']:.1f} s")
    results["purge"] = purged
    table.add("overview exact after the purge", str(_overview_exact(url, ids["project"])))
    engine.dispose()
    Path(REPO / "bench-results").mkdir(exist_ok=True)
    plan_file = REPO / "bench-results" / f"{args.prefix}plans-{dialect}-{n}.txt"
    plan_file.write_text("\n\n".join(f"== {k}\n{v}" for k, v in plans.items()))
    print(f"  plain-SQL plans in {plan_file.relative_to(REPO)}")
    if dialect == "postgresql":
        _pg_admin(f"DROP DATABASE IF EXISTS {args.prefix}hearken_scale_run WITH (FORCE)")
    shutil.rmtree(tmp, ignore_errors=True)
    results["load_after"] = load()
    print(f"(load average before {results['load_before']}, after {results['load_after']})")
    return results


def arguments() -> argparse.ArgumentParser:
    """This script's options (also what `scripts/bench --scale` parses its own run from)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fragments", type=int, default=100_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--queries", action="store_true",
                        help="only: search, filters, review queue, overview (without and with statistics), "
                             "withdrawal and purge, each beside its plain SQL")
    parser.add_argument("--prefix", default="", help="prefix for bench database and file names (several people "
                                                     "share a machine)")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the seeded template if present (an earlier run's, same --prefix and N)")
    parser.add_argument("--seed-only", action="store_true", help="only seed the template")
    parser.add_argument("--runs", type=int, default=20, help="--queries: samples per row")
    parser.add_argument("--only", help=f"comma-separated groups of rows to measure, of: {', '.join(ONLY)}")
    parser.add_argument("--workers", action="store_true",
                        help="only: /sync with 4 phones at once against 1 and 2 workers on PostgreSQL")
    return parser


def main() -> None:
    args = arguments().parse_args()
    global PG_DB
    PG_DB = args.prefix + PG_DB
    if args.workers:
        print(f"4 phones syncing at once, PostgreSQL (load {load()})", flush=True)
        results: dict[str, Any] = {"load_before": load()}
        for n in (1, 2, 1, 2):
            rate = phones(n)
            results.setdefault(f"workers_{n}", []).append(round(rate))
            print(f"  --workers {n}: {rate:,.0f} fragments/s (load {load()})", flush=True)
        args.database, args.fragments = "postgresql", 0
    elif args.queries:
        results = run_queries(args)
    else:
        results = run(args)
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    what = "workers" if args.workers else args.database + ("-queries" if args.queries else "")
    name = f"{args.prefix}scale-{what}-{args.fragments}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    (out / name).write_text(json.dumps(results, indent=2, default=str))
    print(f"saved bench-results/{name}")


if __name__ == "__main__":
    main()
