#!/usr/bin/env python3
"""Search and filters of GET /fragments at scale, on SQLite or PostgreSQL: p50/p95 over HTTP beside the same
query run in-process (the service's SELECT through SQLAlchemy: no HTTP, authentication or JSON), so the ratio
shows what the request itself costs.

    scripts/bench_search.py                                   # 100k fragments on SQLite
    scripts/bench_search.py --database postgresql             # on PostgreSQL (HEARKEN_BENCH_POSTGRES_URL, default
                                                              #   postgresql://postgres@127.0.0.1:5432/postgres; a
                                                              #   fresh database is made and dropped)
    scripts/bench_search.py --fragments 1000000

Seeding is fast on purpose, and says so: the project, its 50 places, 30 prompts, 200 tags and 2,000
conversations with a consent each go through the API (POST /sync); then the fragments (100–400 characters of
English, from a word list with a long tail, so there are common and rare words) and their tags (20 % tagged) go
straight into the tables with plain SQL (executemany on SQLite, COPY on PostgreSQL), with the fragments' indexes
and triggers dropped or disabled first and rebuilt after (the FTS5 index and the overview's rollup each from one
INSERT … SELECT; PostgreSQL's trigger fills the search vector during COPY). Then `hearken maintain` (ANALYZE)
and the measurements. Targets (issue 13): p95 < 50 ms for one filter, < 150 ms for two filters and text search.
"""

import argparse
import os
import random
import sqlite3
import statistics
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import rollup_sql  # noqa: E402

from api.db import sqlite_micros  # noqa: E402
from tests.support.live_server import LiveServer, admin_client, login_client, ok  # noqa: E402

WARM_UP = 3


def _split(text: str) -> list[str]:
    return text.split()


COMMON = _split("the and to of a in is it that was for on with they we you but have be at not are this there "
          "people when all so just what can my like about one there out if would get know time because "
          "community centre place here feel")
THEMES = _split("bus buses transport doctor doctors surgery waiting lonely loneliness neighbour neighbours park "
          "parks housing rent damp school schools children welcome welcoming welcomed library shop shops "
          "church mosque youth club street streets night safe unsafe walk walking hospital appointment "
          "council money food bank volunteer volunteers garden gardens friend friends family listen heard")
RARE_WORD = "zephyrine"  # in ~60 fragments
TARGET_ONE_MS, TARGET_TWO_MS = 50.0, 150.0


def words(rnd: random.Random, n: int, tail: list[str]) -> str:
    out = []
    for _ in range(n):
        r = rnd.random()
        out.append(rnd.choice(COMMON) if r < 0.6 else rnd.choice(THEMES) if r < 0.95 else rnd.choice(tail))
    return " ".join(out).capitalize() + "."


def set_up(server: LiveServer) -> dict[str, Any]:
    """Through the API: a project, a trained researcher's phone, 50 places, 30 prompts, 200 tags, 2,000
    conversations with one consent each."""
    admin = admin_client(server)
    pid = ok(admin.post("/projects", json={"name": "Bench search"}))["id"]
    researcher = ok(admin.post("/users", json={"email": "r@example.org", "password": "bench-password"}))
    ok(admin.put(f"/projects/{pid}/members/{researcher['id']}", json={"role": "researcher"}))
    today = date.today()
    ok(admin.post(f"/projects/{pid}/members/{researcher['id']}/training", json={
        "completed_on": str(today - timedelta(days=500)), "expires_on": str(today + timedelta(days=300))}))
    form = ok(admin.post(f"/projects/{pid}/consent-forms", json={"title": "c", "body": "b",
                                                                  "scopes": ["quote", "share"]}))["id"]
    places = [ok(admin.post(f"/projects/{pid}/places", json={"name": f"Place {i:02d}"}))["id"] for i in range(50)]
    prompts = [ok(admin.post(f"/projects/{pid}/prompts", json={"text": f"Prompt {i:02d}"}))["id"] for i in range(30)]
    tags = [ok(admin.post(f"/projects/{pid}/tags", json={"name": f"tag {i:03d}"}))["id"] for i in range(200)]
    phone = login_client(server, "r@example.org", "bench-password")
    at = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    convs: list[tuple[str, str, str]] = []
    items: list[dict[str, Any]] = []
    for i in range(2000):
        conv, consent, place = str(uuid.uuid4()), str(uuid.uuid4()), places[i % 50]
        convs.append((conv, consent, place))
        items += [{"type": "conversation", "id": conv, "data": {"project_id": pid, "place_id": place,
                                                                "prompt_ids": [], "started_at": at}},
                  {"type": "consent", "id": consent, "data": {
                      "conversation_id": conv, "participant_label": f"P-{i:05d}", "consent_form_id": form,
                      "scopes": ["quote", "share"], "method": "verbal", "given_at": at}}]
    for start in range(0, len(items), 500):
        results = ok(phone.post("/sync", json={"device_id": "bench", "items": items[start:start + 500]}))["results"]
        refused = [r for r in results if r["status"] != "created"]
        assert not refused, refused[:2]
    return {"admin": admin, "project": pid, "researcher": researcher["id"], "places": places, "prompts": prompts,
            "tags": tags, "convs": convs}


