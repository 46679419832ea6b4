import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from api.db import ts_column, utcnow


class ChangeOp(StrEnum):
    upsert = "upsert"
    tombstone = "tombstone"


# The changes a phone hears of; written the same way in the index and in the query, so both planners see that
# the index covers the query.
FOR_PHONES = "(op = 'tombstone' OR entity = 'consent')"


class Change(SQLModel, table=True):
    """The change sequence. One row per entity at its latest change; `seq` only ever grows."""

    __tablename__ = "changes"
    __table_args__ = (
        sa.Index("ix_changes_entity", "entity", "entity_id"),
        sa.Index("ix_changes_project_seq", "project_id", "seq"),
        # A phone asks every minute what became of its researcher's records (api/sync/phones.py): tombstones and
        # consent changes (a narrowing) are few, so a small partial index, not a walk of every change.
        sa.Index("ix_changes_owner_for_phones", "owner_id", "seq", sqlite_where=sa.text(FOR_PHONES),
                 postgresql_where=sa.text(FOR_PHONES)),
        {"sqlite_autoincrement": True},
    )
    seq: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                                              primary_key=True, autoincrement=True))
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")
    # Whose record it is, so a researcher's feed shows only their own.
    owner_id: uuid.UUID | None = Field(default=None)
    entity: str = Field(max_length=32)
    entity_id: uuid.UUID
    op: ChangeOp = Field(sa_type=sa.String(16))
    at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class ChangePublic(SQLModel):
    seq: int
    entity: str
    id: uuid.UUID
    op: ChangeOp
    at: datetime
    record: dict[str, Any] | None


class ChangePage(SQLModel):
    items: list[ChangePublic]
    last_seq: int
    has_more: bool
