"""Optimistic concurrency over HTTP: a record's `version` is its ETag, and edits send it back in If-Match."""

from typing import Annotated

from fastapi import Header

from api.errors import PreconditionFailed


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_version(
    if_match: Annotated[str | None, Header(description='The version you edited, as its ETag ("3") or plain (3).')] = None,
) -> int | None:
    if if_match is None:
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit() or len(raw) > 12:
        raise PreconditionFailed("If-Match must hold the record's version, e.g. \"3\".", code="invalid_if_match")
    return int(raw)
