"""The migrations build exactly the models' schema, on both databases, and unwind to nothing."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.command import downgrade, upgrade
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import api.models  # noqa: F401
from api.cli import REPO
from api.db import include_in_autogenerate


def _config(url: str) -> Config:
    cfg = Config(str(REPO / "alembic.ini"))
    cfg.attributes["url"] = url
    return cfg


def test_upgrade_head_matches_the_models_exactly(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "include_object": lambda obj, name, *rest: include_in_autogenerate(name),
            "include_name": lambda name, *rest: include_in_autogenerate(name),
        })
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_downgrade_base_removes_every_table_and_upgrade_restores_them(engine: Engine, database_url: str) -> None:
    downgrade(_config(database_url), "base")
    assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set()
    upgrade(_config(database_url), "head")
    assert set(SQLModel.metadata.tables) <= set(inspect(engine).get_table_names())


def test_consents_narrowed_before_the_migration_remember_the_audience_they_lost(client, engine: Engine,
                                                                                database_url: str) -> None:
    """c2f6a0d3e8b1 fills share_removed_at / publish_removed_at from the audit log's earlier narrowings."""
    import json
    import uuid
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from sqlmodel import Session, col, select

    from api.consent.models import Consent
    from tests.factories import consent_item, conversation_item, make_world, sync

    with Session(engine, expire_on_commit=False) as session:
        world = make_world(session)
    conv = conversation_item(world)
    narrowed, kept = (consent_item(world, conv["id"], scopes=["quote", "share", "publish"]) for _ in range(2))
    assert sync(client, world, [conv, narrowed, kept]).status_code == 200
    downgrade(_config(database_url), "8a1f0c2e9b37")
    # Written as that revision keeps its data (on SQLite, ids as hex and times as text: b10b5a11d5e7 came later).
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO audit_log (at, project_id, action, entity, entity_id, detail) "
                             "VALUES (:at, :project, 'consent.narrow', 'consent', :consent, :detail)"),
                     {"at": "2026-11-30 07:00:00.000000" if sqlite else datetime(2026, 11, 30, 7, tzinfo=UTC),
                      "project": world.project.id.hex if sqlite else world.project.id, "consent": narrowed["id"],
                      "detail": json.dumps({"removed_scopes": ["publish"]})})
    upgrade(_config(database_url), "head")
    with Session(engine) as session:
        rows = session.exec(select(Consent.id, col(Consent.publish_removed_at).is_not(None)
                                   & col(Consent.share_removed_at).is_(None))).all()
    assert {k: bool(v) for k, v in rows} == {uuid.UUID(narrowed["id"]): True, uuid.UUID(kept["id"]): False}


def test_sqlite_ids_times_and_hashes_change_form_and_every_answer_stays_the_same(client, engine: Engine,
                                                                                   database_url: str) -> None:
    """b10b5a11d5e7: SQLite keeps ids as 16 bytes, times as microseconds and content hashes as 32 bytes, where it
    kept text. Down to the text forms and up again, every listing, search, overview count and replay answers as
    before, and the overview's triggers go on counting in the new form. (On PostgreSQL nothing changes form.)"""
    import uuid

    from sqlmodel import Session

    from tests.factories import capture_batch, fragment_item, make_world, sync

    with Session(engine, expire_on_commit=False) as session:
        world = make_world(session)
    items = capture_batch(world, 3, text="kettle")
    assert {r["status"] for r in sync(client, world, items).json()["results"]} == {"created"}
    coordinator = world.headers("coordinator")
    assert client.put(f"/api/v1/fragments/{items[2]['id']}/tags/{world.tag.id}", headers=coordinator).status_code == 204
    project = f"/api/v1/projects/{world.project.id}"

    def answers() -> tuple[Any, ...]:
        listing = client.get(f"/api/v1/fragments?project_id={world.project.id}", headers=coordinator).json()
        found = client.get(f"/api/v1/fragments?project_id={world.project.id}&q=kettle", headers=coordinator).json()
        overview = client.get(f"{project}/overview", headers=coordinator).json()
        return listing, found, {k: overview[k] for k in ("per_place", "per_prompt", "per_tag", "totals")}

    def forms() -> tuple[Any, ...]:
        with engine.connect() as conn:
            return tuple(conn.exec_driver_sql("SELECT typeof(id), typeof(project_id), typeof(captured_at), "
                                              "typeof(sync_hash), length(sync_hash) FROM fragments").first())

    before = answers()
    assert len(before[0]["items"]) == len(before[1]["items"]) == 3 and before[2]["totals"]["fragments"] == 3
    downgrade(_config(database_url), "7d3b9e2a4f60")
    if engine.dialect.name == "sqlite":
        assert forms() == ("text", "text", "text", "text", 64)
    upgrade(_config(database_url), "head")
    if engine.dialect.name == "sqlite":
        assert forms() == ("blob", "blob", "integer", "blob", 32)
    assert answers() == before
    assert {r["status"] for r in sync(client, world, items).json()["results"]} == {"duplicate"}
    more = fragment_item(items[0]["id"], items[1]["id"], fid=uuid.uuid4(), text="another kettle")
    assert sync(client, world, [more]).json()["results"][0]["status"] == "created"
    after = answers()
    assert after[2]["totals"]["fragments"] == 4 and len(after[1]["items"]) == 4
    assert {p["name"]: sum(p["counts"]) for p in after[2]["per_place"]}[world.places[0].name] == 4
