"""Projects and who may do what in them. Roles are per project; admin is deployment-wide."""

import uuid
from datetime import date, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.audit import service as audit
from api.errors import Conflict, Forbidden, Invalid, NotFound
from api.fragments.models import Fragment
from api.people.deps import Actor
from api.people.models import AuthToken, User
from api.projects.models import (
    Membership,
    Place,
    PlaceCreate,
    PlaceUpdate,
    Project,
    ProjectCreate,
    ProjectUpdate,
    Prompt,
    PromptCreate,
    PromptUpdate,
    Role,
    TrainingCreate,
    TrainingRecord,
)

ADMIN = "admin"


def role_in(session: Session, actor: Actor, project_id: uuid.UUID) -> str | None:
    """The caller's role in a project: admin (sessions of admins only), coordinator, researcher, or None.

    A device token (an enrolled phone) acts only as its researcher: in every project where its user is a
    researcher now, and nowhere else — not as admin, not in a project the user coordinates."""
    if actor.is_admin:
        return ADMIN
    m = session.get(Membership, (project_id, actor.id))
    if m is None or (actor.is_device and m.role != Role.researcher):
        return None
    return str(m.role)


def get_project(session: Session, actor: Actor, project_id: uuid.UUID) -> tuple[Project, str]:
    """The project and the caller's role in it; 404 when the caller has none (its existence is not told)."""
    role = role_in(session, actor, project_id)
    project = session.get(Project, project_id) if role else None
    if project is None or role is None:
        raise NotFound("No such project.")
    return project, role


def require_coordinator(session: Session, actor: Actor, project_id: uuid.UUID) -> Project:
    project, role = get_project(session, actor, project_id)
    if role not in (ADMIN, Role.coordinator):
        raise Forbidden("Only the project's coordinators can do this.")
    return project


def is_manager(role: str | None) -> bool:
    return role in (ADMIN, Role.coordinator)


def current_training(session: Session, user_id: uuid.UUID, project_id: uuid.UUID,
                     on: date | None = None) -> TrainingRecord | None:
    on = on or date.today()
    return session.exec(
        select(TrainingRecord)
        .where(TrainingRecord.user_id == user_id, TrainingRecord.project_id == project_id,
               TrainingRecord.completed_on <= on, TrainingRecord.expires_on >= on)
        .order_by(col(TrainingRecord.expires_on).desc())
    ).first()


def capture_refusal(session: Session, actor: Actor, project_id: uuid.UUID) -> tuple[str, str] | None:
    """Why this actor may not capture in this project now (code, detail), or None if they may."""
    membership = session.get(Membership, (project_id, actor.id))
    if membership is not None and actor.is_device and membership.role != Role.researcher:
        return "not_member", "A phone enrolled with a code captures only where you are a researcher; log in instead."
    if membership is None:
        return "not_member", "You are not a member of this project."
    if membership.role == Role.researcher and current_training(session, actor.id, project_id) is None:
        return "training_required", "Your training for this project is missing or has expired; ask your coordinator."
    return None


def list_projects(session: Session, actor: Actor) -> list[tuple[Project, str]]:
    if actor.is_admin:
        return [(p, ADMIN) for p in session.exec(select(Project).order_by(Project.name))]
    rows = session.exec(
        select(Project, Membership.role).join(Membership, Membership.project_id == Project.id)  # type: ignore[arg-type]
        .where(Membership.user_id == actor.id).order_by(Project.name)
    ).all()
    return [(p, str(r)) for p, r in rows if not actor.is_device or r == Role.researcher]


def create_project(session: Session, actor: Actor, data: ProjectCreate) -> Project:
    if actor.is_device:
        raise Forbidden("A phone's device token cannot create projects; log in with your password.",
                        code="device_token_not_allowed")
    if not actor.is_admin and not session.exec(
        select(Membership).where(Membership.user_id == actor.id, Membership.role == Role.coordinator)
    ).first():
        raise Forbidden("Only admins and coordinators can create projects.")
    project = Project(**data.model_dump(exclude={"questions"}),
                      questions=[q.model_dump() for q in data.questions])
    session.add(project)
    session.flush()
    if not actor.is_admin:
        session.add(Membership(project_id=project.id, user_id=actor.id, role=Role.coordinator))
    audit.record(session, actor_id=actor.id, action="project.create", entity="project",
                 entity_id=project.id, project_id=project.id)
    return project


def update_project(session: Session, actor: Actor, project: Project, data: ProjectUpdate) -> Project:
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for key in ("name", "description", "search_language", "phone_keep_days"):
        if key in changes and changes[key] is None:
            raise Invalid(f"{key} cannot be null; send a value (or leave it out).", code="null_not_allowed")
    if "questions" in changes:
        changes["questions"] = [q.model_dump() for q in data.questions or []]
    for key, value in changes.items():
        setattr(project, key, value)
    session.add(project)
    audit.record(session, actor_id=actor.id, action="project.update", entity="project",
                 entity_id=project.id, project_id=project.id, detail={"fields": sorted(changes)})
    return project


