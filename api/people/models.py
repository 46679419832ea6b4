import uuid
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import EmailStr, field_validator
from sqlmodel import Field, SQLModel

from api.db import new_id, ts_column, utcnow
from api.inputs import StrictBool, Text


def normalise_email(value: str) -> str:
    return value.strip().lower()


class UserBase(SQLModel):
    email: str = Field(max_length=254, sa_column_kwargs={"unique": True})
    display_name: str = Field(default="", max_length=120)


class User(UserBase, table=True):
    __tablename__ = "users"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    password_hash: str | None = Field(default=None, max_length=255)
    is_admin: bool = False
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    # Who made the account: a coordinator may add to a project the users they created (and those of their
    # own projects), never someone they have not seen (see projects.service.set_member).
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")


class LoginThrottle(SQLModel, table=True):
    """Attempts counted per key in a fixed window (api/people/throttle.py): logins per (email, client address)
    and per client address, enrolment codes per client address and overall. Keys are hashes: an email, known
    or not, is counted alike, so a refusal never tells whether an account exists."""

    __tablename__ = "login_throttle"
    key: str = Field(primary_key=True, max_length=80)
    attempts: int = 0
    window_started_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class UserCreate(SQLModel):
    model_config = {"extra": "forbid"}
    email: EmailStr = Field(max_length=254)
    display_name: Text = Field(default="", max_length=120)
    password: Text = Field(min_length=10, max_length=256)
    is_admin: StrictBool = False

    @field_validator("email")
    @classmethod
    def _lower(cls, v: str) -> str:
        return normalise_email(v)


class UserUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    display_name: Text | None = Field(default=None, max_length=120)
    password: Text | None = Field(default=None, min_length=10, max_length=256)
    current_password: Text | None = Field(default=None, max_length=256, description=(
        "Your present password: needed to change your own. An admin resetting someone else's (or a coordinator "
        "a researcher's they manage) leaves it out."))
    is_active: StrictBool | None = None
    is_admin: StrictBool | None = None


class UserPublic(SQLModel):
    id: uuid.UUID
    email: str
    display_name: str
    is_admin: bool
    is_active: bool
    created_at: datetime


class TokenKind(StrEnum):
    session = "session"
    device = "device"


class AuthToken(SQLModel, table=True):
    """A login session or an enrolled phone. Only the SHA-256 of the bearer secret is kept."""

    __tablename__ = "auth_tokens"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    kind: TokenKind = Field(sa_type=sa.String(16))
    project_id: uuid.UUID | None = Field(default=None, foreign_key="projects.id", ondelete="CASCADE")
    device_label: str | None = Field(default=None, max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    expires_at: datetime = Field(sa_column=ts_column())
    revoked_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    last_used_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    last_sync_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class EnrolmentCode(SQLModel, table=True):
    """A short one-time code a coordinator hands a researcher to enrol a phone."""

    __tablename__ = "enrolment_codes"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    code_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    created_by: uuid.UUID = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    expires_at: datetime = Field(sa_column=ts_column())
    used_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class LoginRequest(SQLModel):
    model_config = {"extra": "forbid"}
    email: Text = Field(max_length=254)
    password: Text = Field(max_length=256)


class EnrolRequest(SQLModel):
    model_config = {"extra": "forbid"}
    code: Text = Field(min_length=4, max_length=32)
    device_label: Text | None = Field(default=None, max_length=120)


class MembershipSummary(SQLModel):
    project_id: uuid.UUID
    project_name: str
    role: str
    training_current: bool
    training_expires_on: date | None


class MePublic(SQLModel):
    user: UserPublic
    memberships: list[MembershipSummary]
    token_kind: TokenKind
    token_expires_at: datetime


class TokenPublic(SQLModel):
    token: str
    token_type: str = "bearer"
    kind: TokenKind
    expires_at: datetime
    user: UserPublic


class DevicePublic(SQLModel):
    id: uuid.UUID
    user_id: uuid.UUID
    kind: TokenKind
    project_id: uuid.UUID | None
    device_label: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    last_sync_at: datetime | None
