"""What each caller may read of the change feed, and the records its upserts carry."""

import functools
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
from api.feed.models import Change, ChangeOp
from api.fragments import render
from api.fragments import service as fragments
from api.fragments.models import Fragment
from api.media.models import AudioClip
from api.projects import service as projects
from api.tags.models import FragmentTag, Tag, TagPublic

POLL_SECONDS = 0.5


def page(session: Session, reader: Reader, project_id: uuid.UUID | None, after: int, limit: int,
         wait: float = 0) -> dict[str, Any]:
    """The next page after `after`, shaped as ChangePage; with `wait`, hold the request until a change comes or
    the time is up. Fragment records are JSON text made by the database (this is the hot path of every
    consumer); `encode` writes the page."""
    deadline = time.monotonic() + wait
    while True:
        rows = _visible(session, reader, project_id, after, limit + 1)
        if rows or time.monotonic() >= deadline:
            break
        session.rollback()  # end the read, so the next look sees what has committed since
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
    shown = rows[:limit]
    fragments_json: dict[str, str] = {}
    if shown:
        tags, clips = _page_extras(session.get_bind().dialect.name)
        page_range = {"after": after, "last": shown[-1]["seq"]}
        fragments_json = render.complete(
            {c["id"]: c["record"] for c in shown if c["entity"] == "fragment" and c["record"] is not None},
            session.connection().execute(tags, page_range), session.exec(clips, params=page_range))
    others = _records(session, [(c["entity"], uuid.UUID(c["id"])) for c in shown
                                if c["op"] == ChangeOp.upsert and c["entity"] != "fragment"])
    for c in shown:
        if c["entity"] == "fragment":
            c["record"] = fragments_json.get(c["id"])
        else:
            record = others.get((c["entity"], c["id"]))
            c["record"] = render.dumps(record) if record is not None else None
    return {"items": shown, "last_seq": shown[-1]["seq"] if shown else after, "has_more": len(rows) > limit}


def encode(result: dict[str, Any]) -> str:
    """A page from `page` as the JSON of ChangePage (records are already JSON text)."""
    parts = ['{"items":[']
    for c in result["items"]:
        parts += [c["head"][:-1], ',"record":', c["record"] or "null", "},"]
    if result["items"]:
        parts[-1] = "}"
    parts.append(f'],"last_seq":{int(result["last_seq"])},"has_more":{"true" if result["has_more"] else "false"}}}')
    return "".join(parts)


def _visible(session: Session, reader: Reader, project_id: uuid.UUID | None, after: int,
             limit: int) -> list[dict[str, Any]]:
    stmt = _select_changes(session.get_bind().dialect.name).where(Change.seq > after)  # type: ignore[operator]
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
            # Only the branches that can match: an OR with an empty branch makes SQLite gather and sort every
            # later change instead of walking the (project_id, seq) index in order.
            branches = ([_in(col(Change.project_id), managed)] if managed else []) + (
                [sa.and_(_in(col(Change.project_id), researched), Change.owner_id == reader.id)] if researched else [])
            stmt = stmt.where(sa.or_(*branches) if branches else sa.false())
    # Core, not the ORM: these are plain columns, and the ORM's row handling cost more than the query.
    rows = session.connection().execute(stmt.order_by(col(Change.seq)).limit(limit))
    # A tombstone's or another entity's row has no fragment: its record comes from elsewhere (or is null).
    return [{"seq": seq, "entity": entity, "id": id_, "op": op, "head": head,
             "record": record if entity == "fragment" and op == ChangeOp.upsert else None}
            for seq, entity, id_, op, head, record in rows]


@functools.cache
def _select_changes(dialect: str) -> Any:
    change_id = render.frozen(render.uuid_text(Change.entity_id, dialect), dialect)
    build = sa.func.json_build_object if dialect == "postgresql" else sa.func.json_object
    head = build(*[x for name, value in (("seq", Change.seq), ("entity", Change.entity), ("id", change_id),
                                         ("op", Change.op), ("at", render.time_text(Change.at, dialect)))
                   for x in (sa.literal(name, sa.String), value)])
    # Fragment upserts come with their record in the same query: the feed's records are mostly fragments.
    return (select(Change.seq, Change.entity, change_id.label("id"), Change.op,
                   render.frozen(render.json_text(head, dialect), dialect).label("head"),
                   render.record_json(dialect).label("record"))
            .select_from(Change)
            .outerjoin(Fragment, sa.and_(Change.entity == "fragment", Change.op == ChangeOp.upsert,
                                         Fragment.id == Change.entity_id)))


@functools.cache
def _page_extras(dialect: str) -> tuple[Any, Any]:
    """Tags and clips of a page's fragments, found by the page's seq range on the changes' primary key rather
    than by a list of ids: a join the other way round lets SQLite walk every fragment change ever made. (No test
    on the entity: it would tempt SQLite onto the entity index; ids never collide.)"""
    in_page = select(Change.entity_id).where(Change.seq > sa.bindparam("after"),
                                             Change.seq <= sa.bindparam("last"))
    return (render.tag_pairs(dialect).where(col(FragmentTag.fragment_id).in_(in_page)),
            select(AudioClip).where(col(AudioClip.fragment_id).in_(in_page)))


def _in(column: Any, ids: list[uuid.UUID]) -> Any:
    return column == ids[0] if len(ids) == 1 else column.in_(ids)


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


def _records(session: Session, changes: list[tuple[str, uuid.UUID]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The records upserts carry, keyed by (entity, id as text)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    by_entity: dict[str, list[uuid.UUID]] = {}
    for entity, entity_id in changes:
        by_entity.setdefault(entity, []).append(entity_id)
    if ids := by_entity.get("conversation"):
        for conv in session.exec(select(Conversation).where(col(Conversation.id).in_(ids))):
            out[("conversation", str(conv.id))] = ConversationPublic.model_validate(conv).model_dump(mode="json")
    if ids := by_entity.get("consent"):
        rows = session.exec(select(Consent, Participant)
                            .join(Participant, Participant.id == Consent.participant_id)  # type: ignore[arg-type]
                            .where(col(Consent.id).in_(ids)))
        for c, p in rows:
            out[("consent", str(c.id))] = consent.consent_public(c, p.label).model_dump(mode="json")
    if ids := by_entity.get("tag"):
        for t in session.exec(select(Tag).where(col(Tag.id).in_(ids))):
            out[("tag", str(t.id))] = TagPublic.model_validate(t).model_dump(mode="json")
    return out
