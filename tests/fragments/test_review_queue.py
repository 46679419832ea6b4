"""GET /projects/{id}/review-queue: what is in it, its order, its cursor, and leaving it by review."""

import base64
import json
from datetime import timedelta

import pytest
from sqlmodel import Session

from tests.factories import World, consent_item, conversation_item, fragment_item, make_world, now_iso, sync


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def queue_url(world: World, **params: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/v1/projects/{world.project.id}/review-queue" + (f"?{query}" if query else "")


def capture(client, world: World, specs: list[tuple[int, bool]]) -> list[dict]:
    """Fragments captured `minutes` ago, sensitive or not, under one consent; answers the items sent."""
    conv = conversation_item(world, started_at=now_iso(timedelta(days=-1)))
    consent = consent_item(world, conv["id"], given_at=now_iso(timedelta(days=-1)))
    frags = [fragment_item(conv["id"], consent["id"], text=f"fragment {i}", sensitive=sensitive,
                           captured_at=now_iso(timedelta(minutes=-minutes)))
             for i, (minutes, sensitive) in enumerate(specs)]
    r = sync(client, world, [conv, consent, *frags])
    assert all(x["status"] == "created" for x in r.json()["results"]), r.text
    return frags


def walk(client, world: World, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        page = client.get(queue_url(world, **params), headers=world.headers("coordinator")).json()
        seen += [f["id"] for f in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_sensitive_first_then_oldest_captured_and_every_page_size_gives_the_same_order(client, world) -> None:
    specs = [(50, False), (10, True), (40, True), (30, False), (20, False), (60, True), (5, False)]
    frags = capture(client, world, specs)
    expected = sorted(zip(specs, frags, strict=True), key=lambda p: (not p[0][1], -p[0][0]))
    want = [f["id"] for _, f in expected]
    for limit in (1, 2, 3, 7, 50):  # pages that end inside, at and across the sensitive/other boundary
        assert walk(client, world, limit) == want, limit
    page = client.get(queue_url(world), headers=world.headers("coordinator")).json()
    assert page["counts"] == {"unreviewed": 7, "sensitive": 3, "more": False}
    assert page["items"][0]["text"] == "fragment 5" and page["items"][0]["sensitive"] is True
    assert set(page["items"][0]) >= {"tag_ids", "audio", "version", "reviewed_at"}  # the FragmentPublic shape


def test_a_reviewed_fragment_leaves_the_queue_and_unreviewing_brings_it_back(client, world) -> None:
    frags = capture(client, world, [(30, False), (20, True), (10, False)])
    h = world.headers("coordinator")
    url = f"/api/v1/fragments/{frags[1]['id']}"
    r = client.patch(url, json={"reviewed": True}, headers={**h, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["reviewed_at"] is not None
    page = client.get(queue_url(world), headers=h).json()
    assert [f["id"] for f in page["items"]] == [frags[0]["id"], frags[2]["id"]]
    assert page["counts"] == {"unreviewed": 2, "sensitive": 0, "more": False}
    client.patch(url, json={"reviewed": False}, headers={**h, "If-Match": '"2"'})
    assert walk(client, world, 50)[0] == frags[1]["id"]


def test_a_stale_review_answers_409_with_the_current_record_so_the_client_can_show_both(client, world) -> None:
    frags = capture(client, world, [(30, False)])
    url = f"/api/v1/fragments/{frags[0]['id']}"
    h = world.headers("coordinator")
    client.patch(url, json={"text": "Corrected by the researcher's coordinator.", "sensitive": True},
                 headers={**h, "If-Match": '"1"'})
    r = client.patch(url, json={"reviewed": True}, headers={**world.headers("admin"), "If-Match": '"1"'})
    assert r.status_code == 409 and r.json()["code"] == "version_conflict"
    current = r.json()["current"]
    assert current["version"] == 2 and current["text"] == "Corrected by the researcher's coordinator."
    assert current["reviewed_at"] is None
    # The stale review changed nothing: the fragment is still waiting, now among the sensitive ones.
    page = client.get(queue_url(world), headers=h).json()
    assert [f["id"] for f in page["items"]] == [frags[0]["id"]] and page["counts"]["sensitive"] == 1


def test_erased_fragments_and_other_projects_stay_out_of_the_queue(client, world, session) -> None:
    frags = capture(client, world, [(30, False), (20, True)])
    other = make_world(session)
    capture(client, other, [(25, False)])
    consent_id = frags[0]["data"]["consent_id"]
    conv2 = conversation_item(world)
    consent2 = consent_item(world, conv2["id"])
    kept = fragment_item(conv2["id"], consent2["id"], text="kept")
    sync(client, world, [conv2, consent2, kept])
    r = client.post(f"/api/v1/consents/{consent_id}/withdraw", json={}, headers=world.headers("coordinator"))
    assert r.status_code == 200, r.text
    page = client.get(queue_url(world), headers=world.headers("coordinator")).json()
    assert [f["id"] for f in page["items"]] == [kept["id"]]
    assert page["counts"] == {"unreviewed": 1, "sensitive": 0, "more": False}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "not-base64!", "AAAA", _b64(b"{}"), _b64(b"[1, 2]"), _b64(b'[true, "yesterday", "x"]'),
    _b64(json.dumps([True, "2026-01-01T00:00:00", "6f1c0f3e-4b7e-4a51-9c5e-0d2d3f6b7a10"]).encode()),  # naive time
    _b64(json.dumps(["yes", "2026-01-01T00:00:00+00:00", "6f1c0f3e-4b7e-4a51-9c5e-0d2d3f6b7a10"]).encode()),
    _b64(json.dumps([False, "9999-12-31T23:59:59-12:00", "6f1c0f3e-4b7e-4a51-9c5e-0d2d3f6b7a10"]).encode()),
    _b64(json.dumps([False, "2026-01-01T00:00:00+00:00", "not-a-uuid"]).encode()),
    _b64(json.dumps([False, "2026-01-01T00:00:00+00:00", 5]).encode()),  # an id that is no string: was a 500
    _b64(b"\xff\xfe"),
])
def test_a_cursor_the_server_did_not_give_out_is_a_422(client, world, cursor: str) -> None:
    r = client.get(queue_url(world, cursor=cursor), headers=world.headers("coordinator"))
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor", r.text


def test_researchers_may_not_see_the_queue_and_strangers_do_not_learn_it_exists(client, world, session) -> None:
    capture(client, world, [(10, False)])
    assert client.get(queue_url(world), headers=world.headers("researcher")).status_code == 403
    other = make_world(session)
    assert client.get(queue_url(world), headers=other.headers("coordinator")).status_code == 404


# --- a day's review: order, filters, cheap counts, the card's context ------------------------------------

def walk_with(client, world: World, limit: int, **params: object) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        page = client.get(queue_url(world, **query), headers=world.headers("coordinator")).json()
        assert (page["counts"] is None) == (cursor is not None)  # counted on the first page only
        seen += [f["id"] for f in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_newest_first_keeps_sensitive_first_and_pages_the_same_at_every_size(client, world) -> None:
    specs = [(50, False), (10, True), (40, True), (30, False), (20, False), (60, True), (5, False)]
    frags = capture(client, world, specs)
    expected = sorted(zip(specs, frags, strict=True), key=lambda p: (not p[0][1], p[0][0]))
    want = [f["id"] for _, f in expected]
    for limit in (1, 2, 3, 50):
        assert walk_with(client, world, limit, order="newest") == want, limit
    assert client.get(queue_url(world, order="sideways"), headers=world.headers("coordinator")).status_code == 422


def test_filters_narrow_the_queue_by_flag_place_researcher_and_date(client, world) -> None:
    old = capture(client, world, [(60 * 24 * 3, False), (60 * 24 * 3 + 1, True)])  # three days ago
    conv = conversation_item(world, place_id=str(world.places[1].id))
    consent = consent_item(world, conv["id"])
    here = fragment_item(conv["id"], consent["id"], text="in Devonport", captured_at=now_iso(timedelta(minutes=-5)))
    sync(client, world, [conv, consent, here])
    ids = {f["id"] for f in old} | {here["id"]}
    assert set(walk_with(client, world, 2, sensitive="true")) == {old[1]["id"]}
    assert set(walk_with(client, world, 2, sensitive="false")) == {old[0]["id"], here["id"]}
    assert walk_with(client, world, 2, place=world.places[1].id) == [here["id"]]
    assert set(walk_with(client, world, 2, researcher=world.researcher.id)) == ids
    assert walk_with(client, world, 2, researcher=world.coordinator.id) == []
    day = now_iso(timedelta(days=-1)).replace("+", "%2B")
    assert walk_with(client, world, 2, captured_after=day) == [here["id"]]
    assert set(walk_with(client, world, 2, captured_before=day)) == {f["id"] for f in old}
    page = client.get(queue_url(world, place=world.places[1].id), headers=world.headers("coordinator")).json()
    assert page["counts"] == {"unreviewed": 3, "sensitive": 1, "more": False}  # the whole queue, unfiltered


def test_counts_stop_at_a_thousand(client, world, monkeypatch) -> None:
    from api.fragments import review

    monkeypatch.setattr(review, "COUNT_LIMIT", 2)
    capture(client, world, [(30, False), (20, True), (10, False)])
    page = client.get(queue_url(world), headers=world.headers("coordinator")).json()
    assert page["counts"] == {"unreviewed": 2, "sensitive": 1, "more": True}


def test_a_card_context_names_the_researcher_the_participant_and_the_scopes(client, world, session) -> None:
    frags = capture(client, world, [(30, False)])
    other = make_world(session)
    foreign = capture(client, other, [(10, False)])
    url = f"/api/v1/projects/{world.project.id}/fragment-context?ids={frags[0]['id']}&ids={foreign[0]['id']}"
    r = client.get(url, headers=world.headers("coordinator"))
    assert r.status_code == 200
    assert r.json() == [{"fragment_id": frags[0]["id"], "researcher_id": str(world.researcher.id),
                         "researcher": world.researcher.display_name or world.researcher.email,
                         "participant_label": "P-4KQ7", "scopes": ["quote", "share"]}]
    assert client.get(url, headers=world.headers("researcher")).status_code == 403
