"""Long polls on the change feed hold no worker thread while they wait: with more of them open than the server has
threads, a phone's sync still answers while they all wait. (Board event streams wait in the event loop too, but
sixty of them on a loaded 2-core machine still failed some requests: see the closing note of 2026-11-30.)"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.factories import capture_batch, make_world
from tests.support.live_server import LiveServer

POLLS = 45  # uvicorn runs requests on 40 threads


def test_long_polls_hold_no_thread_and_a_sync_answers_while_they_wait(
        engine: Engine, session: Session, database_url: str, tmp_path) -> None:
    world = make_world(session)
    phone = world.headers("researcher")

    async def crowd(server: LiveServer, path: str, n: int, params: dict, headers: dict) -> None:
        async with httpx.AsyncClient(base_url=server.api, timeout=60,
                                     limits=httpx.Limits(max_connections=n + 10)) as http:
            waiting = [asyncio.create_task(http.get(path, params={**params, "wait": 10}, headers=headers))
                       for _ in range(n)]
            await asyncio.sleep(2)  # every one of them is in and waiting
            synced = await http.post("/sync", json={"device_id": "p", "items": capture_batch(world, 1)}, headers=phone)
            assert synced.status_code == 200, synced.text
            done = [(i, t.result().status_code, t.result().text[:80]) for i, t in enumerate(waiting) if t.done()]
            assert done == [], "the sync answered only once they ended"
            for t in waiting:
                t.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)

    # Each crowd in a thread of its own, with its own event loop (another test's may be running in this one).
    with LiveServer(tmp_path / "server", env={"HEARKEN_DATABASE_URL": database_url}) as server, \
            ThreadPoolExecutor(1) as apart:
        apart.submit(asyncio.run, crowd(server, "/changes", POLLS, {"after": 2**60}, phone)).result()
