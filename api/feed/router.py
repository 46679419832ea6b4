import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlmodel import Session, col, select

from api.consent import service as consent
from api.consent.models import Consent, Participant
from api.conversations.models import Conversation, ConversationPublic
from api.db import SessionDep
from api.errors import NotFound, responses
from api.feed import service
from api.feed.models import Change, ChangeOp, ChangePage, ChangePublic
from api.fragments import service as fragments
from api.fragments.models import Fragment
from api.people.deps import CurrentActor
from api.tags.models import Tag, TagPublic

router = APIRouter(prefix="/api/v1", tags=["pull"])


@router.get("/changes", response_model=ChangePage, responses=responses(NotFound))
def list_changes(session: SessionDep, actor: CurrentActor,
                 after: Annotated[int, Query(ge=0, le=2**62, description="The last seq you have seen; 0 to start.")] = 0,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                 project_id: uuid.UUID | None = None) -> ChangePage:
    """Every change after `after`, in order: `upsert` carries the record as it is now, `tombstone` carries no
    content and means "delete your copy" (withdrawn consent, retention). Keep the last `seq` and ask again."""
    rows = service.visible_changes(session, actor, project_id, after, limit + 1)
    page = rows[:limit]
    records = _records(session, [c for c in page if c.op == ChangeOp.upsert])
    items = [ChangePublic(seq=c.seq or 0, entity=c.entity, id=c.entity_id, op=c.op, at=c.at,
                          record=records.get((c.entity, c.entity_id))) for c in page]
    return ChangePage(items=items, last_seq=page[-1].seq if page else after, has_more=len(rows) > limit)


def _records(session: Session, changes: list[Change]) -> dict[tuple[str, uuid.UUID], dict[str, Any]]:
    out: dict[tuple[str, uuid.UUID], dict[str, Any]] = {}
    by_entity: dict[str, list[uuid.UUID]] = {}
    for c in changes:
        by_entity.setdefault(c.entity, []).append(c.entity_id)
    if ids := by_entity.get("fragment"):
        rows = session.exec(select(Fragment).where(col(Fragment.id).in_(ids))).all()
        for f in fragments.public(session, rows):
            out[("fragment", f.id)] = f.model_dump(mode="json")
    if ids := by_entity.get("conversation"):
        for conv in session.exec(select(Conversation).where(col(Conversation.id).in_(ids))):
            out[("conversation", conv.id)] = ConversationPublic.model_validate(conv).model_dump(mode="json")
    if ids := by_entity.get("consent"):
        for c, p in session.exec(select(Consent, Participant).join(Participant, Participant.id == Consent.participant_id)  # type: ignore[arg-type]
                                 .where(col(Consent.id).in_(ids))):
            out[("consent", c.id)] = consent.consent_public(c, p.label).model_dump(mode="json")
    if ids := by_entity.get("tag"):
        for t in session.exec(select(Tag).where(col(Tag.id).in_(ids))):
            out[("tag", t.id)] = TagPublic.model_validate(t).model_dump(mode="json")
    return out
