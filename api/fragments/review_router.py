"""The coordinator's workspace over fragments: the review queue and the project's saved searches."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from api.db import SessionDep
from api.errors import Conflict, Forbidden, Invalid, NotFound, responses
from api.fragments import review, searches, service
from api.fragments.models import FragmentContext, ReviewQueuePage, SavedSearchCreate, SavedSearchPublic
from api.people.deps import CurrentActor
from api.projects import service as projects

router = APIRouter(prefix="/api/v1", tags=["review"])


@router.get("/projects/{project_id}/review-queue", response_model=ReviewQueuePage,
            responses=responses(NotFound, Forbidden, Invalid))
def review_queue(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                 cursor: Annotated[str | None, Query(max_length=200)] = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50,
                 order: Annotated[Literal["oldest", "newest"], Query(description="By capture time.")] = "oldest",
                 researcher: uuid.UUID | None = None, place: uuid.UUID | None = None,
                 captured_after: AwareDatetime | None = None, captured_before: AwareDatetime | None = None,
                 sensitive: Annotated[bool | None, Query(description="Only flagged (true) or unflagged (false).")]
                 = None) -> ReviewQueuePage:
    """Active fragments no coordinator has reviewed yet: sensitive ones first, then the oldest (or newest)
    captured first, a page at a time (follow `next_cursor`, with the same order and filters). Mark one reviewed
    with PATCH /fragments/{id} `{"reviewed": true}` and it leaves the queue. `counts` covers the whole queue,
    unfiltered, up to 1,000, and comes with the first page only. Coordinators only."""
    project = projects.require_coordinator(session, actor, project_id)
    filters = {"researcher": researcher, "place": place, "captured_after": captured_after,
               "captured_before": captured_before, "sensitive": sensitive}
    rows, next_cursor = review.page(session, project, cursor, limit, order == "newest", filters)
    return ReviewQueuePage(items=service.public(session, rows), next_cursor=next_cursor,
                           counts=None if cursor else review.counts(session, project))


@router.get("/projects/{project_id}/fragment-context", response_model=list[FragmentContext],
            responses=responses(NotFound, Forbidden, Invalid))
def fragment_context(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                     ids: Annotated[list[uuid.UUID], Query(max_length=200)]) -> list[FragmentContext]:
    """For up to 200 of the project's fragments: the researcher, the participant's label and the consent's
    scopes, for the coordinator's review and search cards. Coordinators only."""
    project = projects.require_coordinator(session, actor, project_id)
    return review.context(session, project, ids)


@router.get("/projects/{project_id}/saved-searches", response_model=list[SavedSearchPublic],
            responses=responses(NotFound, Forbidden))
def list_saved_searches(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID) -> list[SavedSearchPublic]:
    """The project's saved searches, by name; run one with GET /fragments?project_id=…&<its query>."""
    project = projects.require_coordinator(session, actor, project_id)
    return [SavedSearchPublic.model_validate(s) for s in searches.list_for_project(session, project)]


@router.post("/projects/{project_id}/saved-searches", response_model=SavedSearchPublic, status_code=201,
             responses=responses(NotFound, Forbidden, Conflict, Invalid))
def create_saved_search(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                        body: SavedSearchCreate) -> SavedSearchPublic:
    """Save a set of GET /fragments filters under a name, for every coordinator of the project. The query's keys
    are that endpoint's filter names (not project_id); names are unique in a project; at most 100 per project."""
    project = projects.require_coordinator(session, actor, project_id)
    return SavedSearchPublic.model_validate(searches.create(session, actor, project, body))


@router.delete("/saved-searches/{search_id}", status_code=204, responses=responses(NotFound, Forbidden))
def delete_saved_search(session: SessionDep, actor: CurrentActor, search_id: uuid.UUID) -> Response:
    """Delete a saved search (the fragments it found are untouched)."""
    searches.delete(session, actor, searches.get_for_manager(session, actor, search_id))
    return Response(status_code=204)
