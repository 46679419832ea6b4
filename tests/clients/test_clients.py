"""API clients: tokens shown once, scopes and audiences enforced, every read audited, rate limited."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from api.clients.models import ApiClient
from api.db import utcnow
from api.people.security import digest
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

ALL_READ = ["fragments:read", "changes:read", "tags:read"]


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def make_client(client, world: World, **body: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.post(f"/api/v1/projects/{world.project.id}/clients",
                    json={"name": "dashboard", "scopes": ALL_READ, **body}, headers=world.headers("coordinator"))
    assert r.status_code == 201, r.text
    return r.json()


def shared_and_private(client, world: World) -> tuple[list[str], list[str], list[str]]:  # type: ignore[no-untyped-def]
    """Three participants: one agreed to sharing and publication, one to sharing only, one to neither."""
    conv = conversation_item(world)
    public = consent_item(world, conv["id"], participant_label="P-PUB", scopes=["quote", "share", "publish"])
    shared = consent_item(world, conv["id"], participant_label="P-SHR", scopes=["quote", "share"])
    private = consent_item(world, conv["id"], participant_label="P-PRV", scopes=["quote"])
    frags = {c["id"]: [fragment_item(conv["id"], c["id"]) for _ in range(2)] for c in (public, shared, private)}
    sync(client, world, [conv, public, shared, private, *[f for fs in frags.values() for f in fs]])
    ids = [[f["id"] for f in frags[c["id"]]] for c in (public, shared, private)]
    return ids[0], ids[1], ids[2]


def test_the_token_is_shown_once_and_kept_only_as_a_hash(client, world, session) -> None:
    made = make_client(client, world)
    assert made["token"].startswith("hkc_")
    stored = session.get(ApiClient, uuid.UUID(made["id"]))
    assert stored.token_hash == digest(made["token"]) and made["token"] not in stored.token_hash
    listed = client.get(f"/api/v1/projects/{world.project.id}/clients", headers=world.headers("coordinator")).json()
    assert "token" not in listed[0] and listed[0]["token_hint"] == made["token"][:10]


def test_audiences_see_only_what_consent_allows(client, world) -> None:
    public, shared, private = shared_and_private(client, world)
    for audience, expected in (("internal", public + shared + private), ("partner", public + shared),
                               ("public", public)):
        token = make_client(client, world, audience=audience)["token"]
        got = client.get("/api/v1/fragments", headers=bearer(token)).json()
        assert sorted(f["id"] for f in got["items"]) == sorted(expected), audience
        hidden = next(iter(set(public + shared + private) - set(expected)), None)
        if hidden:
            assert client.get(f"/api/v1/fragments/{hidden}", headers=bearer(token)).status_code == 404
        feed = client.get("/api/v1/changes", headers=bearer(token)).json()["items"]
        assert {c["id"] for c in feed if c["entity"] == "fragment"} == set(expected), audience
        assert not [c for c in feed if c["entity"] in ("conversation", "consent")]


def test_a_partner_following_the_feed_deletes_what_leaves_its_audience(client, world) -> None:
    """Taking `share` away is, for a partner, a withdrawal: its feed says so with the consent's tombstone (delete
    that consent's fragments), and a later withdrawal's erasures still reach it. A consent the partner never saw
    stays unheard of."""
    public, shared, private = shared_and_private(client, world)
    token = make_client(client, world, audience="partner")["token"]
    mirror: dict[str, dict] = {}
    after = 0

    def follow() -> list[dict]:
        nonlocal after
        page = client.get(f"/api/v1/changes?after={after}", headers=bearer(token)).json()
        for c in page["items"]:
            if c["op"] == "tombstone":
                for fid in [fid for fid, r in mirror.items() if c["id"] in (fid, r["consent_id"])]:
                    del mirror[fid]
            elif c["entity"] == "fragment":
                mirror[c["id"]] = c["record"]
        after = page["last_seq"]
        return page["items"]

    def listed() -> set[str]:
        return {f["id"] for f in client.get("/api/v1/fragments", headers=bearer(token)).json()["items"]}

    follow()
    assert set(mirror) == listed() == set(public + shared)
    h = world.headers("coordinator")
    consent_of = {f: client.get(f"/api/v1/fragments/{f}", headers=h).json()["consent_id"] for f in shared + private}
    narrowed, never = consent_of[shared[0]], consent_of[private[0]]
    assert client.patch(f"/api/v1/consents/{narrowed}", json={"scopes": ["quote"]},
                        headers={**h, "If-Match": '"1"'}).status_code == 200
    told = follow()
    assert [(c["entity"], c["id"], c["op"], c["record"]) for c in told] == [("consent", narrowed, "tombstone", None)]
    assert set(mirror) == listed() == set(public)
    for consent in (narrowed, never):
        assert client.post(f"/api/v1/consents/{consent}/withdraw", json={}, headers=h).status_code == 200
    told = follow()
    assert sorted((c["entity"], c["id"]) for c in told) == sorted(
        [("consent", narrowed)] + [("fragment", f) for f in shared])
    assert set(mirror) == listed() == set(public)


def test_scopes_gate_each_endpoint(client, world) -> None:
    token = make_client(client, world, scopes=["tags:read"])["token"]
    assert client.get("/api/v1/fragments", headers=bearer(token)).status_code == 403
    assert client.get("/api/v1/changes", headers=bearer(token)).json()["code"] == "scope_missing"
    assert client.get(f"/api/v1/projects/{world.project.id}/tags", headers=bearer(token)).status_code == 200


def test_a_client_token_reaches_only_its_project_and_the_pull_api(client, world, session) -> None:
    other = make_world(session)
    token = make_client(client, world)["token"]
    assert client.get(f"/api/v1/fragments?project_id={other.project.id}", headers=bearer(token)).status_code == 404
    assert client.get(f"/api/v1/projects/{other.project.id}/tags", headers=bearer(token)).status_code == 404
    r = client.get("/api/v1/me", headers=bearer(token))
    assert r.status_code == 403 and r.json()["code"] == "client_token_not_allowed"
    assert client.post("/api/v1/sync", json={"device_id": "x", "items": []}, headers=bearer(token)).status_code == 403


def test_rotation_and_revocation_end_the_old_token_at_once(client, world) -> None:
    made = make_client(client, world)
    rotated = client.post(f"/api/v1/clients/{made['id']}/rotate", headers=world.headers("coordinator")).json()
    assert client.get("/api/v1/fragments", headers=bearer(made["token"])).status_code == 401
    assert client.get("/api/v1/fragments", headers=bearer(rotated["token"])).status_code == 200
    client.delete(f"/api/v1/clients/{made['id']}", headers=world.headers("coordinator"))
    assert client.get("/api/v1/fragments", headers=bearer(rotated["token"])).status_code == 401


def test_an_expired_client_token_is_refused(client, world, session) -> None:
    made = make_client(client, world, expires_at=(utcnow() + timedelta(hours=1)).isoformat())
    api_client = session.get(ApiClient, uuid.UUID(made["id"]))
    api_client.expires_at = utcnow() - timedelta(seconds=1)
    session.add(api_client)
    session.commit()
    r = client.get("/api/v1/fragments", headers=bearer(made["token"]))
    assert r.status_code == 401 and r.json()["code"] == "token_expired"


def test_every_client_request_is_audited_with_ids_not_content(client, world, session) -> None:
    items = capture_batch(world, 2, text="words nobody else should see")
    sync(client, world, items)
    made = make_client(client, world)
    client.get("/api/v1/fragments", headers=bearer(made["token"]))
    client.get(f"/api/v1/fragments/{items[2]['id']}", headers=bearer(made["token"]))
    client.get("/api/v1/changes", headers=bearer(made["token"]))
    entries = session.exec(select(AuditEntry).where(AuditEntry.client_id == uuid.UUID(made["id"]))
                           .order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["fragments.list", "fragments.get", "changes.list"]
    assert entries[0].detail["count"] == 2 and set(entries[0].detail["ids"]) == {items[2]["id"], items[3]["id"]}
    assert "nobody else" not in str([e.detail for e in entries])


def test_the_rate_limit_answers_429_with_retry_after(client, world) -> None:
    token = make_client(client, world, rate_limit_per_minute=3)["token"]
    assert [client.get("/api/v1/fragments", headers=bearer(token)).status_code for _ in range(3)] == [200] * 3
    r = client.get("/api/v1/fragments", headers=bearer(token))
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 61


def test_refused_guesses_count_against_the_rate_limit(client, world) -> None:
    """Counted from the audit log, only successful reads counted: a tool could guess fragment ids (404) or
    probe bad cursors (422) without end."""
    token = make_client(client, world, rate_limit_per_minute=3)["token"]
    guesses = [client.get(f"/api/v1/fragments/{uuid.uuid4()}", headers=bearer(token)).status_code,
               client.get("/api/v1/fragments?cursor=not-a-cursor", headers=bearer(token)).status_code,
               client.get(f"/api/v1/fragments/{uuid.uuid4()}", headers=bearer(token)).status_code]
    assert guesses == [404, 422, 404]
    assert client.get("/api/v1/fragments", headers=bearer(token)).status_code == 429


def test_parallel_requests_never_pass_the_rate_limit(client, world) -> None:
    """Every request read the same count from the audit log before any wrote its entry: 30 at once got 9
    through a limit of 5."""
    token = make_client(client, world, rate_limit_per_minute=5)["token"]
    start = threading.Barrier(20)

    def read(_: int) -> int:
        start.wait()
        return client.get("/api/v1/fragments", headers=bearer(token)).status_code

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(read, range(20)))
    assert sorted(codes) == [200] * 5 + [429] * 15, codes


def test_list_pages_carry_an_etag_and_answer_304_when_unchanged(client, world) -> None:
    sync(client, world, capture_batch(world, 2))
    token = make_client(client, world)["token"]
    first = client.get("/api/v1/fragments?fields=text", headers=bearer(token))
    assert set(first.json()["items"][0]) == {"id", "text"}
    again = client.get("/api/v1/fragments?fields=text", headers={**bearer(token), "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    sync(client, world, capture_batch(world, 1))
    assert client.get("/api/v1/fragments?fields=text", headers={**bearer(token),
                                                                "If-None-Match": first.headers["ETag"]}).status_code == 200
    assert client.get("/api/v1/fragments?fields=secret", headers=bearer(token)).status_code == 422


def test_a_long_poll_answers_as_soon_as_something_changes(client, world) -> None:
    token = make_client(client, world)["token"]
    last = client.get("/api/v1/changes", headers=bearer(token)).json()["last_seq"]
    threading.Timer(0.7, lambda: sync(client, world, capture_batch(world, 1))).start()
    started = time.monotonic()
    r = client.get(f"/api/v1/changes?after={last}&wait=10", headers=bearer(token)).json()
    assert 0.5 < time.monotonic() - started < 8
    assert [c["entity"] for c in r["items"]] == ["fragment"]
    started = time.monotonic()
    empty = client.get(f"/api/v1/changes?after={r['last_seq']}&wait=1", headers=bearer(token)).json()
    assert empty["items"] == [] and time.monotonic() - started >= 1


def test_a_follower_ends_with_exactly_what_the_list_shows_withdrawals_deleted(client, world, session, engine) -> None:
    """The pull contract: follow the feed from zero in pages of any size, under concurrent writes and
    withdrawals, and you hold exactly the fragments GET /fragments shows your token."""
    token = make_client(client, world, audience="partner")["token"]
    mirror: dict[str, dict] = {}
    after = 0
    stop = threading.Event()
    consents: list[str] = []

    def writer() -> None:
        for i in range(6):
            conv = conversation_item(world)
            c = consent_item(world, conv["id"], scopes=["quote", "share"] if i % 3 else ["quote"])
            sync(client, world, [conv, c, *[fragment_item(conv["id"], c["id"]) for _ in range(4)]])
            consents.append(c["id"])
            if i % 2:
                client.post(f"/api/v1/consents/{consents[i - 1]}/withdraw", headers=world.headers("coordinator"))

    def follow(limit: int) -> None:
        nonlocal after
        page = client.get(f"/api/v1/changes?after={after}&limit={limit}", headers=bearer(token)).json()
        for c in page["items"]:
            if c["entity"] != "fragment":
                continue
            if c["op"] == "tombstone":
                mirror.pop(c["id"], None)
            else:
                mirror[c["id"]] = c["record"]
        after = page["last_seq"]

    w = threading.Thread(target=writer)
    w.start()
    sizes = iter([1, 2, 3, 5, 7] * 100)
    while w.is_alive():
        follow(next(sizes))
    w.join()
    stop.set()
    for _ in range(50):
        follow(next(sizes))
    listed, cursor = [], None
    while True:
        page = client.get("/api/v1/fragments?status=active&limit=7" + (f"&cursor={cursor}" if cursor else ""),
                          headers=bearer(token)).json()
        listed += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert set(mirror) == {f["id"] for f in listed}
    assert all(m["status"] == "active" and m["text"] for m in mirror.values())