def known_users(actor: Actor) -> Any:
    """The ids of users a coordinator has seen already: members of the projects they coordinate and the
    accounts they created. (A select of User.id; admins know everyone.)"""
    mine = select(Membership.project_id).where(Membership.user_id == actor.id, Membership.role == Role.coordinator)
    return select(User.id).where(sa.or_(
        col(User.id).in_(select(Membership.user_id).where(col(Membership.project_id).in_(mine))),
        User.created_by == actor.id))


def knows(session: Session, actor: Actor, user: User) -> bool:
    if actor.is_admin or user.id == actor.id:
        return True
    return not actor.is_device and session.exec(
        known_users(actor).where(User.id == user.id)).first() is not None


def manages(session: Session, actor: Actor, user: User) -> bool:
    """Whether the actor may mint an enrolment code (so a device token) or set a password for this user.

    An admin may, for anyone (audited). A coordinator only for a researcher of their own projects who is not an
    admin, coordinates no project, and belongs to no project the coordinator does not coordinate: whatever is
    minted acts as that researcher in all their projects, so it must never reach beyond the minter's own."""
    if actor.is_admin:
        return True
    if actor.is_device or user.is_admin or user.id == actor.id:
        return False
    theirs = session.exec(select(Membership).where(Membership.user_id == user.id)).all()
    mine = set(session.exec(select(Membership.project_id).where(
        Membership.user_id == actor.id, Membership.role == Role.coordinator)))
    return bool(theirs) and all(m.role == Role.researcher and m.project_id in mine for m in theirs)


def set_member(session: Session, actor: Actor, project: Project, user_id: uuid.UUID, role: Role) -> Membership:
    """Add a user to the project or change their role. A coordinator adds only users they have seen already
    (members of their projects, accounts they created): anyone else answers 404 exactly like an unknown id,
    so the answer never reveals an account or its email. Only an admin changes an admin's memberships."""
    user = session.get(User, user_id)
    if user is None or not knows(session, actor, user):
        raise NotFound("No such user.")
    if user.is_admin and not actor.is_admin:
        raise Forbidden("Only an admin can add an admin to a project or change their role.", code="admin_target")
    membership = session.get(Membership, (project.id, user_id))
    if membership is not None and membership.role != role:
        _refuse_peer_change(actor, membership)
    if membership is None:
        membership = Membership(project_id=project.id, user_id=user_id, role=role)
    else:
        membership.role = role
    session.add(membership)
    audit.record(session, actor_id=actor.id, action="member.set", entity="user", entity_id=user_id,
                 project_id=project.id, detail={"role": role.value})
    return membership


def _refuse_peer_change(actor: Actor, membership: Membership) -> None:
    """Only an admin demotes or removes a coordinator (their own role aside). A coordinator who could would take
    over a peer's account: once the peer is only a researcher of the coordinator's projects, `manages` lets the
    coordinator set their password or mint a phone for them."""
    if membership.role == Role.coordinator and membership.user_id != actor.id and not actor.is_admin:
        raise Forbidden("Only an admin can change or remove another coordinator's membership.",
                        code="coordinator_target")


def remove_member(session: Session, actor: Actor, project: Project, user_id: uuid.UUID) -> None:
    membership = session.get(Membership, (project.id, user_id))
    if membership is None:
        raise NotFound("That user is not a member of this project.")
    if membership.role == Role.coordinator and user_id == actor.id and not actor.is_admin:
        raise Conflict("You cannot remove yourself as coordinator; ask an admin.")
    _refuse_peer_change(actor, membership)
    session.delete(membership)
    audit.record(session, actor_id=actor.id, action="member.remove", entity="user", entity_id=user_id,
                 project_id=project.id)


def last_sync_of(session: Session, user_id: uuid.UUID) -> datetime | None:
    """A person's last sync from any phone or login: tokens are revoked or expire but are never deleted, and a
    researcher who logs in with a password has no device token to show it."""
    # ix_auth_tokens_user_id
    return session.exec(select(sa.func.max(AuthToken.last_sync_at)).where(AuthToken.user_id == user_id)).one()


def list_members(session: Session, project: Project) -> list[tuple[Membership, User]]:
    return list(session.exec(
        select(Membership, User).join(User, User.id == Membership.user_id)  # type: ignore[arg-type]
        .where(Membership.project_id == project.id).order_by(User.email)
    ).all())


