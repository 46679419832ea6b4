"""A participant's request to see their data: everything a project holds under one pseudonymous label."""

import uuid
from collections import defaultdict
from typing import Any

from sqlmodel import Session, col, select

from api.audit import service as audit
from api.consent.models import (
    Consent,
    ConsentForm,
    Participant,
    SubjectAccess,
    SubjectConsent,
    SubjectConsentForm,
    SubjectFragment,
    SubjectParticipant,
    SubjectProject,
)
from api.conversations.models import Conversation
from api.db import utcnow
from api.errors import NotFound
from api.fragments.models import Fragment, FragmentStatus
from api.media.models import AudioClip
from api.people.deps import Actor
from api.projects.models import Place, Project, Prompt
from api.tags.models import FragmentTag, Tag


def gather(session: Session, project: Project, label: str) -> SubjectAccess:
    """Participants are per conversation (their id comes from conversation and label), so one label may be
    several participants: all of them are included. The label matches exactly: `p3` is not `P3`, and a
    looser match could hand one person another's words."""
    rows = session.exec(
        select(Participant, Conversation).join(Conversation, Conversation.id == Participant.conversation_id)  # type: ignore[arg-type]
        .where(Participant.project_id == project.id, Participant.label == label)
        .order_by(Conversation.started_at, Participant.id)).all()
    if not rows:
        raise NotFound("No participant has that label in this project.", code="participant_not_found")
    places = {p.id: p.name for p in session.exec(select(Place).where(Place.project_id == project.id))}
    prompts = {p.id: p.text for p in session.exec(select(Prompt).where(Prompt.project_id == project.id))}
    participant_ids = [p.id for p, _ in rows]
    participants = [SubjectParticipant(id=p.id, label=p.label, conversation_id=c.id,
                                       conversation_started_at=c.started_at,
                                       place=places.get(c.place_id) if c.place_id else None) for p, c in rows]

    consent_rows = session.exec(
        select(Consent, ConsentForm).join(ConsentForm, ConsentForm.id == Consent.consent_form_id)  # type: ignore[arg-type]
        .where(col(Consent.participant_id).in_(participant_ids)).order_by(Consent.given_at, Consent.id)).all()
    consents = [SubjectConsent(id=c.id, participant_id=c.participant_id, conversation_id=c.conversation_id,
                               form=SubjectConsentForm(title=f.title, body=f.body, version=f.version),
                               scopes=c.scopes, method=c.method, given_at=c.given_at, withdrawn_at=c.withdrawn_at,
                               has_signature=c.signature is not None, signature=c.signature)
                for c, f in consent_rows]

    consent_ids = [c.id for c, _ in consent_rows]
    found = list(session.exec(select(Fragment).where(col(Fragment.consent_id).in_(consent_ids))
                              .order_by(Fragment.captured_at, Fragment.id))) if consent_ids else []
    fragment_ids = [f.id for f in found]
    tags: dict[uuid.UUID, list[str]] = defaultdict(list)
    audio: set[uuid.UUID] = set()
    if fragment_ids:
        for fid, name in session.exec(select(FragmentTag.fragment_id, Tag.name)
                                      .join(Tag, Tag.id == FragmentTag.tag_id)  # type: ignore[arg-type]
                                      .where(col(FragmentTag.fragment_id).in_(fragment_ids)).order_by(Tag.name)):
            tags[fid].append(name)
        audio = set(session.exec(select(AudioClip.fragment_id).where(col(AudioClip.fragment_id).in_(fragment_ids))))
    fragments = [_fragment(f, places, prompts, tags[f.id], f.id in audio) for f in found]
    return SubjectAccess(project=SubjectProject(id=project.id, name=project.name), label=label,
                         generated_at=utcnow(), participants=participants, consents=consents, fragments=fragments)


def _fragment(f: Fragment, places: dict[uuid.UUID, str], prompts: dict[uuid.UUID, str], tags: list[str],
              audio_held: bool) -> SubjectFragment:
    common: dict[str, Any] = {
        "id": f.id, "consent_id": f.consent_id, "conversation_id": f.conversation_id, "status": str(f.status),
        "erased_at": f.erased_at, "captured_at": f.captured_at,
        "place": places.get(f.place_id) if f.place_id else None,
        "prompt": prompts.get(f.prompt_id) if f.prompt_id else None}
    if f.status != FragmentStatus.active:
        # Erasure emptied the row already; this says so explicitly, so nothing can slip through here.
        return SubjectFragment(**common, kind=None, text=None, language=None, answers=None, tags=[], audio_held=False)
    return SubjectFragment(**common, kind=str(f.kind) if f.kind else None, text=f.text, language=f.language,
                           answers=f.answers, tags=tags, audio_held=audio_held)


def audit_entry(actor: Actor, project: Project, answer: SubjectAccess) -> Any:
    """Counts only: the file itself is the participant's, the log keeps that it was made, by whom and when."""
    erased = sum(1 for f in answer.fragments if f.status != FragmentStatus.active)
    return audit.entry_for(actor_id=actor.id, action="subject_access.export", entity="project",
                           entity_id=project.id, project_id=project.id,
                           detail={"participants": len(answer.participants), "consents": len(answer.consents),
                                   "fragments": len(answer.fragments) - erased, "erased_fragments": erased})
