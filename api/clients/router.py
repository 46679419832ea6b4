import uuid

from fastapi import APIRouter, status

from api.clients import service
from api.clients.models import ApiClientCreate, ApiClientPublic, ApiClientWithToken
from api.db import SessionDep
from api.errors import Conflict, Forbidden, NotFound, responses
from api.people.deps import CurrentActor
from api.projects import service as projects

router = APIRouter(prefix="/api/v1", tags=["api clients"])


@router.post("/projects/{project_id}/clients", response_model=ApiClientWithToken, status_code=201,
             responses=responses(NotFound, Forbidden))
def create_client(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                  body: ApiClientCreate) -> ApiClientWithToken:
    """Create a token for another tool. The token is shown in this answer only; keep it safe."""
    project = projects.require_coordinator(session, actor, project_id)
    return service.create(session, actor, project, body)


@router.get("/projects/{project_id}/clients", response_model=list[ApiClientPublic],
            responses=responses(NotFound, Forbidden))
def list_clients(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID) -> list[ApiClientPublic]:
    """The project's API clients (never their tokens)."""
    project = projects.require_coordinator(session, actor, project_id)
    return [ApiClientPublic.model_validate(c) for c in service.list_for_project(session, project)]


@router.post("/clients/{client_id}/rotate", response_model=ApiClientWithToken,
             responses=responses(NotFound, Forbidden, Conflict))
def rotate_client(session: SessionDep, actor: CurrentActor, client_id: uuid.UUID) -> ApiClientWithToken:
    """Give the client a new token; the old one stops working at once."""
    return service.rotate(session, actor, service.get_for_coordinator(session, actor, client_id))


@router.delete("/clients/{client_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=responses(NotFound, Forbidden))
def revoke_client(session: SessionDep, actor: CurrentActor, client_id: uuid.UUID) -> None:
    """Revoke the client's token for good."""
    service.revoke(session, actor, service.get_for_coordinator(session, actor, client_id))
