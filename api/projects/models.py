import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import Field as PField
from pydantic import StringConstraints, model_validator
from sqlmodel import Field, SQLModel

from api.db import json_column, new_id, ts_column, utcnow
from api.inputs import StrictBool, Text

# A question's id is the key of its answers on every fragment. (SQLModel's own `regex=` is ignored under Pydantic 2.)
QuestionId = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9_-]+$")]


class SliderQuestion(SQLModel):
    """A self-signification slider between two poles; answers are 0..100."""

    model_config = {"extra": "forbid"}
    id: QuestionId
    type: Literal["slider"]
    label: Text = Field(min_length=1, max_length=300)
    left: Text = Field(min_length=1, max_length=120)
    right: Text = Field(min_length=1, max_length=120)


class ChoiceQuestion(SQLModel):
    model_config = {"extra": "forbid"}
    id: QuestionId
    type: Literal["choice"]
    label: Text = Field(min_length=1, max_length=300)
    options: list[Annotated[Text, PField(min_length=1, max_length=120)]] = Field(min_length=2, max_length=20)


Question = Annotated[SliderQuestion | ChoiceQuestion, PField(discriminator="type")]


class OverviewCount(SQLModel, table=True):
    """Active fragments per project, week (its Monday, UTC) and dimension: `all`, `sensitive`, `unreviewed` (key:
    the project), `place`, `prompt`, `tag` (key: that id). Kept by database triggers on fragments and
    fragment_tags in the writing transaction, whatever code path writes (see the search migration), so the
    overview reads a few hundred rows instead of grouping every fragment."""

    __tablename__ = "overview_counts"
    project_id: uuid.UUID = Field(foreign_key="projects.id", primary_key=True, ondelete="CASCADE")
    dimension: str = Field(max_length=16, primary_key=True)
    key: uuid.UUID = Field(primary_key=True)
    week: date = Field(primary_key=True)
    n: int = 0


class SearchLanguage(StrEnum):
    """How a project's text is searched: `english` finds word forms ("buses" finds "bus"), `simple` exact words
    (for any other language)."""

    english = "english"
    simple = "simple"


class ProjectBase(SQLModel):
    name: Text = Field(min_length=1, max_length=200)
    description: Text = Field(default="", max_length=5000, sa_column=sa.Column(sa.Text(), nullable=False))
    retention_days: int | None = Field(default=None, ge=1, le=36500)
    search_language: SearchLanguage = Field(default=SearchLanguage.english, sa_type=sa.String(16))
    # phone (issue 14): printed on the participant's receipt — how to reach the project to withdraw.
    withdrawal_contact: Text = Field(default="", max_length=300, sa_column=sa.Column(
        sa.String(300), nullable=False, server_default=""))
    # How many days a phone keeps the words of a record the server already holds (a lost phone gives away no
    # more); a project with more sensitive talk shortens it.
    phone_keep_days: int = Field(default=14, ge=1, le=90, sa_column=sa.Column(
        sa.Integer(), nullable=False, server_default="14"))


