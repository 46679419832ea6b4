"""The review queue: a project's active fragments no coordinator has reviewed yet, sensitive ones first.

A page is read from ix_fragments_review_queue as at most two index ranges (the sensitive half, then the
rest), never a sort of the whole queue, so it stays fast however long the queue grows.
"""

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from api.errors import Invalid
from api.fragments.models import Fragment, FragmentStatus, ReviewCounts
from api.projects.models import Project

Position = tuple[bool, datetime, uuid.UUID]


def encode_cursor(f: Fragment) -> str:
    raw = json.dumps([f.sensitive, f.captured_at.isoformat(), str(f.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        sensitive, at, fid = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        when = datetime.fromisoformat(at)
        if not isinstance(sensitive, bool) or when.tzinfo is None:
            raise ValueError("not a cursor")
        return sensitive, when.astimezone(UTC), uuid.UUID(fid)
    except (ValueError, TypeError, OverflowError, binascii.Error) as exc:
        raise Invalid("That cursor is not one this server gave out.", code="invalid_cursor") from exc


def _queue(project_id: uuid.UUID) -> Any:
    return (Fragment.project_id == project_id, Fragment.status == FragmentStatus.active,
            col(Fragment.reviewed_at).is_(None))


def page(session: Session, project: Project, cursor: str | None, limit: int) -> tuple[list[Fragment], str | None]:
    """One page of the queue after `cursor`, and the cursor of the next page (None at the end)."""
    after = decode_cursor(cursor) if cursor else None
    rows: list[Fragment] = []
    for sensitive in (True, False):
        if after is not None and after[0] is True and sensitive is False:
            after = None  # the sensitive half is done: the other half starts from its beginning
        if after is not None and after[0] != sensitive:
            continue  # the cursor is already past this half
        stmt = select(Fragment).where(*_queue(project.id), Fragment.sensitive == sensitive)
        if after is not None:
            _, at, fid = after
            # `>=` first gives the index a range to start from; the OR only trims the rows at that instant.
            stmt = stmt.where(Fragment.captured_at >= at, sa.or_(Fragment.captured_at > at, Fragment.id > fid))
        rows += session.exec(stmt.order_by(Fragment.captured_at, Fragment.id).limit(limit + 1 - len(rows)))
        if len(rows) > limit:
            break
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def counts(session: Session, project: Project) -> ReviewCounts:
    base = select(func.count()).select_from(Fragment).where(*_queue(project.id))
    return ReviewCounts(unreviewed=session.exec(base).one(),
                        sensitive=session.exec(base.where(col(Fragment.sensitive).is_(True))).one())