def rows(world: dict[str, Any], n: int) -> tuple[list[tuple[Any, ...]], list[tuple[str, str]]]:
    """Fragments (as tuples of Python values) and (fragment, tag) pairs. One place in 50 and one prompt in 30
    hold only ~20 fragments (the rare values); tag 0 is on 2 % of fragments, most tags on ~0.1 %."""
    rnd = random.Random(13)
    tail = [f"w{i:05d}x" for i in range(20000)]
    now = datetime.now(UTC)
    out, tagged = [], []
    rare_place, rare_prompt = world["places"][-1], world["prompts"][-1]
    for _ in range(n):
        conv, consent, place = world["convs"][rnd.randrange(2000)]
        if place == rare_place and rnd.random() > 20 * 50 / n:
            place = world["places"][0]
        prompt = rnd.choice(world["prompts"][:-1]) if rnd.random() > 20 / n else rare_prompt
        text = words(rnd, rnd.randint(18, 70), tail)[:400]
        if rnd.random() < 60 / n:
            text += f" {RARE_WORD}"
        captured = now - timedelta(seconds=rnd.randrange(365 * 86400))
        fid = str(uuid.uuid4())
        out.append((fid, conv, consent, place, prompt, rnd.choice(["quote", "paraphrase", "paraphrase",
                    "observation"]), text, rnd.random() < 0.03, captured,
                    captured + timedelta(days=2) if rnd.random() < 0.4 else None))
        if rnd.random() < 0.2:
            tagged.append((fid, world["tags"][0] if rnd.random() < 0.1 else rnd.choice(world["tags"][1:])))
    return out, tagged


def seed_sqlite(db: Path, world: dict[str, Any], frags: list[tuple[Any, ...]], tagged: list[tuple[str, str]]) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    saved = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'fragments' "
                         "AND type IN ('index', 'trigger') AND sql IS NOT NULL").fetchall()
    for kind, name, _ in saved:
        conn.execute(f"DROP {kind} {name}")
    # As the app keeps them on SQLite (api/db.py): ids as their 16 bytes, times as microseconds since 1970.
    h = lambda u: uuid.UUID(u).bytes  # noqa: E731
    us = sqlite_micros
    pid, rid = h(world["project"]), h(world["researcher"])
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO fragments (id, project_id, conversation_id, consent_id, researcher_id, place_id, prompt_id, kind,"
        " text, language, sensitive, captured_at, received_at, updated_at, status, reviewed_at, reviewed_by, version,"
        " sync_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'en', ?, ?, ?, ?, 'active', ?, ?, 1, 'bench')",
        [(h(f), pid, h(c), h(k), rid, h(pl), h(pr), kind, text, int(sens), us(at), us(at), us(at),
          us(rev) if rev else None, rid if rev else None)
         for f, c, k, pl, pr, kind, text, sens, at, rev in frags])
    conn.executemany("INSERT INTO fragment_tags (fragment_id, tag_id, tagged_by, tagged_at) VALUES (?, ?, ?, ?)",
                     [(h(f), h(t), rid, us(datetime.now(UTC))) for f, t in tagged])
    conn.execute("INSERT INTO fragments_fts_ids (fragment_id, english) SELECT id, 1 FROM fragments")
    conn.execute("INSERT INTO fragments_fts_english (rowid, text) SELECT i.rowid, f.text FROM fragments f "
                 "JOIN fragments_fts_ids i ON i.fragment_id = f.id")
    for _, _, sql in saved:
        conn.execute(sql)
    # The overview's rollup (the fragments' triggers were off while seeding).
    conn.execute("DELETE FROM overview_counts")
    conn.execute(rollup_sql("sqlite"))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def seed_postgres(url: str, world: dict[str, Any], frags: list[tuple[Any, ...]],
                  tagged: list[tuple[str, str]]) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        saved = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'fragments' "
                             "AND indexname <> 'pk_fragments'").fetchall()
        for name, _ in saved:
            conn.execute(f"DROP INDEX {name}")
        # The overview's rollup is rebuilt once after the COPY rather than row by row (the search vector's
        # trigger stays on: it computes each row's tsvector during COPY).
        conn.execute("ALTER TABLE fragments DISABLE TRIGGER overview_counts_fragments")
        conn.execute("ALTER TABLE fragment_tags DISABLE TRIGGER overview_counts_tags")
        cols = ("id, project_id, conversation_id, consent_id, researcher_id, place_id, prompt_id, kind, text, "
                "language, sensitive, captured_at, received_at, updated_at, status, reviewed_at, reviewed_by, "
                "version, sync_hash")
        pid, rid = world["project"], world["researcher"]
        with conn.cursor().copy(f"COPY fragments ({cols}) FROM STDIN") as copy:
            for f, c, k, pl, pr, kind, text, sens, at, rev in frags:
                copy.write_row((f, pid, c, k, rid, pl, pr, kind, text, "en", sens, at, at, at, "active", rev,
                                rid if rev else None, 1, "bench"))
        now = datetime.now(UTC)
        with conn.cursor().copy("COPY fragment_tags (fragment_id, tag_id, tagged_by, tagged_at) FROM STDIN") as copy:
            for f, t in tagged:
                copy.write_row((f, t, rid, now))
        for _, sql in saved:
            conn.execute(sql)
        conn.execute("ALTER TABLE fragments ENABLE TRIGGER overview_counts_fragments")
        conn.execute("ALTER TABLE fragment_tags ENABLE TRIGGER overview_counts_tags")
        conn.execute("DELETE FROM overview_counts")
        conn.execute(rollup_sql("postgresql"))
        conn.commit()


