"""Fragments as JSON text made by the database, for the hot read paths (the change feed, big pages).

The same shape as FragmentPublic, without building ORM objects, validating models or encoding JSON row by row
in Python: SQLite's json_object / PostgreSQL's json_build_object write each record, and Python only joins
texts, adding each record's tags and audio (one query each per page). On SQLite a UUID is
stored as 32 hex digits and a time as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; both are reshaped in SQL to what
FragmentPublic's JSON shows ('xxxxxxxx-xxxx-…', 'YYYY-MM-DDTHH:MM:SS.ffffffZ', no fraction when it is zero).
"""

import functools
import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from api.fragments.models import Fragment, FragmentPublic
from api.media.models import AudioClip, AudioPublic
from api.tags.models import FragmentTag

UUID_COLUMNS = ("id", "project_id", "conversation_id", "consent_id", "researcher_id", "place_id", "prompt_id")
TIME_COLUMNS = ("captured_at", "received_at", "updated_at", "erased_at", "reviewed_at")
# In FragmentPublic's order, so a record reads the same whichever path made it.
FIELDS = tuple(FragmentPublic.model_fields)


def uuid_text(column: Any, dialect: str) -> Any:
    """A UUID column as its usual text form (with dashes; SQLite holds uuid.hex, already lower case)."""
    if dialect == "postgresql":
        return sa.cast(column, sa.Text)
    hex_ = sa.type_coerce(column, sa.String)
    parts = [sa.func.substr(hex_, start, length) for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))]
    return parts[0] + "-" + parts[1] + "-" + parts[2] + "-" + parts[3] + "-" + parts[4]


def time_text(column: Any, dialect: str) -> Any:
    """A UTC time column as ISO 8601 text ending in Z, as pydantic writes it."""
    if dialect == "postgresql":
        text = sa.func.to_char(sa.func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US')
    else:
        text = sa.func.replace(sa.type_coerce(column, sa.String), " ", "T")
    return sa.func.replace(text + "Z", ".000000Z", "Z")


@functools.cache
def record_json(dialect: str) -> Any:
    """The fragment row as FragmentPublic's JSON text without `tag_ids` and `audio`; `complete` adds them."""
    if dialect == "postgresql":
        build, sensitive, answers = sa.func.json_build_object, Fragment.sensitive, Fragment.answers
    else:
        # json() makes SQLite nest the value as JSON rather than as a string.
        build = sa.func.json_object
        sensitive = sa.func.json(sa.case((col(Fragment.sensitive), "true"), else_="false"))
        answers = sa.func.json(sa.type_coerce(Fragment.answers, sa.String))
    values: dict[str, Any] = {"sensitive": sensitive, "answers": answers}
    values.update({c: uuid_text(getattr(Fragment, c), dialect) for c in UUID_COLUMNS})
    values.update({c: time_text(getattr(Fragment, c), dialect) for c in TIME_COLUMNS})
    args: list[Any] = []
    for name in FIELDS[:-2]:
        args += [sa.literal(name, sa.String), values.get(name, getattr(Fragment, name, None))]
    return frozen(json_text(build(*args), dialect), dialect)


@functools.cache
def tag_pairs(dialect: str) -> Any:
    """(fragment id, tag id) as text, in the order `complete` wants; the caller says which fragments."""
    return (select(frozen(uuid_text(FragmentTag.fragment_id, dialect), dialect),
                   frozen(uuid_text(FragmentTag.tag_id, dialect), dialect))
            .select_from(FragmentTag).order_by(FragmentTag.fragment_id, FragmentTag.tag_id))


def complete(records: dict[str, str], tag_pairs: Iterable[tuple[str, str]],
             clips: Iterable[AudioClip]) -> dict[str, str]:
    """The records (JSON text from `record_json`, by fragment id) with their tags and audio (the pairs and clips
    may hold more fragments than the records: the rest are ignored)."""
    tags: dict[str, list[str]] = {}
    for fragment_id, tag_id in tag_pairs:
        tags.setdefault(fragment_id, []).append(tag_id)
    audio = {str(c.fragment_id): dumps(AudioPublic.model_validate(c).model_dump(mode="json")) for c in clips}
    return {fid: f'{record[:-1]},"tag_ids":{dumps(tags[fid]) if fid in tags else "[]"},'
                 f'"audio":{audio.get(fid, "null")}}}'
            for fid, record in records.items()}


def frozen(expression: Any, dialect: str) -> Any:
    """The expression as fixed SQL text. SQLAlchemy walks an expression on every run to find its cached SQL;
    for these big ones (a hundred literals) that walk cost more than the query itself."""
    compiled = expression.compile(dialect=sa.dialects.registry.load(dialect)(),
                                  compile_kwargs={"literal_binds": True})
    return sa.literal_column(str(compiled), type_=sa.String)


def json_text(expression: Any, dialect: str) -> Any:
    """A JSON-valued expression as its text (psycopg would otherwise parse PostgreSQL's json into dicts)."""
    return sa.cast(expression, sa.Text) if dialect == "postgresql" else sa.type_coerce(expression, sa.String)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


assert set(UUID_COLUMNS + TIME_COLUMNS) <= set(FIELDS), "render.py names a field FragmentPublic lacks"
assert FIELDS[-2:] == ("tag_ids", "audio"), "complete() appends these two last"
