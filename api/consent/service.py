"""Consent: the forms participants agree to, what each agreed to, and withdrawal (which erases for real)."""

import uuid

from sqlmodel import Session, col, select

from api.audit import service as audit
from api.consent.models import (
    Consent,
    ConsentForm,
    ConsentFormCreate,
    ConsentFormPublic,
    ConsentFormUpdate,
    ConsentPublic,
    ConsentUpdate,
    Participant,
    Scope,
    WithdrawResult,
)
from api.db import utcnow
from api.errors import Conflict, Forbidden, NotFound
from api.feed import service as feed
from api.feed.models import ChangeOp
from api.fragments import service as fragments
from api.fragments.models import ERASED_HASH, FragmentStatus
from api.people.deps import Actor
from api.projects import service as projects
from api.projects.models import Project


def current_form(session: Session, project_id: uuid.UUID) -> ConsentForm | None:
    return session.exec(select(ConsentForm).where(ConsentForm.project_id == project_id)
                        .order_by(col(ConsentForm.version).desc())).first()


def form_in_use(session: Session, form_id: uuid.UUID) -> bool:
    return session.exec(select(Consent.id).where(Consent.consent_form_id == form_id).limit(1)).first() is not None


def form_public(session: Session, form: ConsentForm, current: ConsentForm | None = None) -> ConsentFormPublic:
    current = current or current_form(session, form.project_id)
    return ConsentFormPublic.model_validate(form, update={
        "current": current is not None and current.id == form.id, "in_use": form_in_use(session, form.id)})


def create_form(session: Session, actor: Actor, project: Project, data: ConsentFormCreate) -> ConsentForm:
    latest = current_form(session, project.id)
    form = ConsentForm(project_id=project.id, version=(latest.version + 1) if latest else 1, title=data.title,
                       body=data.body, scopes=sorted({s.value for s in data.scopes}), created_by=actor.id)
    session.add(form)
    session.flush()
    audit.record(session, actor_id=actor.id, action="consent_form.create", entity="consent_form",
                 entity_id=form.id, project_id=project.id, detail={"version": form.version})
    return form


def update_form(session: Session, actor: Actor, form: ConsentForm, data: ConsentFormUpdate) -> ConsentForm:
    if form_in_use(session, form.id):
        raise Conflict("A consent already refers to this version; write a new version instead.",
                       code="consent_form_in_use")
    changes = data.model_dump(exclude_unset=True)
    if changes.get("scopes") is not None:
        changes["scopes"] = sorted({s.value for s in data.scopes or []})
    for key, value in changes.items():
        if value is not None:
            setattr(form, key, value)
    session.add(form)
    audit.record(session, actor_id=actor.id, action="consent_form.update", entity="consent_form",
                 entity_id=form.id, project_id=form.project_id, detail={"fields": sorted(changes)})
    return form


def get_form(session: Session, actor: Actor, form_id: uuid.UUID) -> ConsentForm:
    form = session.get(ConsentForm, form_id)
    if form is None or projects.role_in(session, actor, form.project_id) is None:
        raise NotFound("No such consent form.")
    return form


def list_forms(session: Session, project: Project) -> list[ConsentForm]:
    return list(session.exec(select(ConsentForm).where(ConsentForm.project_id == project.id)
                             .order_by(col(ConsentForm.version).desc())))


def consent_public(consent: Consent, label: str) -> ConsentPublic:
    return ConsentPublic.model_validate(consent, update={
        "participant_label": label, "scopes": consent.scopes, "has_signature": bool(consent.signature)})


def get_consent(session: Session, actor: Actor, consent_id: uuid.UUID) -> tuple[Consent, Participant]:
    """A consent the caller may see: coordinators of its project, or the researcher who recorded it."""
    consent = session.get(Consent, consent_id)
    if consent is not None:
        role = projects.role_in(session, actor, consent.project_id)
        if projects.is_manager(role) or (role is not None and consent.recorded_by == actor.id):
            participant = session.get(Participant, consent.participant_id)
            assert participant is not None
            return consent, participant
    raise NotFound("No such consent.")


