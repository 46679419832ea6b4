"""A phone's sync and a coordinator's withdrawal of the same consent at the same moment (PostgreSQL, where the two
transactions really overlap; SQLite's single writer puts one after the other). Whichever reads the consent first,
no fragment under it may stay active once the withdrawal has committed."""

import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from sqlmodel import Session, select

from api.consent import service as consents
from api.consent.models import Consent
from api.db import open_session
from api.fragments.models import Fragment, FragmentStatus
from api.people.deps import Actor
from api.people.models import AuthToken
from api.people.security import digest
from api.sync import service as sync_service
from tests.factories import World, consent_item, conversation_item, fragment_item, make_world, sync

pytestmark = pytest.mark.parametrize("backend", ["postgresql"])
WORDS = "My landlord locks the gate every night at nine"


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def _actor(session: Session, world: World, who: str) -> Actor:
    token = session.exec(select(AuthToken).where(AuthToken.token_hash == digest(world.tokens[who]))).one()
    return Actor(user=getattr(world, who), token=token)


def _consent_with_a_fragment(client, world: World) -> tuple[dict[str, Any], dict[str, Any]]:  # type: ignore[no-untyped-def]
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"])
    r = sync(client, world, [conv, consent, fragment_item(conv["id"], consent["id"])])
    assert [x["status"] for x in r.json()["results"]] == ["created"] * 3
    return conv, consent


def _until_waiting_on_a_lock(engine, job: Future) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 20
    with engine.connect() as watch:
        while not watch.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                        "AND datname = current_database()").scalar():
            watch.rollback()
            assert not job.done(), job.result()
            assert time.monotonic() < deadline, "the other transaction never waited"
            time.sleep(0.02)


def _in_thread(work: Callable[[Session], Any]) -> tuple[ThreadPoolExecutor, Future]:
    def run() -> Any:
        with open_session() as s:
            out = work(s)
            s.commit()
            return out
    pool = ThreadPoolExecutor(1)
    return pool, pool.submit(run)


def test_a_withdrawal_waits_for_a_sync_that_read_the_consent_live_and_erases_its_fragment(
        client, world, engine, session) -> None:
    conv, consent = _consent_with_a_fragment(client, world)
    late = fragment_item(conv["id"], consent["id"], text=WORDS)
    phone = open_session()
    assert sync_service.process(phone, _actor(phone, world, "researcher"), "phone", [late])[0].status == "created"
    pool, withdrawal = _in_thread(lambda s: consents.withdraw(
        s, _actor(s, world, "coordinator"), s.get(Consent, uuid.UUID(consent["id"])), None))
    _until_waiting_on_a_lock(engine, withdrawal)
    phone.commit()
    phone.close()
    assert withdrawal.result(timeout=30).fragments_erased == 2
    pool.shutdown()
    session.rollback()
    f = session.get(Fragment, uuid.UUID(late["id"]))
    assert f.status == FragmentStatus.withdrawn and f.text is None


def test_a_sync_that_comes_during_a_withdrawal_finds_the_consent_withdrawn(client, world, engine, session) -> None:
    conv, consent = _consent_with_a_fragment(client, world)
    late = fragment_item(conv["id"], consent["id"], text=WORDS)
    desk = open_session()
    assert consents.withdraw(desk, _actor(desk, world, "coordinator"), desk.get(Consent, uuid.UUID(consent["id"])),
                             None).fragments_erased == 1
    pool, syncing = _in_thread(lambda s: sync_service.process(s, _actor(s, world, "researcher"), "phone", [late]))
    _until_waiting_on_a_lock(engine, syncing)
    desk.commit()
    desk.close()
    result = syncing.result(timeout=30)[0]
    pool.shutdown()
    assert result.status == "rejected" and result.code == "consent_withdrawn"
    session.rollback()
    assert session.get(Fragment, uuid.UUID(late["id"])) is None
