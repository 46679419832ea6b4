"""The change feed's page reads one index range in seq order, whoever asks (EXPLAIN on both databases, with
statistics, among another project's changes): never every change, and never a sort of everything after `after`."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from api import maintenance
from api.feed.models import Change
from api.projects.models import Project
from tests.factories import World, bearer, capture_batch, make_world, sync


@pytest.fixture
def world(session: Session, client, engine) -> World:
    world = make_world(session)
    sync(client, world, capture_batch(world, 5))
    # Another project's changes, many more than this one's, so reading them all would be the wrong plan.
    other = Project(name="elsewhere", questions=[])
    session.add(other)
    session.commit()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(sa.insert(Change.__table__), [
            {"project_id": other.id, "owner_id": world.researcher.id, "entity": "fragment",
             "entity_id": uuid.uuid4(), "op": "upsert", "at": now} for _ in range(3000)])
    sync(client, world, capture_batch(world, 5))
    maintenance.refresh_statistics()
    return world


def _plans(client, engine: Any, path: str, headers: dict[str, str]) -> list[str]:
    """The EXPLAIN of each page query GET `path` ran (the one that joins changes to fragments)."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "FROM changes LEFT OUTER JOIN fragments" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        r = client.get(path, headers=headers)
        assert r.status_code == 200 and r.json()["items"], r.text
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(seen) == 1
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if not sqlite:
            conn.exec_driver_sql("SET enable_seqscan = off")  # a table this small would otherwise be read whole
        return ["\n".join(str(r[-1]) for r in conn.exec_driver_sql(
            ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, parameters).all())
            for statement, parameters in seen]


def _reads_a_range(plan: str, sqlite: bool, index: str) -> None:
    if sqlite:
        assert f"SEARCH changes USING INDEX {index} (project_id=? AND seq>?)" in plan or (
            index == "pk" and "SEARCH changes USING INTEGER PRIMARY KEY (rowid>?)" in plan), plan
        assert "TEMP B-TREE" not in plan, plan  # no sort: the index gives seq order
    else:
        wanted = f"Index Scan using {index} on changes" if index != "pk" else "Index Scan using pk_changes"
        assert wanted in plan, plan
        assert "seq >" in plan and "Sort" not in plan and "Seq Scan on changes" not in plan, plan


@pytest.mark.parametrize("after", [0, 5])
def test_a_coordinators_page_reads_the_project_seq_index_from_after(client, engine, world, after) -> None:
    plans = _plans(client, engine, f"/api/v1/changes?project_id={world.project.id}&after={after}&limit=3",
                   world.headers("coordinator"))
    _reads_a_range(plans[0], engine.dialect.name == "sqlite", "ix_changes_project_seq")


def test_a_researchers_page_reads_the_project_seq_index(client, engine, world) -> None:
    plans = _plans(client, engine, "/api/v1/changes?limit=3", world.headers("researcher"))
    _reads_a_range(plans[0], engine.dialect.name == "sqlite", "ix_changes_project_seq")


def test_an_api_clients_page_reads_the_project_seq_index(client, engine, world) -> None:
    token = client.post(f"/api/v1/projects/{world.project.id}/clients", headers=world.headers("coordinator"),
                        json={"name": "tool", "scopes": ["changes:read"]}).json()["token"]
    plans = _plans(client, engine, "/api/v1/changes?after=2&limit=3", bearer(token))
    _reads_a_range(plans[0], engine.dialect.name == "sqlite", "ix_changes_project_seq")


def test_an_admins_whole_feed_reads_the_seq_range(client, engine, world) -> None:
    plans = _plans(client, engine, "/api/v1/changes?after=2&limit=3", world.headers("admin"))
    _reads_a_range(plans[0], engine.dialect.name == "sqlite", "pk")
