import uuid

from fastapi import APIRouter, Response

from api.clients import service as clients
from api.clients.deps import ClientActor, CurrentReader
from api.clients.models import ClientScope
from api.db import SessionDep
from api.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests, responses
from api.fragments import service as fragments
from api.people.deps import CurrentActor
from api.projects import service as projects
from api.projects.models import Project
from api.tags import service
from api.tags.models import TagCreate, TagPublic, TagUpdate

router = APIRouter(prefix="/api/v1", tags=["tagging"])


@router.post("/projects/{project_id}/tags", response_model=TagPublic, status_code=201,
             responses=responses(NotFound, Forbidden, Conflict, Invalid))
def create_tag(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID, body: TagCreate) -> TagPublic:
    """Add a code to the project's codebook, optionally under a parent."""
    project = projects.require_coordinator(session, actor, project_id)
    return TagPublic.model_validate(service.create(session, actor, project, body))


@router.get("/projects/{project_id}/tags", response_model=list[TagPublic],
            responses=responses(NotFound, Forbidden, TooManyRequests))
def list_tags(session: SessionDep, reader: CurrentReader, project_id: uuid.UUID) -> list[TagPublic]:
    """The project's codebook (API clients need `tags:read`)."""
    if isinstance(reader, ClientActor):
        reader.require(ClientScope.tags_read)
        if reader.client.project_id != project_id:
            raise NotFound("No such project.")
        project = session.get(Project, project_id)
    else:
        project, _ = projects.get_project(session, reader, project_id)
    tags = [TagPublic.model_validate(t) for t in service.list_for_project(session, project)]
    clients.audit_read(reader, "tags.list", {"count": len(tags)})
    return tags


@router.patch("/tags/{tag_id}", response_model=TagPublic, responses=responses(NotFound, Forbidden, Conflict, Invalid))
def update_tag(session: SessionDep, actor: CurrentActor, tag_id: uuid.UUID, body: TagUpdate) -> TagPublic:
    """Rename, describe, recolour or move a tag."""
    tag = service.get_for_coordinator(session, actor, tag_id)
    return TagPublic.model_validate(service.update(session, actor, tag, body))


@router.put("/fragments/{fragment_id}/tags/{tag_id}", status_code=204, responses=responses(NotFound, Forbidden, Conflict))
def tag_fragment(session: SessionDep, actor: CurrentActor, fragment_id: uuid.UUID, tag_id: uuid.UUID) -> Response:
    """Apply a tag to a fragment (idempotent)."""
    fragment, _ = fragments.get_for_reader(session, actor, fragment_id)
    tag = service.get_for_coordinator(session, actor, tag_id)
    service.tag_fragment(session, actor, fragment, tag)
    return Response(status_code=204)


@router.delete("/fragments/{fragment_id}/tags/{tag_id}", status_code=204, responses=responses(NotFound, Forbidden))
def untag_fragment(session: SessionDep, actor: CurrentActor, fragment_id: uuid.UUID, tag_id: uuid.UUID) -> Response:
    """Take a tag off a fragment."""
    fragment, _ = fragments.get_for_reader(session, actor, fragment_id)
    projects.require_coordinator(session, actor, fragment.project_id)
    service.untag_fragment(session, actor, fragment, tag_id)
    return Response(status_code=204)
