"""Who is calling: the bearer token resolved to an actor, once per request."""

import uuid
from dataclasses import dataclass
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import select

from api.db import SessionDep, utcnow
from api.errors import Forbidden, NotFound, Unauthorized
from api.people.models import AuthToken, TokenKind, User
from api.people.security import digest

# API client tokens start with this, so a request's kind of caller is known before any lookup.
CLIENT_TOKEN_PREFIX = "hkc_"
# Workshop participants' join tokens (api/workshops): every path but their board answers 404 to them.
JOIN_TOKEN_PREFIX = "hkj_"

# Built once: every request runs it, and building it costs more than the indexed lookup itself.
_TOKEN_AND_USER = (select(AuthToken, User).join(User, User.id == AuthToken.user_id)  # type: ignore[arg-type]
                   .where(AuthToken.token_hash == sa.bindparam("hash")))

bearer = HTTPBearer(auto_error=False,
                    description="A session token from /auth/login or a device token from /auth/enrol.")


@dataclass(frozen=True)
class Actor:
    user: User
    token: AuthToken

    @property
    def id(self) -> uuid.UUID:
        return self.user.id

    @property
    def is_device(self) -> bool:
        """An enrolled phone's token: it carries only the researcher role (see projects.service.role_in)."""
        return self.token.kind == TokenKind.device

    @property
    def is_admin(self) -> bool:
        # A device token never acts as admin, even for an admin's account: a phone is easy to lose, and a
        # code minted by a coordinator must never turn into deployment-wide powers.
        return self.user.is_admin and not self.is_device


def get_actor(session: SessionDep,
              credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Log in first: send 'Authorization: Bearer <token>'.",
                           headers={"WWW-Authenticate": "Bearer"})
    if credentials.credentials.startswith(CLIENT_TOKEN_PREFIX):
        raise Forbidden("API client tokens reach the pull API only (fragments, changes, tags, exports).",
                        code="client_token_not_allowed")
    if credentials.credentials.startswith(JOIN_TOKEN_PREFIX):
        raise NotFound("Not found.")  # a workshop join token opens its board and nothing else
    row = session.execute(_TOKEN_AND_USER, {"hash": digest(credentials.credentials)}).first()
    if row is None:
        raise Unauthorized("This token is not valid.", code="invalid_token", headers={"WWW-Authenticate": "Bearer"})
    token, user = row
    if token.revoked_at is not None:
        raise Unauthorized("This token has been revoked; log in again.", code="token_revoked",
                           headers={"WWW-Authenticate": "Bearer"})
    if token.expires_at <= utcnow():
        raise Unauthorized("This token has expired; log in again.", code="token_expired",
                           headers={"WWW-Authenticate": "Bearer"})
    if not user.is_active:
        raise Unauthorized("This account is disabled.", code="account_disabled", headers={"WWW-Authenticate": "Bearer"})
    return Actor(user=user, token=token)


CurrentActor = Annotated[Actor, Depends(get_actor)]


def require_admin(actor: CurrentActor) -> Actor:
    if not actor.is_admin:
        raise Forbidden("Only an admin can do this.")
    return actor


AdminActor = Annotated[Actor, Depends(require_admin)]
