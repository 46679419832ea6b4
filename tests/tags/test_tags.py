"""The codebook's tree (rename, move, merge) and tagging many fragments at once."""

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from api.tags.models import FragmentTag, Tag
from api.webhooks.models import WebhookDelivery
from tests.factories import World, bearer, capture_batch, make_world, sync


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def new_tag(client: Any, world: World, name: str, parent: str | None = None) -> str:
    r = client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": name, "parent_id": parent},
                    headers=world.headers("coordinator"))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def fragments(client: Any, world: World, n: int) -> list[str]:
    items = capture_batch(world, n)
    assert sync(client, world, items).status_code == 200
    return [i["id"] for i in items[2:]]


def codebook(client: Any, world: World) -> dict[str, dict[str, Any]]:
    r = client.get(f"/api/v1/projects/{world.project.id}/tags", headers=world.headers("coordinator"))
    return {t["id"]: t for t in r.json()}


def tag_ids(client: Any, world: World, fid: str) -> list[str]:
    return sorted(client.get(f"/api/v1/fragments/{fid}", headers=world.headers("coordinator")).json()["tag_ids"])


def follow(client: Any, world: World, after: int = 0) -> tuple[list[dict[str, Any]], int]:
    out = []
    while True:
        page = client.get(f"/api/v1/changes?after={after}&limit=50", headers=world.headers("coordinator")).json()
        out += page["items"]
        after = page["last_seq"]
        if not page["has_more"]:
            return out, after


def hook(client: Any, world: World) -> None:
    r = client.post(f"/api/v1/projects/{world.project.id}/clients",
                    json={"name": "hook", "scopes": ["webhooks", "tags:read", "fragments:read"]},
                    headers=world.headers("coordinator"))
    r = client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/unused", "events": ["tag.changed"]},
                    headers=bearer(r.json()["token"]))
    assert r.status_code == 201, r.text


def deliveries(session: Session) -> list[tuple[str, str, str]]:
    session.rollback()
    return [(d.event, d.entity, str(d.entity_id)) for d in session.exec(select(WebhookDelivery))]


# --- rename and move ---------------------------------------------------------------------------------------

def test_a_tag_moves_renames_and_returns_to_the_top_level(client, world) -> None:
    h = world.headers("coordinator")
    parent = new_tag(client, world, "belonging")
    r = client.patch(f"/api/v1/tags/{world.tag.id}", json={"name": "loneliness", "parent_id": parent}, headers=h)
    assert r.status_code == 200 and r.json()["name"] == "loneliness" and r.json()["parent_id"] == parent
    r = client.patch(f"/api/v1/tags/{world.tag.id}", json={"parent_id": None}, headers=h)
    assert r.status_code == 200 and r.json()["parent_id"] is None and r.json()["name"] == "loneliness"


def test_a_tag_cannot_move_under_itself_or_a_descendant(client, world) -> None:
    h = world.headers("coordinator")
    child = new_tag(client, world, "child", str(world.tag.id))
    grandchild = new_tag(client, world, "grandchild", child)
    for parent in (str(world.tag.id), child, grandchild):
        r = client.patch(f"/api/v1/tags/{world.tag.id}", json={"parent_id": parent}, headers=h)
        assert r.status_code == 422 and r.json()["code"] == "tag_cycle", parent
    assert codebook(client, world)[str(world.tag.id)]["parent_id"] is None


def test_a_parent_from_another_project_is_refused(client, world, session) -> None:
    other = make_world(session)
    r = client.patch(f"/api/v1/tags/{world.tag.id}", json={"parent_id": str(other.tag.id)},
                     headers=world.headers("admin"))
    assert r.status_code == 422 and r.json()["code"] == "unknown_parent_tag"


def test_a_name_the_codebook_already_has_is_a_conflict(client, world) -> None:
    parent = new_tag(client, world, "belonging")
    new_tag(client, world, "hope", parent)
    moved = new_tag(client, world, "moved", parent)
    r = client.patch(f"/api/v1/tags/{moved}", json={"name": "hope"}, headers=world.headers("coordinator"))
    assert r.status_code == 409 and r.json()["code"] == "tag_exists"
    r = client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": "hope"},
                    headers=world.headers("coordinator"))
    assert r.status_code == 409 and r.json()["code"] == "tag_exists"


# --- merge -------------------------------------------------------------------------------------------------

