from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.db import SessionDep, answered_here, utcnow
from api.errors import TooLarge, responses
from api.people.deps import CurrentActor
from api.sync import phones, service
from api.sync.models import ErasedPage, ErasureConfirmation, SyncRequest, SyncResponse

router = APIRouter(prefix="/api/v1", tags=["sync"])


@router.post("/sync", response_model=SyncResponse, responses=responses(TooLarge))
def sync(session: SessionDep, actor: CurrentActor, body: SyncRequest) -> Response:
    """Store an ordered batch of records made on a phone (≤ 500 items, ≤ 2 MB). Each item gets its own
    result, in order: `created`, `duplicate` (a replay: already held, same content), `conflict` (the id holds
    other content) or `rejected` (with a `code` and a `detail`). A rejected item does not stop the others;
    a record whose parent was rejected is rejected with `parent_rejected`. Replaying a batch is always safe."""
    results = service.store(session, actor, body.device_id, body.items)
    return answered_here(session, SyncResponse(results=results, server_time=utcnow()))


@router.get("/sync/erased", response_model=ErasedPage, responses=responses())
def erased(session: SessionDep, actor: CurrentActor,
           after: Annotated[int, Query(ge=0, le=2**62, description="The `last_seq` you kept; 0 the first time.")] = 0,
           limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> Response:
    """Your own consents and fragments erased since `after` (a withdrawal, retention): a phone erases its copies
    of them. Ids only, and only of records you made. Also your consents narrowed since then, with what each
    allows now."""
    return answered_here(session, phones.erased_since(session, actor, after, limit))  # every phone, every minute


@router.post("/sync/erased", status_code=204, responses=responses())
def confirm_erased(session: SessionDep, actor: CurrentActor, body: ErasureConfirmation) -> None:
    """This phone (`device_id`) has erased its copies of these withdrawn consents' records. Ids of consents that
    are not yours or not withdrawn are ignored."""
    phones.confirm(session, actor, body.device_id, body.consent_ids)
