"""Requests that wait (long polls on the change feed; a workshop board's event streams) hold no worker thread and no
database connection while they wait: with more of them open at once than the server has threads or connections, a
phone's sync still answers while they all wait, and none of them fails. (Before, a session waiting for a thread to
end its transaction held a connection that every busy thread was waiting for: 500s after the pool's timeout.)"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.db import POOL_CONNECTIONS
from tests.factories import capture_batch, make_world
from tests.support.live_server import LiveServer
from tests.workshops.helpers import add, capture, make_workshop, set_state

POLLS, STREAMS = 45, 60  # uvicorn runs requests on 40 threads
assert POLLS + STREAMS > POOL_CONNECTIONS


def test_waiting_requests_hold_no_thread_and_a_sync_answers_while_they_wait(
        client, engine: Engine, session: Session, database_url: str, tmp_path) -> None:
    world = make_world(session)
    fragment, _ = capture(client, world, scopes=["quote", "share"])
    w = make_workshop(client, world, "mixed")
    add(client, world, w["id"], [fragment])
    set_state(client, world, w["id"], "ready")
    guest = {"Authorization": f"Bearer {client.post('/api/v1/join', json={'code': w['short_code']}).json()['token']}"}
    phone = world.headers("researcher")

    async def crowd(server: LiveServer) -> None:
        async with httpx.AsyncClient(base_url=server.api, timeout=60,
                                     limits=httpx.Limits(max_connections=POLLS + STREAMS + 10)) as http:
            waiting = [asyncio.create_task(http.get(path, params={**params, "wait": 10}, headers=headers))
                       for path, n, params, headers in (("/changes", POLLS, {"after": 2**60}, phone),
                                                        ("/board/events", STREAMS, {}, guest))
                       for _ in range(n)]
            await asyncio.sleep(3)  # every one of them is in and waiting
            synced = await http.post("/sync", json={"device_id": "p", "items": capture_batch(world, 1)}, headers=phone)
            assert synced.status_code == 200, synced.text
            done = [(i, t.result().status_code, t.result().text[:80]) for i, t in enumerate(waiting) if t.done()]
            assert done == [], "the sync answered only once they ended, or some of them failed"
            answers = await asyncio.gather(*waiting)
            assert {a.status_code for a in answers} == {200}, [a.text[:80] for a in answers if a.status_code != 200]

    # The crowd in a thread of its own, with its own event loop (another test's may be running in this one).
    with LiveServer(tmp_path / "server", env={"HEARKEN_DATABASE_URL": database_url}) as server, \
            ThreadPoolExecutor(1) as apart:
        apart.submit(asyncio.run, crowd(server)).result()
        assert "Traceback" not in server.log_path.read_text()


def test_a_turn_is_given_back_once_however_the_wait_for_it_again_ends() -> None:
    """A long poll gives up its turn while it sleeps; if its wait to take it back is cancelled (the server stopping),
    the turn must not be given back a second time, or more requests than the pool serves would hold sessions."""
    from api import db

    async def scene() -> int:
        turns = asyncio.Semaphore(1)
        turn = db._Turn(turns)
        await turn.take()

        class Session:
            info = {db._TURN: turn}

        async def long_poll() -> None:
            async with db.turn_given_up(Session()):  # type: ignore[arg-type]
                await asyncio.sleep(0.01)

        waiting = asyncio.create_task(long_poll())
        await asyncio.sleep(0.001)  # the poll has given up its turn and sleeps
        await turns.acquire()  # someone else takes it
        await asyncio.sleep(0.03)  # the poll wakes and waits to take it back...
        waiting.cancel()  # ...and is cancelled while it waits
        await asyncio.gather(waiting, return_exceptions=True)
        turn.give()  # what get_session does at the end
        turns.release()  # the other one ends
        return turns._value

    with ThreadPoolExecutor(1) as apart:  # a loop of its own (another test's may be running in this thread)
        assert apart.submit(asyncio.run, scene()).result() == 1
