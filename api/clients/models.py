import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import field_validator
from sqlmodel import Field, SQLModel

from api.db import new_id, ts_column, utcnow
from api.inputs import Instant, Text


class ClientScope(StrEnum):
    fragments_read = "fragments:read"
    audio_read = "audio:read"
    tags_read = "tags:read"
    changes_read = "changes:read"
    export = "export"
    webhooks = "webhooks"
    workshops_read = "workshops:read"


class Audience(StrEnum):
    """Whose eyes the tool serves: the project's own team, a partner organisation, or the public."""

    internal = "internal"  # everything in the project
    partner = "partner"  # only fragments whose consent has `share`
    public = "public"  # only fragments whose consent has `publish`


class ApiClient(SQLModel, table=True):
    """A token for another tool, bound to one project, with scopes. Only a hash of the token is kept."""

    __tablename__ = "api_clients"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=120)
    scopes: list[str] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    audience: Audience = Field(sa_type=sa.String(16))
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    token_hint: str = Field(max_length=12)  # the first characters, so people can tell tokens apart
    rate_limit_per_minute: int = 600
    created_by: uuid.UUID = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    expires_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    rotated_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))

    def allows(self, scope: ClientScope) -> bool:
        return scope.value in self.scopes


class ApiClientCreate(SQLModel):
    model_config = {"extra": "forbid"}
    name: Text = Field(min_length=1, max_length=120)
    scopes: list[ClientScope] = Field(min_length=1, max_length=7)
    audience: Audience = Audience.internal
    expires_at: Instant | None = None
    rate_limit_per_minute: int = Field(default=600, ge=1, le=100_000)

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, v: datetime | None) -> datetime | None:
        if v is not None and v <= utcnow():
            raise ValueError("expires_at must be in the future (a client made already expired is of no use)")
        return v


class ApiClientPublic(SQLModel):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    scopes: list[str]
    audience: Audience
    token_hint: str
    rate_limit_per_minute: int
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_at: datetime | None


class ApiClientWithToken(ApiClientPublic):
    token: str  # shown once, never again
