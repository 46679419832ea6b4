import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from api.db import json_column, ts_column, utcnow


class AuditEntry(SQLModel, table=True):
    """Who did what, when. Never holds the content of a fragment, only ids and counts."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                                             primary_key=True, autoincrement=True))
    at: datetime = Field(default_factory=utcnow, sa_column=ts_column(index=True))
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", index=True)
    client_id: uuid.UUID | None = Field(default=None, foreign_key="api_clients.id", ondelete="CASCADE")
    project_id: uuid.UUID | None = Field(default=None, foreign_key="projects.id", index=True, ondelete="CASCADE")
    action: str = Field(max_length=64)
    entity: str = Field(max_length=32)
    entity_id: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] | None = Field(default=None, sa_column=json_column())

    # An API client's requests in the last minute are counted from here (its rate limit).
    __table_args__ = (sa.Index("ix_audit_log_client_at", "client_id", "at"),)


class AuditPublic(SQLModel):
    id: int
    at: datetime
    actor_id: uuid.UUID | None
    client_id: uuid.UUID | None
    project_id: uuid.UUID | None
    action: str
    entity: str
    entity_id: str | None
    detail: dict[str, Any] | None


class AuditItem(AuditPublic):
    actor_email: str | None = None
    client_name: str | None = None


class AuditPage(SQLModel):
    items: list[AuditItem]
    next_cursor: str | None
