"""Optimistic concurrency over HTTP: a record's `version` is its ETag, and edits send it back in If-Match."""

import hashlib
import json
from typing import Annotated, Any

from fastapi import Header, Request, Response

from api.errors import PreconditionFailed
from api.inputs import ascii_int


def etag(version: int, shown: Any = None) -> str:
    """`"3"`; with `shown` (the record as answered) `"3.<digest>"`: a fragment's tags and audio change without a new
    version (they are not its content), and an ETag that stayed the same answered 304 with the old tags. If-Match
    takes either form (the version is what an edit checks)."""
    if shown is None:
        return f'"{version}"'
    raw = json.dumps(shown, separators=(",", ":"), sort_keys=True, default=str).encode()
    return f'"{version}.{hashlib.sha256(raw).hexdigest()[:16]}"'


def if_match_version(
    if_match: Annotated[str | None, Header(description='The version you edited, as its ETag ("3") or plain (3).')] = None,
) -> int | None:
    if if_match is None:
        return None
    version = ascii_int(if_match.strip().removeprefix("W/").strip('"').split(".", 1)[0], max_digits=12)
    if version is None:
        raise PreconditionFailed("If-Match must hold the record's version, e.g. \"3\".", code="invalid_if_match")
    return version


def json_with_etag(request: Request, body: Any) -> Response:
    """A JSON answer whose ETag is a hash of its bytes: a client polling a page it already has gets 304."""
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    tag = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    sent = request.headers.get("if-none-match")
    if sent and tag in [t.strip().removeprefix("W/") for t in sent.split(",")]:
        return Response(status_code=304, headers={"ETag": tag})
    return Response(content=raw, media_type="application/json", headers={"ETag": tag})
