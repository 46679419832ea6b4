"""What each caller may read of the change feed, and the records its upserts carry."""

import asyncio
import functools
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api.clients.deps import ClientActor, Reader
from api.clients.models import ClientScope
from api.consent import service as consent
from api.consent.models import Consent, Participant
from api.conversations.models import Conversation, ConversationPublic
from api.db import turn_given_up
from api.errors import NotFound
from api.feed.models import Change, ChangeOp
from api.fragments import render
from api.fragments import service as fragments
from api.fragments.models import Fragment
from api.media.models import AudioClip, AudioPublic
from api.projects import service as projects
from api.tags.models import FragmentTag, Tag, TagPublic

POLL_SECONDS = 0.5


async def waited_page(session: Session, reader: Reader, project_id: uuid.UUID | None, after: int, limit: int,
                      wait: float) -> dict[str, Any]:
    """`page`, or with `wait` the first page that has something, looking again every POLL_SECONDS until the time
    is up. The waiting is in the event loop, each look in a worker thread: a long poll holds no thread (forty
    waiting consumers held all of them, and phones could not sync), and no connection either (a look that finds
    nothing ends its read in its own thread)."""
    deadline = time.monotonic() + wait

    def look() -> dict[str, Any] | None:
        result = page(session, reader, project_id, after, limit)
        if result["ids"] or time.monotonic() >= deadline:
            return result
        session.rollback()  # gives the connection back; the next look sees what has committed since
        return None

    while (result := await run_in_threadpool(look)) is None:
        async with turn_given_up(session):
            await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
    return result


def page(session: Session, reader: Reader, project_id: uuid.UUID | None, after: int, limit: int) -> dict[str, Any]:
    """The next page after `after`: `items` (each change as JSON text, in ChangePage's item shape), their `ids`,
    `last_seq` and `has_more`. Fragment records are JSON text made by the database (this is the hot path of every
    consumer); `encode` writes the page."""
    rows = _visible(session, reader, project_id, after, limit + 1)
    records = render.Records(session.get_bind().dialect.name)
    # The id as text (a fragment's tags and audio are found by it), and the record's columns.
    dashed = records.dashed
    shown = [(row[0], row[1], dashed(row[2]), row[3], row[4], row[5:]) for row in rows[:limit]]
    if isinstance(reader, ClientActor):
        # Another tool sees a consent only as a tombstone: "delete what you hold of its fragments"; and a fragment
        # it may no longer see (flagged sensitive, its consent's scope gone) as a tombstone too.
        hidden = _no_longer_visible(session, reader, [id_ for _, entity, id_, op, _, _ in shown
                                                      if entity == "fragment" and op == ChangeOp.upsert])
        shown = [(seq, entity, id_, ChangeOp.tombstone if entity == "consent" or id_ in hidden else op, at, record)
                 for seq, entity, id_, op, at, record in shown]
    tags: dict[str, list[str]] = {}  # a fragment's id -> its tags' ids as JSON text
    audio: dict[str, str] = {}
    if shown:
        tag_pairs, clips = _page_extras(session.get_bind().dialect.name)
        page_range = {"after": after, "last": shown[-1][0]}
        for fragment_id, tag_id in session.connection().execute(tag_pairs, page_range):
            tags.setdefault(dashed(fragment_id), []).append(records.quoted[tag_id])
        audio = {str(c.fragment_id): render.dumps(AudioPublic.model_validate(c).model_dump(mode="json"))
                 for c in session.exec(clips, params=page_range)}
    others = _records(session, [(entity, uuid.UUID(id_)) for _, entity, id_, op, _, _ in shown
                                if op == ChangeOp.upsert and entity != "fragment"])
    items = []
    for seq, entity, id_, op, at, record in shown:
        if entity != "fragment":
            other = others.get((entity, id_))
            record = render.dumps(other) if other is not None else "null"
        elif op != ChangeOp.upsert:  # a tombstone: no content
            record = "null"
        else:
            # The record as GET /fragments/{id} shows it: its ids and the database's JSON, then its tags and audio.
            tag_ids = f'[{",".join(tags[id_])}]' if id_ in tags else "[]"
            record = f'{records.text(id_, record)[:-1]},"tag_ids":{tag_ids},"audio":{audio.get(id_, "null")}}}'
        items.append(f'{{"seq":{seq},"entity":{_quoted(entity)},"id":"{id_}","op":{_quoted(op)},"at":"{at}",'
                     f'"record":{record}}}')
    return {"items": items, "ids": [r[2] for r in shown], "last_seq": shown[-1][0] if shown else after,
            "has_more": len(rows) > limit}


