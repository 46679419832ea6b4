"""The plans GET /fragments relies on, pinned with EXPLAIN on both databases, with statistics (as `hearken
maintain` keeps them) and without (a fresh import, before the first ANALYZE): a rare word is found through the
text index and its few fragments fetched by id, never by walking the project in capture order; a tag through
fragment_tags' tag index; a place through its own index; a researcher's own listing through theirs, in order.
The overview reads its weekly counts from the rollup, never the fragments."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, select

from api import maintenance
from api.fragments import service
from api.fragments.models import Fragment
from api.people.deps import Actor
from api.people.models import AuthToken
from api.tags.models import FragmentTag
from tests.factories import World, capture_batch, make_world, sync
from tests.support.snapshot import built_once

N = 3000


@pytest.fixture
def world(session: Session, client, engine) -> World:
    world = _seeded(session, client, engine)
    if engine.dialect.name == "postgresql":
        # The earlier tests on this worker's database left dead rows and index entries (autovacuum, on in
        # production, is off here): after enough of them the planner costs the swollen text index above reading
        # 3,000 rows, and the plans below depended on the order the tests ran in.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM fragments, fragment_tags")
    # Statistics as `hearken maintain` keeps them: PostgreSQL keeps them outside the tables put back.
    maintenance.refresh_statistics()
    session.rollback()
    return world


@built_once
def _seeded(session: Session, client, engine) -> World:
    world = make_world(session)
    items = capture_batch(world, 1)
    sync(client, world, items)
    template = {c.name: getattr(session.get(Fragment, uuid.UUID(items[2]["id"])), c.key)
                for c in Fragment.__table__.columns}
    start = datetime.now(UTC) - timedelta(days=300)
    rows = []
    for i in range(N):
        text = f"common words about the street {i % 7} and the park"
        if i in (100, 2500):
            text += " zephyrine"
        rows.append({**template, "id": uuid.uuid4(), "text": text, "captured_at": start + timedelta(hours=i),
                     "place_id": world.places[1].id if i % 300 == 0 else world.places[0].id,
                     # Most captured by the coordinator (who may capture): the researcher's own are a third.
                     "researcher_id": world.researcher.id if i % 3 == 0 else world.coordinator.id})
    # Twenty busy tags beside the rare one, so fragment_tags is worth an index.
    busy = [client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": f"busy {n}"},
                        headers=world.headers("coordinator")).json()["id"] for n in range(20)]
    tagged = [(rows[i]["id"], world.tag.id) for i in (5, 1500, 2900)]
    tagged += [(rows[i]["id"], uuid.UUID(t)) for n, t in enumerate(busy) for i in range(n, N, 20)]
    with engine.begin() as conn:
        conn.execute(sa.insert(Fragment.__table__), rows)
        conn.execute(sa.insert(FragmentTag.__table__), [
            {"fragment_id": f, "tag_id": t, "tagged_by": world.coordinator.id, "tagged_at": start} for f, t in tagged])
    session.rollback()  # a fresh look: the test's read began before these rows
    return world


def coordinator(session: Session, world: World, who: str = "coordinator") -> Actor:
    user = getattr(world, who)
    token = session.exec(select(AuthToken).where(AuthToken.user_id == user.id)).one()
    return Actor(user, token)


def forget_statistics(engine: Any) -> None:
    """As after a bulk load or restore with no ANALYZE yet (autovacuum off, or before it came round)."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
                conn.exec_driver_sql("DELETE FROM sqlite_stat1")
        else:
            conn.exec_driver_sql("DELETE FROM pg_statistic WHERE starelid IN "
                                 "('fragments'::regclass, 'fragment_tags'::regclass)")


@pytest.fixture(params=["statistics", "no statistics"])
def statistics(request: pytest.FixtureRequest, engine: Any, world: World) -> str:
    if request.param == "no statistics":
        forget_statistics(engine)
    return request.param


def sorts(plan: str) -> bool:
    """Whether the plan sorts rows itself rather than reading them in order from an index."""
    return "TEMP B-TREE FOR ORDER BY" in plan or "Sort" in plan