class Project(ProjectBase, table=True):
    __tablename__ = "projects"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    questions: list[dict[str, Any]] = Field(default_factory=list, sa_column=json_column(nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


def _unique_question_ids(questions: list[Any] | None) -> None:
    if questions and len({q.id for q in questions}) != len(questions):
        raise ValueError("question ids must be unique")


class ProjectCreate(ProjectBase):
    model_config = {"extra": "forbid"}
    questions: list[Question] = Field(default_factory=list, max_length=30)

    @model_validator(mode="after")
    def _check(self) -> "ProjectCreate":
        _unique_question_ids(self.questions)
        return self


class ProjectUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=5000)
    retention_days: int | None = Field(default=None, ge=1, le=36500)
    withdrawal_contact: Text | None = Field(default=None, max_length=300)
    phone_keep_days: int | None = Field(default=None, ge=1, le=90)
    questions: list[Question] | None = Field(default=None, max_length=30)
    search_language: SearchLanguage | None = None

    @model_validator(mode="after")
    def _check(self) -> "ProjectUpdate":
        _unique_question_ids(self.questions)
        if "withdrawal_contact" in self.model_fields_set and self.withdrawal_contact is None:
            self.withdrawal_contact = ""  # null clears it; the column holds text, never NULL
        if self.withdrawal_contact and any(c < " " and c not in "\n\t" or c == "\x7f" for c in self.withdrawal_contact):
            raise ValueError("withdrawal_contact holds a control character")
        return self


class ProjectPublic(ProjectBase):
    id: uuid.UUID
    questions: list[dict[str, Any]]
    created_at: datetime
    my_role: str | None = None


class Role(StrEnum):
    coordinator = "coordinator"
    researcher = "researcher"


class Membership(SQLModel, table=True):
    __tablename__ = "memberships"
    project_id: uuid.UUID = Field(foreign_key="projects.id", primary_key=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, index=True, ondelete="CASCADE")
    role: Role = Field(sa_type=sa.String(16))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class MembershipSet(SQLModel):
    model_config = {"extra": "forbid"}
    role: Role


class MembershipPublic(SQLModel):
    project_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    created_at: datetime
    email: str | None = None
    display_name: str | None = None
    training_current: bool = False
    training_expires_on: date | None = None
    last_sync_at: datetime | None = None


class TrainingRecord(SQLModel, table=True):
    __tablename__ = "training_records"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    completed_on: date
    expires_on: date
    recorded_by: uuid.UUID = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (sa.Index("ix_training_records_project_user", "project_id", "user_id"),)


class TrainingCreate(SQLModel):
    model_config = {"extra": "forbid"}
    completed_on: date
    expires_on: date

    @model_validator(mode="after")
    def _order(self) -> "TrainingCreate":
        if self.expires_on <= self.completed_on:
            raise ValueError("expires_on must be after completed_on")
        return self


class TrainingPublic(SQLModel):
    id: uuid.UUID
    project_id: uuid.UUID
    user_id: uuid.UUID
    completed_on: date
    expires_on: date
    recorded_by: uuid.UUID
    created_at: datetime


class PromptBase(SQLModel):
    text: Text = Field(min_length=1, max_length=500)
    position: int = Field(default=0, ge=0, le=10000)
    active: StrictBool = True


class Prompt(PromptBase, table=True):
    __tablename__ = "prompts"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class PromptCreate(PromptBase):
    model_config = {"extra": "forbid"}


class PromptUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    text: Text | None = Field(default=None, min_length=1, max_length=500)
    position: int | None = Field(default=None, ge=0, le=10000)
    active: StrictBool | None = None


class PromptPublic(PromptBase):
    id: uuid.UUID
    project_id: uuid.UUID


class PlaceBase(SQLModel):
    name: Text = Field(min_length=1, max_length=200)
    active: StrictBool = True


class Place(PlaceBase, table=True):
    __tablename__ = "places"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (sa.UniqueConstraint("project_id", "name"),)


class PlaceCreate(PlaceBase):
    model_config = {"extra": "forbid"}


class PlaceUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    active: StrictBool | None = None


class PlacePublic(PlaceBase):
    id: uuid.UUID
    project_id: uuid.UUID


class WeeklySeries(SQLModel):
    id: uuid.UUID
    name: str
    counts: list[int] = PField(description="Fragments captured in each week of `weeks`, same order.")


class OverviewTotals(SQLModel):
    fragments: int
    sensitive: int
    unreviewed: int
    withdrawn_consents: int
    researchers: int


class ResearcherActivity(SQLModel):
    user_id: uuid.UUID
    display_name: str
    email: str
    fragments: int
    last_captured_at: datetime | None
    last_sync_at: datetime | None


class StaleDevice(SQLModel):
    id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    device_label: str | None
    last_sync_at: datetime | None


class Expiring(SQLModel):
    days: int
    fragments: int
    signatures: int
    first_at: datetime | None = PField(description="When the first of them passes retention (may be past if "
                                                   "`hearken purge` has not run since).")


class OverviewPublic(SQLModel):
    weeks: list[date] = PField(description="The Monday (UTC) of each week, oldest first; this week last.")
    per_place: list[WeeklySeries]
    per_prompt: list[WeeklySeries]
    per_tag: list[WeeklySeries]
    totals: OverviewTotals
    researchers: list[ResearcherActivity]
    stale_devices: list[StaleDevice]
    expiring: Expiring