def list_consents(session: Session, actor: Actor, project_id: uuid.UUID, conversation_id: uuid.UUID | None,
                  participant_label: str | None, limit: int, offset: int) -> list[tuple[Consent, Participant]]:
    _, role = projects.get_project(session, actor, project_id)
    q = (select(Consent, Participant).join(Participant, Participant.id == Consent.participant_id)  # type: ignore[arg-type]
         .where(Consent.project_id == project_id))
    if not projects.is_manager(role):
        q = q.where(Consent.recorded_by == actor.id)
    if conversation_id:
        q = q.where(Consent.conversation_id == conversation_id)
    if participant_label:
        q = q.where(Participant.label == participant_label)
    return list(session.exec(q.order_by(col(Consent.given_at).desc(), Consent.id).offset(offset).limit(limit)).all())


def narrow_scopes(session: Session, actor: Actor, consent: Consent, data: ConsentUpdate, expected_version: int) -> Consent:
    """Take scopes away (a participant may agree to less later). Fragments that needed a scope taken away
    are erased: a quote needs `quote`."""
    if not projects.is_manager(projects.role_in(session, actor, consent.project_id)):
        raise Forbidden("Only coordinators change a consent after it is given.")
    if consent.withdrawn_at is not None:
        raise Conflict("This consent has been withdrawn.", code="consent_withdrawn")
    if consent.version != expected_version:
        raise Conflict("This consent changed since you read it.", code="version_conflict",
                       extra={"current_version": consent.version})
    wanted = {s.value for s in data.scopes}
    if not wanted <= set(consent.scopes):
        raise Conflict("Scopes can only be narrowed; a wider consent needs a new consent from the participant.",
                       code="scope_widening")
    removed = set(consent.scopes) - wanted
    for scope in Scope:
        setattr(consent, f"scope_{scope.value}", scope.value in wanted)
    consent.version += 1
    session.add(consent)
    erased = 0
    if Scope.quote.value in removed:
        erased = fragments.erase(session, actor, fragments.ids_under_consent(session, consent.id, kind="quote"),
                                 FragmentStatus.withdrawn)
    audio_erased = 0
    if Scope.audio.value in removed:
        audio_erased = fragments.drop_audio(session, fragments.ids_under_consent(session, consent.id))
    feed.record(session, project_id=consent.project_id, entity="consent", entity_id=consent.id,
                owner_id=consent.recorded_by)
    audit.record(session, actor_id=actor.id, action="consent.narrow", entity="consent", entity_id=consent.id,
                 project_id=consent.project_id,
                 detail={"removed_scopes": sorted(removed), "fragments_erased": erased,
                         "audio_clips_erased": audio_erased})
    return consent


def withdraw(session: Session, actor: Actor, consent: Consent, reason: str | None) -> WithdrawResult:
    """Withdraw consent: erase every fragment under it (text and answers gone, a tombstone stays), at once,
    in this transaction. It cannot be undone."""
    if not projects.is_manager(projects.role_in(session, actor, consent.project_id)):
        raise Forbidden("Only coordinators withdraw consent.")
    if consent.withdrawn_at is not None:
        raise Conflict("This consent was already withdrawn.", code="already_withdrawn")
    now = utcnow()
    consent.withdrawn_at = now
    consent.withdrawn_by = actor.id
    consent.signature = None  # the signature is the participant's mark: it goes with the rest
    consent.sync_hash = ERASED_HASH
    consent.version += 1
    session.add(consent)
    count = fragments.erase(session, actor, fragments.ids_under_consent(session, consent.id),
                            FragmentStatus.withdrawn)
    feed.record(session, project_id=consent.project_id, entity="consent", entity_id=consent.id,
                op=ChangeOp.tombstone, owner_id=consent.recorded_by)
    audit.record(session, actor_id=actor.id, action="consent.withdraw", entity="consent", entity_id=consent.id,
                 project_id=consent.project_id,
                 detail={"fragments_erased": count, "reason": reason})
    return WithdrawResult(consent_id=consent.id, withdrawn_at=now, fragments_erased=count)


