from fastapi import APIRouter

from api.db import SessionDep, utcnow
from api.errors import TooLarge, responses
from api.people.deps import CurrentActor
from api.sync import service
from api.sync.models import SyncRequest, SyncResponse

router = APIRouter(prefix="/api/v1", tags=["sync"])


@router.post("/sync", response_model=SyncResponse, responses=responses(TooLarge))
def sync(session: SessionDep, actor: CurrentActor, body: SyncRequest) -> SyncResponse:
    """Store an ordered batch of records made on a phone (≤ 500 items, ≤ 2 MB). Each item gets its own
    result, in order: `created`, `duplicate` (a replay: already held, same content), `conflict` (the id holds
    other content) or `rejected` (with a `code` and a `detail`). A rejected item does not stop the others;
    a record whose parent was rejected is rejected with `parent_rejected`. Replaying a batch is always safe."""
    results = service.process(session, actor, body.device_id, body.items)
    return SyncResponse(results=results, server_time=utcnow())
