"""Webhooks: API clients register URLs; every change they may see becomes an outbox row in the change's own
transaction; coordinators see what was delivered, what died, and replay it."""

import base64
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, col, select

from api.audit import service as audit
from api.clients import service as clients
from api.clients.deps import ClientActor
from api.clients.models import ApiClient, Audience, ClientScope
from api.consent.models import Consent
from api.db import new_id, utcnow
from api.errors import Conflict, Invalid, NotFound
from api.feed.models import Change, ChangeOp
from api.fragments import service as fragments
from api.fragments.models import Fragment
from api.people.deps import Actor
from api.projects import service as projects
from api.tags.models import Tag, TagPublic
from api.webhooks import targets
from api.webhooks.models import (
    DeliveryState,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointWithSecret,
    WebhookEvent,
)

SECRET_PREFIX = "whsec_"
# Retries go on for at least this long after an event (or a replay); a delivery still failing then is dead.
RETRY_WINDOW = timedelta(hours=24)
MAX_ENDPOINTS_PER_CLIENT = 10
_TAGGED = "webhooks_tagged"


# --- endpoints, managed by the client itself ---------------------------------------------------------------

def create_endpoint(session: Session, reader: ClientActor, data: WebhookEndpointCreate) -> WebhookEndpointWithSecret:
    client = reader.client
    count = session.exec(select(sa.func.count()).select_from(WebhookEndpoint)
                         .where(WebhookEndpoint.client_id == client.id)).one()
    if count >= MAX_ENDPOINTS_PER_CLIENT:
        raise Conflict(f"An API client may have {MAX_ENDPOINTS_PER_CLIENT} webhook endpoints; delete one first.",
                       code="too_many_endpoints")
    try:
        targets.check(data.url)
    except targets.TargetRefused as exc:
        raise Invalid(f"This URL cannot receive webhooks: {exc}.", code="webhook_target_refused") from exc
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    endpoint = WebhookEndpoint(project_id=client.project_id, client_id=client.id, url=data.url,
                               events=sorted({e.value for e in data.events}), secret=secret)
    session.add(endpoint)
    session.flush()
    session.add(audit.entry_for(client_id=client.id, project_id=client.project_id, action="webhook.create",
                                entity="webhook_endpoint", entity_id=endpoint.id, detail={"events": endpoint.events}))
    return WebhookEndpointWithSecret.model_validate(endpoint)


def list_for_client(session: Session, reader: ClientActor) -> list[WebhookEndpoint]:
    endpoints = list(session.exec(select(WebhookEndpoint).where(WebhookEndpoint.client_id == reader.client.id)
                                  .order_by(col(WebhookEndpoint.created_at))))
    clients.audit_read(reader, "webhooks.list", {"count": len(endpoints), "ids": [str(e.id) for e in endpoints]})
    return endpoints


