import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from api.clients.deps import ClientActor, CurrentReader
from api.clients.models import ClientScope
from api.db import SessionDep
from api.errors import Conflict, Forbidden, NotFound, TooManyRequests, responses
from api.people.deps import CurrentActor
from api.webhooks import service
from api.webhooks.models import (
    DeliveryState,
    WebhookDeliveryPage,
    WebhookDeliveryPublic,
    WebhookEndpointCreate,
    WebhookEndpointPublic,
    WebhookEndpointWithSecret,
)

router = APIRouter(prefix="/api/v1", tags=["webhooks"])


def require_webhook_client(reader: CurrentReader) -> ClientActor:
    """The caller is an API client with the `webhooks` scope."""
    if not isinstance(reader, ClientActor):
        raise Forbidden("Webhooks are registered with an API client token (hkc_...).", code="client_token_required")
    reader.require(ClientScope.webhooks)
    return reader


WebhookClient = Annotated[ClientActor, Depends(require_webhook_client)]


@router.post("/webhooks", response_model=WebhookEndpointWithSecret, status_code=201,
             responses=responses(Forbidden, Conflict, TooManyRequests))
def create_webhook(session: SessionDep, reader: WebhookClient,
                   body: WebhookEndpointCreate) -> WebhookEndpointWithSecret:
    """Register a URL for events of this client's project. The answer holds the signing secret, shown only once."""
    return service.create_endpoint(session, reader, body)


@router.get("/webhooks", response_model=list[WebhookEndpointPublic], responses=responses(Forbidden, TooManyRequests))
def list_webhooks(session: SessionDep, reader: WebhookClient) -> list[WebhookEndpointPublic]:
    """This client's webhook endpoints (never their secrets)."""
    return [WebhookEndpointPublic.model_validate(e) for e in service.list_for_client(session, reader)]


@router.delete("/webhooks/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=responses(Forbidden, NotFound, TooManyRequests))
def delete_webhook(session: SessionDep, reader: WebhookClient, endpoint_id: uuid.UUID) -> None:
    """Stop sending to this endpoint; deliveries still owed to it are dropped."""
    service.delete_endpoint(session, reader, endpoint_id)


@router.get("/projects/{project_id}/webhooks", response_model=list[WebhookEndpointPublic],
            responses=responses(NotFound, Forbidden))
def list_project_webhooks(session: SessionDep, actor: CurrentActor,
                          project_id: uuid.UUID) -> list[WebhookEndpointPublic]:
    """Coordinators: the webhook endpoints the project's API clients registered."""
    return [WebhookEndpointPublic.model_validate(e) for e in service.list_for_project(session, actor, project_id)]


@router.get("/projects/{project_id}/webhook-deliveries", response_model=WebhookDeliveryPage,
            responses=responses(NotFound, Forbidden))
def list_deliveries(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                    state: Annotated[DeliveryState | None,
                                     Query(description="`dead` for the dead-letter list.")] = None,
                    endpoint_id: uuid.UUID | None = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> WebhookDeliveryPage:
    """Coordinators: the project's webhook deliveries, newest first, with each one's last attempt."""
    rows, more = service.list_deliveries(session, actor, project_id, state=state, endpoint_id=endpoint_id,
                                         limit=limit, offset=offset)
    return WebhookDeliveryPage(items=[WebhookDeliveryPublic.model_validate(d) for d in rows],
                               next_offset=offset + len(rows) if more else None)


@router.post("/webhook-deliveries/{delivery_id}/replay", response_model=WebhookDeliveryPublic,
             responses=responses(NotFound, Forbidden, Conflict))
def replay_delivery(session: SessionDep, actor: CurrentActor, delivery_id: uuid.UUID) -> WebhookDeliveryPublic:
    """Coordinators: send a dead delivery again (same webhook-id, a fresh 24-hour retry window)."""
    return WebhookDeliveryPublic.model_validate(service.replay(session, actor, delivery_id))
