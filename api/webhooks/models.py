import uuid
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import field_validator
from sqlmodel import Field, SQLModel

from api.db import new_id, ts_column, utcnow
from api.inputs import Text


class WebhookEvent(StrEnum):
    fragment_created = "fragment.created"
    fragment_updated = "fragment.updated"
    fragment_withdrawn = "fragment.withdrawn"
    consent_withdrawn = "consent.withdrawn"
    tag_changed = "tag.changed"


class DeliveryState(StrEnum):
    pending = "pending"  # waiting for its next attempt
    delivered = "delivered"  # the endpoint answered 2xx
    dead = "dead"  # still failing when its retry window closed; a coordinator may replay it
    skipped = "skipped"  # not sent: the client was revoked or expired, or may no longer see the record


class WebhookEndpoint(SQLModel, table=True):
    """A URL an API client asked to be told about changes at. The secret signs every delivery, so it is kept
    as given (a hash could not sign)."""

    __tablename__ = "webhook_endpoints"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    client_id: uuid.UUID = Field(foreign_key="api_clients.id", index=True, ondelete="CASCADE")
    url: str = Field(max_length=2000)
    events: list[str] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    secret: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class WebhookDelivery(SQLModel, table=True):
    """The outbox: one event for one endpoint, written in the transaction of the change it tells about.
    Its id is the `webhook-id` the receiver deduplicates on; it stays the same across retries."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The worker's poll (due pending rows) and the coordinator's lists.
        sa.Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_project_state_created", "project_id", "state", "created_at"),
    )
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    endpoint_id: uuid.UUID = Field(foreign_key="webhook_endpoints.id", index=True, ondelete="CASCADE")
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")
    event: WebhookEvent = Field(sa_type=sa.String(32))
    entity: str = Field(max_length=32)
    entity_id: uuid.UUID
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    state: DeliveryState = Field(default=DeliveryState.pending, sa_type=sa.String(16))
    attempts: int = 0  # in the current retry window (a replay starts a new one)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    retry_until: datetime = Field(sa_column=ts_column())
    locked_until: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    lock_token: uuid.UUID | None = None
    last_attempt_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    last_status: int | None = None
    last_error: str | None = Field(default=None, max_length=300)
    delivered_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class WebhookEndpointCreate(SQLModel):
    model_config = {"extra": "forbid"}
    url: Text = Field(min_length=1, max_length=2000, description="An http:// or https:// URL.")
    events: list[WebhookEvent] = Field(min_length=1, max_length=5)

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises on a port that is not a number)
        except ValueError as exc:
            raise ValueError("not a valid URL") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("only http:// and https:// URLs with a host can receive webhooks")
        if any(c.isspace() for c in url):
            raise ValueError("a URL has no spaces")
        return url


class WebhookEndpointPublic(SQLModel):
    id: uuid.UUID
    project_id: uuid.UUID
    client_id: uuid.UUID
    url: str
    events: list[WebhookEvent]
    created_at: datetime


class WebhookEndpointWithSecret(WebhookEndpointPublic):
    secret: str  # shown once: verify signatures with it


class WebhookDeliveryPublic(SQLModel):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event: WebhookEvent
    entity: str
    entity_id: uuid.UUID
    created_at: datetime
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    retry_until: datetime
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None


class WebhookDeliveryPage(SQLModel):
    items: list[WebhookDeliveryPublic]
    next_offset: int | None
