"""The change sequence: every create, update, tag change and erasure, in commit order.

Services call `record()`; the rows are written just before the transaction commits, under a lock
(PostgreSQL: a transaction-level advisory lock; SQLite: its single writer), so sequence numbers are
handed out in commit order. A reader following `after=SEQ` therefore never misses a change that
commits later with a smaller number. Each entity keeps only its newest row: the feed says what is
true now, and an erased record leaves no older entry that could still be read.
"""

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, select

from api.db import utcnow
from api.feed.models import Change, ChangeOp

FEED_LOCK_KEY = 0x4845_4152  # "HEAR"
_PENDING = "feed_pending"
# Built once, and Core rather than the ORM's bulk delete (which would look for loaded rows to synchronise):
# every writing request runs these.
_CHANGES = Change.__table__
_DELETE_OLDER = _CHANGES.delete().where(_CHANGES.c.entity == sa.bindparam("entity"),
                                        _CHANGES.c.entity_id.in_(sa.bindparam("ids", expanding=True)))
_INSERT = _CHANGES.insert()


def record(session: Session, *, project_id: uuid.UUID, entity: str, entity_id: uuid.UUID,
           op: ChangeOp = ChangeOp.upsert, owner_id: uuid.UUID | None = None, new: bool = False) -> None:
    """`new`: this transaction inserted the record (ids are never reused), so it has no older change row to
    replace, no board shows it, and a tool hears of it as created: the commit skips the queries that ask."""
    pending: dict[tuple[str, uuid.UUID], dict[str, Any]] = session.info.setdefault(_PENDING, {})
    key = (entity, entity_id)
    previous = pending.get(key)
    if previous and previous["op"] == ChangeOp.tombstone:
        return  # nothing comes back from an erasure in the same transaction
    pending[key] = {"project_id": project_id, "entity": entity, "entity_id": entity_id, "op": op,
                    "owner_id": owner_id, "new": new or bool(previous and previous["new"])}


@event.listens_for(Session, "before_commit")
def _write_pending_changes(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(FEED_LOCK_KEY)))
    from api.webhooks import service as webhooks  # here, not at the top: these read the fragments domain
    from api.workshops import service as workshops

    # Before the old change rows go: whether a fragment had one tells `fragment.updated` from `created`.
    webhooks.enqueue(session, pending.values())
    known = [p for p in pending.values() if not p["new"]]
    workshops.reload_boards_showing(session, known)
    now = utcnow()
    for entity in {p["entity"] for p in known}:
        ids = [p["entity_id"] for p in known if p["entity"] == entity]
        session.execute(_DELETE_OLDER, {"entity": entity, "ids": ids})
    session.execute(_INSERT, [{k: v for k, v in p.items() if k != "new"} | {"at": now} for p in pending.values()])


@event.listens_for(Session, "after_rollback")
def _drop_pending_changes(session: Session) -> None:
    session.info.pop(_PENDING, None)


def latest_seq(session: Session) -> int:
    return session.exec(select(sa.func.coalesce(sa.func.max(Change.seq), 0))).one()

