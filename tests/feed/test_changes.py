"""GET /changes: a strictly increasing sequence a follower can trust, also under concurrent writers."""

import random
import threading
import time

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from api.db import open_session
from api.people.deps import Actor
from api.people.models import AuthToken
from api.people.security import digest
from api.sync import service as sync_service
from tests.factories import World, capture_batch, make_token, make_world, sync


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def follow(client, world: World, who: str = "coordinator", limit: int = 200) -> list[dict]:  # type: ignore[no-untyped-def]
    after, out = 0, []
    while True:
        page = client.get(f"/api/v1/changes?after={after}&limit={limit}", headers=world.headers(who)).json()
        out += page["items"]
        after = page["last_seq"]
        if not page["has_more"]:
            return out


def test_every_create_update_tag_change_and_withdrawal_appears_in_order(client, world) -> None:
    items = capture_batch(world, 2)
    sync(client, world, items)
    h = world.headers("coordinator")
    fid = items[2]["id"]
    client.put(f"/api/v1/fragments/{fid}/tags/{world.tag.id}", headers=h)
    changes = follow(client, world)
    seqs = [c["seq"] for c in changes]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    latest = {c["id"]: c for c in changes}
    assert latest[fid]["record"]["tag_ids"] == [str(world.tag.id)]
    assert latest[fid]["seq"] == max(seqs)  # the tag change moved it to the end
    client.post(f"/api/v1/consents/{items[1]['id']}/withdraw", headers=h)
    after = follow(client, world)
    assert {c["id"]: c["op"] for c in after}[fid] == "tombstone"
    assert min(c["seq"] for c in after if c["op"] == "tombstone") > max(seqs)


def test_pages_of_any_size_give_the_same_feed(client, world) -> None:
    sync(client, world, capture_batch(world, 7))
    whole = follow(client, world)
    for size in (1, 2, 3, 5):
        assert follow(client, world, limit=size) == whole


def test_a_researcher_follows_only_their_own_records(client, world, session) -> None:
    from api.projects.models import Role
    from tests.factories import add_member, make_token, make_user

    mine = capture_batch(world, 1)
    sync(client, world, mine)
    other = make_user(session)
    add_member(session, world.project, other, Role.researcher)
    world.tokens["other"] = make_token(session, other)
    sync(client, world, capture_batch(world, 1), who="other")
    seen = {c["id"] for c in follow(client, world, who="researcher")}
    assert seen == {i["id"] for i in mine}


def test_a_follower_misses_nothing_while_writers_commit_concurrently(client, world, session, backend) -> None:
    """Writers commit batches in parallel; a follower polling all the while must end up with every record.
    (Sequence numbers handed out at insert time but committed out of order would make it skip some.)"""
    # One token per writer: they would otherwise queue on that token's row (its last_sync_at).
    tokens = [session.exec(select(AuthToken).where(
        AuthToken.token_hash == digest(make_token(session, world.researcher)))).one() for _ in range(4)]
    written: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(token: AuthToken) -> None:
        for _ in range(8):
            items = capture_batch(world, 3)
            with open_session() as s:
                s.info["dawdle"] = True
                sync_service.process(s, Actor(user=world.researcher, token=s.merge(token)), "w", items)
                s.commit()
            with lock:
                written.extend(i["id"] for i in items)

    seen: dict[str, int] = {}
    last = 0

    def follower() -> None:
        nonlocal last
        while True:
            done = stop.is_set()
            page = client.get(f"/api/v1/changes?after={last}&limit=50", headers=world.headers("coordinator")).json()
            for c in page["items"]:
                assert c["seq"] > last
                seen[c["id"]] = c["seq"]
                last = c["seq"]
            if done and not page["has_more"]:
                return

    def dawdle(s: Session) -> None:
        # Widen the gap between taking sequence numbers and committing, where a careless feed loses rows.
        if s.info.get("dawdle"):
            time.sleep(random.uniform(0, 0.03))

    event.listen(Session, "before_commit", dawdle)
    threads = [threading.Thread(target=writer, args=(t,)) for t in tokens]
    reader = threading.Thread(target=follower)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    reader.join(timeout=60)
    event.remove(Session, "before_commit", dawdle)
    assert set(written) == set(seen)
    assert len(written) == 4 * 8 * 5



def test_the_feed_shows_a_fragment_exactly_as_get_does(client, world) -> None:
    """The feed renders records straight from SQL for speed; it must agree with GET /fragments/{id} field by field."""
    items = capture_batch(world, 1)
    items[2]["data"].update(answers={"belong": 40, "mood": "mixed"}, sensitive=True, text="“Quoted” — naïve\nline")
    sync(client, world, items)
    h = world.headers("coordinator")
    fid = items[2]["id"]
    second = client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": "second"}, headers=h).json()
    for tag_id in (world.tag.id, second["id"]):
        assert client.put(f"/api/v1/fragments/{fid}/tags/{tag_id}", headers=h).status_code == 204
    client.patch(f"/api/v1/fragments/{fid}", json={"reviewed": True}, headers={**h, "If-Match": "1"})
    from_get = client.get(f"/api/v1/fragments/{fid}", headers=h).json()
    from_feed = {c["id"]: c for c in follow(client, world)}[fid]["record"]
    assert from_feed == from_get


def test_the_feed_shows_a_fragment_with_its_audio_exactly_as_get_does(client, world) -> None:
    from tests.media.helpers import audio_fragment, upload, wav_bytes

    fid = audio_fragment(client, world)[2]["id"]
    assert upload(client, world.headers("researcher"), fid, wav_bytes(1)).status_code == 204
    from_get = client.get(f"/api/v1/fragments/{fid}", headers=world.headers("coordinator")).json()
    assert from_get["audio"] is not None
    assert {c["id"]: c for c in follow(client, world)}[fid]["record"] == from_get
