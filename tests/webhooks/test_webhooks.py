"""Webhooks: registration by client token, events written with the change, signed delivery to a real receiver
on loopback that fails, times out and recovers, backoff, dead letters and replay, several workers at once."""

import base64
import hashlib
import hmac
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api import db
from api.config import get_settings
from api.feed import service as feed
from api.tags.models import Tag
from api.webhooks.models import DeliveryState, WebhookDelivery
from api.webhooks.worker import BACKOFF_BASE, BACKOFF_CAP, LEASE, Worker
from tests.factories import (
    World,
    bearer,
    capture_batch,
    consent_item,
    conversation_item,
    fragment_item,
    make_world,
    sync,
)
from tests.webhooks.conftest import TIMEOUT, Clock

ALL_EVENTS = ["fragment.created", "fragment.updated", "fragment.withdrawn", "consent.withdrawn", "tag.changed"]


def make_api_client(client: TestClient, world: World, scopes: list[str] | None = None, **body: Any) -> str:
    r = client.post(f"/api/v1/projects/{world.project.id}/clients",
                    json={"name": "hook tool", "scopes": scopes or ["webhooks", "fragments:read", "tags:read"], **body},
                    headers=world.headers("coordinator"))
    assert r.status_code == 201, r.text
    return r.json()["token"]


def register(client: TestClient, token: str, url: str, events: list[str] | None = None) -> dict[str, Any]:
    r = client.post("/api/v1/webhooks", json={"url": url, "events": events or ALL_EVENTS}, headers=bearer(token))
    assert r.status_code == 201, r.text
    return r.json()


