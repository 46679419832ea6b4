import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.db import SessionDep
from api.errors import Forbidden, Invalid, NotFound, responses
from api.memos import service
from api.memos.models import MemoCreate, MemoPublic, MemoUpdate
from api.people.deps import CurrentActor
from api.projects import service as projects

router = APIRouter(prefix="/api/v1", tags=["memos"])


@router.post("/projects/{project_id}/memos", response_model=MemoPublic, status_code=201,
             responses=responses(NotFound, Forbidden, Invalid))
def create_memo(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID, body: MemoCreate) -> MemoPublic:
    """Write a memo, linked to any of the project's fragments and tags. Coordinators only. When a linked or
    quoted fragment is erased, its words in the memo become "[withdrawn]"."""
    memo = service.create_memo(session, actor, project_id, body.text, body.fragment_ids, body.tag_ids)
    return service.public(session, [memo])[0]


@router.get("/projects/{project_id}/memos", response_model=list[MemoPublic], responses=responses(NotFound, Forbidden))
def list_memos(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
               q: Annotated[str | None, Query(max_length=200, description="Words anywhere in the memo.")] = None,
               fragment_id: uuid.UUID | None = None, tag_id: uuid.UUID | None = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50,
               offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> list[MemoPublic]:
    """The project's memos, last changed first; filter by words, a linked fragment or a linked tag."""
    projects.require_coordinator(session, actor, project_id)
    memos = service.list_memos(session, project_id, q=q, fragment_id=fragment_id, tag_id=tag_id, limit=limit,
                               offset=offset)
    return service.public(session, memos)


@router.get("/memos/{memo_id}", response_model=MemoPublic, responses=responses(NotFound, Forbidden))
def get_memo(session: SessionDep, actor: CurrentActor, memo_id: uuid.UUID) -> MemoPublic:
    """One memo with its links."""
    return service.public(session, [service.get_for_coordinator(session, actor, memo_id)])[0]


@router.patch("/memos/{memo_id}", response_model=MemoPublic, responses=responses(NotFound, Forbidden, Invalid))
def update_memo(session: SessionDep, actor: CurrentActor, memo_id: uuid.UUID, body: MemoUpdate) -> MemoPublic:
    """Change a memo's text, or replace its lists of fragments or tags."""
    memo = service.update(session, actor, service.get_for_coordinator(session, actor, memo_id), body)
    return service.public(session, [memo])[0]


@router.delete("/memos/{memo_id}", status_code=204, responses=responses(NotFound, Forbidden))
def delete_memo(session: SessionDep, actor: CurrentActor, memo_id: uuid.UUID) -> Response:
    """Delete a memo (its fragments and tags are untouched)."""
    service.delete(session, actor, service.get_for_coordinator(session, actor, memo_id))
    return Response(status_code=204)
