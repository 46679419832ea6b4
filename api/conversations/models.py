import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from api.db import ContentHash, text_column, ts_column, utcnow
from api.inputs import Text


class Conversation(SQLModel, table=True):
    """One encounter held by a researcher: when, which place (a neighbourhood, never GPS), which prompts."""

    __tablename__ = "conversations"
    id: uuid.UUID = Field(primary_key=True)  # chosen by the phone
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    researcher_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    place_id: uuid.UUID | None = Field(default=None, foreign_key="places.id")
    prompt_ids: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON(), nullable=False))
    started_at: datetime = Field(sa_column=ts_column())
    note: str | None = Field(default=None, sa_column=text_column())
    device_id: str | None = Field(default=None, max_length=64)
    received_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    version: int = 1
    sync_hash: str = Field(sa_type=ContentHash)


class ConversationPublic(SQLModel):
    id: uuid.UUID
    project_id: uuid.UUID
    researcher_id: uuid.UUID
    place_id: uuid.UUID | None
    prompt_ids: list[uuid.UUID]
    started_at: datetime
    note: str | None
    received_at: datetime
    updated_at: datetime
    version: int


class ConversationUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    place_id: uuid.UUID | None = None
    prompt_ids: list[uuid.UUID] | None = Field(default=None, max_length=50)
    note: Text | None = Field(default=None, max_length=2000)
