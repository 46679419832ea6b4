"""Fragments as JSON text made by the database, for the hot read paths (the change feed, exports).

The same shape as FragmentPublic, without building ORM objects, validating models or encoding JSON row by row
in Python: SQLite's json_object / PostgreSQL's json_build_object write each record after its ids, Python puts
the ids in front (see `Records`) and adds each record's tags and audio (one query each per page). On SQLite a
UUID is stored as its 16 bytes and a time as microseconds since 1970 (see api/db.py); times are written in SQL
as FragmentPublic's JSON shows them ('YYYY-MM-DDTHH:MM:SS.ffffffZ', no fraction when it is zero), ids in Python
('xxxxxxxx-xxxx-…': dashes put in by SQL cost 60% of the change feed's query, and most ids recur from row to
row, so Python formats each once).
"""

import functools
import json
import operator
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from api.fragments.models import Fragment, FragmentPublic
from api.tags.models import FragmentTag

UUID_COLUMNS = ("id", "project_id", "conversation_id", "consent_id", "researcher_id", "place_id", "prompt_id")
TIME_COLUMNS = ("captured_at", "received_at", "updated_at", "erased_at", "reviewed_at")
# In FragmentPublic's order, so a record reads the same whichever path made it.
FIELDS = tuple(FragmentPublic.model_fields)


def time_text(column: Any, dialect: str) -> Any:
    """A UTC time column as ISO 8601 text ending in Z, as pydantic writes it."""
    if dialect == "postgresql":
        text = sa.func.to_char(sa.func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US')
    else:
        micros = sa.type_coerce(column, sa.Integer)
        text = sa.func.strftime("%Y-%m-%dT%H:%M:%S", micros // 1_000_000, "unixepoch", type_=sa.String) + \
            sa.func.printf(".%06d", micros % 1_000_000, type_=sa.String)
    return sa.func.replace(text + "Z", ".000000Z", "Z")


def raw_id(column: Any, dialect: str) -> Any:
    """A UUID column as the database holds it: its 16 bytes on SQLite, its text on PostgreSQL. (A UUID object per
    value cost more than reading the row; Python formats only the ids it prints, with `dashed`.)"""
    return sa.cast(column, sa.Text) if dialect == "postgresql" else sa.type_coerce(column, sa.types.NullType())


def raw_of(dialect: str) -> Callable[[uuid.UUID], Any]:
    """An id as `raw_id` reads it, to look rows up by."""
    return str if dialect == "postgresql" else operator.attrgetter("bytes")


def as_uuid(dialect: str) -> Callable[[Any], uuid.UUID]:
    """An id read with `raw_id` as a UUID."""
    return uuid.UUID if dialect == "postgresql" else (lambda raw: uuid.UUID(bytes=raw))


def joined_ids(column: Any, dialect: str) -> Any:
    """An aggregate: the group's ids as text, comma-separated (upper-case hex on SQLite; see `joined_of`)."""
    if dialect == "postgresql":
        return sa.func.string_agg(sa.cast(column, sa.Text), ",")
    return sa.func.group_concat(sa.func.hex(column), ",")


def joined_of(dialect: str) -> Callable[[uuid.UUID], str]:
    """An id as `joined_ids` writes it."""
    return str if dialect == "postgresql" else (lambda u: u.hex.upper())


def dashed(dialect: str) -> Callable[[Any], str]:
    """How to print an id read with `raw_id`."""
    if dialect == "postgresql":
        return str

    def printed(raw: bytes | None) -> Any:
        if raw is None:
            return raw
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return printed


class Cache(dict[Any, Any]):
    """A dict that makes what it lacks with `make`: for what recurs from row to row (a consent's id, a set of tags,
    a place's name as JSON), so each is formatted once. It forgets everything past `limit` entries, so no long
    read grows it without end."""

    def __init__(self, make: Callable[[Any], Any], limit: int = 50_000) -> None:
        super().__init__()
        self.make, self.limit = make, limit

    def __missing__(self, key: Any) -> Any:
        if len(self) >= self.limit:
            self.clear()
        value = self[key] = self.make(key)
        return value


@functools.cache
def record_columns(dialect: str) -> tuple[Any, ...]:
    """What `Records.text` puts a fragment's record together from: its ids but the first (the caller has it) as
    `raw_id` reads them, then FragmentPublic's JSON text of the fields after the ids, without `tag_ids` and
    `audio` (the caller adds them)."""
    if dialect == "postgresql":
        build, sensitive, answers = sa.func.json_build_object, Fragment.sensitive, Fragment.answers
    else:
        # json() makes SQLite nest the value as JSON rather than as a string.
        build = sa.func.json_object
        sensitive = sa.func.json(sa.case((col(Fragment.sensitive), "true"), else_="false"))
        answers = sa.func.json(sa.type_coerce(Fragment.answers, sa.String))
    values: dict[str, Any] = {"sensitive": sensitive, "answers": answers}
    values.update({c: time_text(getattr(Fragment, c), dialect) for c in TIME_COLUMNS})
    args: list[Any] = []
    for name in FIELDS[len(UUID_COLUMNS):-2]:
        args += [sa.literal(name, sa.String), values.get(name, getattr(Fragment, name, None))]
    return (*(raw_id(getattr(Fragment, c), dialect) for c in UUID_COLUMNS[1:]),
            frozen(json_text(build(*args), dialect), dialect))


class Records:
    """Fragments' records as JSON text (FragmentPublic's, without `tag_ids` and `audio`) from `record_columns`."""

    def __init__(self, dialect: str) -> None:
        self.dashed = dashed(dialect)
        self.quoted = _quoted_ids(dialect)  # an id read with `raw_id` as JSON text

    def text(self, fragment_id: str, columns: Sequence[Any]) -> str:
        """The record of the fragment with this id (printed), from its `record_columns`."""
        q = self.quoted
        project, conversation, consent, researcher, place, prompt, rest = columns
        # An f-string, not a template built from UUID_COLUMNS: half the cost, row after row (the names are
        # checked against UUID_COLUMNS below).
        return (f'{{"id":"{fragment_id}","project_id":{q[project]},"conversation_id":{q[conversation]},'
                f'"consent_id":{q[consent]},"researcher_id":{q[researcher]},"place_id":{q[place]},'
                f'"prompt_id":{q[prompt]},{rest[1:]}')


@functools.cache
def _quoted_ids(dialect: str) -> Cache:
    """Ids read with `raw_id` as JSON (or null), for the whole process: a record's conversation, consent, place,
    prompt and researcher recur from row to row and page to page, so each is formatted once (ids only, never
    anyone's words)."""
    printed = dashed(dialect)
    return Cache(lambda raw: "null" if raw is None else f'"{printed(raw)}"')


@functools.cache
def tag_pairs(dialect: str) -> Any:
    """(fragment id, tag id) as `raw_id` reads them, in the order a record lists its tags; the caller says which
    fragments."""
    return (select(raw_id(FragmentTag.fragment_id, dialect), raw_id(FragmentTag.tag_id, dialect))
            .select_from(FragmentTag).order_by(FragmentTag.fragment_id, FragmentTag.tag_id))


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
assert FIELDS[:len(UUID_COLUMNS)] == UUID_COLUMNS == (
    "id", "project_id", "conversation_id", "consent_id", "researcher_id", "place_id", "prompt_id"), \
    "Records.text writes the ids first, in this order"
assert FIELDS[-2:] == ("tag_ids", "audio"), "the feed appends these two last"
