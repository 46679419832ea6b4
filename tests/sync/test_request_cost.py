"""What a /sync costs the database, counted in statements: a one-record sync (a phone syncing as it captures) sends
a small fixed number, and a batch of many records sends no more than a batch of one, so a lookup per item or per
request that creeps back fails here rather than on every phone's sync in production."""

from collections.abc import Callable
from datetime import timedelta

import anyio.to_thread
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, select

from api.db import utcnow
from api.people.models import AuthToken
from api.people.security import digest
from tests.factories import World, capture_batch, make_world, sync

# BEGIN, the token, the ids held already, the conversation, the consent, the project with the caller's role and
# training, the insert, the webhook endpoints, the new change rows (the token's last sync is written once a minute);
# PostgreSQL sends no BEGIN of its own and adds the feed's advisory lock. No savepoint: a concurrent replay's
# collision rolls the request back and checks again (tests/sync/test_replay_race.py).
MOST = {"sqlite": 9, "postgresql": 9}


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def statements_of(engine: sa.Engine, send: Callable[[], object]) -> list[str]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(" ".join(statement.split())[:120])

    event.listen(engine, "before_cursor_execute", record)
    try:
        send()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def created(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [r["status"] for r in response.json()["results"]]


def test_a_one_record_sync_sends_a_fixed_few_statements(client, world, engine, backend) -> None:
    conv, consent, fragment = capture_batch(world, 1)
    assert created(sync(client, world, [conv, consent])) == ["created", "created"]
    results: list[list[str]] = []
    seen = statements_of(engine, lambda: results.append(created(sync(client, world, [fragment]))))
    assert results == [["created"]]
    assert len(seen) <= MOST[backend], "\n".join(seen)


def hops_of(monkeypatch: pytest.MonkeyPatch, send: Callable[[], object]) -> list[str]:
    """What `send` ran in worker threads, one entry a hop."""
    hops: list[str] = []
    hop = anyio.to_thread.run_sync

    async def counted(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        hops.append(getattr(func, "__qualname__", repr(func)))
        return await hop(func, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(anyio.to_thread, "run_sync", counted)
        send()
    return hops


def test_what_every_phone_calls_takes_two_hops_to_a_worker_thread(client, world, monkeypatch) -> None:
    """Authentication, then the handler, which commits and writes the answer itself (api.db.answered_here). Each hop
    costs the event loop and a thread's wake-up, and every phone pays it at every sync and every minute's look at
    its erasures: get_session's commit and FastAPI's check of the answer against the response model took two
    more."""
    conv, consent, fragment = capture_batch(world, 1)
    assert created(sync(client, world, [conv, consent])) == ["created", "created"]
    results: list[list[str]] = []
    assert len(hops_of(monkeypatch, lambda: results.append(created(sync(client, world, [fragment]))))) == 2
    assert results == [["created"]]
    looks: list[int] = []
    assert len(hops_of(monkeypatch, lambda: looks.append(
        client.get("/api/v1/sync/erased", headers=world.headers("researcher")).status_code))) == 2
    assert looks == [200]


def test_a_batch_of_many_records_sends_no_more_statements_than_a_batch_of_one(client, world, engine) -> None:
    one, many = capture_batch(world, 1), capture_batch(world, 40)
    results: list[list[str]] = []
    sync(client, world, capture_batch(world, 1))  # the token's last sync written: neither batch below writes it
    seen_one = statements_of(engine, lambda: results.append(created(sync(client, world, one))))
    seen_many = statements_of(engine, lambda: results.append(created(sync(client, world, many))))
    assert results == [["created"] * 3, ["created"] * 42]
    assert len(seen_many) == len(seen_one), "\n".join(seen_many)



def test_a_phone_syncing_as_it_captures_writes_its_tokens_last_sync_once_a_minute(client, world, engine,
                                                                                  session) -> None:
    def touches(items: list) -> int:  # type: ignore[type-arg]
        seen = statements_of(engine, lambda: sync(client, world, items))
        return sum(statement.startswith("UPDATE auth_tokens") for statement in seen)

    token_id = session.exec(select(AuthToken.id).where(
        AuthToken.token_hash == digest(world.tokens["researcher"]))).one()
    assert touches(capture_batch(world, 1)) == 1
    assert touches(capture_batch(world, 1)) == 0  # a moment later: the minute it shows has not changed
    a_while_ago = utcnow() - timedelta(minutes=2)
    session.rollback()  # a new transaction: the one that read the token began before those syncs wrote
    session.execute(sa.update(AuthToken).where(AuthToken.id == token_id).values(last_sync_at=a_while_ago))
    session.commit()
    assert touches(capture_batch(world, 1)) == 1
    session.rollback()  # (reading the world for that batch began a transaction before the sync)
    assert session.get(AuthToken, token_id).last_sync_at > a_while_ago
