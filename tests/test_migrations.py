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
