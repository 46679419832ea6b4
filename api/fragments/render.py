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
from api.media.models import AudioClip
from api.tags.models import FragmentTag

UUID_COLUMNS = ("id", "project_id", "conversation_id", "consent_id", "researcher_id", "place_id", "prompt_id")
TIME_COLUMNS = ("captured_at", "received_at", "updated_at", "erased_at", "reviewed_at")
PLAIN_COLUMNS = ("kind", "text", "answers", "language", "sensitive", "status", "version")
PREFIX = "fragment_"


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


def columns(dialect: str) -> list[Any]:
    """The fragment's columns as text-shaped SQL, labelled `fragment_<field>` (to sit beside other tables')."""
    return ([uuid_text(getattr(Fragment, c), dialect).label(PREFIX + c) for c in UUID_COLUMNS]
            + [time_text(getattr(Fragment, c), dialect).label(PREFIX + c) for c in TIME_COLUMNS]
            + [getattr(Fragment, c).label(PREFIX + c) for c in PLAIN_COLUMNS])


def from_row(row: Any) -> dict[str, Any] | None:
    """The record from a row selected with `columns()`, without tags and audio yet (see `complete`)."""
    if row[PREFIX + "id"] is None:
        return None
    record = {c: uuid_str(row[PREFIX + c]) for c in UUID_COLUMNS}
    record.update({c: time_str(row[PREFIX + c]) for c in TIME_COLUMNS})
    record.update({c: row[PREFIX + c] for c in PLAIN_COLUMNS})
    record["tag_ids"] = []
    record["audio"] = None
    return record


def complete(records: dict[str, dict[str, Any]], tag_rows: Iterable[tuple[str, str]],
             clips: Iterable[AudioClip]) -> None:
    """Add tags and audio to records by id; the rows may hold more than the records (they are ignored)."""
    for fid, tid in tag_rows:
        record = records.get(uuid_str(fid) or "")
        if record is not None:
            record["tag_ids"].append(uuid_str(tid))
    for record in records.values():
        record["tag_ids"].sort()
    for clip in clips:
        record = records.get(str(clip.fragment_id))
        if record is not None:
            audio = media.public(clip)
            record["audio"] = audio.model_dump(mode="json") if audio else None


def tag_columns(dialect: str) -> tuple[Any, Any]:
    return uuid_text(FragmentTag.fragment_id, dialect), uuid_text(FragmentTag.tag_id, dialect)


def fragment_dicts(session: Session, ids: Iterable[uuid.UUID]) -> dict[str, dict[str, Any]]:
    """FragmentPublic-shaped dicts by id (as text)."""
    ids = list(ids)
    if not ids:
        return {}
    dialect = session.get_bind().dialect.name
    out = {}
    for row in session.execute(select(*columns(dialect)).where(col(Fragment.id).in_(ids))).mappings():
        record = from_row(row)
        if record is not None:
            out[record["id"]] = record
    tags = session.execute(select(*tag_columns(dialect)).where(col(FragmentTag.fragment_id).in_(ids)))
    complete(out, tags, media.clips_for(session, ids).values())
    return out


assert set(UUID_COLUMNS + TIME_COLUMNS + PLAIN_COLUMNS + ("tag_ids", "audio")) == set(FragmentPublic.model_fields), \
    "render.py must give every field of FragmentPublic"
