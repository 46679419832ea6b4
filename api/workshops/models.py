import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BeforeValidator
from pydantic import Field as PField
from sqlmodel import Field, SQLModel

from api.db import json_column, new_id, ts_column, utcnow
from api.inputs import Instant, Text


def _written_time(value: Any) -> Any:
    if not isinstance(value, str | datetime):
        raise ValueError("a time is written out, with its offset (2026-12-03T18:30:00+00:00), not a number")
    return value


# A time with its offset, written as text: a bare number would be taken for seconds since 1970.
Moment = Annotated[Instant, BeforeValidator(_written_time)]


class WorkshopAudience(StrEnum):
    """Who is in the room: decides which fragments may become cards."""

    project = "project"  # only project members
    mixed = "mixed"  # people outside the project: every card needs `share`
    public = "public"  # a published result: every card needs `publish`


class WorkshopState(StrEnum):
    draft = "draft"
    ready = "ready"  # pack frozen, cards numbered
    running = "running"
    closed = "closed"


# Boards that guests may open: their screens load again when a card's fragment or consent changes.
OPEN_FOR_GUESTS = (WorkshopState.ready, WorkshopState.running)


class WorkshopBase(SQLModel):
    title: str = Field(min_length=1, max_length=200)
    starts_at: datetime = Field(sa_column=ts_column())
    venue: str = Field(default="", max_length=300)
    question: str = Field(default="", max_length=2000)
    audience: WorkshopAudience = Field(default=WorkshopAudience.project, sa_type=sa.String(16))


class Workshop(WorkshopBase, table=True):
    """A sense-making session: a pack of fragments shown as numbered cards, grouped into themes."""

    __tablename__ = "workshops"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    state: WorkshopState = Field(default=WorkshopState.draft, sa_type=sa.String(16))
    # What participants type (or scan) to join the board; unique while the workshop lives.
    short_code: str = Field(max_length=12, sa_column_kwargs={"unique": True})
    locked: bool = False
    # The board's operation counter: bumped under the workshop row's lock, so seq order is commit order.
    board_seq: int = 0
    parent_tag_id: uuid.UUID | None = Field(default=None, foreign_key="tags.id", ondelete="SET NULL")
    created_by: uuid.UUID = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    frozen_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class WorkshopCreate(SQLModel):
    model_config = {"extra": "forbid"}
    title: Text = PField(min_length=1, max_length=200)
    starts_at: Moment
    venue: Text = PField(default="", max_length=300)
    question: Text = PField(default="", max_length=2000)
    audience: WorkshopAudience = WorkshopAudience.project


class WorkshopUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    title: Text | None = PField(default=None, min_length=1, max_length=200)
    starts_at: Moment | None = None
    venue: Text | None = PField(default=None, max_length=300)
    question: Text | None = PField(default=None, max_length=2000)
    audience: WorkshopAudience | None = None


class WorkshopPublic(WorkshopBase):
    id: uuid.UUID
    project_id: uuid.UUID
    state: WorkshopState
    # The board's join code; null for an API client (the code alone lets anyone join the board).
    short_code: str | None
    locked: bool
    parent_tag_id: uuid.UUID | None
    created_at: datetime
    frozen_at: datetime | None
    closed_at: datetime | None


class StateChange(SQLModel):
    model_config = {"extra": "forbid"}
    state: WorkshopState


class PackItem(SQLModel, table=True):
    """A fragment chosen for a workshop. Holds no words: what a card shows is worked out, every time, from the
    fragment as it is now (see cards.py), so an erasure reaches every view and keeps nothing behind."""

    __tablename__ = "workshop_pack"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)  # the card's id on boards (not the fragment's)
    workshop_id: uuid.UUID = Field(foreign_key="workshops.id", ondelete="CASCADE")
    fragment_id: uuid.UUID = Field(foreign_key="fragments.id", index=True, ondelete="CASCADE")
    position: int = 0  # order added; cards are numbered in this order when the pack is frozen
    number: int | None = None
    sensitive_included_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    added_by: uuid.UUID = Field(foreign_key="users.id")
    added_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    # Board state: where the card lies and in which theme (last writer by board seq wins).
    x: float = 0
    y: float = 0
    theme_id: uuid.UUID | None = Field(default=None)
    withdrawal_confirmed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))

    __table_args__ = (sa.UniqueConstraint("workshop_id", "fragment_id"),)


