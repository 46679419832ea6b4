"""The same batch sent twice at once (a phone that timed out and tried again while its first request still ran):
each record is stored once, and both answers say so. On PostgreSQL the two can both find an id free and both
insert it; the loser's insert fails on the primary key and it checks again."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, col, func, select

from api.db import open_session
from api.fragments.models import Fragment
from api.people.deps import Actor
from api.people.models import AuthToken
from api.people.security import digest
from api.sync import service
from tests.factories import World, capture_batch, make_world
from tests.support.locks import held_at


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite has one writer: the second waits for the first
def test_the_same_batch_sent_twice_at_once_is_stored_once(world, session, backend, monkeypatch) -> None:
    items = capture_batch(world, 2)

    def send() -> list[str]:
        with open_session() as s:
            token = s.exec(select(AuthToken).where(AuthToken.token_hash == digest(world.tokens["researcher"]))).one()
            results = service.store(s, Actor(user=world.researcher, token=token), "test-phone", items)
            s.commit()
            return [r.status for r in results]

    # The first request has found every id free, then waits while the second stores them all.
    checked, go_on = held_at(monkeypatch, service, "_preload")
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(send)
        assert checked.wait(20)
        assert pool.submit(send).result(20) == ["created"] * 4
        go_on.set()
        assert first.result(20) == ["duplicate"] * 4
    ids = [item["id"] for item in items if item["type"] == "fragment"]
    assert session.exec(select(func.count()).select_from(Fragment).where(col(Fragment.id).in_(ids))).one() == 2
