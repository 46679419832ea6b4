"""Conversations: read and correct within the caller's rights."""

import uuid

from sqlmodel import Session, col, select

from api.audit import service as audit
from api.consent.models import Consent
from api.conversations.models import Conversation, ConversationUpdate
from api.db import utcnow
from api.errors import Conflict, Invalid, NotFound, PreconditionFailed
from api.feed import service as feed
from api.people.deps import Actor
from api.projects import service as projects
from api.projects.models import Place, Prompt


def get_for_reader(session: Session, actor: Actor, conversation_id: uuid.UUID) -> Conversation:
    conv = session.get(Conversation, conversation_id)
    if conv is not None:
        role = projects.role_in(session, actor, conv.project_id)
        if projects.is_manager(role) or (role is not None and conv.researcher_id == actor.id):
            return conv
    raise NotFound("No such conversation.")


def list_for_reader(session: Session, actor: Actor, project_id: uuid.UUID, limit: int, offset: int) -> list[Conversation]:
    _, role = projects.get_project(session, actor, project_id)
    q = select(Conversation).where(Conversation.project_id == project_id)
    if not projects.is_manager(role):
        q = q.where(Conversation.researcher_id == actor.id)
    return list(session.exec(q.order_by(col(Conversation.started_at).desc(), Conversation.id).offset(offset).limit(limit)))


def update(session: Session, actor: Actor, conv: Conversation, data: ConversationUpdate,
           expected_version: int | None) -> Conversation:
    if expected_version is None:
        raise PreconditionFailed("Send the version you edited in If-Match.", code="version_required")
    if expected_version != conv.version:
        raise Conflict("Someone changed this conversation since you read it.", code="version_conflict",
                       extra={"current_version": conv.version})
    changes = data.model_dump(exclude_unset=True)
    if changes.get("place_id") is not None and session.exec(select(Place.id).where(
            Place.id == changes["place_id"], Place.project_id == conv.project_id)).first() is None:
        raise Invalid("That place is not one of this project's.", code="unknown_place")
    if "prompt_ids" in changes:
        ids = changes["prompt_ids"] or []
        known = set(session.exec(select(Prompt.id).where(Prompt.project_id == conv.project_id)))
        if not set(ids) <= known:
            raise Invalid("A prompt is not one of this project's.", code="unknown_prompt")
        changes["prompt_ids"] = [str(i) for i in ids]
    if changes.get("note"):
        # The note is about the people in the conversation: once all of them withdrew, it was erased and cannot be
        # written back. FOR SHARE: a withdrawal in flight (it locks the consent FOR UPDATE) is waited for.
        withdrawn = session.exec(select(Consent.withdrawn_at).where(Consent.conversation_id == conv.id)
                                 .with_for_update(read=True)).all()
        if withdrawn and all(at is not None for at in withdrawn):
            raise Conflict("Everyone in this conversation withdrew their consent: a note about them cannot be kept.",
                           code="no_live_consent")
    for key, value in changes.items():
        setattr(conv, key, value)
    conv.version += 1
    conv.updated_at = utcnow()
    session.add(conv)
    feed.record(session, project_id=conv.project_id, entity="conversation", entity_id=conv.id,
                owner_id=conv.researcher_id)
    audit.record(session, actor_id=actor.id, action="conversation.update", entity="conversation",
                 entity_id=conv.id, project_id=conv.project_id, detail={"fields": sorted(changes)})
    return conv
