"""The plans GET /fragments relies on, pinned with EXPLAIN on both databases (with statistics, as `hearken
maintain` keeps them): a rare word is found through the text index and its few fragments fetched by id, never by
walking the project in capture order; a tag through fragment_tags' tag index; a place through its own index."""

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

N = 3000


@pytest.fixture
def world(session: Session, client, engine) -> World:
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
                     "place_id": world.places[1].id if i % 300 == 0 else world.places[0].id})
    # Twenty busy tags beside the rare one, so fragment_tags is worth an index.
    busy = [client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": f"busy {n}"},
                        headers=world.headers("coordinator")).json()["id"] for n in range(20)]
    tagged = [(rows[i]["id"], world.tag.id) for i in (5, 1500, 2900)]
    tagged += [(rows[i]["id"], uuid.UUID(t)) for n, t in enumerate(busy) for i in range(n, N, 20)]
    with engine.begin() as conn:
        conn.execute(sa.insert(Fragment.__table__), rows)
        conn.execute(sa.insert(FragmentTag.__table__), [
            {"fragment_id": f, "tag_id": t, "tagged_by": world.coordinator.id, "tagged_at": start} for f, t in tagged])
    maintenance.refresh_statistics()
    session.rollback()  # a fresh look: the test's read began before these rows
    return world


def coordinator(session: Session, world: World) -> Actor:
    token = session.exec(select(AuthToken).where(AuthToken.user_id == world.coordinator.id)).one()
    return Actor(world.coordinator, token)


def plans(engine: Any, session: Session, world: World, **kw: Any) -> dict[str, str]:
    """Each statement list_fragments ran, with its EXPLAIN as one string."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "fragments" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        rows, _ = service.list_fragments(session, coordinator(session, world), project_id=world.project.id,
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


def test_a_rare_word_is_found_through_the_text_index(engine, session, world) -> None:
    found = plans(engine, session, world, q="zephyrine")
    assert found["_rows"] == "2"
    probe = next(p for s, p in found.items() if "MATCH" in s or "@@" in s and "ORDER BY" not in s)
    page = page_plan(found)
    if engine.dialect.name == "sqlite":
        assert "fragments_fts_english VIRTUAL TABLE" in probe, probe
        assert "SCAN fragments" not in page and "sqlite_autoindex_fragments_1 (id=?)" in page, page
    else:
        assert "fragments_fts_vector_idx" in probe, probe
        assert "pk_fragments" in page and "ix_fragments_project_captured" not in page, page


def test_a_tag_filter_reads_the_tag_index(engine, session, world) -> None:
    found = plans(engine, session, world, filters={"tag_id": world.tag.id})
    assert found["_rows"] == "3"
    page = page_plan(found)
    assert "ix_fragment_tags_tag_id" in page, page


def test_a_place_filter_reads_its_own_index_in_capture_order(engine, session, world) -> None:
    found = plans(engine, session, world, filters={"place_id": world.places[1].id})
    assert found["_rows"] == "10"
    page = page_plan(found)
    assert "ix_fragments_project_place_captured" in page, page