def test_merge_moves_fragments_without_doubles_and_children_then_deletes_the_source(client, world, session) -> None:
    h = world.headers("coordinator")
    target = new_tag(client, world, "loneliness")
    source = str(world.tag.id)
    child = new_tag(client, world, "evenings", source)
    both, only_source, only_target = fragments(client, world, 3)
    for fid, tid in ((both, source), (both, target), (only_source, source), (only_target, target)):
        assert client.put(f"/api/v1/fragments/{fid}/tags/{tid}", headers=h).status_code == 204
    r = client.post(f"/api/v1/tags/{source}/merge", json={"into": target}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == target and r.json()["name"] == "loneliness"
    tags = codebook(client, world)
    assert source not in tags and tags[child]["parent_id"] == target
    for fid in (both, only_source, only_target):
        assert tag_ids(client, world, fid) == [target]
    session.rollback()
    assert session.exec(select(sa.func.count()).select_from(FragmentTag)).one() == 3
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "tag.merge")).one()
    assert entry.entity_id == source and entry.actor_id == world.coordinator.id
    assert entry.detail == {"into": target, "fragments": 2, "children": 1}  # no name: the audit keeps no words


def test_a_parent_merged_into_its_child_leaves_the_child_in_its_place(client, world) -> None:
    h = world.headers("coordinator")
    top = new_tag(client, world, "top")
    client.patch(f"/api/v1/tags/{world.tag.id}", json={"parent_id": top}, headers=h)
    child = new_tag(client, world, "child", str(world.tag.id))
    sibling = new_tag(client, world, "sibling", str(world.tag.id))
    grandchild = new_tag(client, world, "grandchild", child)
    r = client.post(f"/api/v1/tags/{world.tag.id}/merge", json={"into": child}, headers=h)
    assert r.status_code == 200 and r.json()["parent_id"] == top
    tags = codebook(client, world)
    assert tags[sibling]["parent_id"] == child and tags[grandchild]["parent_id"] == child
    assert str(world.tag.id) not in tags


def test_merge_into_itself_or_another_projects_tag_is_refused(client, world, session) -> None:
    other = make_world(session)
    h = world.headers("admin")
    r = client.post(f"/api/v1/tags/{world.tag.id}/merge", json={"into": str(world.tag.id)}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "tag_cycle"
    r = client.post(f"/api/v1/tags/{world.tag.id}/merge", json={"into": str(other.tag.id)}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "unknown_tag"
    assert str(world.tag.id) in codebook(client, world)


def test_a_feed_follower_ends_with_the_merged_tags(client, world, session) -> None:
    h = world.headers("coordinator")
    target = new_tag(client, world, "loneliness")
    child = new_tag(client, world, "evenings", str(world.tag.id))
    fids = fragments(client, world, 3)
    for fid in fids[:2]:
        client.put(f"/api/v1/fragments/{fid}/tags/{world.tag.id}", headers=h)
    client.put(f"/api/v1/fragments/{fids[1]}/tags/{target}", headers=h)
    # The follower's copy, brought up to date from the feed alone.
    copy: dict[tuple[str, str], dict[str, Any] | None] = {}

    def apply(changes: list[dict[str, Any]]) -> None:
        for c in changes:
            copy[(c["entity"], c["id"])] = c["record"] if c["op"] == "upsert" else None

    changes, last = follow(client, world)
    apply(changes)
    assert copy[("fragment", fids[0])]["tag_ids"] == [str(world.tag.id)]
    hook(client, world)
    assert client.post(f"/api/v1/tags/{world.tag.id}/merge", json={"into": target}, headers=h).status_code == 200
    changes, _ = follow(client, world, last)
    apply(changes)
    assert {(c["entity"], c["id"]) for c in changes} >= {("fragment", fids[0]), ("fragment", fids[1]),
                                                         ("tag", str(world.tag.id)), ("tag", child)}
    assert ("fragment", fids[2]) not in {(c["entity"], c["id"]) for c in changes}  # untouched, not re-sent
    assert copy[("fragment", fids[0])]["tag_ids"] == [target]
    assert copy[("fragment", fids[1])]["tag_ids"] == [target]
    assert copy[("tag", str(world.tag.id))] is None
    assert copy[("tag", child)]["parent_id"] == target
    got = deliveries(session)
    assert {("tag.changed", "fragment", fids[0]), ("tag.changed", "fragment", fids[1]),
            ("tag.changed", "tag", str(world.tag.id)), ("tag.changed", "tag", child)} <= set(got)


# --- many fragments at once --------------------------------------------------------------------------------

def test_bulk_tagging_adds_and_removes_and_counts_only_real_changes(client, world, session) -> None:
    h = world.headers("coordinator")
    fids = fragments(client, world, 4)
    client.put(f"/api/v1/fragments/{fids[3]}/tags/{world.tag.id}", headers=h)
    url = f"/api/v1/tags/{world.tag.id}/fragments"
    r = client.post(url, json={"add": fids[:3] + [fids[0]], "remove": [fids[3]]}, headers=h)
    assert r.status_code == 200 and r.json() == {"added": 3, "removed": 1}
    assert [tag_ids(client, world, f) for f in fids] == [[str(world.tag.id)]] * 3 + [[]]
    r = client.post(url, json={"add": fids[:1], "remove": [fids[3]]}, headers=h)
    assert r.json() == {"added": 0, "removed": 0}
    session.rollback()
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "tag.fragments")).all()
    assert [(e.entity_id, e.actor_id, e.detail) for e in entries] == [
        (str(world.tag.id), world.coordinator.id, {"added": fids[:3], "removed": [fids[3]]})]