def plans(engine: Any, session: Session, world: World, **kw: Any) -> dict[str, str]:
    """Each statement list_fragments ran, with its EXPLAIN as one string."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "fragments" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        rows, _ = service.list_fragments(session, coordinator(session, world, kw.get("who", "coordinator")),
                                         project_id=world.project.id,
                                         filters=kw.get("filters", {}), q=kw.get("q"), cursor=None, limit=50)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    out = {}
    with engine.connect() as conn:
        for statement, parameters in seen:
            lines = conn.exec_driver_sql(explain + statement, parameters).all()
            out[statement] = "\n".join(str(r[-1]) for r in lines)
    out["_rows"] = str(len(rows))
    return out


def page_plan(found: dict[str, str]) -> str:
    return next(p for s, p in found.items() if "ORDER BY fragments.captured_at" in s)


def test_a_rare_word_is_found_through_the_text_index(engine, session, world, statistics) -> None:
    found = plans(engine, session, world, q="zephyrine")
    assert found["_rows"] == "2"
    probe = next(p for s, p in found.items() if "MATCH" in s or "@@" in s and "ORDER BY" not in s)
    page = page_plan(found)
    if engine.dialect.name == "sqlite":
        assert "fragments_fts_english VIRTUAL TABLE" in probe, probe
        assert "SCAN fragments" not in page and "sqlite_autoindex_fragments_1 (id=?)" in page, page
    else:
        # Without statistics PostgreSQL reads a table this small (3,000 rows) whole for the probe; at a million
        # it takes the index (scripts/bench_scale.py --queries prints both), and so the page; either way the page
        # never walks the project in capture order.
        if statistics == "statistics":
            assert "fragments_fts_vector_idx" in probe, probe
            assert "pk_fragments" in page, page
        assert "ix_fragments_project_captured" not in page, page


def test_a_tag_filter_reads_the_tag_index(engine, session, world, statistics) -> None:
    found = plans(engine, session, world, filters={"tag_id": world.tag.id})
    assert found["_rows"] == "3"
    page = page_plan(found)
    assert "ix_fragment_tags_tag_fragment" in page, page


def test_a_place_filter_reads_its_own_index_in_capture_order(engine, session, world) -> None:
    found = plans(engine, session, world, filters={"place_id": world.places[1].id})
    assert found["_rows"] == "10"
    page = page_plan(found)
    assert "ix_fragments_project_place_captured" in page, page


def test_a_researchers_own_listing_reads_their_index_in_capture_order(engine, session, world, statistics) -> None:
    found = plans(engine, session, world, who="researcher")
    assert found["_rows"] == "50"
    page = page_plan(found)
    if statistics == "no statistics":
        assert "ix_fragments_researcher_project_captured" in page, page
    assert not sorts(page), page


def test_the_overview_reads_the_rollup_not_the_fragments(engine, session, world, statistics) -> None:
    from api.projects import overview
    from api.projects.models import Project

    seen: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        result = overview.overview(session, session.get(Project, world.project.id))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert result.totals.fragments == N + 1  # the synced batch's fragment and the seeded rows
    assert any("FROM overview_counts" in s for s in seen)
    # Nothing counts fragments week by week: the rollup has those counts already.
    assert not [s for s in seen if "FROM fragments" in s and "GROUP BY" in s], seen


def test_few_erased_fragments_are_found_by_id_not_by_walking_the_project(engine, session, world, statistics) -> None:
    with engine.begin() as conn:  # two of the seeded fragments withdrawn (as erase() leaves them)
        ids = [r[0] for r in conn.execute(sa.select(Fragment.id).where(Fragment.text.like("%street 3%")).limit(2))]
        conn.execute(sa.update(Fragment).where(Fragment.id.in_(ids)).values(status="withdrawn", text=None))
    session.rollback()
    found = plans(engine, session, world, filters={"status": "withdrawn"})
    assert found["_rows"] == "2"
    page = page_plan(found)
    if engine.dialect.name == "sqlite":
        assert "SCAN fragments" not in page and "sqlite_autoindex_fragments_1 (id=?)" in page, page
    else:
        assert "ix_fragments_project_captured" not in page, page



def test_postgresql_plans_every_execution_for_its_values(pg_database) -> None:
    """psycopg prepares a statement run five times, and a generic plan would then guess one selectivity for every
    word, tag or place: the app's connections plan each execution for its values."""
    from api import db

    engine = db.make_engine(pg_database)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"
    finally:
        engine.dispose()
