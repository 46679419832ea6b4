import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from api.db import ContentHash, new_id, text_column, ts_column, utcnow
from api.inputs import Text


class Scope(StrEnum):
    audio = "audio"
    quote = "quote"
    share = "share"
    publish = "publish"


class ConsentMethod(StrEnum):
    verbal = "verbal"
    signed = "signed"
    written = "written"


class ConsentForm(SQLModel, table=True):
    """One version of a project's consent form. Once a consent refers to it, it never changes."""

    __tablename__ = "consent_forms"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    version: int
    title: str = Field(max_length=200)
    body: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    scopes: list[str] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    created_by: uuid.UUID = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (sa.UniqueConstraint("project_id", "version"),)


class ConsentFormCreate(SQLModel):
    model_config = {"extra": "forbid"}
    title: Text = Field(min_length=1, max_length=200)
    body: Text = Field(min_length=1, max_length=50_000)
    scopes: list[Scope] = Field(min_length=1, max_length=4)


class ConsentFormUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    title: Text | None = Field(default=None, min_length=1, max_length=200)
    body: Text | None = Field(default=None, min_length=1, max_length=50_000)
    scopes: list[Scope] | None = Field(default=None, min_length=1, max_length=4)


class ConsentFormPublic(SQLModel):
    id: uuid.UUID
    project_id: uuid.UUID
    version: int
    title: str
    body: str
    scopes: list[str]
    created_at: datetime
    current: bool = False
    in_use: bool = False


class Participant(SQLModel, table=True):
    """A person in a conversation, known only by a pseudonymous label. No names, no contact details."""

    __tablename__ = "participants"
    id: uuid.UUID = Field(primary_key=True)  # derived from conversation and label, so replays agree
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    label: str = Field(max_length=40)

    __table_args__ = (sa.UniqueConstraint("conversation_id", "label"),)


PARTICIPANT_NAMESPACE = uuid.UUID("6a1f0c52-2d8e-4c55-9d0e-7c1b8f1e9a10")


def participant_id(conversation_id: uuid.UUID, label: str) -> uuid.UUID:
    return uuid.uuid5(PARTICIPANT_NAMESPACE, f"{conversation_id}:{label}")


class Consent(SQLModel, table=True):
    __tablename__ = "consents"
    id: uuid.UUID = Field(primary_key=True)  # chosen by the phone
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", index=True, ondelete="CASCADE")
    participant_id: uuid.UUID = Field(foreign_key="participants.id", index=True)
    consent_form_id: uuid.UUID = Field(foreign_key="consent_forms.id")
    scope_audio: bool = False
    scope_quote: bool = False
    scope_share: bool = False
    scope_publish: bool = False
    method: ConsentMethod = Field(sa_type=sa.String(16))
    given_at: datetime = Field(sa_column=ts_column())
    signature: str | None = Field(default=None, sa_column=text_column())
    recorded_by: uuid.UUID = Field(foreign_key="users.id", index=True)
    received_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    withdrawn_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    withdrawn_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    # When `share` / `publish` was taken away: a partner's or the public's tool may hold this consent's fragments
    # from before, and is told to delete them (api/feed/reading.py, api/webhooks/service.py).
    share_removed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    publish_removed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    version: int = 1
    # SHA-256 of the record as the phone first sent it: a replay matches it, a different record does not.
    sync_hash: str = Field(sa_type=ContentHash)

    @property
    def scopes(self) -> list[str]:
        return [s.value for s in Scope if getattr(self, f"scope_{s.value}")]

    def allows(self, scope: Scope) -> bool:
        return bool(getattr(self, f"scope_{scope.value}"))


class ConsentState(StrEnum):
    active = "active"
    withdrawn = "withdrawn"


class ConsentPublic(SQLModel):
    id: uuid.UUID
    project_id: uuid.UUID
    conversation_id: uuid.UUID
    participant_id: uuid.UUID
    participant_label: str
    consent_form_id: uuid.UUID
    scopes: list[str]
    method: ConsentMethod
    given_at: datetime
    has_signature: bool
    recorded_by: uuid.UUID
    received_at: datetime
    withdrawn_at: datetime | None
    version: int


