"""SQLite writers queue in the process, first come first served, and one that waited too long answers 503 with
Retry-After well before a phone gives up; under twenty phones at once every batch is stored and none is refused.
(The latency figures are in scripts/bench_writers.py, not here.)"""

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api.consent.models import Consent
from api.db import WriteQueue, open_session, write_queue
from api.errors import Busy
from api.fragments.models import Fragment
from api.logs import DropQueryStrings
from tests.factories import World, capture_batch, make_world, sync
from tests.support.locks import wait_until_it_waits


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def test_writers_are_served_in_the_order_they_came() -> None:
    queue = WriteQueue(wait_seconds=5)
    queue.acquire()
    order: list[int] = []
    threads = []
    for i in range(5):
        t = threading.Thread(target=lambda i=i: (queue.acquire(), order.append(i), queue.release()))
        t.start()
        threads.append(t)
        time.sleep(0.05)  # each has taken its ticket before the next comes
    queue.release()
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2, 3, 4]


def test_a_writer_that_waited_too_long_gives_up_and_the_queue_moves_on() -> None:
    queue = WriteQueue(wait_seconds=0.2)
    queue.acquire()
    with pytest.raises(Busy):
        queue.acquire()
    queue.release()
    queue.acquire()  # the abandoned ticket is skipped, not waited for
    queue.release()


@pytest.mark.parametrize("backend", ["sqlite"])  # PostgreSQL has no single writer: nothing queues there
def test_a_request_behind_a_long_writer_answers_503_with_retry_after(client, world, engine, backend,
                                                                     monkeypatch) -> None:
    queue = write_queue(engine)
    assert queue is not None
    monkeypatch.setattr(queue, "wait_seconds", 0.3)
    queue.acquire()  # a long write of this process holds the database
    try:
        r = sync(client, world, capture_batch(world, 1))
    finally:
        queue.release()
    assert r.status_code == 503 and r.json()["code"] == "busy" and r.headers["Retry-After"] == "2"
    again = sync(client, world, capture_batch(world, 1))
    assert again.status_code == 200 and {x["status"] for x in again.json()["results"]} == {"created"}


def test_the_access_log_keeps_no_query_strings() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/api/v1/fragments?q=Sandra+number+nine&label=P-4KQ7",
                                "1.1", 200), None)
    assert DropQueryStrings().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/v1/fragments HTTP/1.1" 200'


@pytest.mark.slow
def test_twenty_phones_at_once_are_all_stored_and_none_refused(tmp_path) -> None:
    from tests.e2e.helpers import make_world
    from tests.support.live_server import LiveServer, ok

    phones, batches, per_batch = 20, 3, 150
    with LiveServer(tmp_path / "server") as server:
        world = make_world(server)
        answers: list[int] = []
        stored: list[str] = []
        lock = threading.Lock()

        # Logged in one after another: twenty password hashes at once take longer than a login waits.
        sessions = [world.researcher() for _ in range(phones)]

        def phone(n: int) -> None:
            with sessions[n] as http:
                for _ in range(batches):
                    conv, consent = str(uuid.uuid4()), str(uuid.uuid4())
                    items = [{"type": "conversation", "id": conv, "data": {
                                 "project_id": world.project_id, "prompt_ids": [],
                                 "started_at": "2026-11-20T10:00:00+00:00"}},
                             {"type": "consent", "id": consent, "data": {
                                 "conversation_id": conv, "participant_label": f"P-{n:04d}",
                                 "consent_form_id": world.consent_form_id, "scopes": ["quote"],
                                 "method": "verbal", "given_at": "2026-11-20T10:01:00+00:00"}}]
                    items += [{"type": "fragment", "id": str(uuid.uuid4()), "data": {
                        "conversation_id": conv, "consent_id": consent, "kind": "quote", "text": f"words {i}",
                        "captured_at": "2026-11-20T10:05:00+00:00"}} for i in range(per_batch - 2)]
                    r = http.post("/sync", json={"device_id": f"phone-{n}", "items": items}, timeout=60)
                    with lock:
                        answers.append(r.status_code)
                        if r.status_code == 200:
                            stored.extend(x["id"] for x in r.json()["results"] if x["status"] == "created")

        threads = [threading.Thread(target=phone, args=(n,)) for n in range(phones)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert answers == [200] * (phones * batches)
        assert len(stored) == phones * batches * per_batch
        total = ok(world.admin.get("/fragments", params={"project_id": world.project_id, "limit": 1}))
        assert total["items"]  # the rows are there to read


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_request_postgresql_picks_to_break_a_deadlock_answers_503_and_stores_nothing(client, world, backend) -> None:
    """No order of locks can rule out every deadlock with work we do not write (an admin's SQL, a future path); the
    transaction PostgreSQL rolls back to break one was a 500. Here a session takes a fragment, then its consent,
    against an edit that takes the consent, then the fragment."""
    items = capture_batch(world, 1)
    sync(client, world, items)
    fragment_id = uuid.UUID(items[2]["id"])
    version = client.get(f"/api/v1/fragments/{fragment_id}", headers=world.headers("coordinator")).json()["version"]
    with ThreadPoolExecutor(1) as pool, open_session() as held:
        fragment = held.exec(select(Fragment).where(Fragment.id == fragment_id).with_for_update()).one()
        editing = pool.submit(client.patch, f"/api/v1/fragments/{fragment_id}", json={"kind": "observation"},
                              headers={**world.headers("coordinator"), "If-Match": f'"{version}"'})
        wait_until_it_waits(editing, "the edit (for the fragment)")
        try:
            held.exec(select(Consent).where(Consent.id == fragment.consent_id).with_for_update()).one()
        except sa.exc.OperationalError:
            pytest.fail("PostgreSQL broke the deadlock on the held session's side, not the request's")
        r = editing.result(timeout=30)
        held.rollback()
    assert r.status_code == 503 and r.json()["code"] == "busy" and r.headers["Retry-After"] == "2", r.text
    assert client.get(f"/api/v1/fragments/{fragment_id}", headers=world.headers("coordinator")).json()["kind"] != \
        "observation"
