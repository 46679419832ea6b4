import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from api.clients import service as clients
from api.clients.deps import CurrentReader
from api.db import SessionDep
from api.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed, TooManyRequests, responses
from api.fragments import service
from api.fragments.models import FragmentKind, FragmentPage, FragmentPublic, FragmentStatus, FragmentUpdate
from api.inputs import Instant, QueryBool
from api.people.deps import CurrentActor
from api.versioning import etag, if_match_version, json_with_etag

router = APIRouter(prefix="/api/v1/fragments", tags=["fragments"])


@router.get("", response_model=FragmentPage, responses={**responses(NotFound, Invalid, Forbidden, TooManyRequests),
                                                         304: {"description": "Unchanged since your ETag."}})
def list_fragments(
    session: SessionDep, reader: CurrentReader, request: Request,
    project_id: uuid.UUID | None = None,
    place: Annotated[uuid.UUID | None, Query(description="A place id.")] = None,
    prompt_id: uuid.UUID | None = None,
    kind: FragmentKind | None = None,
    tag: Annotated[uuid.UUID | None, Query(description="A tag id.")] = None,
    conversation_id: uuid.UUID | None = None,
    consent_id: uuid.UUID | None = None,
    status: FragmentStatus | None = None,
    sensitive: QueryBool | None = None,
    captured_after: Instant | None = None,
    captured_before: Instant | None = None,
    q: Annotated[str | None, Query(max_length=200, description=(
        "Words to find in the text: all of them; `\"a phrase\"`; `bus OR train`; `-word` to leave out; `lone*` "
        "for words that start so. An English project finds word forms (\"buses\" finds \"bus\")."))] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    fields: Annotated[str | None, Query(max_length=500, description="Comma-separated fields to return "
                                        "(`id` always comes), e.g. `text,tag_ids`.")] = None,
    total: Annotated[QueryBool, Query(description="Also count the matches: `total` is exact up to 1,000; beyond it "
                                 "`total_is_lower_bound` is true and `total` is 1000.")] = False,
) -> Response:
    """Fragments the caller may read, in capture order, a page at a time (follow `next_cursor`; the order is
    keyset, so pages stay right while fragments arrive). Erased fragments are tombstones (no content) unless
    filtered out with `status=active`. API clients see their project, limited by their audience."""
    filters: dict[str, object] = {"place_id": place, "prompt_id": prompt_id, "kind": kind, "tag_id": tag,
                                  "conversation_id": conversation_id, "consent_id": consent_id, "status": status,
                                  "sensitive": sensitive, "captured_after": captured_after,
                                  "captured_before": captured_before}
    wanted = _fields(fields)
    rows, next_cursor = service.list_fragments(session, reader, project_id=project_id, filters=filters, q=q,
                                               cursor=cursor, limit=limit)
    items = [f.model_dump(mode="json", include=wanted) for f in service.public(session, rows)]
    clients.audit_read(reader, "fragments.list", {"count": len(items), "ids": [i["id"] for i in items]})
    body: dict[str, object] = {"items": items, "next_cursor": next_cursor}
    if total:
        body["total"], body["total_is_lower_bound"] = service.count_fragments(
            session, reader, project_id=project_id, filters=filters, q=q)
    return json_with_etag(request, body)


def _fields(fields: str | None) -> set[str] | None:
    if not fields:
        return None
    wanted = {f.strip() for f in fields.split(",") if f.strip()}
    unknown = wanted - set(FragmentPublic.model_fields)
    if unknown:
        raise Invalid(f"Unknown fields: {', '.join(sorted(unknown))}.", code="unknown_fields")
    return wanted | {"id"}


@router.get("/{fragment_id}", response_model=FragmentPublic,
            responses={**responses(NotFound, TooManyRequests), 304: {}})
def get_fragment(session: SessionDep, reader: CurrentReader, fragment_id: uuid.UUID, response: Response,
                 if_none_match: Annotated[str | None, Header()] = None) -> FragmentPublic | Response:
    """One fragment; its ETag is its version and a digest of what it shows, tags and audio included (send
    If-None-Match to get 304 when unchanged; If-Match on an edit takes it too)."""
    fragment, _ = service.get_for_reader(session, reader, fragment_id)
    clients.audit_read(reader, "fragments.get", {"ids": [str(fragment.id)]})
    shown = service.public(session, [fragment])[0]
    tag = etag(fragment.version, shown.model_dump(mode="json"))
    if if_none_match and tag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": tag})
    response.headers["ETag"] = tag
    return shown


@router.patch("/{fragment_id}", response_model=FragmentPublic,
              responses=responses(NotFound, Forbidden, Conflict, PreconditionFailed, Invalid))
def update_fragment(session: SessionDep, actor: CurrentActor, fragment_id: uuid.UUID, body: FragmentUpdate,
                    response: Response,
                    version: Annotated[int | None, Depends(if_match_version)]) -> FragmentPublic:
    """Edit a fragment, sending its version in If-Match; a stale version answers 409 with the current record.
    A researcher may edit their own until a coordinator has reviewed it."""
    fragment, role = service.get_for_reader(session, actor, fragment_id)
    fragment = service.update(session, actor, fragment, role, body, version)
    shown = service.public(session, [fragment])[0]
    response.headers["ETag"] = etag(fragment.version, shown.model_dump(mode="json"))
    return shown


