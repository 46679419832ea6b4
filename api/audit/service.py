"""The audit log: every change to consent, every export, every read by an API client. Ids and counts only."""

import uuid
from typing import Any

from sqlmodel import Session

from api.audit.models import AuditEntry


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
