"""Fragments as JSON-ready dicts straight from SQL, for the hot read paths (the change feed, big pages).

The same shape as FragmentPublic, without building ORM objects or validating models row by row: ids and
times come out of the database as text and are only reshaped. On SQLite a UUID is stored as 32 hex digits
and a time as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; PostgreSQL is asked for the same text.
"""

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.fragments.models import Fragment, FragmentPublic
from api.media import service as media
from api.tags.models import FragmentTag

UUID_COLUMNS = ("id", "project_id", "conversation_id", "consent_id", "researcher_id", "place_id", "prompt_id")
TIME_COLUMNS = ("captured_at", "received_at", "updated_at", "erased_at", "reviewed_at")
PLAIN_COLUMNS = ("kind", "text", "answers", "language", "sensitive", "status", "version")


def uuid_text(column: Any, dialect: str) -> Any:
    return sa.cast(column, sa.Text) if dialect == "postgresql" else sa.type_coerce(column, sa.String)


def time_text(column: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), 'YYYY-MM-DD HH24:MI:SS.US')
    return sa.type_coerce(column, sa.String)


def uuid_str(value: str | None) -> str | None:
    if value is None or len(value) != 32:
        return value
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


def time_str(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.replace(" ", "T", 1)
    return (value[:-7] if value.endswith(".000000") else value) + "Z"


def fragment_dicts(session: Session, ids: Iterable[uuid.UUID]) -> dict[str, dict[str, Any]]:
    """FragmentPublic-shaped dicts by id (as text)."""
    ids = list(ids)
    if not ids:
        return {}
    dialect = session.get_bind().dialect.name
    columns = ([uuid_text(getattr(Fragment, c), dialect).label(c) for c in UUID_COLUMNS]
               + [time_text(getattr(Fragment, c), dialect).label(c) for c in TIME_COLUMNS]
               + [getattr(Fragment, c) for c in PLAIN_COLUMNS])
    out: dict[str, dict[str, Any]] = {}
    for row in session.execute(select(*columns).where(col(Fragment.id).in_(ids))).mappings():
        record = dict(row)
        for c in UUID_COLUMNS:
            record[c] = uuid_str(record[c])
        for c in TIME_COLUMNS:
            record[c] = time_str(record[c])
        record["tag_ids"] = []
        out[record["id"]] = record
    tags = select(uuid_text(FragmentTag.fragment_id, dialect), uuid_text(FragmentTag.tag_id, dialect)).where(
        col(FragmentTag.fragment_id).in_(ids))
    for fid, tid in session.execute(tags):
        out[uuid_str(fid)]["tag_ids"].append(uuid_str(tid))
    clips = media.clips_for(session, ids)
    for record in out.values():
        record["tag_ids"].sort()
        clip = media.public(clips.get(uuid.UUID(record["id"])))
        record["audio"] = clip.model_dump(mode="json") if clip else None
    return out


assert set(UUID_COLUMNS + TIME_COLUMNS + PLAIN_COLUMNS + ("tag_ids", "audio")) == set(FragmentPublic.model_fields), \
    "render.py must give every field of FragmentPublic"