class Theme(SQLModel, table=True):
    """A group of cards the room named. On closing it becomes a child tag of the workshop's tag."""

    __tablename__ = "workshop_themes"
    id: uuid.UUID = Field(primary_key=True)  # chosen by the board that made it
    workshop_id: uuid.UUID = Field(foreign_key="workshops.id", index=True, ondelete="CASCADE")
    name: str = Field(default="", max_length=200)
    x: float = 0
    y: float = 0
    votes: int = 0
    removed: bool = False
    tag_id: uuid.UUID | None = Field(default=None, foreign_key="tags.id", ondelete="SET NULL")
    # Cards at closing: kept as a count, so an erased card leaves the number but nothing of its words.
    card_count: int | None = None


class Note(SQLModel, table=True):
    """A sticky note on a theme or on the board (an insight, a question). Written by the room, not a fragment."""

    __tablename__ = "workshop_notes"
    id: uuid.UUID = Field(primary_key=True)
    workshop_id: uuid.UUID = Field(foreign_key="workshops.id", index=True, ondelete="CASCADE")
    theme_id: uuid.UUID | None = None
    text: str = Field(max_length=2000)
    x: float = 0
    y: float = 0
    removed: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class Guest(SQLModel, table=True):
    """Someone who joined a board with the short code: no account, a token that opens this board alone."""

    __tablename__ = "workshop_participants"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    workshop_id: uuid.UUID = Field(foreign_key="workshops.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    name: str = Field(default="", max_length=60)
    joined_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    removed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class BoardOp(SQLModel, table=True):
    """One operation on a board, in the order the server applied it. The id is the client's: a resend is
    recognised and answered with the first result, never applied twice."""

    __tablename__ = "workshop_ops"
    id: uuid.UUID = Field(primary_key=True)
    workshop_id: uuid.UUID = Field(foreign_key="workshops.id", ondelete="CASCADE")
    seq: int
    kind: str = Field(max_length=24)
    data: dict[str, Any] = Field(sa_column=json_column(nullable=False))
    by_user: uuid.UUID | None = Field(default=None)
    by_participant: uuid.UUID | None = Field(default=None)
    at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (sa.UniqueConstraint("workshop_id", "seq"),)


# --- what leaves the server -------------------------------------------------------------------------------

class Card(SQLModel):
    """A fragment as a workshop may show it: never the participant, the researcher, the time or the answers."""

    id: uuid.UUID = PField(description="The card's id (not the fragment's).")
    number: int | None
    text: str
    kind: str
    language: str
    prompt: str | None
    place: str | None
    month: str = PField(description="YYYY-MM the words were captured.")


class CoordinatorCard(Card):
    fragment_id: uuid.UUID
    sensitive: bool
    x: float = 0
    y: float = 0
    theme_id: uuid.UUID | None = None


class LeftOut(SQLModel):
    fragment_id: uuid.UUID
    reason: str
    text: str | None = PField(default=None, description="Only for `sensitive_not_included`: the words, so the "
                              "coordinator deciding whether to include it can read what they would put on the board.")


class WithdrawnCard(SQLModel):
    number: int
    withdrawn_on: datetime
    message: str


class Pack(SQLModel):
    workshop: WorkshopPublic
    cards: list[CoordinatorCard]
    left_out: dict[str, int] = PField(description="Fragments in the pack that are not shown, counted per reason.")
    left_out_items: list[LeftOut]
    withdrawn: list[WithdrawnCard] = PField(description="Printed cards whose fragment was withdrawn since: take them "
                                                        "out of the printed pack, then confirm.")


class PackAdd(SQLModel):
    model_config = {"extra": "forbid"}
    fragment_ids: list[uuid.UUID] = PField(default_factory=list, max_length=2000)
    saved_search_id: uuid.UUID | None = None
    tag_id: uuid.UUID | None = None


class PackAddResult(SQLModel):
    added: int
    already: int
    left_out: dict[str, int]


class PackRemove(SQLModel):
    model_config = {"extra": "forbid"}
    fragment_ids: list[uuid.UUID] = PField(min_length=1, max_length=2000)
