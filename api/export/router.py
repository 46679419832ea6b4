import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.audit import service as audit
from api.clients.deps import ClientActor, CurrentReader, Reader
from api.clients.models import Audience
from api.db import SessionDep, commit_apart
from api.errors import Forbidden, Invalid, NotFound, TooManyRequests, responses
from api.export import service
from api.fragments.models import FragmentKind
from api.inputs import Instant, QueryBool

router = APIRouter(prefix="/api/v1/projects/{project_id}/export", tags=["export"])
ERRORS = responses(NotFound, Forbidden, TooManyRequests, Invalid)


def _filters(place: uuid.UUID | None = None, prompt_id: uuid.UUID | None = None, kind: FragmentKind | None = None,
             tag: uuid.UUID | None = None, sensitive: QueryBool | None = None,
             captured_after: Instant | None = None, captured_before: Instant | None = None,
             audience: Annotated[Audience | None, Query(
                 description="Coordinators: export only what a partner (`share`) or the public (`publish`) may "
                             "see.")] = None,
             ) -> dict[str, Any]:
    return {"place_id": place, "prompt_id": prompt_id, "kind": kind, "tag_id": tag, "sensitive": sensitive,
            "captured_after": captured_after, "captured_before": captured_before, "audience": audience}


def _audit(reader: Reader, project_id: uuid.UUID, fmt: str, filters: dict[str, Any], q: str | None) -> None:
    """Rule 5: every export is audited (what was asked for), before the first byte leaves."""
    detail = {"format": fmt, "q": bool(q), **{k: str(v) for k, v in filters.items() if v is not None}}
    client = reader.client.id if isinstance(reader, ClientActor) else None
    actor = None if isinstance(reader, ClientActor) else reader.id
    commit_apart(audit.entry_for(actor_id=actor, client_id=client, project_id=project_id, action="export",
                                 entity="project", entity_id=project_id, detail=detail))


def _disposition(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


Filters = Annotated[dict[str, Any], Depends(_filters)]
Search = Annotated[str | None, Query(max_length=200, description="Words to find in the text.")]


@router.get("/fragments.csv", response_class=StreamingResponse, responses=ERRORS)
def export_csv(session: SessionDep, reader: CurrentReader, project_id: uuid.UUID, filters: Filters,
               q: Search = None) -> StreamingResponse:
    """Every fragment of the selection as CSV (UTF-8), streamed; erased fragments are left out."""
    service.check_access(session, reader, project_id, q)
    _audit(reader, project_id, "csv", filters, q)
    return StreamingResponse(service.csv_stream(reader, project_id, filters, q), media_type="text/csv; charset=utf-8",
                             headers=_disposition("hearken-fragments.csv"))


@router.get("/fragments.jsonl", response_class=StreamingResponse, responses=ERRORS)
def export_jsonl(session: SessionDep, reader: CurrentReader, project_id: uuid.UUID, filters: Filters,
                 q: Search = None) -> StreamingResponse:
    """Every fragment of the selection as JSON Lines, one object a line, streamed."""
    service.check_access(session, reader, project_id, q)
    _audit(reader, project_id, "jsonl", filters, q)
    return StreamingResponse(service.jsonl_stream(reader, project_id, filters, q), media_type="application/x-ndjson",
                             headers=_disposition("hearken-fragments.jsonl"))


@router.get("/project.qdpx", response_class=StreamingResponse, responses=ERRORS)
def export_qdpx(session: SessionDep, reader: CurrentReader, project_id: uuid.UUID, filters: Filters,
                q: Search = None) -> StreamingResponse:
    """The selection as a REFI-QDA project (.qdpx), streamed: codebook, one text source per fragment (its text
    inline), codings. Opens in NVivo, ATLAS.ti, MAXQDA and QualCoder."""
    project = service.check_access(session, reader, project_id, q)
    _audit(reader, project_id, "qdpx", filters, q)
    return StreamingResponse(service.qdpx_stream(reader, project, filters, q), media_type="application/zip",
                             headers=_disposition("hearken-project.qdpx"))
