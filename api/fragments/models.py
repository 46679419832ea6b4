import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import Field as PField
from pydantic import StringConstraints
from sqlmodel import Field, SQLModel

from api.db import ContentHash, json_column, new_id, text_column, ts_column, utcnow
from api.inputs import Instant, StrictBool, Text
from api.media.models import AudioPublic

# A BCP 47 language tag (loosely: "en", "pt-BR", "cy-GB"). (SQLModel's own `regex=` is ignored under Pydantic 2.)
Language = Annotated[str, StringConstraints(min_length=2, max_length=35,
                                            pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")]

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
    researcher_id: uuid.UUID = Field(foreign_key="users.id")  # indexed by ix_fragments_researcher_project_captured
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
    sync_hash: str = Field(sa_type=ContentHash)

    __table_args__ = (
        # The pull API's stable order, and its most common filters.
        sa.Index("ix_fragments_project_captured", "project_id", "captured_at", "id"),
        # A place or a prompt: keyset pages read a range of these, however rare the value.
        sa.Index("ix_fragments_project_place_captured", "project_id", "place_id", "captured_at", "id"),
        sa.Index("ix_fragments_project_prompt_captured", "project_id", "prompt_id", "captured_at", "id"),
        # A researcher's own fragments in a project, in capture order (their listing: one range whatever the
        # planner knows; without statistics it paired two bitmaps and sorted the project), and the overview's
        # latest capture per researcher (the end of a range); the leading column serves the foreign key.
        sa.Index("ix_fragments_researcher_project_captured", "researcher_id", "project_id", "captured_at", "id"),
        # The review queue: its filter is the prefix (reviewed_at IS NULL is an equality to SQLite and
        # PostgreSQL), then each sensitive/not-sensitive half in capture order, so a page is one range. Its
        # (project_id, status) prefix also serves every query by project and status (no index of its own).
        sa.Index("ix_fragments_review_queue", "project_id", "status", "reviewed_at", "sensitive", "captured_at", "id"),
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
    text: Text | None = Field(default=None, min_length=1, max_length=5000)
    language: Language | None = None
    prompt_id: uuid.UUID | None = None
    sensitive: StrictBool | None = None
    answers: dict[Text, int | Text] | None = None
    reviewed: StrictBool | None = PField(default=None, description="Coordinators only: mark reviewed (or not).")


class FragmentPage(SQLModel):
    items: list[FragmentPublic]
    next_cursor: str | None
    total: int | None = PField(default=None, description="With `total=true`: how many match, exact up to 1,000.")
    total_is_lower_bound: bool | None = PField(default=None, description="With `total=true`: more than `total` "
                                               "match (the count stops at 1,000).")


class ReviewCounts(SQLModel):
    unreviewed: int = PField(description="Active fragments no coordinator has reviewed yet.")
    sensitive: int = PField(description="How many of those are flagged sensitive.")
    more: bool = PField(default=False, description="Counting stops at 1,000: true when the queue holds more.")


class ReviewQueuePage(SQLModel):
    items: list[FragmentPublic]
    next_cursor: str | None
    counts: ReviewCounts | None = PField(description="The whole queue's size; on the first page only (no cursor).")


class FragmentContext(SQLModel):
    """What a coordinator's card shows beside a fragment's words."""

    fragment_id: uuid.UUID
    researcher_id: uuid.UUID
    researcher: str = PField(description="The researcher's display name, else their email.")
    participant_label: str
    scopes: list[str]


# --- saved searches --------------------------------------------------------------------------------------

# The GET /fragments filters a saved search may hold, each with the type its value must parse as. Not
# project_id (a saved search belongs to its project), nor cursor/limit/fields (a position and a shape, not a search).
SEARCH_FILTERS: dict[str, Any] = {
    "place": uuid.UUID, "prompt_id": uuid.UUID, "kind": FragmentKind, "tag": uuid.UUID, "conversation_id": uuid.UUID,
    "consent_id": uuid.UUID, "status": FragmentStatus, "sensitive": bool, "captured_after": Instant,
    "captured_before": Instant, "q": Text,
}
MAX_SAVED_SEARCHES = 100


class SavedSearchBase(SQLModel):
    name: Text = Field(min_length=1, max_length=120)


class SavedSearch(SavedSearchBase, table=True):
    """A named set of GET /fragments filters, shared by a project's coordinators."""

    __tablename__ = "saved_searches"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")  # indexed by the unique pair
    query: dict[str, str] = Field(sa_column=json_column(nullable=False))
    created_by: uuid.UUID = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (sa.UniqueConstraint("project_id", "name"),)


class SavedSearchCreate(SavedSearchBase):
    model_config = {"extra": "forbid"}
    query: dict[Annotated[Text, StringConstraints(max_length=50)],
                Annotated[Text, StringConstraints(max_length=200)]] = \
        PField(default_factory=dict, max_length=len(SEARCH_FILTERS),
               description="GET /fragments parameters as strings, e.g. {\"q\": \"bus\", \"place\": \"<place id>\"}.",
               examples=[{"q": "bus", "kind": "quote"}])


class SavedSearchPublic(SavedSearchBase):
    id: uuid.UUID
    project_id: uuid.UUID
    query: dict[str, str]
    created_by: uuid.UUID
    created_at: datetime