def measure(fn: Any, n: int) -> list[float]:
    times = []
    for i in range(WARM_UP + n):
        started = time.perf_counter()
        fn()
        if i >= WARM_UP:
            times.append((time.perf_counter() - started) * 1000)
    return times


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[18]


def queries(world: dict[str, Any]) -> dict[str, tuple[dict[str, str], float]]:
    pl, pr, t = world["places"], world["prompts"], world["tags"]
    since = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    return {
        "first page, no filter": ({}, TARGET_ONE_MS),
        f"q={RARE_WORD} (rare word)": ({"q": RARE_WORD}, TARGET_TWO_MS),
        "q=bus (common, stemmed)": ({"q": "bus"}, TARGET_TWO_MS),
        "q=buses welcoming (two words)": ({"q": "buses welcoming"}, TARGET_TWO_MS),
        'q="food bank" (phrase)': ({"q": '"food bank"'}, TARGET_TWO_MS),
        "q=lonely -park": ({"q": "lonely -park"}, TARGET_TWO_MS),
        "q=w00017x (tail word)": ({"q": "w00017x"}, TARGET_TWO_MS),
        "tag, most used": ({"tag": t[0]}, TARGET_ONE_MS),
        "tag, typical": ({"tag": t[5]}, TARGET_ONE_MS),
        "place, common": ({"place": pl[0]}, TARGET_ONE_MS),
        "place, rare": ({"place": pl[-1]}, TARGET_ONE_MS),
        "prompt, rare": ({"prompt_id": pr[-1]}, TARGET_ONE_MS),
        "kind=observation": ({"kind": "observation"}, TARGET_ONE_MS),
        "sensitive=true": ({"sensitive": "true"}, TARGET_ONE_MS),
        "captured_after 30 days": ({"captured_after": since}, TARGET_ONE_MS),
        "place + tag": ({"place": pl[1], "tag": t[0]}, TARGET_TWO_MS),
        "q=bus + place": ({"q": "bus", "place": pl[2]}, TARGET_TWO_MS),
        "q=bus, total=true": ({"q": "bus", "total": "true"}, TARGET_TWO_MS),
        f"q={RARE_WORD}, total=true": ({"q": RARE_WORD, "total": "true"}, TARGET_TWO_MS),
        "tag most used, total=true": ({"tag": t[0], "total": "true"}, TARGET_TWO_MS),
    }


def in_process(url: str, world: dict[str, Any], params: dict[str, str]) -> Any:
    """The same listing through the service, in this process: the SQL and the ORM, nothing else."""
    from sqlmodel import Session, select

    from api import db
    from api.fragments import service
    from api.people.deps import Actor
    from api.people.models import AuthToken, User

    engine = in_process.engines.get(url) or db.make_engine(url)  # type: ignore[attr-defined]
    in_process.engines[url] = engine  # type: ignore[attr-defined]
    filters = {"place_id": params.get("place"), "prompt_id": params.get("prompt_id"), "kind": params.get("kind"),
               "tag_id": params.get("tag"), "sensitive": {"true": True}.get(params.get("sensitive", "")),
               "captured_after": datetime.fromisoformat(params["captured_after"]) if "captured_after" in params
               else None}
    filters = {k: (uuid.UUID(v) if k.endswith("_id") and v else v) for k, v in filters.items()}

    def run() -> None:
        with Session(engine) as session:
            user = session.exec(select(User).where(User.is_admin.is_(True))).first()
            admin = Actor(user, session.exec(select(AuthToken).where(AuthToken.user_id == user.id)).first())
            service.list_fragments(session, admin, project_id=uuid.UUID(world["project"]), filters=filters,
                                   q=params.get("q"), cursor=None, limit=50)
            if params.get("total"):
                service.count_fragments(session, admin, project_id=uuid.UUID(world["project"]), filters=filters,
                                        q=params.get("q"))
    return run