def test_bulk_tagging_is_seen_by_feed_followers_and_webhooks(client, world, session) -> None:
    hook(client, world)
    fids = fragments(client, world, 2)
    _, last = follow(client, world)
    r = client.post(f"/api/v1/tags/{world.tag.id}/fragments", json={"add": fids},
                    headers=world.headers("coordinator"))
    assert r.status_code == 200
    changes, _ = follow(client, world, last)
    assert {c["id"]: c["record"]["tag_ids"] for c in changes} == {f: [str(world.tag.id)] for f in fids}
    assert sorted(e for e in deliveries(session) if e[1] == "fragment") == sorted(
        ("tag.changed", "fragment", f) for f in fids)


def test_one_bad_fragment_fails_the_whole_batch(client, world, session) -> None:
    import uuid

    other = make_world(session)
    h = world.headers("admin")
    mine = fragments(client, world, 3)
    theirs = fragments(client, other, 1)
    items = capture_batch(world, 1)
    sync(client, world, items)
    assert client.post(f"/api/v1/consents/{items[1]['id']}/withdraw", json={}, headers=h).status_code == 200
    erased, unknown = items[2]["id"], str(uuid.uuid4())
    for bad in (theirs[0], erased, unknown):
        for body in ({"add": [*mine, bad]}, {"add": mine, "remove": [bad]}):
            r = client.post(f"/api/v1/tags/{world.tag.id}/fragments", json=body, headers=h)
            assert r.status_code == 422 and r.json()["code"] == "bad_fragments", r.text
            assert r.json()["ids"] == [bad]
    session.rollback()
    assert session.exec(select(FragmentTag)).all() == []
    r = client.post(f"/api/v1/tags/{world.tag.id}/fragments", json={"add": mine[:1], "remove": mine[:1]}, headers=h)
    assert r.status_code == 422
    r = client.post(f"/api/v1/tags/{world.tag.id}/fragments", json={"add": mine * 200}, headers=h)
    assert r.status_code == 422  # over 500 ids


def test_bulk_tagging_costs_the_same_number_of_queries_for_many_fragments(client, world, engine) -> None:
    h = world.headers("coordinator")
    small, large = fragments(client, world, 3), fragments(client, world, 120)
    tag = new_tag(client, world, "counted")

    def statements(body: dict[str, list[str]]) -> int:
        seen: list[str] = []

        def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
            # The statements that would repeat per fragment (a new pooled connection's set-up may come or not).
            if any(t in statement for t in ("fragment", "changes", "audit_log", "webhook")):
                seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            r = client.post(f"/api/v1/tags/{tag}/fragments", json=body, headers=h)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert r.status_code == 200, r.text
        return len(seen)

    assert statements({"add": large}) == statements({"add": small})
    assert statements({"remove": large}) == statements({"remove": small})


def test_a_tag_in_the_database_keeps_its_project(session, world) -> None:
    # Merge and bulk tagging rely on tags never changing project: nothing in TagUpdate may move one.
    from api.tags.models import TagUpdate

    assert "project_id" not in TagUpdate.model_fields
    assert session.get(Tag, world.tag.id).project_id == world.project.id
