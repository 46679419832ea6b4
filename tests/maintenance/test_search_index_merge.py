"""SQLite's search index is merged by the background loop, not inside each sync: every syncing transaction leaves
its words as a new FTS5 segment (automerge is off), and the loop's search-index job merges them so searches read
few segments. PostgreSQL's GIN index keeps its own pending list: no job there."""

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from api import maintenance
from api.fragments import compaction
from tests.factories import World, consent_item, conversation_item, fragment_item, make_world, now_iso, sync

SYNCS = 8  # more than FTS5's usermerge (4) a level, fewer than its crisismerge (16)


def _segments(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(DISTINCT segid) FROM fragments_fts_english_idx").scalar_one()


def _found(client, world: World, q: str) -> list[str]:
    r = client.get("/api/v1/fragments", params={"project_id": str(world.project.id), "q": q, "limit": 200},
                   headers=world.headers("coordinator"))
    assert r.status_code == 200, r.text
    return sorted(f["id"] for f in r.json()["items"])


def test_syncs_leave_segments_that_the_loop_merges(client, engine, session: Session, monkeypatch) -> None:
    world = make_world(session)
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"])
    assert sync(client, world, [conv, consent]).status_code == 200
    ids = []
    before = _segments(engine) if engine.dialect.name == "sqlite" else 0
    for i in range(SYNCS):
        item = fragment_item(conv["id"], consent["id"], text=f"the lantern by the canal, evening {i}",
                             captured_at=now_iso(timedelta(minutes=-60 + i)))
        assert sync(client, world, [item]).status_code == 200
        ids.append(item["id"])
    monkeypatch.setenv("HEARKEN_MEDIA_WORKER_SECONDS", "60")
    from api.config import get_settings

    get_settings.cache_clear()
    job = next(j for j in maintenance.jobs() if j.name == "search-index")
    if engine.dialect.name != "sqlite":
        assert job.every == 0 and compaction.merge_new_segments(engine) == 0
        assert _found(client, world, "lanterns") == sorted(ids)
        return
    assert job.every == maintenance.SEARCH_MERGE_SECONDS
    assert _segments(engine) == before + SYNCS  # no sync merged anything
    assert job.run_once() > 0
    assert _segments(engine) < before + SYNCS - 2
    assert job.run_once() == 0  # nothing left due: the round waits for its interval
    assert _found(client, world, "lanterns") == sorted(ids)  # every word still found, through fewer segments
