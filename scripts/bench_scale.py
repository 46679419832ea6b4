#!/usr/bin/env python3
"""Issue 13's table, measured: Hearken at N fragments (default 100,000; `--fragments 1000000` for the full run) on
SQLite or PostgreSQL (`--database`), each figure over HTTP beside the same work done directly on the database in
the same run, and their ratio. Run alone or through `scripts/bench --scale`.

Seeding goes straight into the schema after `hearken migrate`, the fast way: secondary indexes (and on SQLite the
FTS5 triggers) are dropped, rows go in by executemany (SQLite) or COPY with foreign-key triggers off (PostgreSQL,
`session_replication_role = replica`), then the indexes are rebuilt, the FTS index filled in one statement, and
statistics gathered. The data: 2,000 conversations, 50 places, 30 prompts, 200 tags, 3 consents a conversation,
100–400 characters of English words a fragment, 20% tagged, one change row each (as the feed would have them),
plus one consent holding 500 fragments for the withdrawal row.

The machine is shared: the load average is printed with the figures; compare ratios, not absolute times.
"""

import argparse
import contextlib
import csv
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

from tests.support.live_server import LiveServer, ensure_admin, login_client  # noqa: E402

SENTENCES = ("the bus never comes on time and nobody knows the neighbours any more since the library shut we used "
             "to meet at the church hall on thursdays my daughter cannot afford the rent so she moved away the "
             "doctor says wait six weeks the park is lovely in summer but nobody feels safe after dark the council "
             "never listens the food bank helps a lot kids have nowhere to go my mum lives alone now and I worry")
