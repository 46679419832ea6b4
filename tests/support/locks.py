"""Race tests on PostgreSQL: hold a lock in the test, start the other side in a thread, and go on once it waits."""

import time
from concurrent.futures import Future
from typing import Any

import pytest
import sqlalchemy as sa

from api.db import open_session

_WAITING = sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                   "AND datname = current_database()")


def wait_until_it_waits(work: Future[Any], what: str, seconds: float = 20) -> None:
    """Returns once a session of the test database waits for a lock; fails when `work` finished instead (it did
    not wait) or nothing waited within `seconds`."""
    deadline = time.monotonic() + seconds
    with open_session() as watch:
        while not watch.exec(_WAITING).one()[0]:
            watch.rollback()
            if work.done():
                done = work.result()
                pytest.fail(f"{what} did not wait: {getattr(done, 'text', done)}")
            if time.monotonic() > deadline:
                pytest.fail(f"{what} never waited")
            time.sleep(0.02)
