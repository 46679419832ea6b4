"""Kill the server while large batches are in flight, restart it, replay: every record is there once."""

import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.factories import capture_batch, make_world
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.slow


def test_a_killed_server_loses_nothing_and_a_replay_doubles_nothing(engine: Engine, session: Session,
                                                                     database_url: str, tmp_path: Path) -> None:
    world = make_world(session)
    batches = [capture_batch(world, 400, text="a long account of the week " * 40) for _ in range(8)]
    headers = world.headers("researcher")
    server = LiveServer(tmp_path / "server", env={"HEARKEN_DATABASE_URL": database_url})
    server.start()
    answered: list[int] = []
    first_answered = threading.Event()

    def phone() -> None:
        with httpx.Client(base_url=server.api, headers=headers, timeout=30) as http:
            for i, items in enumerate(batches):
                try:
                    r = http.post("/sync", json={"device_id": "crash-phone", "items": items})
                    if r.status_code == 200:
                        answered.append(i)
                        first_answered.set()
                except httpx.HTTPError:
                    return  # the server died under us, as on a doorstep with a failing signal

    sender = threading.Thread(target=phone)
    sender.start()
    first_answered.wait(30)
    time.sleep(0.05)  # the next batch is on the wire or half-processed
    server.kill()
    sender.join(30)
    assert len(answered) < len(batches), "the kill came too late to interrupt anything"

    server.start()
    try:
        with httpx.Client(base_url=server.api, headers=headers, timeout=60) as http:
            for items in batches:
                r = http.post("/sync", json={"device_id": "crash-phone", "items": items})
                assert r.status_code == 200, r.text
                assert {x["status"] for x in r.json()["results"]} <= {"created", "duplicate"}
            for items in batches:  # and once more: nothing left to create
                r = http.post("/sync", json={"device_id": "crash-phone", "items": items})
                assert {x["status"] for x in r.json()["results"]} == {"duplicate"}
    finally:
        server.stop()
    with engine.connect() as conn:
        fragments = conn.execute(sa.text("SELECT count(*), count(DISTINCT id) FROM fragments")).one()
        changes = conn.execute(sa.text("SELECT count(*), count(DISTINCT entity_id) FROM changes "
                                       "WHERE entity = 'fragment'")).one()
    assert tuple(fragments) == (8 * 400, 8 * 400)
    assert tuple(changes) == (8 * 400, 8 * 400)