def record_training(session: Session, actor: Actor, project: Project, user_id: uuid.UUID,
                    data: TrainingCreate) -> TrainingRecord:
    if session.get(Membership, (project.id, user_id)) is None:
        raise NotFound("That user is not a member of this project.")
    record = TrainingRecord(project_id=project.id, user_id=user_id, completed_on=data.completed_on,
                            expires_on=data.expires_on, recorded_by=actor.id)
    session.add(record)
    audit.record(session, actor_id=actor.id, action="training.record", entity="user", entity_id=user_id,
                 project_id=project.id, detail={"expires_on": data.expires_on.isoformat()})
    return record


def list_training(session: Session, project: Project, user_id: uuid.UUID | None = None) -> list[TrainingRecord]:
    q = select(TrainingRecord).where(TrainingRecord.project_id == project.id)
    if user_id:
        q = q.where(TrainingRecord.user_id == user_id)
    return list(session.exec(q.order_by(col(TrainingRecord.expires_on).desc())))


def add_prompt(session: Session, actor: Actor, project: Project, data: PromptCreate) -> Prompt:
    prompt = Prompt(project_id=project.id, **data.model_dump())
    session.add(prompt)
    return prompt


def list_prompts(session: Session, project: Project) -> list[Prompt]:
    return list(session.exec(select(Prompt).where(Prompt.project_id == project.id)
                             .order_by(Prompt.position, Prompt.created_at)))


def add_place(session: Session, actor: Actor, project: Project, data: PlaceCreate) -> Place:
    if session.exec(select(Place).where(Place.project_id == project.id, Place.name == data.name)).first():
        raise Conflict(f"This project already has a place called {data.name!r}.", code="duplicate_name")
    place = Place(project_id=project.id, **data.model_dump())
    session.add(place)
    return place


def list_places(session: Session, project: Project) -> list[Place]:
    return list(session.exec(select(Place).where(Place.project_id == project.id).order_by(Place.name)))


def _changes(data: PromptUpdate | PlaceUpdate) -> dict[str, Any]:
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None:
            raise Invalid(f"{key} cannot be null; send a value (or leave it out).", code="null_not_allowed")
    return changes


T = TypeVar("T", Prompt, Place)


def _for_manager(session: Session, actor: Actor, model: type[T], object_id: uuid.UUID, noun: str) -> T:
    """An object of a project the caller manages: 404 outside the caller's projects, 403 for its researchers."""
    found = session.get(model, object_id)
    if found is None or role_in(session, actor, found.project_id) is None:
        raise NotFound(f"No such {noun}.")
    require_coordinator(session, actor, found.project_id)
    return found


def prompt_for_manager(session: Session, actor: Actor, prompt_id: uuid.UUID) -> Prompt:
    return _for_manager(session, actor, Prompt, prompt_id, "prompt")


def place_for_manager(session: Session, actor: Actor, place_id: uuid.UUID) -> Place:
    return _for_manager(session, actor, Place, place_id, "place")


def update_prompt(session: Session, actor: Actor, prompt: Prompt, data: PromptUpdate) -> Prompt:
    """Reorder, retire or reword a prompt. Its wording is frozen once a fragment answers it: an export or a
    subject-access file shows each fragment beside its prompt's text, and a reworded prompt would claim the
    participant answered a question they were never asked. Retire it (active: false) and add the new wording."""
    changes = _changes(data)
    if "text" in changes and changes["text"] != prompt.text and session.exec(
            select(sa.literal(1)).where(Fragment.prompt_id == prompt.id).limit(1)).first() is not None:
        raise Conflict("Fragments already answer this prompt, so its wording cannot change; retire it "
                       "(active: false) and add a prompt with the new wording.", code="prompt_in_use")
    for key, value in changes.items():
        setattr(prompt, key, value)
    session.add(prompt)
    audit.record(session, actor_id=actor.id, action="prompt.update", entity="prompt", entity_id=prompt.id,
                 project_id=prompt.project_id, detail={"fields": sorted(changes)})
    return prompt


def update_place(session: Session, actor: Actor, place: Place, data: PlaceUpdate) -> Place:
    """Rename or retire a place. A rename relabels its fragments too: a place names a neighbourhood, and
    fixing how it is spelt does not change where anything was said (unlike a prompt's wording)."""
    changes = _changes(data)
    if "name" in changes and changes["name"] != place.name and session.exec(
            select(Place).where(Place.project_id == place.project_id, Place.name == changes["name"])).first():
        raise Conflict(f"This project already has a place called {changes['name']!r}.", code="duplicate_name")
    for key, value in changes.items():
        setattr(place, key, value)
    session.add(place)
    audit.record(session, actor_id=actor.id, action="place.update", entity="place", entity_id=place.id,
                 project_id=place.project_id, detail={"fields": sorted(changes)})
    return place
