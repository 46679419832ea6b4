import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from api.clients import service as clients
from api.clients.deps import CurrentReader
from api.config import get_settings
from api.db import SessionDep
from api.errors import Forbidden, NotFound, TooManyRequests, responses
from api.feed import reading
from api.feed.models import ChangePage

router = APIRouter(prefix="/api/v1", tags=["pull"])


@router.get("/changes", response_model=ChangePage, responses=responses(NotFound, Forbidden, TooManyRequests))
async def list_changes(session: SessionDep, reader: CurrentReader,
                 after: Annotated[int, Query(ge=0, le=2**62, description="The last seq you have; 0 to start.")] = 0,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                 project_id: uuid.UUID | None = None,
                 wait: Annotated[float, Query(ge=0, le=30, description="Seconds to hold the request open until "
                                                                     "something changes (long poll).")] = 0,
                 ) -> Response:
    """Every change after `after`, in order: `upsert` carries the record as it is now; `tombstone` carries no
    content and means "delete your copy" (withdrawn consent, retention). Keep `last_seq` and ask again; with
    `wait`, an empty answer comes only after that many seconds without a change."""
    result = await reading.waited_page(session, reader, project_id, after, limit,
                                       min(wait, get_settings().long_poll_max_seconds))
    await run_in_threadpool(clients.audit_read, reader, "changes.list", {
        "count": len(result["ids"]), "after": after, "last_seq": result["last_seq"], "ids": result["ids"]})
    return Response(reading.encode(result), media_type="application/json")