in_process.engines = {}  # type: ignore[attr-defined]


def overview_in_process(url: str, world: dict[str, Any]) -> Any:
    from sqlmodel import Session

    from api import db
    from api.projects import overview
    from api.projects.models import Project

    engine = in_process.engines.get(url) or db.make_engine(url)  # type: ignore[attr-defined]
    in_process.engines[url] = engine  # type: ignore[attr-defined]

    def run() -> None:
        with Session(engine) as session:
            overview.overview(session, session.get(Project, uuid.UUID(world["project"])))
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fragments", type=int, default=100_000)
    ap.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--keep", type=Path, help="seed into this folder (and keep it) instead of a temporary one")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    data = args.keep or Path(tmp.name) / "search"
    pg_name = None
    env: dict[str, str] = {}
    if args.database == "postgresql":
        import psycopg

        base = os.environ.get("HEARKEN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        pg_name = f"hearken_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        url = base.rsplit("/", 1)[0] + f"/{pg_name}"
        env["HEARKEN_DATABASE_URL"] = url
        sa_url = url.replace("postgresql://", "postgresql+psycopg://")
    else:
        sa_url = f"sqlite:///{data / 'hearken.db'}"
    try:
        started = time.perf_counter()
        with LiveServer(data, env=env) as server:
            world = set_up(server)
        api_s = time.perf_counter() - started
        started = time.perf_counter()
        frags, tagged = rows(world, args.fragments)
        gen_s = time.perf_counter() - started
        started = time.perf_counter()
        if args.database == "sqlite":
            seed_sqlite(data / "hearken.db", world, frags, tagged)
        else:
            seed_postgres(url, world, frags, tagged)
        seed_s = time.perf_counter() - started
        del frags
        server = LiveServer(data, env=env)
        started = time.perf_counter()
        maintain = server.cli("maintain", check=False)
        maintain_s = time.perf_counter() - started
        print(f"{args.database}, {args.fragments:,} fragments ({len(tagged):,} tags on fragments): API set-up "
              f"{api_s:.0f} s, rows made in {gen_s:.0f} s, plain-SQL seed with indexes and search index built "
              f"after {seed_s:.0f} s, `hearken maintain` {maintain_s:.1f} s"
              f"{'' if maintain.returncode == 0 else ' (FAILED: ' + maintain.stderr.strip()[-200:] + ')'}")
        with server:
            client = admin_client(server)
            client.timeout = httpx.Timeout(120)
            print(f"{'':<34}{'HTTP p50':>9}{'p95':>8}  {'in-process p50':>14}{'p95':>8}  ratio  items  total")
            failures = 0
            for label, (params, target) in queries(world).items():
                full = {"project_id": world["project"], "limit": "50", **params}
                last: dict[str, Any] = {}

                def http(full: dict[str, str] = full, last: dict[str, Any] = last) -> None:
                    r = client.get("/fragments", params=full)
                    r.raise_for_status()
                    last["body"] = r.json()
                times = measure(http, args.requests)
                direct = measure(in_process(sa_url, world, params), args.requests)
                body = last["body"]
                total = "" if "total" not in body else \
                    f"{'>' if body['total_is_lower_bound'] else ''}{body['total']}"
                verdict = "ok" if p95(times) < target else f"OVER {target:.0f}"
                failures += p95(times) >= target
                print(f"  {label:<32}{statistics.median(times):>7.1f}ms{p95(times):>6.1f}ms  "
                      f"{statistics.median(direct):>12.1f}ms{p95(direct):>6.1f}ms  "
                      f"{statistics.median(times) / max(statistics.median(direct), 0.01):>4.1f}x  "
                      f"{len(body['items']):>5}  {total:>5}  {verdict}")
            times = measure(lambda: client.get(f"/projects/{world['project']}/overview").raise_for_status(),
                            args.requests)
            direct = measure(overview_in_process(sa_url, world), args.requests)
            verdict = "ok" if p95(times) < 100 else "OVER 100"
            failures += p95(times) >= 100
            print(f"  {'project overview (12 weeks)':<32}{statistics.median(times):>7.1f}ms{p95(times):>6.1f}ms  "
                  f"{statistics.median(direct):>12.1f}ms{p95(direct):>6.1f}ms  "
                  f"{statistics.median(times) / max(statistics.median(direct), 0.01):>4.1f}x  {verdict}")
            print(f"{failures} over target" if failures else "all within target")
    finally:
        for engine in in_process.engines.values():  # type: ignore[attr-defined]
            engine.dispose()
        if pg_name:
            import psycopg

            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        tmp.cleanup()


if __name__ == "__main__":
    main()
