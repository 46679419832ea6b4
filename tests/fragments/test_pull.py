"""GET /fragments: filters, search, stable cursor pages, rights; PATCH with a version check."""

import base64
import json
import uuid
from datetime import timedelta

import pytest
from sqlmodel import Session

from api.projects.models import Role
from tests.factories import (
    World,
    add_member,
    capture_batch,
    consent_item,
    conversation_item,
    fragment_item,
    make_token,
    make_user,
    make_world,
    now_iso,
    sync,
)


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def ids(page: dict) -> list[str]:
    return [f["id"] for f in page["items"]]


def test_pages_follow_capture_order_and_stay_correct_while_fragments_arrive(client, world) -> None:
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"])
    frags = [fragment_item(conv["id"], consent["id"], captured_at=now_iso(timedelta(minutes=-100 + i)))
             for i in range(25)]
    sync(client, world, [conv, consent, *frags])
    headers = world.headers("coordinator")
    seen: list[str] = []
    url = f"/api/v1/fragments?project_id={world.project.id}&limit=10"
    page = client.get(url, headers=headers).json()
    seen += ids(page)
    late = fragment_item(conv["id"], consent["id"], captured_at=now_iso(timedelta(minutes=-1)))
    sync(client, world, [late])  # arrives while the reader is paging
    while page["next_cursor"]:
        page = client.get(url + f"&cursor={page['next_cursor']}", headers=headers).json()
        seen += ids(page)
    assert seen == [f["id"] for f in frags] + [late["id"]]


def test_filters_combine(client, world) -> None:
    a = conversation_item(world, place_id=str(world.places[0].id))
    b = conversation_item(world, place_id=str(world.places[1].id))
    ca, cb = consent_item(world, a["id"]), consent_item(world, b["id"])
    fa = fragment_item(a["id"], ca["id"], kind="paraphrase", text="the bus stopped coming",
                       prompt_id=str(world.prompts[1].id))
    fb = fragment_item(b["id"], cb["id"], kind="quote", text="the bus is my lifeline")
    fc = fragment_item(b["id"], cb["id"], kind="observation", text="a quiet street", sensitive=True)
    sync(client, world, [a, b, ca, cb, fa, fb, fc])
    h = world.headers("coordinator")
    base = f"/api/v1/fragments?project_id={world.project.id}"
    assert ids(client.get(f"{base}&place={world.places[1].id}", headers=h).json()) == [fb["id"], fc["id"]]
    assert ids(client.get(f"{base}&q=bus&kind=quote", headers=h).json()) == [fb["id"]]
    assert ids(client.get(f"{base}&prompt_id={world.prompts[1].id}", headers=h).json()) == [fa["id"]]
    assert ids(client.get(f"{base}&sensitive=true", headers=h).json()) == [fc["id"]]
    assert ids(client.get(f"{base}&q=lifel*", headers=h).json()) == [fb["id"]]  # prefix search
    client.put(f"/api/v1/fragments/{fa['id']}/tags/{world.tag.id}", headers=h)
    assert ids(client.get(f"{base}&tag={world.tag.id}", headers=h).json()) == [fa["id"]]
    after = client.get(f"{base}&captured_after={fb['data']['captured_at'].replace('+', '%2B')}", headers=h).json()
    assert set(ids(after)) == {fb["id"], fc["id"]}  # made in that order, moments apart


@pytest.mark.parametrize("q", ['"', "AND OR NOT", "bus*", "(", "NEAR(a b)", "col:bus", "'; DROP TABLE fragments;--"])
def test_any_search_text_answers_without_error(client, world, q) -> None:
    sync(client, world, capture_batch(world, 2, text="bus"))
    r = client.get("/api/v1/fragments", params={"project_id": str(world.project.id), "q": q},
                   headers=world.headers("coordinator"))
    assert r.status_code in (200, 422), r.text


def test_a_researcher_sees_only_their_own_fragments(client, world, session) -> None:
    mine = capture_batch(world, 2)
    sync(client, world, mine)
    other = make_user(session)
    add_member(session, world.project, other, Role.researcher)
    world.tokens["other"] = make_token(session, other)
    theirs = capture_batch(world, 1)
    sync(client, world, theirs, who="other")
    r = client.get(f"/api/v1/fragments?project_id={world.project.id}", headers=world.headers("researcher")).json()
    assert set(ids(r)) == {mine[2]["id"], mine[3]["id"]}
    assert client.get(f"/api/v1/fragments/{theirs[2]['id']}", headers=world.headers("researcher")).status_code == 404
    everything = client.get("/api/v1/fragments", headers=world.headers("researcher")).json()
    assert set(ids(everything)) == {mine[2]["id"], mine[3]["id"]}
    coordinator = client.get(f"/api/v1/fragments?project_id={world.project.id}", headers=world.headers("coordinator"))
    assert len(ids(coordinator.json())) == 3


