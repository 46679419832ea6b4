"""Race tests on PostgreSQL: hold a lock in the test, start the other side in a thread, and go on once it waits."""

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from api.db import open_session
from api.fragments import retention
from api.fragments import service as fragments
from api.fragments.models import Fragment, FragmentUpdate
from api.fragments.retention import PurgeReport
from api.people.deps import Actor
from api.people.models import AuthToken
from api.people.security import digest
from api.sync import rules
from tests.factories import World

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


def held_at(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> tuple[threading.Event, threading.Event]:
    """Makes the first call of `module.name` stop until let go (later calls go through): answers (reached,
    go_on)."""
    reached, go_on = threading.Event(), threading.Event()
    original: Callable[..., Any] = getattr(module, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        if not reached.is_set():
            reached.set()
            assert go_on.wait(20)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, held)
    return reached, go_on


def edit(world: World, fragment_id: uuid.UUID, change: FragmentUpdate) -> None:
    """The coordinator's edit of a fragment, in a session of its own (run it in a thread)."""
    with open_session() as s:
        token = s.exec(select(AuthToken).where(AuthToken.token_hash == digest(world.tokens["coordinator"]))).one()
        fragment = s.get(Fragment, fragment_id)
        assert fragment is not None
        fragments.update(s, Actor(user=world.coordinator, token=token), fragment, "coordinator", change,
                         fragment.version)
        s.commit()


def purge_during_an_edit(monkeypatch: pytest.MonkeyPatch, world: World, fragment_id: uuid.UUID,
                         change: FragmentUpdate) -> PurgeReport:
    """The edit is held between locking its fragment and checking the capture rules; the purge (what `hearken
    purge` runs) is let in, then the edit goes on. Both must finish: answers the purge's report of the world's
    project."""
    at_rules, go_on = held_at(monkeypatch, rules, "check_fragment_edit")
    with ThreadPoolExecutor(2) as pool:
        editing = pool.submit(edit, world, fragment_id, change)
        assert at_rules.wait(20)
        purging = pool.submit(retention.purge_all)
        wait_until_it_waits(purging, "the purge (for the edit)")
        go_on.set()
        editing.result(timeout=30)
        (report,) = [r for p, r in purging.result(timeout=30) if p.id == world.project.id]
    return report
