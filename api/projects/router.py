import uuid
from datetime import datetime

from fastapi import APIRouter, Query, Request, status
from pydantic import Field
from sqlmodel import SQLModel

from api.consent import service as consent
from api.consent.models import ConsentFormPublic
from api.db import SessionDep
from api.errors import Conflict, Forbidden, NotFound, responses
from api.people import service as people
from api.people.deps import CurrentActor
from api.people.models import User
from api.projects import overview as overview_service
from api.projects import service
from api.projects.models import (
    Membership,
    MembershipPublic,
    MembershipSet,
    OverviewPublic,
    PlaceCreate,
    PlacePublic,
    PlaceUpdate,
    Project,
    ProjectCreate,
    ProjectPublic,
    ProjectUpdate,
    PromptCreate,
    PromptPublic,
    PromptUpdate,
    TrainingCreate,
    TrainingPublic,
)

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])
# A project's prompts and places by their own id (PATCH /prompts/{id}, PATCH /places/{id}).
items_router = APIRouter(prefix="/api/v1", tags=["projects"])


def _public(project: object, role: str | None) -> ProjectPublic:
    return ProjectPublic.model_validate(project, update={"my_role": role})


@router.post("", response_model=ProjectPublic, status_code=201, responses=responses(Forbidden))
def create_project(session: SessionDep, actor: CurrentActor, body: ProjectCreate) -> ProjectPublic:
    """Create a project. The coordinator who creates it becomes its coordinator."""
    project = service.create_project(session, actor, body)
    return _public(project, service.role_in(session, actor, project.id))


@router.get("", response_model=list[ProjectPublic], responses=responses())
def list_projects(session: SessionDep, actor: CurrentActor) -> list[ProjectPublic]:
    """Projects the caller belongs to (all of them for admins)."""
    return [_public(p, role) for p, role in service.list_projects(session, actor)]


@router.get("/{project_id}", response_model=ProjectPublic, responses=responses(NotFound))
def get_project(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID) -> ProjectPublic:
    """One project the caller belongs to."""
    project, role = service.get_project(session, actor, project_id)
    return _public(project, role)


@router.patch("/{project_id}", response_model=ProjectPublic, responses=responses(NotFound, Forbidden))
def update_project(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                   body: ProjectUpdate) -> ProjectPublic:
    """Change a project's description, retention period, self-signification questions or withdrawal contact."""
    project = service.require_coordinator(session, actor, project_id)
    return _public(service.update_project(session, actor, project, body), service.role_in(session, actor, project_id))


@router.get("/{project_id}/members", response_model=list[MembershipPublic], responses=responses(NotFound, Forbidden))
def list_members(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID) -> list[MembershipPublic]:
    """The project's coordinators and researchers, with whether their training is current."""
    project = service.require_coordinator(session, actor, project_id)
    return [_member_public(session, project, m) for m, _ in service.list_members(session, project)]


def _member_public(session: SessionDep, project: Project, membership: Membership) -> MembershipPublic:
    user = session.get(User, membership.user_id)
    training = service.current_training(session, membership.user_id, project.id)
    return MembershipPublic.model_validate(membership, update={
        "email": user.email if user else None, "display_name": user.display_name if user else None,
        "training_current": training is not None, "training_expires_on": training.expires_on if training else None,
        "last_sync_at": service.last_sync_of(session, membership.user_id)})


@router.put("/{project_id}/members/{user_id}", response_model=MembershipPublic,
            responses=responses(NotFound, Forbidden))
def set_member(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID, user_id: uuid.UUID,
               body: MembershipSet) -> MembershipPublic:
    """Add a user to the project, or change their role in it. Coordinators add users they already see
    (members of their projects, accounts they created); anyone else is 404 like an unknown id. Only an admin
    changes another coordinator's role (403 `coordinator_target`)."""
    project = service.require_coordinator(session, actor, project_id)
    membership = service.set_member(session, actor, project, user_id, body.role)
    return _member_public(session, project, membership)


