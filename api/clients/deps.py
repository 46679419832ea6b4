"""Callers of the pull API: a person (session or device token) or another tool (an API client token)."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials
from sqlmodel import select

from api.clients.models import ApiClient, ClientScope
from api.db import SessionDep, open_session, utcnow
from api.errors import Forbidden, TooManyRequests, Unauthorized
from api.people import throttle
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
    # Looked up and counted before the request's own transaction begins: on SQLite a writing request (a tool
    # managing its webhooks) holds the write lock from its first statement, and the count's transaction of its
    # own would wait for it.
    with open_session(read_only=True) as lookup:
        client = lookup.exec(select(ApiClient).where(ApiClient.token_hash == digest(credentials.credentials))).first()
    now = utcnow()
    if client is None or client.revoked_at is not None:
        raise Unauthorized("This API client token is not valid (or was revoked or rotated).", code="invalid_token",
                           headers={"WWW-Authenticate": "Bearer"})
    if client.expires_at is not None and client.expires_at <= now:
        raise Unauthorized("This API client token has expired.", code="token_expired",
                           headers={"WWW-Authenticate": "Bearer"})
    _check_rate(client)
    return ClientActor(client)


def _check_rate(client: ApiClient) -> None:
    """Per-client limit in one-minute windows, counted before the request runs, so a 404 guess or a 422 counts as
    much as a read, with one atomic statement in a transaction of its own (api/people/throttle.py): one truth for
    every server process, and parallel requests each see their own count. (A count read from the audit log saw
    successful reads only, and parallel requests all read the same count and all went through.)"""
    window = timedelta(minutes=1)
    (used,) = throttle.count([throttle.key("api-client", str(client.id))], window)
    if used.attempts > client.rate_limit_per_minute:
        raise TooManyRequests(f"This API client may make {client.rate_limit_per_minute} requests a minute.",
                              code="rate_limited", headers={"Retry-After": str(throttle.retry_after(used, window))})


CurrentReader = Annotated[Reader, Depends(get_reader)]
