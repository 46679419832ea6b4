"""Consent: the forms participants agree to, what each agreed to, and withdrawal (which erases for real)."""

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.audit import service as audit
from api.consent.models import (
    Consent,
    ConsentForm,
    ConsentFormCreate,
    ConsentFormPublic,
    ConsentFormUpdate,
    ConsentListItem,
    ConsentPublic,
    ConsentState,
    ConsentUpdate,
    Participant,
    Scope,
    WithdrawalPreview,
    WithdrawReason,
    WithdrawResult,
)
from api.conversations.models import Conversation
from api.db import utcnow
from api.errors import Conflict, Forbidden, NotFound
from api.feed import service as feed
from api.feed.models import ChangeOp
from api.fragments import compaction
from api.fragments import service as fragments
from api.fragments.models import ERASED_HASH, Fragment, FragmentStatus
from api.media.models import AudioClip
from api.people.deps import Actor
from api.projects import service as projects
from api.projects.models import Project
from api.tags.models import FragmentTag
from api.workshops import service as workshops


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


def squash_label(text: str) -> str:
    """A label as compared by the register: lower case, without spaces or hyphens."""
    return "".join(text.split()).replace("-", "").lower()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_consents(session: Session, actor: Actor, project_id: uuid.UUID, filters: dict[str, Any], limit: int,
                  offset: int) -> tuple[list[ConsentListItem], int]:
    """A page of the consent register and how many consents match in all. A researcher sees only the
    consents they recorded."""
    _, role = projects.get_project(session, actor, project_id)
    conditions: list[Any] = [Consent.project_id == project_id]
    if not projects.is_manager(role):
        conditions.append(Consent.recorded_by == actor.id)
    if filters.get("conversation_id"):
        conditions.append(Consent.conversation_id == filters["conversation_id"])
    # A participant asking to be taken out reads their code off a receipt or card: any case, with spaces, with or
    # without its hyphen ("p 4kq7" is P-4KQ7). The label itself is matched first, then labels that contain it.
    wanted = squash_label(filters.get("participant_label") or "")
    squashed = sa.func.replace(sa.func.lower(Participant.label), "-", "")
    if wanted:
        conditions.append(squashed.like(f"%{_escape_like(wanted)}%", escape="\\"))
    if filters.get("place"):
        conditions.append(Conversation.place_id == filters["place"])
    if filters.get("given_after"):
        conditions.append(Consent.given_at >= filters["given_after"])
    if filters.get("given_before"):
        conditions.append(Consent.given_at < filters["given_before"])
    if filters.get("scope"):
        conditions.append(getattr(Consent, f"scope_{filters['scope']}").is_(True))
    if filters.get("state") == ConsentState.active:
        conditions.append(col(Consent.withdrawn_at).is_(None))
    elif filters.get("state") == ConsentState.withdrawn:
        conditions.append(col(Consent.withdrawn_at).is_not(None))

    def joined(q: Any) -> Any:
        return (q.join(Participant, Participant.id == Consent.participant_id)
                .join(Conversation, Conversation.id == Consent.conversation_id).where(*conditions))

    total = session.exec(joined(select(sa.func.count()).select_from(Consent))).one()
    exact_first = [sa.case((squashed == wanted, 0), else_=1)] if wanted else []
    rows = session.exec(joined(select(Consent, Participant.label, Conversation.place_id))
                        .order_by(*exact_first, col(Consent.given_at).desc(), Consent.id)
                        .offset(offset).limit(limit)).all()
    counts = _held_fragment_counts(session, [c.id for c, _, _ in rows])
    items = [ConsentListItem.model_validate(consent_public(c, label), update={
        "place_id": place_id, "fragment_count": counts.get(c.id, 0)}) for c, label, place_id in rows]
    return items, total


