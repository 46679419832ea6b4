"""The audit log: every change to consent, every export, every read by an API client. Ids and counts only."""

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from api.audit.models import AuditEntry, AuditItem
from api.clients.models import ApiClient
from api.errors import Invalid
from api.inputs import ascii_int
from api.people.models import User


def record(session: Session, *, actor_id: uuid.UUID | None, action: str, entity: str,
           entity_id: uuid.UUID | str | None = None, project_id: uuid.UUID | None = None,
           detail: dict[str, Any] | None = None) -> AuditEntry:
    entry = entry_for(actor_id=actor_id, action=action, entity=entity, entity_id=entity_id, project_id=project_id,
                      detail=detail)
    session.add(entry)
    return entry


def entry_for(*, action: str, entity: str, actor_id: uuid.UUID | None = None, client_id: uuid.UUID | None = None,
              entity_id: uuid.UUID | str | None = None, project_id: uuid.UUID | None = None,
              detail: dict[str, Any] | None = None) -> AuditEntry:
    return AuditEntry(actor_id=actor_id, client_id=client_id, action=action, entity=entity,
                      entity_id=str(entity_id) if entity_id is not None else None,
                      project_id=project_id, detail=detail)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def decode_cursor(cursor: str) -> int:
    position = ascii_int(cursor)
    if position is None:
        raise Invalid("That cursor is not one this server gave out.", code="invalid_cursor")
    return position


def list_entries(session: Session, project_id: uuid.UUID, *, actor_id: uuid.UUID | None = None,
                 action: str | None = None, entity: str | None = None, entity_id: str | None = None,
                 since: datetime | None = None, until: datetime | None = None, cursor: str | None = None,
                 limit: int = 50) -> tuple[list[AuditItem], str | None]:
    """A project's audit log, newest first, a keyset page at a time (by id, which only grows). `action` is
    exact, or a prefix when it ends in `*` (`consent.*` is every consent action)."""
    q = (select(AuditEntry, User.email, ApiClient.name)
         .outerjoin(User, User.id == AuditEntry.actor_id)  # type: ignore[arg-type]
         .outerjoin(ApiClient, ApiClient.id == AuditEntry.client_id)  # type: ignore[arg-type]
         .where(AuditEntry.project_id == project_id))
    if actor_id:
        q = q.where(AuditEntry.actor_id == actor_id)
    if action and action.endswith("*"):
        q = q.where(col(AuditEntry.action).like(_escape_like(action[:-1]) + "%", escape="\\"))
    elif action:
        q = q.where(AuditEntry.action == action)
    if entity:
        q = q.where(AuditEntry.entity == entity)
    if entity_id:
        q = q.where(AuditEntry.entity_id == entity_id)
    if since:
        q = q.where(AuditEntry.at >= since)
    if until:
        q = q.where(AuditEntry.at < until)
    if cursor:
        q = q.where(col(AuditEntry.id) < decode_cursor(cursor))
    rows = session.exec(q.order_by(col(AuditEntry.id).desc()).limit(limit + 1)).all()
    items = [AuditItem.model_validate(e, update={"actor_email": email, "client_name": name})
             for e, email, name in rows[:limit]]
    next_cursor = str(items[-1].id) if len(rows) > limit else None
    return items, next_cursor
