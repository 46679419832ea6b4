import uuid

from fastapi import APIRouter, Request, status

from api.db import SessionDep
from api.errors import Busy, Conflict, Forbidden, Invalid, NotFound, TooManyRequests, responses
from api.people import service, throttle
from api.people.deps import CurrentActor
from api.people.models import (
    AuthToken,
    DevicePublic,
    EnrolRequest,
    LoginRequest,
    MembershipSummary,
    MePublic,
    TokenPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from api.projects import service as projects

router = APIRouter(prefix="/api/v1", tags=["people"])


def _address(request: Request) -> str:
    return throttle.client_address(request)


@router.post("/auth/login", response_model=TokenPublic, responses=responses(TooManyRequests, Busy))
def login(session: SessionDep, request: Request, body: LoginRequest) -> TokenPublic:
    """Log in with email and password; answers a session bearer token. Repeated failures from one address are
    slowed, then refused (429 with Retry-After), per email and across emails."""
    token, secret, user = service.login(session, body.email, body.password, _address(request))
    return TokenPublic(token=secret, kind=token.kind, expires_at=token.expires_at,
                       user=UserPublic.model_validate(user))


@router.post("/auth/enrol", response_model=TokenPublic, responses=responses(TooManyRequests))
def enrol(session: SessionDep, request: Request, body: EnrolRequest) -> TokenPublic:
    """Exchange a one-time enrolment code for a long-lived device token. It acts as its researcher (never as
    admin or coordinator) in every project where they are a researcher. Wrong codes are limited (429)."""
    token, secret, user = service.enrol(session, body.code, body.device_label, _address(request))
    return TokenPublic(token=secret, kind=token.kind, expires_at=token.expires_at,
                       user=UserPublic.model_validate(user))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=responses())
def logout(session: SessionDep, actor: CurrentActor) -> None:
    """Revoke the token this request was made with."""
    service.logout(session, actor)


@router.get("/me", response_model=MePublic, responses=responses())
def me(session: SessionDep, actor: CurrentActor) -> MePublic:
    """Who the token belongs to, and their role and training in each project."""
    summaries = []
    for project, role in projects.list_projects(session, actor):
        training = projects.current_training(session, actor.id, project.id)
        summaries.append(MembershipSummary(
            project_id=project.id, project_name=project.name, role=role,
            training_current=training is not None or role != "researcher",
            training_expires_on=training.expires_on if training else None))
    return MePublic(user=UserPublic.model_validate(actor.user), memberships=summaries,
                    token_kind=actor.token.kind, token_expires_at=actor.token.expires_at)


@router.post("/users", response_model=UserPublic, status_code=201, responses=responses(Forbidden, Conflict))
def create_user(session: SessionDep, actor: CurrentActor, body: UserCreate) -> UserPublic:
    """Create a user. Admins create anyone; coordinators create researchers and coordinators (never admins)."""
    return UserPublic.model_validate(service.create_user(session, actor, body))


@router.get("/users", response_model=list[UserPublic], responses=responses())
def list_users(session: SessionDep, actor: CurrentActor) -> list[UserPublic]:
    """Users the caller may see: everyone for admins, members of their projects for coordinators."""
    return [UserPublic.model_validate(u) for u in service.visible_users(session, actor)]


@router.get("/users/{user_id}", response_model=UserPublic, responses=responses(NotFound))
def get_user(session: SessionDep, actor: CurrentActor, user_id: uuid.UUID) -> UserPublic:
    """One user, if the caller may see them."""
    return UserPublic.model_validate(service.get_user(session, actor, user_id))


@router.patch("/users/{user_id}", response_model=UserPublic, responses=responses(NotFound, Forbidden, Invalid))
def update_user(session: SessionDep, actor: CurrentActor, user_id: uuid.UUID, body: UserUpdate) -> UserPublic:
    """Change a user. Anyone changes their own name, and their password with current_password; admins change
    anyone (a reset ends that user's sessions and phones); coordinators reset only the password of researchers
    who belong to their projects alone. Device tokens change nothing."""
    user = service.get_user(session, actor, user_id)
    return UserPublic.model_validate(service.update_user(session, actor, user, body))


@router.get("/projects/{project_id}/devices", response_model=list[DevicePublic],
            responses=responses(NotFound, Forbidden))
def list_devices(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID) -> list[DevicePublic]:
    """Every phone of the project's members with when each last synced: enrolled phones (wherever enrolled: a
    device token works in each project of its researcher; `project_id` is null when enrolled through another
    project, which is not named) and password logins that synced (`kind` session)."""
    projects.require_coordinator(session, actor, project_id)
    return [DevicePublic.model_validate(d, update={"project_id": d.project_id if d.project_id == project_id else None})
            for d in service.list_devices(session, project_id)]


@router.delete("/devices/{device_id}", status_code=204, responses=responses(NotFound, Forbidden))
def revoke_device(session: SessionDep, actor: CurrentActor, device_id: uuid.UUID) -> None:
    """Revoke one enrolled phone's token; the researcher's other phones and sessions keep working."""
    device = session.get(AuthToken, device_id)
    if device is None or device.kind != "device" or device.project_id is None:
        raise NotFound("No such device.")
    if not service.may_revoke_device(session, actor, device):
        projects.require_coordinator(session, actor, device.project_id)  # 404 or 403 as for its project
    service.revoke_device(session, actor, device)