@pytest.mark.parametrize("cursor", ["bm9wZQ", *(base64.urlsafe_b64encode(json.dumps(
    ["2026-01-01T00:00:00+00:00", fid]).encode()).decode() for fid in (5, ["a"], {"a": 1}))])
def test_a_bad_cursor_is_a_clear_4xx(client, world, cursor) -> None:
    # An id that is no string once made uuid.UUID raise AttributeError: a 500.
    r = client.get(f"/api/v1/fragments?project_id={world.project.id}&cursor={cursor}",
                   headers=world.headers("coordinator"))
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"


def test_single_fragment_has_an_etag_and_answers_304_when_unchanged(client, world) -> None:
    items = capture_batch(world, 1)
    sync(client, world, items)
    url = f"/api/v1/fragments/{items[2]['id']}"
    h = world.headers("coordinator")
    r = client.get(url, headers=h)
    assert r.headers["ETag"].startswith('"1.')
    assert client.get(url, headers={**h, "If-None-Match": r.headers["ETag"]}).status_code == 304
    # A tag is no new version, but the answer changed: no 304 with the old tags.
    assert client.put(f"/api/v1/fragments/{items[2]['id']}/tags/{world.tag.id}", headers=h).status_code == 204
    changed = client.get(url, headers={**h, "If-None-Match": r.headers["ETag"]})
    assert changed.status_code == 200 and changed.json()["tag_ids"] == [str(world.tag.id)]
    # Its ETag works as If-Match for an edit.
    edit = client.patch(url, json={"text": "edited"}, headers={**h, "If-Match": changed.headers["ETag"]})
    assert edit.status_code == 200 and edit.headers["ETag"].startswith('"2.')


def test_edits_need_the_current_version_and_a_stale_one_gets_the_current_record(client, world) -> None:
    items = capture_batch(world, 1)
    sync(client, world, items)
    url = f"/api/v1/fragments/{items[2]['id']}"
    h = world.headers("researcher")
    assert client.patch(url, json={"text": "edited"}, headers=h).status_code == 412
    ok = client.patch(url, json={"text": "edited"}, headers={**h, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.json()["version"] == 2 and ok.headers["ETag"].startswith('"2.')
    stale = client.patch(url, json={"text": "again"}, headers={**h, "If-Match": '"1"'})
    assert stale.status_code == 409
    assert stale.json()["code"] == "version_conflict" and stale.json()["current"]["text"] == "edited"


def test_an_edit_gets_a_language_tag_checked(client, world) -> None:
    items = capture_batch(world, 1)
    sync(client, world, items)
    url = f"/api/v1/fragments/{items[2]['id']}"
    h = {**world.headers("researcher"), "If-Match": '"1"'}
    bad = client.patch(url, json={"language": "not a tag!"}, headers=h)
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    assert client.patch(url, json={"language": "pt-BR"}, headers=h).json()["language"] == "pt-BR"


def test_after_review_only_coordinators_edit(client, world) -> None:
    items = capture_batch(world, 1)
    sync(client, world, items)
    url = f"/api/v1/fragments/{items[2]['id']}"
    reviewed = client.patch(url, json={"reviewed": True}, headers={**world.headers("coordinator"), "If-Match": "1"})
    assert reviewed.status_code == 200 and reviewed.json()["reviewed_at"]
    r = client.patch(url, json={"text": "mine"}, headers={**world.headers("researcher"), "If-Match": "2"})
    assert r.status_code == 403
    r = client.patch(url, json={"text": "fixed typo"}, headers={**world.headers("coordinator"), "If-Match": "2"})
    assert r.status_code == 200


def test_an_edit_cannot_break_a_consent_rule(client, world) -> None:
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"], scopes=["share"])
    frag = fragment_item(conv["id"], consent["id"], kind="paraphrase")
    sync(client, world, [conv, consent, frag])
    r = client.patch(f"/api/v1/fragments/{frag['id']}", json={"kind": "quote"},
                     headers={**world.headers("researcher"), "If-Match": "1"})
    assert r.status_code == 422 and r.json()["code"] == "scope_missing"


def test_edits_are_audited_without_content(client, world, session) -> None:
    from sqlmodel import select

    from api.audit.models import AuditEntry

    items = capture_batch(world, 1)
    sync(client, world, items)
    client.patch(f"/api/v1/fragments/{items[2]['id']}", json={"text": "private words"},
                 headers={**world.headers("researcher"), "If-Match": "1"})
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "fragment.update")).one()
    assert entry.detail == {"fields": ["text"], "version": 2}
    assert uuid.UUID(entry.entity_id) == uuid.UUID(items[2]["id"])