def _held_fragment_counts(session: Session, consent_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Fragments not erased, per consent, for a page of consents in one query."""
    if not consent_ids:
        return {}
    return dict(session.exec(  # type: ignore[arg-type]
        select(Fragment.consent_id, sa.func.count()).where(col(Fragment.consent_id).in_(consent_ids),
                                                           Fragment.status == FragmentStatus.active)
        .group_by(Fragment.consent_id)).all())


def withdrawal_preview(session: Session, actor: Actor, consent: Consent, label: str) -> WithdrawalPreview:
    """What withdrawing this consent would erase, counted the way withdraw() erases it."""
    if not projects.is_manager(projects.role_in(session, actor, consent.project_id)):
        raise Forbidden("Only coordinators withdraw consent.")
    held = _erasable(session, consent.id)
    cards, workshop_titles = workshops.cards_under_consent(session, consent.id)
    return WithdrawalPreview(consent_id=consent.id, participant_label=label,
                             already_withdrawn=consent.withdrawn_at is not None, fragments=held["fragments"],
                             clips=held["clips"], tagged_fragments=held["tagged_fragments"],
                             signature=consent.signature is not None, workshop_cards=cards,
                             workshops=workshop_titles)


def _erasable(session: Session, consent_id: uuid.UUID) -> dict[str, int]:
    """Counts, in one query, of what erasing a consent's fragments removes: the fragments not yet erased
    (withdraw erases exactly those), their audio clips and how many of them carry tags."""
    fragments_n, clips_n, tagged_n = session.exec(
        select(sa.func.count(sa.distinct(Fragment.id)), sa.func.count(sa.distinct(AudioClip.fragment_id)),
               sa.func.count(sa.distinct(FragmentTag.fragment_id)))
        .select_from(Fragment)
        .outerjoin(AudioClip, AudioClip.fragment_id == Fragment.id)  # type: ignore[arg-type]
        .outerjoin(FragmentTag, FragmentTag.fragment_id == Fragment.id)  # type: ignore[arg-type]
        .where(Fragment.consent_id == consent_id, Fragment.status == FragmentStatus.active)).one()
    return {"fragments": fragments_n, "clips": clips_n, "tagged_fragments": tagged_n}


def lock(session: Session, consent: Consent) -> None:
    """Read the consent again, locked FOR UPDATE (PostgreSQL), before taking anything away: a sync that read it
    live holds it FOR SHARE until its fragments are committed, so they are there to be erased too; a sync that
    comes later waits, and finds it withdrawn or narrowed (api/sync/service.py, _CONSENTS)."""
    session.refresh(consent, with_for_update=True)


def narrow_scopes(session: Session, actor: Actor, consent: Consent, data: ConsentUpdate,
                  expected_version: int) -> Consent:
    """Take scopes away (a participant may agree to less later). Fragments that needed a scope taken away
    are erased: a quote needs `quote`."""
    if not projects.is_manager(projects.role_in(session, actor, consent.project_id)):
        raise Forbidden("Only coordinators change a consent after it is given.")
    lock(session, consent)
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
    for scope in (Scope.share, Scope.publish):  # a partner's or the public's tool is told to delete its copies
        if scope.value in removed:
            setattr(consent, f"{scope.value}_removed_at", utcnow())
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


def withdraw(session: Session, actor: Actor, consent: Consent, reason: WithdrawReason | None) -> WithdrawResult:
    """Withdraw consent: erase every fragment under it (text and answers gone, a tombstone stays), at once,
    in this transaction, and the conversation's note once no live consent is left in the conversation. It
    cannot be undone. The reason is kept only as a fixed code; the participant's pseudonymous label stays with
    the withdrawn consent, as the record that this person withdrew (README: What erasure guarantees)."""
    if not projects.is_manager(projects.role_in(session, actor, consent.project_id)):
        raise Forbidden("Only coordinators withdraw consent.")
    lock(session, consent)
    if consent.withdrawn_at is not None:
        raise Conflict("This consent was already withdrawn.", code="already_withdrawn")
    held = _erasable(session, consent.id)
    cards, _ = workshops.cards_under_consent(session, consent.id)
    signature_erased = consent.signature is not None
    now = utcnow()
    consent.withdrawn_at = now
    consent.withdrawn_by = actor.id
    consent.signature = None  # the signature is the participant's mark: it goes with the rest
    consent.sync_hash = ERASED_HASH
    consent.version += 1
    session.add(consent)
    count = fragments.erase(session, actor, fragments.ids_under_consent(session, consent.id),
                            FragmentStatus.withdrawn)
    note_erased = erase_note_if_unconsented(session, consent.conversation_id)
    compaction.mark_erased(session)
    feed.record(session, project_id=consent.project_id, entity="consent", entity_id=consent.id,
                op=ChangeOp.tombstone, owner_id=consent.recorded_by)
    audit.record(session, actor_id=actor.id, action="consent.withdraw", entity="consent", entity_id=consent.id,
                 project_id=consent.project_id,
                 detail={"fragments_erased": count, "clips_erased": held["clips"],
                         "tagged_fragments_erased": held["tagged_fragments"], "signature_erased": signature_erased,
                         "note_erased": note_erased, "reason": reason.value if reason else None})
    return WithdrawResult(consent_id=consent.id, withdrawn_at=now, fragments_erased=count, clips_erased=held["clips"],
                          tagged_fragments_erased=held["tagged_fragments"], signature_erased=signature_erased,
                          workshop_cards_erased=cards)


def erase_note_if_unconsented(session: Session, conversation_id: uuid.UUID) -> bool:
    """Erase a conversation's note when no live consent is left in it: the note is the researcher's words about
    people who no longer agree to be kept. Answers whether a note was erased."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.note is None:
        return False
    live = session.exec(select(Consent.id).where(Consent.conversation_id == conversation_id,
                                                 col(Consent.withdrawn_at).is_(None)).limit(1)).first()
    if live is not None:
        return False
    conversation.note = None
    conversation.sync_hash = ERASED_HASH  # a hash of the note is a trace of it; a replay answers `duplicate`
    conversation.version += 1
    conversation.updated_at = utcnow()
    session.add(conversation)
    feed.record(session, project_id=conversation.project_id, entity="conversation", entity_id=conversation.id,
                owner_id=conversation.researcher_id)
    compaction.mark_erased(session)
    return True
