import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import Field as PField
from sqlmodel import Field, SQLModel

from api.db import json_column, text_column, ts_column, utcnow
from api.media.models import AudioPublic

# An erased record keeps no trace of its content, not even a hash of it; a replay of it answers `duplicate`.
ERASED_HASH = "erased"


class FragmentKind(StrEnum):
    quote = "quote"
    paraphrase = "paraphrase"
    observation = "observation"


class FragmentStatus(StrEnum):
    active = "active"
    withdrawn = "withdrawn"  # its consent was withdrawn: content erased, a tombstone remains
    expired = "expired"  # past the project's retention period: erased the same way


class Fragment(SQLModel, table=True):
    __tablename__ = "fragments"
    id: uuid.UUID = Field(primary_key=True)  # chosen by the phone
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", index=True, ondelete="CASCADE")
    consent_id: uuid.UUID = Field(foreign_key="consents.id", index=True)
    researcher_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    place_id: uuid.UUID | None = Field(default=None, foreign_key="places.id")
    prompt_id: uuid.UUID | None = Field(default=None, foreign_key="prompts.id")
    kind: FragmentKind | None = Field(default=None, sa_type=sa.String(16))
    # Content columns: NULL once the fragment is erased (withdrawal, retention).
    text: str | None = Field(default=None, sa_column=text_column())
    answers: dict[str, Any] | None = Field(default=None, sa_column=json_column())
    language: str | None = Field(default=None, max_length=35)
    sensitive: bool = False
    captured_at: datetime = Field(sa_column=ts_column())
    received_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    status: FragmentStatus = Field(default=FragmentStatus.active, sa_type=sa.String(16))
    erased_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    reviewed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    reviewed_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    version: int = 1
    sync_hash: str = Field(max_length=64)

    __table_args__ = (
        # The pull API's stable order, and its most common filters.
        sa.Index("ix_fragments_project_captured", "project_id", "captured_at", "id"),
        sa.Index("ix_fragments_project_status", "project_id", "status"),
    )


class FragmentPublic(SQLModel):
    id: uuid.UUID
    project_id: uuid.UUID
    conversation_id: uuid.UUID
    consent_id: uuid.UUID
    researcher_id: uuid.UUID
    place_id: uuid.UUID | None
    prompt_id: uuid.UUID | None
    kind: FragmentKind | None
    text: str | None
    answers: dict[str, Any] | None
    language: str | None
    sensitive: bool
    captured_at: datetime
    received_at: datetime
    updated_at: datetime
    status: FragmentStatus
    erased_at: datetime | None
    reviewed_at: datetime | None
    version: int
    tag_ids: list[uuid.UUID] = []
    audio: AudioPublic | None = None


class FragmentUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    kind: FragmentKind | None = None
    text: str | None = Field(default=None, min_length=1, max_length=5000)
    language: str | None = Field(default=None, min_length=2, max_length=35, regex=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
    prompt_id: uuid.UUID | None = None
    sensitive: bool | None = None
    answers: dict[str, int | str] | None = None
    reviewed: bool | None = PField(default=None, description="Coordinators only: mark reviewed (or not).")


class FragmentPage(SQLModel):
    items: list[FragmentPublic]
    next_cursor: str | None
