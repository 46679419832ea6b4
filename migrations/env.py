"""Alembic environment: the models' metadata, the URL from Hearken's settings, batch mode on SQLite."""

from typing import Any

from alembic import context
from sqlmodel import SQLModel

import api.models  # noqa: F401  (registers every table)
from api.config import get_settings
from api.db import ContentHash, UTCDateTime, include_in_autogenerate, make_engine

config = context.config
target_metadata = SQLModel.metadata

def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, ContentHash):
        return "sa.String(length=64)"
    return False


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        url = config.attributes.get("url") or get_settings().resolved_database_url()
        engine = make_engine(url, migrating=True)
        try:
            with engine.connect() as connection:
                _run(connection)
        finally:
            engine.dispose()
    else:
        _run(connection)


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=lambda obj, name, *rest: include_in_autogenerate(name),
        include_name=lambda name, *rest: include_in_autogenerate(name),
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()
    if connection.in_transaction():
        connection.commit()


run_migrations_online()
