"""Callers of the pull API: a person (session or device token) or another tool (an API client token)."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials
from sqlmodel import select

from api.audit.models import AuditEntry
from api.clients.models import ApiClient, ClientScope
from api.db import SessionDep, utcnow
from api.errors import Forbidden, TooManyRequests, Unauthorized
from api.people.deps import CLIENT_TOKEN_PREFIX, Actor, bearer, get_actor
from api.people.security import digest


@dataclass(frozen=True)
class ClientActor:
    client: ApiClient

    @property
    def id(self):  # type: ignore[no-untyped-def]
        return self.client.id

    is_admin = False

    def require(self, scope: ClientScope) -> None:
        if not self.client.allows(scope):
            raise Forbidden(f"This API client lacks the scope {scope.value!r}.", code="scope_missing")


Reader = Actor | ClientActor


def get_reader(session: SessionDep,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Reader:
    if credentials is None or not credentials.credentials.startswith(CLIENT_TOKEN_PREFIX):
        return get_actor(session, credentials)
    client = session.exec(select(ApiClient).where(ApiClient.token_hash == digest(credentials.credentials))).first()
    now = utcnow()
    if client is None or client.revoked_at is not None:
        raise Unauthorized("This API client token is not valid (or was revoked or rotated).", code="invalid_token",
                           headers={"WWW-Authenticate": "Bearer"})
    if client.expires_at is not None and client.expires_at <= now:
        raise Unauthorized("This API client token has expired.", code="token_expired",
                           headers={"WWW-Authenticate": "Bearer"})
    _check_rate(session, client, now)
    return ClientActor(client)


def _check_rate(session: SessionDep, client: ApiClient, now) -> None:  # type: ignore[no-untyped-def]
    """Per-client limit over the last minute, counted from the audit log: one truth for every server process."""
    window = now - timedelta(minutes=1)
    used, oldest = session.exec(select(sa.func.count(), sa.func.min(AuditEntry.at))
                                .where(AuditEntry.client_id == client.id, AuditEntry.at > window)).one()
    if used >= client.rate_limit_per_minute:
        retry = max(1, int((oldest + timedelta(minutes=1) - now).total_seconds()) + 1) if oldest else 60
        raise TooManyRequests(f"This API client may make {client.rate_limit_per_minute} requests a minute.",
                              code="rate_limited", headers={"Retry-After": str(retry)})


CurrentReader = Annotated[Reader, Depends(get_reader)]