def _no_longer_visible(session: Session, reader: ClientActor, upserted: list[str]) -> set[str]:
    """Of these fragments (ids as text), those the tool's audience may no longer see."""
    if not upserted or fragments.audience_consents(reader.client.audience) is None:
        return set()
    ids = [uuid.UUID(i) for i in upserted]
    visible = session.exec(select(Fragment.id).where(col(Fragment.id).in_(ids),
                                                     fragments.audience_condition(reader, col(Fragment.id))))
    return set(upserted) - {str(i) for i in visible}


def encode(result: dict[str, Any]) -> str:
    """A page from `page` as the JSON of ChangePage."""
    return (f'{{"items":[{",".join(result["items"])}],"last_seq":{int(result["last_seq"])},'
            f'"has_more":{"true" if result["has_more"] else "false"}}}')


@functools.cache
def _quoted(name: str) -> str:
    """An entity's or op's name as a JSON string (a handful of names, made by the code)."""
    return render.dumps(str(name))


def _visible(session: Session, reader: Reader, project_id: uuid.UUID | None, after: int,
             limit: int) -> list[tuple[Any, ...]]:
    """(seq, entity, id as the database holds it, op, at, *record columns) of the changes after `after` the reader
    may see, in order; the record columns are a fragment's `render.record_columns` (for a fragment upsert;
    otherwise ignore them)."""
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
    # Core, not the ORM, and plain tuples: these are plain columns, and the ORM's row handling cost more than the
    # query.
    return session.connection().execute(stmt.order_by(col(Change.seq)).limit(limit)).all()  # type: ignore[return-value]


@functools.cache
def _select_changes(dialect: str) -> Any:
    # Fragment upserts come with their record in the same query: the feed's records are mostly fragments. (The
    # rest of an item is put together in Python: a JSON object the database built for it cost more.)
    return (select(Change.seq, Change.entity, render.raw_id(Change.entity_id, dialect).label("id"), Change.op,
                   render.frozen(render.time_text(Change.at, dialect), dialect).label("at"),
                   *render.record_columns(dialect))
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
    `tags:read`; never conversations or consent details. A partner's or the public's tool also hears of what
    left its audience: the erasure of a fragment it could once see, and a consent that lost its scope (shown as
    a tombstone: delete that consent's fragments)."""
    reader.require(ClientScope.changes_read)
    client = reader.client
    if project_id not in (None, client.project_id):
        raise NotFound("No such project.")
    entity_id = col(Change.entity_id)
    upsert, tombstone = Change.op == ChangeOp.upsert, Change.op == ChangeOp.tombstone
    # Upserts of fragments it may see now, or may have seen (sent as tombstones: flagged sensitive since).
    kinds = [sa.and_(Change.entity == "fragment", upsert, fragments.audience_condition(reader, entity_id, once=True)),
             sa.and_(Change.entity == "fragment", tombstone,
                     fragments.audience_condition(reader, entity_id, once=True))]
    once = fragments.audience_consents(client.audience, once=True)
    if once is None:
        kinds.append(sa.and_(Change.entity == "consent", tombstone))
    else:
        def consents(condition: Any) -> Any:
            return entity_id.in_(select(Consent.id).where(Consent.project_id == client.project_id, condition))

        lost = sa.and_(once, sa.not_(fragments.audience_consents(client.audience)))
        kinds.append(sa.and_(Change.entity == "consent", sa.or_(sa.and_(tombstone, consents(once)), consents(lost))))
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
