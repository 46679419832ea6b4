"""Plain functions that make records for tests, and a ready-made project world."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session

from api.consent.models import ConsentForm
from api.people.models import AuthToken, TokenKind, User
from api.people.security import digest, hash_password, new_token
from api.projects.models import Membership, Place, Project, Prompt, Role, TrainingRecord
from api.tags.models import Tag

PASSWORD = "a long enough password"
_HASH = hash_password(PASSWORD)  # argon2 is slow on purpose; hash once for every test user


def make_user(session: Session, *, email: str | None = None, is_admin: bool = False, **kw: Any) -> User:
    user = User(email=email or f"{uuid.uuid4().hex[:8]}@example.org", password_hash=_HASH, is_admin=is_admin, **kw)
    session.add(user)
    session.commit()
    return user


def make_token(session: Session, user: User, *, kind: TokenKind = TokenKind.session,
               project_id: uuid.UUID | None = None, expires_in: timedelta = timedelta(hours=1),
               revoked: bool = False) -> str:
    secret = new_token()
    session.add(AuthToken(user_id=user.id, token_hash=digest(secret), kind=kind, project_id=project_id,
                          expires_at=datetime.now(UTC) + expires_in,
                          revoked_at=datetime.now(UTC) if revoked else None))
    session.commit()
    return secret


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_project(session: Session, **kw: Any) -> Project:
    project = Project(name=kw.pop("name", f"Project {uuid.uuid4().hex[:6]}"), questions=kw.pop("questions", [
        {"id": "belong", "type": "slider", "label": "How much do you feel you belong here?",
         "left": "not at all", "right": "completely"},
        {"id": "mood", "type": "choice", "label": "How did it feel to talk?", "options": ["good", "mixed", "hard"]},
    ]), **kw)
    session.add(project)
    session.commit()
    return project


def add_member(session: Session, project: Project, user: User, role: Role, trained: bool = True) -> None:
    session.add(Membership(project_id=project.id, user_id=user.id, role=role))
    if trained:
        today = date.today()
        session.add(TrainingRecord(project_id=project.id, user_id=user.id, completed_on=today - timedelta(days=5000),
                                   expires_on=today + timedelta(days=365), recorded_by=user.id))
    session.commit()


@dataclass
class World:
    """A project with a coordinator, a trained researcher, a consent form, places, prompts and a tag."""

    project: Project
    admin: User
    coordinator: User
    researcher: User
    form: ConsentForm
    places: list[Place]
    prompts: list[Prompt]
    tag: Tag
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who])


def make_world(session: Session) -> World:
    project = make_project(session)
    admin = make_user(session, is_admin=True)
    coordinator = make_user(session)
    researcher = make_user(session)
    add_member(session, project, coordinator, Role.coordinator)
    add_member(session, project, researcher, Role.researcher)
    form = ConsentForm(project_id=project.id, version=1, title="Consent", body="You can stop at any time.",
                       scopes=["audio", "publish", "quote", "share"], created_by=coordinator.id)
    places = [Place(project_id=project.id, name=n) for n in ("Stonehouse", "Devonport")]
    prompts = [Prompt(project_id=project.id, text=t, position=i)
               for i, t in enumerate(("Where do you feel you belong?", "Who do you turn to?"))]
    tag = Tag(project_id=project.id, name="isolation")
    session.add_all([form, *places, *prompts, tag])
    session.commit()
    world = World(project, admin, coordinator, researcher, form, places, prompts, tag)
    for who in ("admin", "coordinator", "researcher"):
        world.tokens[who] = make_token(session, getattr(world, who))
    return world


def now_iso(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def conversation_item(world: World, cid: uuid.UUID | None = None, **data: Any) -> dict[str, Any]:
    return {"type": "conversation", "id": str(cid or uuid.uuid4()), "data": {
        "project_id": str(world.project.id), "place_id": str(world.places[0].id),
        "prompt_ids": [str(world.prompts[0].id)], "started_at": now_iso(timedelta(minutes=-30)), **data}}


def consent_item(world: World, conversation_id: str, cid: uuid.UUID | None = None, **data: Any) -> dict[str, Any]:
    return {"type": "consent", "id": str(cid or uuid.uuid4()), "data": {
        "conversation_id": conversation_id, "participant_label": "P-4KQ7", "consent_form_id": str(world.form.id),
        "scopes": ["quote", "share"], "method": "verbal", "given_at": now_iso(timedelta(minutes=-29)), **data}}


def fragment_item(conversation_id: str, consent_id: str, fid: uuid.UUID | None = None, **data: Any) -> dict[str, Any]:
    return {"type": "fragment", "id": str(fid or uuid.uuid4()), "data": {
        "conversation_id": conversation_id, "consent_id": consent_id, "kind": "quote",
        "text": "Nobody knocks on doors round here any more.", "language": "en",
        "captured_at": now_iso(timedelta(minutes=-20)), "sensitive": False, **data}}


def capture_batch(world: World, n_fragments: int = 3, text: str = "fragment") -> list[dict[str, Any]]:
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"])
    frags = [fragment_item(conv["id"], consent["id"], text=f"{text} {i}") for i in range(n_fragments)]
    return [conv, consent, *frags]


def sync(client: Any, world: World, items: list[dict[str, Any]], who: str = "researcher",
         device_id: str = "test-phone") -> Any:
    return client.post("/api/v1/sync", json={"device_id": device_id, "items": items}, headers=world.headers(who))
