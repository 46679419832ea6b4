"""What a phone sends to POST /sync. Field names are the contract with webclient/src (change both at once)."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from api.consent.models import ConsentMethod, Scope
from api.db import ts_column, utcnow
from api.fragments.models import FragmentKind, Language
from api.inputs import Instant, StrictBool, Text

Label = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
SIGNATURE_PREFIXES = ("data:image/png;base64,", "data:image/jpeg;base64,", "data:image/webp;base64,")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConversationData(_Record):
    project_id: uuid.UUID
    place_id: uuid.UUID | None = None
    prompt_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    started_at: Instant
    note: Text | None = Field(default=None, max_length=2000)


class ConsentData(_Record):
    conversation_id: uuid.UUID
    participant_label: Label
    consent_form_id: uuid.UUID
    scopes: list[Scope] = Field(max_length=4)
    method: ConsentMethod
    given_at: Instant
    signature: Text | None = Field(default=None, max_length=400_000)

    @field_validator("scopes")
    @classmethod
    def _unique(cls, v: list[Scope]) -> list[Scope]:
        return sorted(set(v), key=lambda s: s.value)

    @field_validator("signature")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(SIGNATURE_PREFIXES):
            raise ValueError("signature must be a PNG, JPEG or WebP image as a data URL")
        return v


class FragmentData(_Record):
    conversation_id: uuid.UUID
    consent_id: uuid.UUID
    kind: FragmentKind
    text: Text = Field(min_length=1, max_length=5000)
    language: Language = "en"
    prompt_id: uuid.UUID | None = None
    captured_at: Instant
    sensitive: StrictBool = False
    answers: dict[Annotated[Text, StringConstraints(max_length=40)], int | Text] | None = \
        Field(default=None, max_length=30)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text cannot be blank")
        return v


class SyncItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["conversation", "consent", "fragment"]
    id: uuid.UUID
    data: dict[str, Any]


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "device_id": "phone-7f3a",
        "items": [
            {"type": "conversation", "id": "0b5c3f5e-2d7a-4e43-9a57-2b9f8d1c0a11",
             "data": {"project_id": "…", "place_id": None, "prompt_ids": [], "started_at": "2026-11-20T10:00:00+00:00"}},
        ]}]})
    device_id: Text = Field(min_length=1, max_length=64)
    # Counted by the service (over the limit is 413, not 422); each item is checked on its own.
    items: list[dict[str, Any]]


SyncStatus = Literal["created", "duplicate", "conflict", "rejected"]


class SyncResult(BaseModel):
    id: str | None
    type: str | None
    status: SyncStatus
    code: str | None = None
    detail: str | None = None
    erased: bool | None = Field(default=None, description="On a `duplicate`: the server holds this record erased "
                                "(withdrawn, or past retention). The phone erases its copy: a backup restored after "
                                "a withdrawal must not bring the words back.")


class SyncResponse(BaseModel):
    results: list[SyncResult]
    server_time: AwareDatetime


# ---- what phones learn about their own records after the fact, and what they confirm -------------------------


class PhoneErasure(SQLModel, table=True):
    """A phone's confirmation that it erased its copy of a withdrawn consent's records."""

    __tablename__ = "phone_erasures"
    __table_args__ = (sa.UniqueConstraint("consent_id", "device_id"),)
    id: uuid.UUID = SQLField(default_factory=uuid.uuid4, primary_key=True)
    consent_id: uuid.UUID = SQLField(foreign_key="consents.id", ondelete="CASCADE", index=True)
    device_id: str = SQLField(max_length=64)
    researcher_id: uuid.UUID = SQLField(foreign_key="users.id", ondelete="CASCADE")
    confirmed_at: datetime = SQLField(default_factory=utcnow, sa_column=ts_column())


class Erased(BaseModel):
    entity: Literal["consent", "fragment"]
    id: uuid.UUID
    at: AwareDatetime


class Narrowed(BaseModel):
    id: uuid.UUID
    scopes: list[Scope] = Field(description="What the consent allows now.")
    at: AwareDatetime


class ErasedPage(BaseModel):
    """Your own records erased since `after` (a consent withdrawn, a fragment past retention or erased), and your
    own consents narrowed since then."""

    items: list[Erased]
    narrowed: list[Narrowed] = Field(default_factory=list, description=(
        "Your consents whose scopes a coordinator narrowed since `after` (the participant agreed to less), with "
        "what each allows now: stop offering what was taken away, and erase what the phone holds that needed it "
        "(an unsent quote without `quote`, a clip without `audio`). Its own list: `items` are erased whole."))
    last_seq: int = Field(description="Keep it and send it as `after` next time.")
    has_more: bool


class ErasureConfirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: Text = Field(min_length=1, max_length=64)
    consent_ids: list[uuid.UUID] = Field(max_length=500)