class ConsentListItem(ConsentPublic):
    """A row of the consent register: the consent, where it was given and how much is held under it."""

    place_id: uuid.UUID | None = Field(description="The place of the consent's conversation.")
    fragment_count: int = Field(description="Fragments still held under this consent (erased ones not counted).")


class ConsentUpdate(SQLModel):
    """Scopes may only be narrowed after the fact; widening needs a new consent from the participant."""

    model_config = {"extra": "forbid"}
    scopes: list[Scope] = Field(max_length=4)


class WithdrawReason(StrEnum):
    """Why a consent was withdrawn, as a fixed code: the audit log keeps it, and free text could carry a
    name or what was said."""

    participant_asked = "participant_asked"
    someone_on_their_behalf = "someone_on_their_behalf"
    safeguarding = "safeguarding"
    recorded_in_error = "recorded_in_error"
    other = "other"


class WithdrawRequest(SQLModel):
    model_config = {"extra": "forbid"}
    reason: WithdrawReason | None = Field(default=None, description="A fixed code; free text is refused (422).")


class WithdrawResult(SQLModel):
    consent_id: uuid.UUID
    withdrawn_at: datetime
    fragments_erased: int
    clips_erased: int = 0
    tagged_fragments_erased: int = Field(default=0, description="Erased fragments that had tags (now dropped).")
    signature_erased: bool = False
    workshop_cards_erased: int = Field(default=0, description="Numbered workshop cards this took off boards.")


class PhoneErasurePublic(SQLModel):
    device_id: str
    confirmed_at: datetime


class WithdrawalPreview(SQLModel):
    """Exactly what a withdrawal of this consent would erase now."""

    consent_id: uuid.UUID
    participant_label: str
    already_withdrawn: bool
    fragments: int = Field(description="Fragments whose text, answers and tags would be erased.")
    clips: int = Field(description="Audio clips held for those fragments, whose bytes would be deleted.")
    workshop_cards: int = Field(description="Numbered cards of ready or running workshops that would leave their "
                                            "boards (and be listed for taking out of printed packs).")
    workshops: list[str] = Field(default_factory=list, description="The titles of those workshops.")
    signature: bool = Field(description="Whether a signature image is held and would be erased.")
    tagged_fragments: int = Field(description="Of those fragments, how many have tags.")
    phones_holding: int = Field(default=0, description="Phones that captured these records and have not yet "
                                                       "confirmed erasing their copy.")
    phone_erasures: list[PhoneErasurePublic] = Field(default_factory=list,
                                                     description="When each phone confirmed erasing its copy.")


class SubjectProject(SQLModel):
    id: uuid.UUID
    name: str


class SubjectParticipant(SQLModel):
    id: uuid.UUID
    label: str
    conversation_id: uuid.UUID
    conversation_started_at: datetime
    place: str | None


class SubjectConsentForm(SQLModel):
    title: str
    body: str
    version: int


class SubjectConsent(SQLModel):
    id: uuid.UUID
    participant_id: uuid.UUID
    conversation_id: uuid.UUID
    form: SubjectConsentForm
    scopes: list[str]
    method: ConsentMethod
    given_at: datetime
    withdrawn_at: datetime | None
    has_signature: bool
    signature: str | None = Field(default=None, description="The participant's own signature (an image as a data "
                                                            "URL), while it is held.")


class SubjectFragment(SQLModel):
    """A fragment as the participant may see it. An erased one keeps only what its tombstone row still holds."""

    id: uuid.UUID
    consent_id: uuid.UUID
    conversation_id: uuid.UUID
    status: str
    erased_at: datetime | None
    captured_at: datetime
    place: str | None
    prompt: str | None
    kind: str | None
    text: str | None
    language: str | None
    answers: dict[str, Any] | None
    tags: list[str]
    audio_held: bool


class SubjectAccess(SQLModel):
    """Everything a project holds under one participant label (a subject access request)."""

    project: SubjectProject
    label: str
    generated_at: datetime
    participants: list[SubjectParticipant]
    consents: list[SubjectConsent]
    fragments: list[SubjectFragment]


class SignatureImage(SQLModel):
    signature: str = Field(description="The participant's signature, an image as a data URL.")