def verify(secret: str, received: Any) -> None:
    """The receiver's side of Standard Webhooks, written here from the convention, not from the server's code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    h = received.headers
    signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + received.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert h["webhook-signature"].split(" ") == [f"v1,{expected}"]


def deliveries(session: Session) -> list[WebhookDelivery]:
    session.rollback()
    return list(session.exec(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))


def worker(clock: Clock | None = None, **kw: Any) -> Worker:
    return Worker(now=clock, timeout=TIMEOUT, **kw) if clock else Worker(timeout=TIMEOUT, **kw)


def drain(w: Worker) -> None:
    while w.run_once():
        pass


# --- registration ---------------------------------------------------------------------------------------

def test_only_a_client_token_with_the_webhooks_scope_registers_and_the_secret_is_shown_once(client, world) -> None:
    url = "https://example.org/hook"
    body = {"url": url, "events": ["fragment.created"]}
    assert client.post("/api/v1/webhooks", json=body).status_code == 401
    r = client.post("/api/v1/webhooks", json=body, headers=world.headers("coordinator"))
    assert (r.status_code, r.json()["code"]) == (403, "client_token_required")
    reader = make_api_client(client, world, scopes=["fragments:read"])
    r = client.post("/api/v1/webhooks", json=body, headers=bearer(reader))
    assert (r.status_code, r.json()["code"]) == (403, "scope_missing")

    token = make_api_client(client, world)
    made = register(client, token, url, ["fragment.created", "fragment.created", "tag.changed"])
    assert made["secret"].startswith("whsec_") and len(base64.b64decode(made["secret"][6:])) == 32
    assert made["events"] == ["fragment.created", "tag.changed"] and made["url"] == url
    listed = client.get("/api/v1/webhooks", headers=bearer(token)).json()
    assert [e["id"] for e in listed] == [made["id"]] and "secret" not in listed[0]
    coordinator_view = client.get(f"/api/v1/projects/{world.project.id}/webhooks", headers=world.headers("coordinator"))
    assert [e["id"] for e in coordinator_view.json()] == [made["id"]] and "secret" not in coordinator_view.json()[0]

    other = make_api_client(client, world)
    assert client.get("/api/v1/webhooks", headers=bearer(other)).json() == []
    assert client.delete(f"/api/v1/webhooks/{made['id']}", headers=bearer(other)).status_code == 404
    assert client.delete(f"/api/v1/webhooks/{made['id']}", headers=bearer(token)).status_code == 204
    assert client.get("/api/v1/webhooks", headers=bearer(token)).json() == []


@pytest.mark.parametrize("url", ["ftp://example.org/x", "javascript:alert(1)", "file:///etc/passwd", "example.org",
                                 "http://", "https://exa mple.org/", "http://example.org:99999/", "", "x" * 3000])
def test_only_http_and_https_urls_are_accepted(client, world, url) -> None:
    token = make_api_client(client, world)
    r = client.post("/api/v1/webhooks", json={"url": url, "events": ["tag.changed"]}, headers=bearer(token))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"


@pytest.mark.parametrize("events", [[], ["fragment.deleted"], "tag.changed", None])
def test_unknown_or_missing_events_are_refused(client, world, events) -> None:
    token = make_api_client(client, world)
    r = client.post("/api/v1/webhooks", json={"url": "http://example.org/", "events": events}, headers=bearer(token))
    assert r.status_code == 422, r.text


def test_coordinator_endpoints_refuse_researchers_other_projects_and_client_tokens(client, world, session) -> None:
    other = make_world(session)
    token = make_api_client(client, world)
    paths = [f"/api/v1/projects/{world.project.id}/webhooks",
             f"/api/v1/projects/{world.project.id}/webhook-deliveries?state=dead"]
    for path in paths:
        assert client.get(path, headers=world.headers("coordinator")).status_code == 200
        assert client.get(path, headers=world.headers("admin")).status_code == 200
        assert client.get(path, headers=world.headers("researcher")).status_code == 403
        assert client.get(path, headers=other.headers("coordinator")).status_code == 404
        assert client.get(path, headers=bearer(token)).status_code == 403
    replay = f"/api/v1/webhook-deliveries/{uuid.uuid4()}/replay"
    assert client.post(replay, headers=world.headers("coordinator")).status_code == 404
    assert client.post(replay, headers=bearer(token)).status_code == 403
    assert client.get(paths[1].replace("dead", "buried"), headers=world.headers("coordinator")).status_code == 422


# --- events ---------------------------------------------------------------------------------------------

def test_events_arrive_signed_exactly_once_each_with_the_right_type(client, world, session, receiver) -> None:
    token = make_api_client(client, world)
    secret = register(client, token, receiver.url)["secret"]
    items = capture_batch(world, 2)
    sync(client, world, items)
    fa, fb = items[2]["id"], items[3]["id"]
    h = world.headers("coordinator")
    assert client.patch(f"/api/v1/fragments/{fa}", json={"sensitive": True},
                        headers={**h, "If-Match": '"1"'}).status_code == 200
    assert client.put(f"/api/v1/fragments/{fb}/tags/{world.tag.id}", headers=h).status_code == 204
    new_tag = client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": "hope"}, headers=h).json()
    assert client.post(f"/api/v1/consents/{items[1]['id']}/withdraw", json={}, headers=h).status_code == 200

    w = worker()
    drain(w)
    got = receiver.ok()
    assert len(got) == len(deliveries(session)) == 8
    for r in got:
        verify(secret, r)
        assert r.headers["content-type"] == "application/json"
    events = [(r.json["type"], r.json["data"]["id"]) for r in got]
    assert Counter(events) == Counter([
        ("fragment.created", fa), ("fragment.created", fb), ("fragment.updated", fa), ("tag.changed", fb),
        ("tag.changed", new_tag["id"]), ("fragment.withdrawn", fa), ("fragment.withdrawn", fb),
        ("consent.withdrawn", items[1]["id"])])
    assert {r.headers["webhook-id"] for r in got} == {str(d.id) for d in deliveries(session)}
    by_type = {(r.json["type"], r.json["data"]["id"]): r.json for r in got}
    # Rendered at delivery: by now both fragments are erased, so no earlier event carries their words.
    for body in by_type.values():
        assert "fragment 0" not in str(body) and "fragment 1" not in str(body)
    withdrawn = by_type[("fragment.withdrawn", fa)]["data"]
    assert withdrawn == {"id": fa, "entity": "fragment", "project_id": str(world.project.id), "status": "withdrawn",
                         "erased_at": withdrawn["erased_at"]}
    assert by_type[("tag.changed", new_tag["id"])]["data"]["record"]["name"] == "hope"
    assert by_type[("tag.changed", fb)]["data"]["entity"] == "fragment"
    assert all(d.state == DeliveryState.delivered for d in deliveries(session))
    drain(w)
    assert len(receiver.received) == 8  # nothing is sent twice


def test_consent_withdrawn_event_and_records_as_get_shows_them(client, world, session, receiver) -> None:
    token = make_api_client(client, world)
    register(client, token, receiver.url, ["fragment.created", "consent.withdrawn"])
    items = capture_batch(world, 1)
    sync(client, world, items)
    drain(worker())
    created = receiver.ok()[0].json
    as_get = client.get(f"/api/v1/fragments/{items[2]['id']}", headers=bearer(token)).json()
    assert created["type"] == "fragment.created" and created["data"]["record"] == as_get
    assert created["data"]["record"]["text"] == "fragment 0"
    client.post(f"/api/v1/consents/{items[1]['id']}/withdraw", json={}, headers=world.headers("coordinator"))
    drain(worker())
    last = receiver.ok()[-1].json
    assert last["type"] == "consent.withdrawn" and last["data"]["id"] == items[1]["id"]
    assert "record" not in last["data"] and len(receiver.ok()) == 2  # not subscribed to fragment.withdrawn


def test_only_subscribed_events_of_active_clients_of_the_project_within_their_audience(
        client, world, session, receiver) -> None:
    other_world = make_world(session)
    partner = make_api_client(client, world, audience="partner")
    public = make_api_client(client, world, audience="public")
    revoked = make_api_client(client, world)
    elsewhere = make_api_client(client, other_world)
    ends = {name: register(client, tok, receiver.url + f"/{name}", ["fragment.created"])["id"]
            for name, tok in (("partner", partner), ("public", public), ("revoked", revoked), ("elsewhere", elsewhere))}
    revoked_id = client.get(f"/api/v1/projects/{world.project.id}/clients", headers=world.headers("coordinator")).json()
    revoked_id = next(c["id"] for c in revoked_id if c["token_hint"] == revoked[:10])
    client.delete(f"/api/v1/clients/{revoked_id}", headers=world.headers("coordinator"))

    conv = conversation_item(world)
    pub = consent_item(world, conv["id"], participant_label="P-PUB", scopes=["quote", "share", "publish"])
    shr = consent_item(world, conv["id"], participant_label="P-SHR", scopes=["quote", "share"])
    prv = consent_item(world, conv["id"], participant_label="P-PRV", scopes=["quote"])
    f_pub, f_shr, f_prv = (fragment_item(conv["id"], c["id"]) for c in (pub, shr, prv))
    sync(client, world, [conv, pub, shr, prv, f_pub, f_shr, f_prv])
    client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": "not subscribed"},
                headers=world.headers("coordinator"))
    rows = deliveries(session)
    by_endpoint = {name: sorted(str(d.entity_id) for d in rows if str(d.endpoint_id) == eid)
                   for name, eid in ends.items()}
    assert by_endpoint == {"partner": sorted([f_pub["id"], f_shr["id"]]), "public": [f_pub["id"]],
                           "revoked": [], "elsewhere": []}
    assert {d.event for d in rows} == {"fragment.created"}


def test_a_change_with_no_endpoint_costs_one_query(client, world, session, engine) -> None:
    items = capture_batch(world, 3)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert sync(client, world, items).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert sum("webhook" in s for s in statements) == 1
    assert deliveries(session) == []


# --- the outbox and crashes -----------------------------------------------------------------------------

def test_the_outbox_row_commits_with_the_change_and_a_failed_commit_leaves_none(client, world, session,
                                                                                receiver) -> None:
    token = make_api_client(client, world)
    register(client, token, receiver.url, ["tag.changed"])
    with db.open_session() as s:
        tag = Tag(project_id=world.project.id, name="made then lost")
        s.add(tag)
        s.flush()
        feed.record(s, project_id=world.project.id, entity="tag", entity_id=tag.id)
        s.add(Tag(project_id=uuid.uuid4(), name="breaks the commit"))  # no such project: the commit fails
        with pytest.raises(sa.exc.IntegrityError):
            s.commit()
        s.rollback()
    assert deliveries(session) == []
    with db.open_session() as s:
        tag = Tag(project_id=world.project.id, name="kept")
        s.add(tag)
        s.flush()
        feed.record(s, project_id=world.project.id, entity="tag", entity_id=tag.id)
        s.rollback()
    assert deliveries(session) == []
    made = client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": "kept"},
                       headers=world.headers("coordinator")).json()
    # The server "crashes" here: nothing was delivered, but the event waits in the outbox for any worker.
    [row] = deliveries(session)
    assert (row.state, str(row.entity_id), row.attempts) == (DeliveryState.pending, made["id"], 0)
    drain(worker())
    assert [r.json["data"]["id"] for r in receiver.ok()] == [made["id"]]


def test_a_worker_that_dies_holding_a_lease_loses_nothing(client, world, session, receiver, clock) -> None:
    token = make_api_client(client, world)
    register(client, token, receiver.url)
    sync(client, world, capture_batch(world, 2))
    first = worker(clock)
    _, claimed = first.claim()  # ...and the process dies before sending
    assert len(claimed) == 2
    second = worker(clock)
    assert second.run_once() == 0  # leased: not sent twice at once
    clock.advance(LEASE + timedelta(seconds=1))
    drain(second)
    assert len(receiver.ok()) == 2
    assert all(d.state == DeliveryState.delivered for d in deliveries(session))


# --- failures, backoff, dead letters, replay --------------------------------------------------------------

def test_failures_and_timeouts_retry_on_an_exponential_schedule_under_the_same_id(client, world, session, receiver,
                                                                                  clock) -> None:
    token = make_api_client(client, world)
    secret = register(client, token, receiver.url, ["fragment.created"])["secret"]
    sync(client, world, capture_batch(world, 1))
    receiver.plan = ["fail", "slow", "fail", "ok"]
    w = worker(clock, rand=lambda: 0.0)
    for attempt, expect_error in ((1, "answered 500"), (2, "timed out"), (3, "answered 500")):
        assert w.run_once() == 1
        [d] = deliveries(session)
        assert d.state == DeliveryState.pending and d.attempts == attempt and expect_error in d.last_error
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        # rand() == 0: the wait is exactly the fixed half (jitter adds up to the other half).
        assert d.next_attempt_at - clock() == delay / 2
        clock.advance(delay / 2 - timedelta(seconds=1))
        assert w.run_once() == 0  # not before its time
        clock.advance(timedelta(seconds=1))
    assert w.run_once() == 1
    [d] = deliveries(session)
    assert d.state == DeliveryState.delivered and d.attempts == 4 and d.last_status == 200
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert ids == {str(d.id)} and len(receiver.received) == 4
    for r in receiver.ok():
        verify(secret, r)


def test_jitter_spreads_retries_within_the_doubled_delay(client, world, session, receiver, clock) -> None:
    token = make_api_client(client, world)
    register(client, token, receiver.url, ["fragment.created"])
    sync(client, world, capture_batch(world, 1))
    receiver.default = "fail"
    w = worker(clock, rand=lambda: 1.0)
    w.run_once()
    [d] = deliveries(session)
    assert d.next_attempt_at - clock() == BACKOFF_BASE  # rand() == 1: the full delay


def test_after_the_24_hour_window_a_delivery_is_dead_and_a_coordinator_replays_it(client, world, session, receiver,
                                                                                  clock) -> None:
    token = make_api_client(client, world)
    register(client, token, receiver.url, ["fragment.created"])
    sync(client, world, capture_batch(world, 1))
    receiver.default = "fail"
    w = worker(clock)
    [d] = deliveries(session)
    created, attempts_at = d.created_at, []
    while d.state == DeliveryState.pending:
        clock.set(d.next_attempt_at)
        attempts_at.append(clock())
        assert w.run_once() == 1
        [d] = deliveries(session)
    assert d.state == DeliveryState.dead
    assert attempts_at[-1] - created >= timedelta(hours=24)  # retried for the whole window
    assert attempts_at[-2] - created < timedelta(hours=24)
    gaps = [b - a for a, b in zip(attempts_at, attempts_at[1:], strict=False)]
    assert all(g <= BACKOFF_CAP for g in gaps) and gaps[1] > gaps[0]
    assert d.attempts == len(attempts_at) == len(receiver.received)

    h = world.headers("coordinator")
    dead = client.get(f"/api/v1/projects/{world.project.id}/webhook-deliveries?state=dead", headers=h).json()
    assert [x["id"] for x in dead["items"]] == [str(d.id)] and dead["items"][0]["last_status"] == 500
    pending = client.get(f"/api/v1/projects/{world.project.id}/webhook-deliveries?state=pending", headers=h).json()
    assert pending["items"] == []
    assert client.post(f"/api/v1/webhook-deliveries/{d.id}/replay",
                       headers=world.headers("researcher")).status_code == 403
    replayed = client.post(f"/api/v1/webhook-deliveries/{d.id}/replay", headers=h)
    assert replayed.status_code == 200 and replayed.json()["state"] == "pending"
    again = client.post(f"/api/v1/webhook-deliveries/{d.id}/replay", headers=h)
    assert (again.status_code, again.json()["code"]) == (409, "delivery_pending")

    receiver.default = "ok"
    clock.set(max(clock(), datetime_of(replayed.json()["next_attempt_at"])))
    assert w.run_once() == 1
    [d] = deliveries(session)
    assert d.state == DeliveryState.delivered
    assert {r.headers["webhook-id"] for r in receiver.received} == {str(d.id)}  # the same id, for dedup


def datetime_of(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_deleting_an_endpoint_drops_what_it_was_owed_and_a_revoked_client_gets_nothing_more(
        client, world, session, receiver) -> None:
    token = make_api_client(client, world)
    made = register(client, token, receiver.url)
    sync(client, world, capture_batch(world, 1))
    assert client.delete(f"/api/v1/webhooks/{made['id']}", headers=bearer(token)).status_code == 204
    assert deliveries(session) == []
    token = make_api_client(client, world)
    register(client, token, receiver.url)
    sync(client, world, capture_batch(world, 1))
    listed = client.get(f"/api/v1/projects/{world.project.id}/clients", headers=world.headers("coordinator")).json()
    client.delete(f"/api/v1/clients/{next(c['id'] for c in listed if c['token_hint'] == token[:10])}",
                  headers=world.headers("coordinator"))
    drain(worker())
    assert receiver.received == []
    assert [d.state for d in deliveries(session)] == [DeliveryState.skipped]


# --- several workers --------------------------------------------------------------------------------------

def test_two_workers_at_once_never_send_the_same_event_twice(client, world, session, receiver) -> None:
    token = make_api_client(client, world)
    register(client, token, receiver.url)
    register(client, token, receiver.url + "/second")
    sync(client, world, capture_batch(world, 12))
    expected = {str(d.id) for d in deliveries(session)}
    assert len(expected) == 24
    receiver.delay = 0.02
    workers = [worker(batch=3), worker(batch=3)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(w: Worker) -> None:
        try:
            start.wait()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if not w.run_once():
                    if all(d.state != DeliveryState.pending for d in _fresh_deliveries()):
                        return
                    time.sleep(0.01)
        except BaseException as exc:  # noqa: BLE001 (reported by the test thread)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert errors == []
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert receiver.overlaps == [] and sorted(ids) == sorted(expected)  # each exactly once
    assert all(d.state == DeliveryState.delivered for d in deliveries(session))


def _fresh_deliveries() -> list[WebhookDelivery]:
    with db.open_session(read_only=True) as s:
        return list(s.exec(select(WebhookDelivery)))


def test_two_claims_at_the_same_moment_take_disjoint_rows(client, world, session, receiver, clock) -> None:
    token = make_api_client(client, world)
    register(client, token, receiver.url)
    sync(client, world, capture_batch(world, 6))
    a, b = worker(clock, batch=4), worker(clock, batch=4)
    _, first = a.claim()
    _, second = b.claim()
    assert len(first) == 4 and len(second) == 2
    assert not {i for i, _ in first} & {i for i, _ in second}
    _, third = worker(clock).claim()
    assert third == []


# --- where the worker runs --------------------------------------------------------------------------------

def test_the_worker_inside_the_app_delivers_on_its_own(engine, session, receiver, monkeypatch) -> None:
    from api.main import create_app

    world = make_world(session)
    monkeypatch.setenv("HEARKEN_WEBHOOK_WORKER", "true")
    monkeypatch.setenv("HEARKEN_WEBHOOK_WORKER_SECONDS", "0.05")
    get_settings.cache_clear()
    with TestClient(create_app()) as app:
        token = make_api_client(app, world)
        register(app, token, receiver.url)
        sync(app, world, capture_batch(world, 1))
        deadline = time.monotonic() + 20
        while not receiver.ok() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [r.json["type"] for r in receiver.ok()] == ["fragment.created"]


def test_hearken_worker_once_delivers_what_is_due(client, world, session, receiver, capsys) -> None:
    from api.cli import main

    token = make_api_client(client, world)
    register(client, token, receiver.url)
    sync(client, world, capture_batch(world, 1))
    assert main(["worker", "--once"]) == 0
    assert "Tried 1 webhook deliveries." in capsys.readouterr().out
    assert len(receiver.ok()) == 1


def test_an_unreachable_endpoint_or_a_delivery_that_cannot_be_prepared_backs_off(client, world, session, clock,
                                                                                   monkeypatch) -> None:
    from tests.support.live_server import free_port

    token = make_api_client(client, world)
    register(client, token, f"http://127.0.0.1:{free_port()}/nobody-listens", ["fragment.created"])
    sync(client, world, capture_batch(world, 1))
    w = worker(clock)
    assert w.run_once() == 1
    [d] = deliveries(session)
    assert (d.state, d.attempts, d.last_status) == (DeliveryState.pending, 1, None) and "Connect" in d.last_error
    assert d.next_attempt_at > clock()

    def broken(*_: Any) -> None:
        raise RuntimeError("cannot render")

    monkeypatch.setattr("api.webhooks.service.payload", broken)
    clock.set(d.next_attempt_at)
    assert w.run_once() == 1
    [d] = deliveries(session)
    assert (d.state, d.attempts) == (DeliveryState.pending, 2) and d.next_attempt_at > clock()
    assert w.run_once() == 0  # not again on every round


def test_hearken_worker_runs_as_its_own_process_until_told_to_stop(client, world, session, receiver) -> None:
    import signal
    import subprocess
    import sys

    from tests.support.live_server import REPO

    token = make_api_client(client, world)
    register(client, token, receiver.url)
    sync(client, world, capture_batch(world, 2))
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--interval", "0.1"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while len(receiver.ok()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert sorted(r.json["data"]["id"] for r in receiver.ok()) == sorted(str(d.entity_id) for d in deliveries(session))


def test_a_partner_hears_of_tag_changes_and_withdrawals_only_where_consent_allows_sharing(client, world,
                                                                                         session) -> None:
    partner = make_api_client(client, world, audience="partner")
    register(client, partner, "http://127.0.0.1:9/unused", ["tag.changed", "consent.withdrawn"])
    conv = conversation_item(world)
    shr = consent_item(world, conv["id"], participant_label="P-SHR", scopes=["quote", "share"])
    prv = consent_item(world, conv["id"], participant_label="P-PRV", scopes=["quote"])
    f_shr, f_prv = fragment_item(conv["id"], shr["id"]), fragment_item(conv["id"], prv["id"])
    sync(client, world, [conv, shr, prv, f_shr, f_prv])
    h = world.headers("coordinator")
    for f in (f_shr, f_prv):
        assert client.put(f"/api/v1/fragments/{f['id']}/tags/{world.tag.id}", headers=h).status_code == 204
    tag = client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": "for all"}, headers=h).json()
    for c in (shr, prv):
        assert client.post(f"/api/v1/consents/{c['id']}/withdraw", json={}, headers=h).status_code == 200
    got = Counter((d.event, str(d.entity_id)) for d in deliveries(session))
    assert got == Counter([("tag.changed", f_shr["id"]), ("tag.changed", tag["id"]),
                           ("consent.withdrawn", shr["id"])])


def test_a_partner_is_told_to_delete_what_it_holds_once_sharing_is_taken_away(client, world, session) -> None:
    """Narrowing away `share` is a withdrawal as far as the partner is concerned; a withdrawal after it still
    reaches the partner, although the consent no longer has `share`. A consent never shared stays unheard of."""
    partner = make_api_client(client, world, audience="partner")
    register(client, partner, "http://127.0.0.1:9/unused", ["consent.withdrawn", "fragment.withdrawn"])
    conv = conversation_item(world)
    shared = consent_item(world, conv["id"], participant_label="P-SHR", scopes=["quote", "share"])
    never = consent_item(world, conv["id"], participant_label="P-PRV", scopes=["quote"])
    f_shared, f_never = fragment_item(conv["id"], shared["id"]), fragment_item(conv["id"], never["id"])
    sync(client, world, [conv, shared, never, f_shared, f_never])
    h = world.headers("coordinator")
    assert client.patch(f"/api/v1/consents/{shared['id']}", json={"scopes": ["quote"]},
                        headers={**h, "If-Match": '"1"'}).status_code == 200
    assert [(d.event, str(d.entity_id)) for d in deliveries(session)] == [("consent.withdrawn", shared["id"])]
    for c in (shared, never):
        assert client.post(f"/api/v1/consents/{c['id']}/withdraw", json={}, headers=h).status_code == 200
    got = Counter((d.event, str(d.entity_id)) for d in deliveries(session))
    assert got == Counter([("consent.withdrawn", shared["id"]), ("consent.withdrawn", shared["id"]),
                           ("fragment.withdrawn", f_shared["id"])])


def test_events_outlive_a_killed_server_and_hearken_serve_delivers_them_after_restart(
        engine, session, database_url, receiver, tmp_path) -> None:
    import httpx

    from tests.support.live_server import LiveServer

    world = make_world(session)
    server = LiveServer(tmp_path / "server", env={"HEARKEN_DATABASE_URL": database_url,
                                                  "HEARKEN_WEBHOOK_WORKER": "false"})
    server.start()
    try:
        made = httpx.post(f"{server.api}/projects/{world.project.id}/clients", headers=world.headers("coordinator"),
                          json={"name": "hook", "scopes": ["webhooks", "fragments:read"]}, timeout=10).json()
        hook = httpx.post(f"{server.api}/webhooks", headers=bearer(made["token"]), timeout=10,
                          json={"url": receiver.url, "events": ["fragment.created"]})
        assert hook.status_code == 201, hook.text
        items = capture_batch(world, 3)
        r = httpx.post(f"{server.api}/sync", headers=world.headers("researcher"), timeout=30,
                       json={"device_id": "phone", "items": items})
        assert r.status_code == 200, r.text
        server.kill()  # nothing was delivered: no worker ran
        assert receiver.received == []
        server.extra_env.update({"HEARKEN_WEBHOOK_WORKER": "true", "HEARKEN_WEBHOOK_WORKER_SECONDS": "0.1"})
        server.start()
        deadline = time.monotonic() + 30
        while len(receiver.ok()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()
    assert sorted(r.json["data"]["id"] for r in receiver.ok()) == sorted(i["id"] for i in items[2:])
    for got in receiver.ok():
        verify(hook.json()["secret"], got)
