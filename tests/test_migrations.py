"""The migrations build exactly the models' schema, on both databases, and unwind to nothing."""

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
    import uuid

    import sqlalchemy as sa
    from sqlmodel import Session

    from api.audit import service as audit
    from tests.factories import consent_item, conversation_item, make_world, sync

    with Session(engine, expire_on_commit=False) as session:
        world = make_world(session)
    conv = conversation_item(world)
    narrowed, kept = (consent_item(world, conv["id"], scopes=["quote", "share", "publish"]) for _ in range(2))
    assert sync(client, world, [conv, narrowed, kept]).status_code == 200
    downgrade(_config(database_url), "8a1f0c2e9b37")
    with Session(engine) as session:
        session.add(audit.entry_for(action="consent.narrow", entity="consent", entity_id=narrowed["id"],
                                    project_id=world.project.id, detail={"removed_scopes": ["publish"]}))
        session.commit()
    upgrade(_config(database_url), "head")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, publish_removed_at IS NOT NULL AND share_removed_at IS NULL "
                                    "FROM consents")).all()
    assert {uuid.UUID(str(k)): bool(v) for k, v in rows} == {uuid.UUID(narrowed["id"]): True,
                                                            uuid.UUID(kept["id"]): False}
