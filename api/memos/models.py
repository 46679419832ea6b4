import uuid
from datetime import datetime

from pydantic import Field as PField
from sqlmodel import Field, SQLModel

from api.db import new_id, text_column, ts_column, utcnow
from api.inputs import Text

MAX_LINKS = 500


class Memo(SQLModel, table=True):
    """A coordinator's free-text note, linked to the fragments and tags behind it (REFI-QDA "notes")."""

    __tablename__ = "memos"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    text: str = Field(sa_column=text_column(nullable=False))
    created_by: uuid.UUID = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class MemoFragment(SQLModel, table=True):
    __tablename__ = "memo_fragments"
    memo_id: uuid.UUID = Field(foreign_key="memos.id", primary_key=True, ondelete="CASCADE")
    fragment_id: uuid.UUID = Field(foreign_key="fragments.id", primary_key=True, index=True, ondelete="CASCADE")


class MemoTag(SQLModel, table=True):
    __tablename__ = "memo_tags"
    memo_id: uuid.UUID = Field(foreign_key="memos.id", primary_key=True, ondelete="CASCADE")
    tag_id: uuid.UUID = Field(foreign_key="tags.id", primary_key=True, index=True, ondelete="CASCADE")


class MemoCreate(SQLModel):
    model_config = {"extra": "forbid"}
    text: Text = Field(min_length=1, max_length=20000)
    fragment_ids: list[uuid.UUID] = PField(default_factory=list, max_length=MAX_LINKS)
    tag_ids: list[uuid.UUID] = PField(default_factory=list, max_length=MAX_LINKS)


class MemoUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    text: Text | None = Field(default=None, min_length=1, max_length=20000)
    fragment_ids: list[uuid.UUID] | None = PField(default=None, max_length=MAX_LINKS,
                                                  description="The memo's fragments from now on (replaces the list).")
    tag_ids: list[uuid.UUID] | None = PField(default=None, max_length=MAX_LINKS,
                                             description="The memo's tags from now on (replaces the list).")


class MemoPublic(SQLModel):
    id: uuid.UUID
    project_id: uuid.UUID
    text: str
    created_by: uuid.UUID
    author: str = PField(description="The author's display name, else their email.")
    created_at: datetime
    updated_at: datetime
    fragment_ids: list[uuid.UUID]
    tag_ids: list[uuid.UUID]
