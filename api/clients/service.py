"""API clients: tokens for other tools, scoped to one project and one audience, every request audited."""

import secrets
import uuid
from typing import Any

from sqlmodel import Session, col, select

from api.audit import service as audit
from api.clients.deps import ClientActor, Reader
from api.clients.models import ApiClient, ApiClientCreate, ApiClientWithToken, Audience
from api.db import commit_apart, utcnow
from api.errors import Conflict, NotFound
from api.people.deps import CLIENT_TOKEN_PREFIX, Actor
from api.people.security import digest
from api.projects import service as projects
from api.projects.models import Project


def _new_secret() -> str:
    return CLIENT_TOKEN_PREFIX + secrets.token_urlsafe(32)


def _with_token(client: ApiClient, secret: str) -> ApiClientWithToken:
    return ApiClientWithToken.model_validate(client, update={"token": secret})


def create(session: Session, actor: Actor, project: Project, data: ApiClientCreate) -> ApiClientWithToken:
    secret = _new_secret()
    client = ApiClient(project_id=project.id, name=data.name, scopes=sorted({s.value for s in data.scopes}),
                       audience=data.audience, token_hash=digest(secret), token_hint=secret[:10],
                       rate_limit_per_minute=data.rate_limit_per_minute, created_by=actor.id,
                       expires_at=data.expires_at)
    session.add(client)
    session.flush()
    audit.record(session, actor_id=actor.id, action="client.create", entity="api_client", entity_id=client.id,
                 project_id=project.id, detail={"scopes": client.scopes, "audience": client.audience})
    return _with_token(client, secret)


def list_for_project(session: Session, project: Project) -> list[ApiClient]:
    return list(session.exec(select(ApiClient).where(ApiClient.project_id == project.id)
                             .order_by(col(ApiClient.created_at).desc())))


def get_for_coordinator(session: Session, actor: Actor, client_id: uuid.UUID) -> ApiClient:
    client = session.get(ApiClient, client_id)
    if client is None or projects.role_in(session, actor, client.project_id) is None:
        raise NotFound("No such API client.")
    projects.require_coordinator(session, actor, client.project_id)
    return client


def rotate(session: Session, actor: Actor, client: ApiClient) -> ApiClientWithToken:
    """A new token for the same client; the old one stops working at once."""
    if client.revoked_at is not None:
        raise Conflict("This API client was revoked.", code="client_revoked")
    secret = _new_secret()
    client.token_hash, client.token_hint, client.rotated_at = digest(secret), secret[:10], utcnow()
    session.add(client)
    audit.record(session, actor_id=actor.id, action="client.rotate", entity="api_client", entity_id=client.id,
                 project_id=client.project_id)
    return _with_token(client, secret)


def revoke(session: Session, actor: Actor, client: ApiClient) -> None:
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        session.add(client)
    audit.record(session, actor_id=actor.id, action="client.revoke", entity="api_client", entity_id=client.id,
                 project_id=client.project_id)


def audit_read(reader: Reader, action: str, detail: dict[str, Any]) -> None:
    """Rule 5: every read by an API client is audited (what was returned: counts and ids, never content).
    Written before the answer leaves; if it cannot be written, the client gets an error, not the data."""
    if isinstance(reader, ClientActor):
        commit_apart(audit.entry_for(client_id=reader.client.id, project_id=reader.client.project_id,
                                     action=action, entity="api_client", entity_id=reader.client.id, detail=detail))


def consent_filter(reader: Reader) -> Audience | None:
    """The consent scope a caller's reads are limited to: `share` for partners, `publish` for the public."""
    return reader.client.audience if isinstance(reader, ClientActor) else None