WORDS = SENTENCES.split()
RARE = "quixotically"  # in 59 fragments whatever N, as in the run
PG_ADMIN = os.environ.get("HEARKEN_BENCH_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "hearken_bench_scale"  # --name sets another, so engineers benching at once do not share a database
ROWS = ("pages", "feed", "export", "sync", "withdraw", "size")  # what --only may pick
CONVERSATIONS, PLACES, PROMPTS, TAGS = 2000, 50, 30, 200


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


# --- seeding --------------------------------------------------------------------------------------------------

def _secondary_ddl(conn: sa.Connection, dialect: str, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """(drop, create) statements for the secondary indexes and triggers of `tables`, to build after loading."""
    out = []
    if dialect == "sqlite":
        for kind, name, sql in conn.exec_driver_sql(
                "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL "
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
    convs = [uuid.uuid4() for _ in range(CONVERSATIONS + 1)]
    consents = [[uuid.uuid4() for _ in range(3)] for _ in convs]
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
             "sync_hash": "seed"} for i, c in enumerate(convs)])
        parts, cons = [], []
        for c, cs in zip(convs, consents, strict=True):
            for j, k in enumerate(cs):
                p = uuid.uuid4()
                parts.append({"id": p, "project_id": project, "conversation_id": c, "label": f"P-{k.hex[:4]}{j}"})
                cons.append({"id": k, "project_id": project, "conversation_id": c, "participant_id": p,
                             "consent_form_id": form, "scope_audio": False, "scope_quote": True,
                             "scope_share": True, "scope_publish": j == 0, "method": "verbal", "given_at": start,
                             "recorded_by": researcher, "received_at": now, "version": 1, "sync_hash": "seed"})
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
            fid = uuid.uuid4()
            yield {"id": fid, "project_id": project, "conversation_id": convs[ci],
                   "consent_id": big_consent if big else rnd.choice(consents[ci]), "researcher_id": researcher,
                   "place_id": places[ci % PLACES], "prompt_id": rnd.choice(prompts),
                   "kind": rnd.choice(("quote", "paraphrase", "observation")), "text": text,
                   "answers": None, "language": "en", "sensitive": rnd.random() < 0.02,
                   "captured_at": start + step * i, "received_at": now, "updated_at": now, "status": "active",
                   "version": 1, "sync_hash": "seed"}

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
            conn.exec_driver_sql("INSERT INTO fragments_fts (rowid, text) SELECT i.rowid, f.text "
                                 "FROM fragments_fts_ids i JOIN fragments f ON f.id = i.fragment_id "
                                 f"WHERE i.rowid > {before}")
            conn.exec_driver_sql("ANALYZE")
    if dialect == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return {"seconds_load": round(loaded, 1), "seconds_total": round(time.perf_counter() - started, 1),
            "big_consent": str(big_consent), "tag": str(_most_used(tagged)), "place": str(places[1]),
            "tags": tags}


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
    n, dialect, only = args.fragments, args.database, set(args.only)
    # With --data, the seeded database stays (in that directory, or PostgreSQL's `--name`) and a later run with the
    # same --data, --database and --fragments measures it again without seeding: rows that write (sync,
    # withdraw) change it a little, so run them last or not at all when you reuse.
    tmp = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix=f"{args.name}-"))
    tmp.mkdir(parents=True, exist_ok=True)
    saved = tmp / f"seed-{dialect}-{n}.json"
    reuse = args.data is not None and saved.exists()
    if not reuse:
        for stale in tmp.glob(f"seed-{dialect}-*.json"):
            stale.unlink()
    env: dict[str, str] = {"HEARKEN_WEBHOOK_WORKER": "false"}
    if dialect == "postgresql":
        if not reuse:
            _fresh_pg(args.name)
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + args.name
        env["HEARKEN_DATABASE_URL"] = url
    else:
        if not reuse:
            for old in tmp.glob("hearken.db*"):
                old.unlink()
        url = f"sqlite:///{tmp / 'hearken.db'}"
    table = Table()
    results: dict[str, Any] = {"fragments": n, "database": dialect, "rows": sorted(only), "load_before": load()}
    print(f"Hearken at {n:,} fragments on {dialect} (load {load()})", flush=True)
    server = LiveServer(tmp, env=env)
    empty_rate = 0.0
    if reuse:
        ids, seeded = (state := json.loads(saved.read_text()))["ids"], state["seeded"]
        print(f"  reusing the database seeded earlier ({saved})")
    else:
        server.cli("migrate")
        ensure_admin(server)
        with server:
            admin, phone, ids = set_up_capture(server)
            ids["researcher"] = phone.get("/me").json()["user"]["id"]
            if "sync" in only:
                empty_rate = _sync_rate(phone, ids, batches=6)
        seeded = seed(url, dialect, ids, n)
        seeded["tags"] = [str(t) for t in seeded["tags"]]
        if args.data:
            saved.write_text(json.dumps({"ids": ids, "seeded": seeded}))
        print(f"  seeded in {seeded['seconds_total']} s (rows {seeded['seconds_load']} s, then indexes and FTS)")
    results["seed"] = {k: v for k, v in seeded.items() if k != "tags"}
    engine = sa.create_engine(url if dialect == "sqlite" else url)
    size = _size(engine, dialect, tmp)
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

        tag, place = seeded["tag"], seeded["place"]
        for what, path, plain in () if "pages" not in only else (
                ("first page of /fragments", base, plain_page()),
                ("/fragments?q=<rare word>", f"{base}&q={RARE}", None),
                ("/fragments?q=<common word>", f"{base}&q=neighbours", None),
                ("tag filter, most used tag", f"{base}&tag_id={tag}", plain_page(
                    "AND id IN (SELECT fragment_id FROM fragment_tags WHERE tag_id = :t)",
                    {"t": _dbid(uuid.UUID(tag), dialect)})),
                ("place + tag", f"{base}&tag_id={tag}&place_id={place}", None),
                ("review queue, first page", f"/projects/{ids['project']}/review-queue", None),
                ("project overview", f"/projects/{ids['project']}/overview", None)):
            runs = 3 if "overview" in what else 15
            p50, p95 = timed(http(path), runs)
            if plain:
                b50, _ = timed(plain, runs)
                table.add(what, f"p50 {p50:.1f} ms, p95 {p95:.1f} ms", f"{b50:.1f} ms", f"×{p50 / b50:.1f}")
            else:
                table.add(what, f"p50 {p50:.1f} ms, p95 {p95:.1f} ms")
            results[what] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}

        if "feed" in only:
            token = admin.post(f"/projects/{ids['project']}/clients", json={
                "name": "bench", "scopes": ["changes:read", "export", "fragments:read"],
                "rate_limit_per_minute": 100_000}).json()["token"]
            tool = httpx.Client(base_url=server.api, timeout=600, headers={"Authorization": f"Bearer {token}"})
            feed_s, feed_n = _follow(tool)
            plain_feed = _plain_feed(engine, dialect)
            table.add(f"change feed, all {n:,}, pages of 1000", f"{feed_s:.1f} s ({feed_n / feed_s:,.0f}/s)",
                      f"{plain_feed:.1f} s", f"{plain_feed / feed_s:.2f} of plain")
            results["feed"] = {"seconds": round(feed_s, 1), "rows": feed_n, "plain_seconds": round(plain_feed, 1)}

        plain_export = _plain_export(engine, dialect, pid_) if "export" in only else {}
        for fmt in ("fragments.csv", "fragments.jsonl", "project.qdpx") if "export" in only else ():
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

        if "sync" in only:
            one = _sync_cpu(phone, ids, pid, records=1, batches=100)
            many = _sync_cpu(phone, ids, pid, records=498, batches=4)
            table.add("one-record /sync, server CPU", f"{one * 1000:.1f} ms a request")
            table.add("batch of 498, server CPU", f"{many * 1000:.2f} ms a record")
            results["sync_cpu_ms"] = {"one_record": round(one * 1000, 2),
                                      "per_record_in_498": round(many * 1000, 3)}

            full_rate = _sync_rate(phone, ids, batches=6)
            empty = f"{empty_rate:,.0f}/s into an empty DB" if empty_rate else "(empty-DB rate: not on a reused DB)"
            table.add(f"/sync ingest at {n:,}", f"{full_rate:,.0f}/s", empty,
                      f"{full_rate / empty_rate:.2f}" if empty_rate else "")
            results["sync_rate"] = {"at_n": round(full_rate), "empty": round(empty_rate)}

        if "withdraw" in only:
            t0 = time.perf_counter()
            r = admin.post(f"/consents/{seeded['big_consent']}/withdraw", json={"reason": "bench"})
            withdraw_s = time.perf_counter() - t0
            table.add("withdraw one consent of 500 fragments", f"{withdraw_s:.2f} s ({r.status_code})")
            results["withdraw_s"] = round(withdraw_s, 2)
    if "size" in only:
        table.add("database size", f"{size / 1e9:.2f} GB", f"{size / n / 1000:.2f} KB a fragment")
    results["db_bytes"] = size
    results["load_after"] = load()
    engine.dispose()
    if not args.data:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"(load average before {results['load_before']}, after {results['load_after']})")
    return results


