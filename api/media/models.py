import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from api.db import text_column, ts_column, utcnow


class AudioClip(SQLModel, table=True):
    """The audio clip attached to a fragment: where its bytes are and what they are. One per fragment."""

    __tablename__ = "audio_clips"
    fragment_id: uuid.UUID = Field(primary_key=True, foreign_key="fragments.id", ondelete="CASCADE")
    storage_key: str = Field(max_length=300)
    content_type: str = Field(max_length=64)
    size: int = Field(sa_type=sa.BigInteger())
    sha256: str = Field(max_length=64)
    duration_ms: int | None = None
    uploaded_by: uuid.UUID = Field(foreign_key="users.id")
    uploaded_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class AudioPublic(SQLModel):
    content_type: str
    size: int
    sha256: str
    duration_ms: int | None
    uploaded_at: datetime


class UploadState(SQLModel):
    """What a tus HEAD or PATCH answers in its headers."""

    id: uuid.UUID
    offset: int
    length: int
    completed: bool


class AudioUpload(SQLModel, table=True):
    """A resumable upload (tus): its bytes so far sit in a partial file named by its id until they are all
    there. The row stays after completion, so a phone that lost the last answer learns from HEAD it is done;
    until the clip is attached it is also the record that a stored object may exist for it."""

    __tablename__ = "audio_uploads"
    id: uuid.UUID = Field(primary_key=True)
    fragment_id: uuid.UUID = Field(foreign_key="fragments.id", index=True, ondelete="CASCADE")
    uploaded_by: uuid.UUID = Field(foreign_key="users.id")
    length: int = Field(sa_type=sa.BigInteger())
    offset: int = Field(default=0, sa_type=sa.BigInteger())
    sha256: str = Field(max_length=64)
    filename: str | None = Field(default=None, max_length=200)
    filetype: str | None = Field(default=None, max_length=100)
    # The length the phone measured while recording (WebM and Ogg headers often do not say it).
    duration_ms: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(index=True))
    completed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class DeletionTarget(StrEnum):
    store = "store"  # an object in the media store (filesystem or S3)
    partial = "partial"  # a partial upload file on this server's disk


class MediaDeletion(SQLModel, table=True):
    """Bytes that must be erased. Written in the same transaction as the erasure, removed when the bytes
    are gone, so a crash or an unreachable store never loses track of them."""

    __tablename__ = "media_deletions"
    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                                             primary_key=True, autoincrement=True))
    target: DeletionTarget = Field(sa_type=sa.String(16))
    key: str = Field(max_length=300)
    # No foreign keys: the queue must outlive anything it refers to.
    fragment_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    reason: str = Field(max_length=32)
    queued_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(index=True))
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=text_column())
