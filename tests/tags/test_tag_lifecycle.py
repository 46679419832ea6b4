"""A tag's life: counts in the codebook, how tags co-occur, and deleting one (preview, children, feed, audit)."""

from typing import Any

import pytest
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from tests.factories import World, make_world
from tests.tags.test_tags import codebook, deliveries, follow, fragments, hook, new_tag, tag_ids


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def tag(client: Any, world: World, fid: str, tid: str) -> None:
    assert client.put(f"/api/v1/fragments/{fid}/tags/{tid}", headers=world.headers("coordinator")).status_code == 204


def test_counts_give_each_tag_its_own_and_its_subtree_counting_a_fragment_once(client, world) -> None:
    parent = str(world.tag.id)
    a, b = new_tag(client, world, "buses", parent), new_tag(client, world, "trains", parent)
    fids = fragments(client, world, 4)
    tag(client, world, fids[0], a)
    tag(client, world, fids[0], b)  # one fragment under two children: once in the parent's total
    tag(client, world, fids[1], b)
    tag(client, world, fids[2], parent)
    r = client.get(f"/api/v1/projects/{world.project.id}/tag-counts", headers=world.headers("coordinator"))
    got = {c["tag_id"]: (c["own"], c["with_children"]) for c in r.json()}
    assert got == {parent: (1, 3), a: (1, 1), b: (2, 2)}


def test_cooccurrence_counts_the_fragments_two_tags_share(client, world) -> None:
    x, y, z = str(world.tag.id), new_tag(client, world, "buses"), new_tag(client, world, "lonely")
    fids = fragments(client, world, 3)
    for fid in fids:
        tag(client, world, fid, x)
    tag(client, world, fids[0], y)
    tag(client, world, fids[1], y)
    tag(client, world, fids[1], z)
    r = client.get(f"/api/v1/projects/{world.project.id}/tag-cooccurrence?top=2",
                   headers=world.headers("coordinator"))
    body = r.json()
    assert [t["tag_id"] for t in body["tags"]] == [x, y]  # the two most used, most used first
    assert [({p["a"], p["b"]}, p["fragments"]) for p in body["pairs"]] == [({x, y}, 2)]
    r = client.get(f"/api/v1/projects/{world.project.id}/tag-cooccurrence", headers=world.headers("coordinator"))
    assert sorted(p["fragments"] for p in r.json()["pairs"]) == [1, 1, 2]
    assert client.get(f"/api/v1/projects/{world.project.id}/tag-cooccurrence?top=1",
                      headers=world.headers("coordinator")).status_code == 422


def test_deleting_a_tag_previews_then_lifts_children_and_untags_fragments(client, world, session) -> None:
    h = world.headers("coordinator")
    top = new_tag(client, world, "transport")
    victim = new_tag(client, world, "buses", top)
    child = new_tag(client, world, "night buses", victim)
    fids = fragments(client, world, 3)
    tag(client, world, fids[0], victim)
    tag(client, world, fids[1], victim)
    tag(client, world, fids[1], child)
    tag(client, world, fids[2], child)
    r = client.get(f"/api/v1/tags/{victim}/deletion-preview", headers=h)
    assert r.json() == {"fragments": 2, "children": 1, "descendants": 1, "fragments_with_descendants": 3}
    _, last = follow(client, world)
    hook(client, world)
    r = client.delete(f"/api/v1/tags/{victim}", headers=h)
    assert r.status_code == 200 and r.json() == {"deleted": 1, "fragments": 2, "moved": 1}
    book = codebook(client, world)
    assert victim not in book and book[child]["parent_id"] == top
    assert tag_ids(client, world, fids[0]) == [] and tag_ids(client, world, fids[1]) == [child]
    changes, _ = follow(client, world, last)
    seen = {(c["entity"], c["id"], c["op"]) for c in changes}
    assert {("tag", victim, "tombstone"), ("tag", child, "upsert"), ("fragment", fids[0], "upsert"),
            ("fragment", fids[1], "upsert")} <= seen
    assert ("fragment", fids[2], "upsert") not in seen
    assert {("tag.changed", "fragment", fids[0]), ("tag.changed", "fragment", fids[1]),
            ("tag.changed", "tag", victim)} <= set(deliveries(session))
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "tag.delete")).one()
    assert (entry.entity_id, entry.actor_id, entry.detail["fragments"], entry.detail["moved"]) == (
        victim, world.coordinator.id, 2, 1)


def test_deleting_a_tag_with_its_children_takes_the_whole_subtree(client, world) -> None:
    h = world.headers("coordinator")
    victim = new_tag(client, world, "buses")
    child = new_tag(client, world, "night buses", victim)
    grandchild = new_tag(client, world, "last bus", child)
    fids = fragments(client, world, 1)
    tag(client, world, fids[0], grandchild)
    r = client.delete(f"/api/v1/tags/{victim}?children=delete", headers=h)
    assert r.json() == {"deleted": 3, "fragments": 1, "moved": 0}
    assert not {victim, child, grandchild} & set(codebook(client, world))
    assert tag_ids(client, world, fids[0]) == []
    assert client.delete(f"/api/v1/tags/{victim}", headers=h).status_code == 404
    assert client.delete(f"/api/v1/tags/{world.tag.id}?children=nope", headers=h).status_code == 422


def test_undo_deletes_a_tag_only_while_nothing_uses_it(client, world) -> None:
    h = world.headers("coordinator")
    used, unused = new_tag(client, world, "used"), new_tag(client, world, "tloneliness at night")
    tag(client, world, fragments(client, world, 1)[0], used)
    r = client.delete(f"/api/v1/tags/{used}?if_unused=true", headers=h)
    assert r.status_code == 409 and r.json()["code"] == "tag_in_use"
    assert used in codebook(client, world)
    assert client.delete(f"/api/v1/tags/{unused}?if_unused=true", headers=h).status_code == 200
    assert unused not in codebook(client, world)


def test_a_researcher_cannot_delete_or_count_tags(client, world) -> None:
    h = world.headers("researcher")
    assert client.delete(f"/api/v1/tags/{world.tag.id}", headers=h).status_code == 403
    assert client.get(f"/api/v1/projects/{world.project.id}/tag-counts", headers=h).status_code == 403
    assert str(world.tag.id) in codebook(client, world)