def delete_endpoint(session: Session, reader: ClientActor, endpoint_id: uuid.UUID) -> None:
    """Delete the endpoint and every delivery still owed to it."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.client_id != reader.client.id:
        raise NotFound("No such webhook endpoint.")
    session.execute(sa.delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint.id))
    session.delete(endpoint)
    session.add(audit.entry_for(client_id=reader.client.id, project_id=endpoint.project_id, action="webhook.delete",
                                entity="webhook_endpoint", entity_id=endpoint.id))


# --- what coordinators see --------------------------------------------------------------------------------

def list_for_project(session: Session, actor: Actor, project_id: uuid.UUID) -> list[WebhookEndpoint]:
    projects.require_coordinator(session, actor, project_id)
    return list(session.exec(select(WebhookEndpoint).where(WebhookEndpoint.project_id == project_id)
                             .order_by(col(WebhookEndpoint.created_at))))


def list_deliveries(session: Session, actor: Actor, project_id: uuid.UUID, *, state: DeliveryState | None,
                    endpoint_id: uuid.UUID | None, limit: int, offset: int) -> tuple[list[WebhookDelivery], bool]:
    """The project's deliveries, newest first; the second value says whether more follow."""
    projects.require_coordinator(session, actor, project_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.project_id == project_id)
    if state is not None:
        stmt = stmt.where(WebhookDelivery.state == state)
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    rows = list(session.exec(stmt.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id))
                             .offset(offset).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def replay(session: Session, actor: Actor, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Send a dead (or delivered, or skipped) delivery again, with the same id and a fresh retry window."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or projects.role_in(session, actor, delivery.project_id) is None:
        raise NotFound("No such webhook delivery.")
    projects.require_coordinator(session, actor, delivery.project_id)
    if delivery.state == DeliveryState.pending:
        raise Conflict("This delivery is still being tried.", code="delivery_pending")
    now = utcnow()
    delivery.state, delivery.attempts, delivery.next_attempt_at = DeliveryState.pending, 0, now
    delivery.retry_until, delivery.locked_until, delivery.lock_token = now + RETRY_WINDOW, None, None
    delivery.delivered_at = None
    session.add(delivery)
    audit.record(session, actor_id=actor.id, action="webhook.replay", entity="webhook_delivery",
                 entity_id=delivery.id, project_id=delivery.project_id, detail={"event": delivery.event})
    return delivery


# --- the outbox: written in the transaction of the change -----------------------------------------------

def tags_changed(session: Session, fragment_id: uuid.UUID) -> None:
    """Note that this transaction changed a fragment's tags, so its feed upsert goes out as `tag.changed`."""
    session.info.setdefault(_TAGGED, set()).add(fragment_id)


@event.listens_for(Session, "after_rollback")
def _drop_tag_notes(session: Session) -> None:
    session.info.pop(_TAGGED, None)


def _notifies(p: dict[str, Any]) -> bool:
    # A consent's upsert notifies only a tool whose audience it just left (a narrowing; see enqueue).
    return p["entity"] in ("fragment", "tag", "consent")


# Built once: every writing request asks it (building it costs more than running it on an empty table).
_LIVE_ENDPOINTS = (
    sa.select(WebhookEndpoint.id, WebhookEndpoint.project_id, WebhookEndpoint.events, ApiClient.audience)
    .join(ApiClient, col(ApiClient.id) == WebhookEndpoint.client_id)
    .where(col(WebhookEndpoint.project_id).in_(sa.bindparam("projects", expanding=True)),
           col(ApiClient.revoked_at).is_(None),
           sa.or_(col(ApiClient.expires_at).is_(None), col(ApiClient.expires_at) > sa.bindparam("now"))))


def enqueue(session: Session, pending: Iterable[dict[str, Any]]) -> None:
    """Write an outbox row for each change × subscribed endpoint whose client may see it. Called by the feed
    just before commit, before the feed replaces older change rows (their presence tells updated from created).
    With no endpoint in the changed projects it costs one indexed query."""
    tagged: set[uuid.UUID] = session.info.pop(_TAGGED, set())
    changes = [p for p in pending if _notifies(p)]
    if not changes:
        return
    now = utcnow()
    endpoints = session.execute(_LIVE_ENDPOINTS, {"projects": list({p["project_id"] for p in changes}),
                                                  "now": now}).all()
    if not endpoints:
        return
    events = _events(session, changes, tagged)
    visible: dict[tuple[str, ChangeOp, Audience], set[uuid.UUID]] = {}
    rows = []
    for endpoint_id, project_id, subscribed, audience in endpoints:
        audience = Audience(audience)
        for p, kind in events:
            # A partner's or the public's tool that follows deletions hears of a fragment flagged sensitive since
            # it could see it ("delete your copy"), whatever else it follows.
            may_be_gone = (audience != Audience.internal and (p["entity"], p["op"]) == ("fragment", ChangeOp.upsert)
                           and WebhookEvent.fragment_withdrawn.value in subscribed)
            if p["project_id"] != project_id or (kind.value not in subscribed and not may_be_gone):
                continue
            if p["entity"] == "consent" and p["op"] != ChangeOp.tombstone and audience == Audience.internal:
                continue
            if audience != Audience.internal and p["entity"] != "tag":
                key = (p["entity"], p["op"], audience)
                if key not in visible:
                    visible[key] = _heard_of(session, *key, [q["entity_id"] for q, _ in events
                                                            if (q["entity"], q["op"]) == key[:2]])
                if p["entity_id"] not in visible[key]:
                    gone = ("flagged", ChangeOp.upsert, audience)
                    if may_be_gone and gone not in visible:
                        visible[gone] = _flagged(session, audience, [q["entity_id"] for q, _ in events
                                                                     if (q["entity"], q["op"]) == key[:2]])
                    if may_be_gone and p["entity_id"] in visible[gone]:
                        rows.append(_delivery(endpoint_id, project_id, WebhookEvent.fragment_withdrawn, p, now))
                    continue
            if kind.value in subscribed:
                rows.append(_delivery(endpoint_id, project_id, kind, p, now))
    if rows:
        session.execute(sa.insert(WebhookDelivery.__table__), rows)


def _delivery(endpoint_id: uuid.UUID, project_id: uuid.UUID, kind: WebhookEvent, p: dict[str, Any],
              now: datetime) -> dict[str, Any]:
    return {"id": new_id(), "endpoint_id": endpoint_id, "project_id": project_id, "event": kind.value,
            "entity": p["entity"], "entity_id": p["entity_id"], "created_at": now,
            "state": DeliveryState.pending.value, "attempts": 0, "next_attempt_at": now,
            "retry_until": now + RETRY_WINDOW}


def _flagged(session: Session, audience: Audience, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these fragments a partner's or the public's tool could see but for being flagged sensitive."""
    stmt = (sa.select(Fragment.id).join(Consent, col(Consent.id) == Fragment.consent_id)
            .where(col(Fragment.id).in_(ids), col(Fragment.sensitive).is_(True),
                   fragments.audience_consents(audience, once=True)))
    return set(session.execute(stmt).scalars())


def _events(session: Session, changes: list[dict[str, Any]],
            tagged: set[uuid.UUID]) -> list[tuple[dict[str, Any], WebhookEvent]]:
    """The event each change means. A fragment upsert is `created` the first time the feed sees it, `updated`
    after that, and `tag.changed` when the transaction only changed its tags."""
    upserts = [p["entity_id"] for p in changes if p["entity"] == "fragment" and p["op"] == ChangeOp.upsert
               and p["entity_id"] not in tagged and not p["new"]]
    seen: set[uuid.UUID] = set()
    if upserts:
        seen = set(session.execute(sa.select(Change.entity_id).where(
            col(Change.entity) == "fragment", col(Change.entity_id).in_(upserts))).scalars())
    out = []
    for p in changes:
        if p["entity"] == "tag":
            kind = WebhookEvent.tag_changed
        elif p["entity"] == "consent":
            kind = WebhookEvent.consent_withdrawn
        elif p["op"] == ChangeOp.tombstone:
            kind = WebhookEvent.fragment_withdrawn
        elif p["entity_id"] in tagged:
            kind = WebhookEvent.tag_changed
        else:
            kind = WebhookEvent.fragment_updated if p["entity_id"] in seen else WebhookEvent.fragment_created
        out.append((p, kind))
    return out


def _heard_of(session: Session, entity: str, op: ChangeOp, audience: Audience,
              ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these changes a partner's or the public's tool hears of: a fragment's upsert within its audience;
    an erasure of a fragment, or a consent's withdrawal, that its audience could see at some time; a consent's
    upsert that took its scope away (sent as `consent.withdrawn`: delete that consent's fragments)."""
    now, once = fragments.audience_consents(audience), fragments.audience_consents(audience, once=True)
    if entity == "consent":
        condition = once if op == ChangeOp.tombstone else sa.and_(once, sa.not_(now))
        stmt = sa.select(Consent.id).where(col(Consent.id).in_(ids), condition)
    else:
        stmt = (sa.select(Fragment.id).join(Consent, col(Consent.id) == Fragment.consent_id)
                .where(col(Fragment.id).in_(ids),
                       sa.and_(now, col(Fragment.sensitive).is_(False)) if op == ChangeOp.upsert else once))
    return set(session.execute(stmt).scalars())


# --- what a delivery says -------------------------------------------------------------------------------

def payload(session: Session, delivery: WebhookDelivery, client: ApiClient) -> dict[str, Any] | None:
    """The body of a delivery, rendered when it is sent: an upsert carries the record as GET would show it to the
    client now (so erased content never waits in the outbox), a tombstone carries ids only. A client without a
    read scope gets ids only. None when the record is gone or the client may no longer see it."""
    data: dict[str, Any] = {"id": str(delivery.entity_id), "entity": delivery.entity,
                            "project_id": str(delivery.project_id)}
    if delivery.entity == "fragment":
        fragment = session.get(Fragment, delivery.entity_id)
        if fragment is None:
            return None
        data["status"] = str(fragment.status)
        if delivery.event == WebhookEvent.fragment_withdrawn:
            data["erased_at"] = fragment.erased_at.isoformat() if fragment.erased_at else None
        elif client.allows(ClientScope.fragments_read):
            try:
                fragments.get_for_reader(session, ClientActor(client), fragment.id)
            except NotFound:
                return None
            data["record"] = fragments.public(session, [fragment])[0].model_dump(mode="json")
    elif delivery.entity == "tag" and client.allows(ClientScope.tags_read):
        tag = session.get(Tag, delivery.entity_id)
        if tag is not None:
            data["record"] = TagPublic.model_validate(tag).model_dump(mode="json")
    return {"type": str(delivery.event), "timestamp": delivery.created_at.isoformat(), "data": data}