@router.delete("/{project_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=responses(NotFound, Forbidden, Conflict))
def remove_member(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Remove a user from the project. What they captured stays; they can capture no more. Only an admin removes
    a coordinator (403 `coordinator_target`; 409 for yourself)."""
    project = service.require_coordinator(session, actor, project_id)
    service.remove_member(session, actor, project, user_id)


@router.post("/{project_id}/members/{user_id}/training", response_model=TrainingPublic, status_code=201,
             responses=responses(NotFound, Forbidden))
def record_training(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID, user_id: uuid.UUID,
                    body: TrainingCreate) -> TrainingPublic:
    """Record a completed training; a researcher captures only while one is current."""
    project = service.require_coordinator(session, actor, project_id)
    return TrainingPublic.model_validate(service.record_training(session, actor, project, user_id, body))


@router.get("/{project_id}/members/{user_id}/training", response_model=list[TrainingPublic],
            responses=responses(NotFound, Forbidden))
def list_training(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                  user_id: uuid.UUID) -> list[TrainingPublic]:
    """A member's training records, newest expiry first."""
    project = service.require_coordinator(session, actor, project_id)
    return [TrainingPublic.model_validate(t) for t in service.list_training(session, project, user_id)]


@router.post("/{project_id}/prompts", response_model=PromptPublic, status_code=201,
             responses=responses(NotFound, Forbidden))
def add_prompt(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID, body: PromptCreate) -> PromptPublic:
    """Add a conversation starter."""
    project = service.require_coordinator(session, actor, project_id)
    return PromptPublic.model_validate(service.add_prompt(session, actor, project, body))


@router.get("/{project_id}/prompts", response_model=list[PromptPublic], responses=responses(NotFound))
def list_prompts(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID) -> list[PromptPublic]:
    """The project's conversation starters, in order."""
    project, _ = service.get_project(session, actor, project_id)
    return [PromptPublic.model_validate(p) for p in service.list_prompts(session, project)]


@router.post("/{project_id}/places", response_model=PlacePublic, status_code=201,
             responses=responses(NotFound, Forbidden, Conflict))
def add_place(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID, body: PlaceCreate) -> PlacePublic:
    """Add a place (a neighbourhood, never an address)."""
    project = service.require_coordinator(session, actor, project_id)
    return PlacePublic.model_validate(service.add_place(session, actor, project, body))


@router.get("/{project_id}/places", response_model=list[PlacePublic], responses=responses(NotFound))
def list_places(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID) -> list[PlacePublic]:
    """The project's places."""
    project, _ = service.get_project(session, actor, project_id)
    return [PlacePublic.model_validate(p) for p in service.list_places(session, project)]


class EnrolmentCodeCreate(SQLModel):
    model_config = {"extra": "forbid"}
    user_id: uuid.UUID


class EnrolmentCodePublic(SQLModel):
    code: str
    expires_at: datetime
    enrol_url: str
    enrol_link: str = Field(description="enrol_url made absolute with this server's address: what the QR code holds.")
    qr_svg: str = Field(description="An SVG image (role img, with a title) of a QR code of enrol_link.")


@router.post("/{project_id}/enrolment-codes", response_model=EnrolmentCodePublic, status_code=201,
             responses=responses(NotFound, Forbidden, Conflict))
def create_enrolment_code(session: SessionDep, actor: CurrentActor, request: Request, project_id: uuid.UUID,
                          body: EnrolmentCodeCreate) -> EnrolmentCodePublic:
    """A one-time code (valid for minutes) that a researcher's phone exchanges for a device token, with the
    absolute enrol link and a QR code of it to show on screen. A coordinator makes codes only for researchers
    who belong to their projects alone (not admins, not coordinators anywhere); an admin for any researcher."""
    service.require_coordinator(session, actor, project_id)
    row, code = people.create_enrolment_code(session, actor, project_id, body.user_id)
    enrol_url = f"/app/?enrol={code}"
    link = str(request.base_url).rstrip("/") + enrol_url
    return EnrolmentCodePublic(code=code, expires_at=row.expires_at, enrol_url=enrol_url, enrol_link=link,
                               qr_svg=people.enrol_qr_svg(link))


@router.get("/{project_id}/overview", response_model=OverviewPublic, responses=responses(NotFound, Forbidden))
def project_overview(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                     weeks: int = Query(12, ge=1, le=104, description="How many weeks, ending with this one.")
                     ) -> OverviewPublic:
    """Weekly fragments per place, prompt and tag (UTC weeks from Monday; erased fragments not counted),
    totals, researchers' activity, phones silent for a week or more, and what retention erases in 30 days."""
    project = service.require_coordinator(session, actor, project_id)
    return overview_service.overview(session, project, weeks)


@items_router.patch("/prompts/{prompt_id}", response_model=PromptPublic,
                    responses=responses(NotFound, Forbidden, Conflict))
def update_prompt(session: SessionDep, actor: CurrentActor, prompt_id: uuid.UUID, body: PromptUpdate) -> PromptPublic:
    """Reorder, retire (active: false) or reword a prompt; phones pick it up with the capture kit. The wording
    is frozen once a fragment answers the prompt (409 prompt_in_use): retire it and add the new wording."""
    prompt = service.prompt_for_manager(session, actor, prompt_id)
    return PromptPublic.model_validate(service.update_prompt(session, actor, prompt, body))


@items_router.patch("/places/{place_id}", response_model=PlacePublic,
                    responses=responses(NotFound, Forbidden, Conflict))
def update_place(session: SessionDep, actor: CurrentActor, place_id: uuid.UUID, body: PlaceUpdate) -> PlacePublic:
    """Rename or retire (active: false) a place; its fragments follow the new name."""
    place = service.place_for_manager(session, actor, place_id)
    return PlacePublic.model_validate(service.update_place(session, actor, place, body))


class CaptureRefusal(SQLModel):
    code: str
    detail: str


class CaptureKit(SQLModel):
    project: ProjectPublic
    prompts: list[PromptPublic]
    places: list[PlacePublic]
    consent_form: ConsentFormPublic | None
    can_capture: bool
    capture_refusal: CaptureRefusal | None


@router.get("/{project_id}/capture-kit", response_model=CaptureKit, responses=responses(NotFound))
def capture_kit(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID) -> CaptureKit:
    """Everything a phone keeps for capturing offline: prompts, places, questions, the current consent form."""
    project, role = service.get_project(session, actor, project_id)
    form = consent.current_form(session, project.id)
    refusal = service.capture_refusal(session, actor, project.id)
    if refusal is None and form is None:
        refusal = ("no_consent_form", "This project has no consent form yet; ask your coordinator.")
    return CaptureKit(
        project=_public(project, role),
        prompts=[PromptPublic.model_validate(p) for p in service.list_prompts(session, project) if p.active],
        places=[PlacePublic.model_validate(p) for p in service.list_places(session, project) if p.active],
        consent_form=consent.form_public(session, form) if form else None,
        can_capture=refusal is None,
        capture_refusal=CaptureRefusal(code=refusal[0], detail=refusal[1]) if refusal else None,
    )
