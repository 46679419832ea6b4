"""The review queue: a project's active fragments no coordinator has reviewed yet, sensitive ones first.

A page is read from ix_fragments_review_queue as at most two index ranges (the sensitive half, then the
rest), oldest or newest first, never a sort of the whole queue, so it stays fast however long the queue grows.
Filters (researcher, place, capture dates, the sensitive flag) narrow those ranges. The queue's size is counted
on the first page only, and only up to 1,000: beyond that "more than 1,000" is all a coordinator needs, and a
full count of a long queue cost more than the page itself.
"""

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from api.consent.models import Consent, Participant
from api.errors import Invalid
from api.fragments.models import Fragment, FragmentContext, FragmentStatus, ReviewCounts
from api.people.models import User
from api.projects.models import Project

Position = tuple[bool, datetime, uuid.UUID]
COUNT_LIMIT = 1000


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
    except (ValueError, TypeError, OverflowError, AttributeError, binascii.Error) as exc:  # UUID(5): AttributeError
        raise Invalid("That cursor is not one this server gave out.", code="invalid_cursor") from exc


def _queue(project_id: uuid.UUID) -> Any:
    return (Fragment.project_id == project_id, Fragment.status == FragmentStatus.active,
            col(Fragment.reviewed_at).is_(None))


def _narrowed(filters: dict[str, Any]) -> list[Any]:
    out = []
    if filters.get("researcher") is not None:
        out.append(Fragment.researcher_id == filters["researcher"])
    if filters.get("place") is not None:
        out.append(Fragment.place_id == filters["place"])
    if filters.get("captured_after") is not None:
        out.append(Fragment.captured_at >= filters["captured_after"])
    if filters.get("captured_before") is not None:
        out.append(Fragment.captured_at < filters["captured_before"])
    return out


def page(session: Session, project: Project, cursor: str | None, limit: int, newest: bool = False,
         filters: dict[str, Any] | None = None) -> tuple[list[Fragment], str | None]:
    """One page of the queue after `cursor`, and the cursor of the next page (None at the end)."""
    filters = filters or {}
    after = decode_cursor(cursor) if cursor else None
    halves = [h for h in (True, False) if filters.get("sensitive") in (None, h)]
    rows: list[Fragment] = []
    for sensitive in halves:
        if after is not None and after[0] is True and sensitive is False:
            after = None  # the sensitive half is done: the other half starts from its beginning
        if after is not None and after[0] != sensitive:
            continue  # the cursor is already past this half
        stmt = select(Fragment).where(*_queue(project.id), Fragment.sensitive == sensitive, *_narrowed(filters))
        if after is not None:
            _, at, fid = after
            # The inclusive bound first gives the index a range to start from; the OR trims the rows at that instant.
            if newest:
                stmt = stmt.where(Fragment.captured_at <= at, sa.or_(Fragment.captured_at < at, Fragment.id < fid))
            else:
                stmt = stmt.where(Fragment.captured_at >= at, sa.or_(Fragment.captured_at > at, Fragment.id > fid))
        order = (col(Fragment.captured_at).desc(), col(Fragment.id).desc()) if newest else (
            Fragment.captured_at, Fragment.id)
        rows += session.exec(stmt.order_by(*order).limit(limit + 1 - len(rows)))
        if len(rows) > limit:
            break
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _bounded_count(session: Session, *where: Any) -> int:
    # Counting a LIMITed subquery stops reading the index after COUNT_LIMIT + 1 entries.
    sub = select(Fragment.id).where(*where).limit(COUNT_LIMIT + 1).subquery()
    return session.exec(select(func.count()).select_from(sub)).one()


def counts(session: Session, project: Project) -> ReviewCounts:
    unreviewed = _bounded_count(session, *_queue(project.id))
    sensitive = _bounded_count(session, *_queue(project.id), col(Fragment.sensitive).is_(True))
    return ReviewCounts(unreviewed=min(unreviewed, COUNT_LIMIT), sensitive=min(sensitive, COUNT_LIMIT),
                        more=unreviewed > COUNT_LIMIT)


def context(session: Session, project: Project, ids: list[uuid.UUID]) -> list[FragmentContext]:
    """Who captured each fragment, the participant's label and what they consented to: what a coordinator's card
    shows beside the words. Fragments of other projects are left out."""
    if not ids:
        return []
    rows = session.execute(
        select(Fragment.id, Fragment.researcher_id, User.display_name, User.email, Participant.label, Consent)
        .join(Consent, col(Consent.id) == Fragment.consent_id)
        .join(Participant, col(Participant.id) == Consent.participant_id)
        .join(User, col(User.id) == Fragment.researcher_id)
        .where(col(Fragment.id).in_(ids), Fragment.project_id == project.id)).all()
    return [FragmentContext(fragment_id=fid, researcher_id=rid, researcher=name or email, participant_label=label,
                            scopes=[s for s in ("audio", "quote", "share", "publish")
                                    if getattr(consent, f"scope_{s}")])
            for fid, rid, name, email, label, consent in rows]
