import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.audit import service
from api.audit.models import AuditPage
from api.db import SessionDep
from api.errors import Forbidden, Invalid, NotFound, responses
from api.inputs import Instant
from api.people.deps import CurrentActor
from api.projects import service as projects

router = APIRouter(prefix="/api/v1", tags=["audit"])
# PostgreSQL refuses NUL in any string, and no action, entity or id holds a control character.
PRINTABLE = r"^[^\x00-\x1f]*$"


@router.get("/projects/{project_id}/audit", response_model=AuditPage,
            responses=responses(NotFound, Forbidden, Invalid))
def list_audit(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
               actor_id: uuid.UUID | None = None,
               action: Annotated[str | None, Query(
                   min_length=1, max_length=65, pattern=PRINTABLE,
                   description="An action (`consent.withdraw`), or a prefix ending in `*` (`consent.*`).")] = None,
               entity: Annotated[str | None, Query(min_length=1, max_length=32, pattern=PRINTABLE)] = None,
               entity_id: Annotated[str | None, Query(min_length=1, max_length=64, pattern=PRINTABLE)] = None,
               since: Annotated[Instant | None, Query(description="At or after this.")] = None,
               until: Annotated[Instant | None, Query(description="Before this.")] = None,
               cursor: Annotated[str | None, Query(max_length=20)] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> AuditPage:
    """The project's audit log, newest first, a page at a time (follow `next_cursor`): who did what, when,
    with the actor's email or the API client's name. It holds ids and counts, never content. Coordinators."""
    projects.require_coordinator(session, actor, project_id)
    items, next_cursor = service.list_entries(session, project_id, actor_id=actor_id, action=action, entity=entity,
                                              entity_id=entity_id, since=since, until=until, cursor=cursor,
                                              limit=limit)
    return AuditPage(items=items, next_cursor=next_cursor)
