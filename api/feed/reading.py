"""What each caller may read of the change feed, and the records its upserts carry."""

import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.clients.deps import ClientActor, Reader
from api.clients.models import Audience, ClientScope
from api.consent import service as consent
from api.consent.models import Consent, Participant
from api.conversations.models import Conversation, ConversationPublic
from api.errors import NotFound
from api.feed.models import Change, ChangeOp, ChangePage, ChangePublic
from api.fragments import service as fragments
from api.fragments.models import Fragment
from api.projects import service as projects
from api.tags.models import Tag, TagPublic

POLL_SECONDS = 0.5


def page(session: Session, reader: Reader, project_id: uuid.UUID | None, after: int, limit: int,
         wait: float = 0) -> ChangePage:
    """The next page after `after`; with `wait`, hold the request until a change comes or the time is up."""
    deadline = time.monotonic() + wait
    while True:
        rows = _visible(session, reader, project_id, after, limit + 1)
        if rows or time.monotonic() >= deadline:
            break
        session.rollback()  # end the read, so the next look sees what has committed since
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
    shown = rows[:limit]
    records = _records(session, [c for c in shown if c.op == ChangeOp.upsert])
    items = [ChangePublic(seq=c.seq or 0, entity=c.entity, id=c.entity_id, op=c.op, at=c.at,
                          record=records.get((c.entity, c.entity_id))) for c in shown]
    return ChangePage(items=items, last_seq=shown[-1].seq if shown else after, has_more=len(rows) > limit)


def _visible(session: Session, reader: Reader, project_id: uuid.UUID | None, after: int, limit: int) -> list[Change]:
    stmt = select(Change).where(Change.seq > after)  # type: ignore[operator]
    if isinstance(reader, ClientActor):
        stmt = stmt.where(_client_condition(reader, project_id))
    else:
        memberships = projects.list_projects(session, reader)
        if project_id is not None:
            memberships = [(p, r) for p, r in memberships if p.id == project_id]
            if not memberships:
                raise NotFound("No such project.")
        if not (reader.is_admin and project_id is None):
            managed = [p.id for p, r in memberships if projects.is_manager(r)]
            researched = [p.id for p, r in memberships if not projects.is_manager(r)]
            stmt = stmt.where(sa.or_(
                col(Change.project_id).in_(managed),
                sa.and_(col(Change.project_id).in_(researched), Change.owner_id == reader.id),
            ))
    return list(session.exec(stmt.order_by(col(Change.seq)).limit(limit)))


def _client_condition(reader: ClientActor, project_id: uuid.UUID | None) -> Any:
    """Another tool follows fragments (within its audience), consent withdrawals, and the codebook with
    `tags:read`; never conversations or consent details."""
    reader.require(ClientScope.changes_read)
    client = reader.client
    if project_id not in (None, client.project_id):
        raise NotFound("No such project.")
    kinds = [sa.and_(Change.entity == "fragment", fragments.audience_condition(reader, col(Change.entity_id)))]
    withdrawn = sa.and_(Change.entity == "consent", Change.op == ChangeOp.tombstone)
    if client.audience != Audience.internal:
        scope = Consent.scope_share if client.audience == Audience.partner else Consent.scope_publish
        withdrawn = sa.and_(withdrawn, col(Change.entity_id).in_(
            select(Consent.id).where(Consent.project_id == client.project_id, col(scope).is_(True))))
    kinds.append(withdrawn)
    if client.allows(ClientScope.tags_read):
        kinds.append(Change.entity == "tag")
    return sa.and_(Change.project_id == client.project_id, sa.or_(*kinds))


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
        rows = session.exec(select(Consent, Participant)
                            .join(Participant, Participant.id == Consent.participant_id)  # type: ignore[arg-type]
                            .where(col(Consent.id).in_(ids)))
        for c, p in rows:
            out[("consent", c.id)] = consent.consent_public(c, p.label).model_dump(mode="json")
    if ids := by_entity.get("tag"):
        for t in session.exec(select(Tag).where(col(Tag.id).in_(ids))):
            out[("tag", t.id)] = TagPublic.model_validate(t).model_dump(mode="json")
    return out