def _dbid(value: uuid.UUID, dialect: str) -> Any:
    return value.hex if dialect == "sqlite" else value


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
        at, last = datetime(1970, 1, 1), _dbid(uuid.UUID(int=0), dialect)
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
    conv, consent = str(uuid.uuid4()), str(uuid.uuid4())
    items: list[dict[str, Any]] = [
        {"type": "conversation", "id": conv, "data": {"project_id": ids["project"], "place_id": ids["place"],
                                                      "prompt_ids": [], "started_at": at}},
        {"type": "consent", "id": consent, "data": {"conversation_id": conv, "participant_label": "P-BNCH",
                                                    "consent_form_id": ids["form"], "scopes": ["quote", "share"],
                                                    "method": "verbal", "given_at": at}}]
    items += [{"type": "fragment", "id": str(uuid.uuid4()), "data": {
        "conversation_id": conv, "consent_id": consent, "kind": "paraphrase", "text": " ".join(WORDS[i % 50:][:30]),
        "language": "en", "captured_at": at, "sensitive": False}} for i in range(records)]
    return {"device_id": "bench", "items": items}


def _sync_cpu(phone: httpx.Client, ids: dict[str, str], pid: int, records: int, batches: int) -> float:
    """Server CPU seconds per request (records=1: a conversation and consent went first) or per record."""
    bodies = []
    for _ in range(batches):
        body = _batch(ids, records)
        if records == 1:
            phone.post("/sync", json={"device_id": "bench", "items": body["items"][:2]}).raise_for_status()
            body["items"] = body["items"][2:]
        bodies.append(json.dumps(body).encode())
    cpu0 = cpu_seconds(pid)
    for body in bodies:
        phone.post("/sync", content=body, headers={"Content-Type": "application/json"}).raise_for_status()
    used = cpu_seconds(pid) - cpu0
    return used / batches / records


def _sync_rate(phone: httpx.Client, ids: dict[str, str], batches: int) -> float:
    phone.post("/sync", json=_batch(ids, 490)).raise_for_status()  # warm-up, not counted
    bodies = [json.dumps(_batch(ids, 490)).encode() for _ in range(batches)]
    t0 = time.perf_counter()
    for body in bodies:
        phone.post("/sync", content=body, headers={"Content-Type": "application/json"}).raise_for_status()
    return batches * 490 / (time.perf_counter() - t0)


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


def phones(workers: int, name: str, phones: int = 4, batches: int = 8, size: int = 200) -> float:
    """/sync fragments/s with `phones` phones syncing at once, each `batches` batches of `size` fragments, against
    `hearken serve --workers N` on PostgreSQL (a fresh database)."""
    _fresh_pg(name)
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
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


def _fresh_pg(name: str) -> None:
    admin_engine = sa.create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"),
                                    isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    admin_engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fragments", type=int, default=100_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", action="store_true",
                        help="only: /sync with 4 phones at once against 1 and 2 workers on PostgreSQL")
    parser.add_argument("--only", type=lambda s: s.split(","), default=list(ROWS),
                        help=f"comma-separated rows to measure, of {','.join(ROWS)} (default all)")
    parser.add_argument("--name", default=PG_DB, help="the PostgreSQL database (and temp directory prefix) to use: "
                        "give your own when others bench at the same time")
    parser.add_argument("--data", help="keep the seeded database in this directory and reuse it on the next run "
                        "with the same --data, --database and --fragments (PostgreSQL: in the database --name)")
    args = parser.parse_args()
    if unknown := set(args.only) - set(ROWS):
        parser.error(f"--only: unknown rows {', '.join(sorted(unknown))} (known: {', '.join(ROWS)})")
    if args.workers:
        print(f"4 phones syncing at once, PostgreSQL (load {load()})", flush=True)
        results: dict[str, Any] = {"load_before": load()}
        for n in (1, 2, 1, 2):
            rate = phones(n, args.name)
            results.setdefault(f"workers_{n}", []).append(round(rate))
            print(f"  --workers {n}: {rate:,.0f} fragments/s (load {load()})", flush=True)
        args.database, args.fragments = "postgresql", 0
    else:
        results = run(args)
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    what = "workers" if args.workers else args.database
    name = f"scale-{what}-{args.fragments}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    (out / name).write_text(json.dumps(results, indent=2, default=str))
    print(f"saved bench-results/{name}")


if __name__ == "__main__":
    main()
