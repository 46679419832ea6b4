"""Writes racing an erasure of the same records (PostgreSQL, where the transactions really overlap; SQLite's single
writer puts one after the other): a phone's sync, a coordinator's edit or tag, the last chunk of an audio upload.
Whichever goes first, nothing the consent no longer allows may stay once both have committed.

Each test holds one side's transaction open, starts the other in a thread, waits until that one waits on a lock,
then commits. The held transaction is always ended (rollback on failure), so a regression fails, never hangs."""

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlmodel import Session, select

from api.consent import service as consents
from api.consent.models import Consent, ConsentUpdate
from api.db import open_session
from api.fragments.models import Fragment, FragmentKind, FragmentStatus
from api.media.models import AudioClip
from api.people.deps import Actor
from api.people.models import AuthToken
from api.people.security import digest
from api.sync import service as sync_service
from api.tags.models import FragmentTag
from tests.factories import World, consent_item, conversation_item, fragment_item, make_world, sync
from tests.media.helpers import upload, wav_bytes

pytestmark = pytest.mark.parametrize("backend", ["postgresql"])
WORDS = "My landlord locks the gate every night at nine"


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def _actor(session: Session, world: World, who: str) -> Actor:
    token = session.exec(select(AuthToken).where(AuthToken.token_hash == digest(world.tokens[who]))).one()
    return Actor(user=getattr(world, who), token=token)


def _captured(client, world: World, scopes: list[str], kind: str = "quote") -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    """A conversation, a consent with these scopes and one fragment, synced: answers (fragment, consent) items."""
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"], scopes=scopes)
    frag = fragment_item(conv["id"], consent["id"], kind=kind, text="original words")
    assert [x["status"] for x in sync(client, world, [conv, consent, frag]).json()["results"]] == ["created"] * 3
    return frag, consent


@contextmanager
def _held(first: Callable[[Session], Any]) -> Iterator[Callable[[Callable[[], Any]], Any]]:
    """Runs `first` in a transaction and holds it; `then(second)` runs `second` in a thread, commits the held
    transaction once `second` waits on a lock, and answers what `second` answered."""
    with ThreadPoolExecutor(1) as pool:
        held = open_session()
        try:
            first(held)
            held.flush()

            def then(second: Callable[[], Any]) -> Any:
                job = pool.submit(second)
                deadline = time.monotonic() + 20
                with held.get_bind().connect() as watch:
                    while not watch.exec_driver_sql(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND datname = current_database()").scalar():
                        watch.rollback()
                        assert not job.done(), f"it did not wait for the other transaction: {job.result()}"
                        assert time.monotonic() < deadline, "it never waited for the other transaction"
                        time.sleep(0.02)
                held.commit()
                return job.result(timeout=30)

            yield then
        finally:
            held.close()  # a rollback, if the test failed before the commit: the thread can finish


def _withdraw(world: World, consent: dict) -> Callable[[Session], Any]:
    return lambda s: consents.withdraw(s, _actor(s, world, "coordinator"), s.get(Consent, uuid.UUID(consent["id"])),
                                       None)


def _narrow(world: World, consent: dict, scopes: list[str]) -> Callable[[Session], Any]:
    return lambda s: consents.narrow_scopes(s, _actor(s, world, "coordinator"),
                                            s.get(Consent, uuid.UUID(consent["id"])), ConsentUpdate(scopes=scopes), 1)


def _sync_apart(world: World, items: list[dict]) -> Callable[[], Any]:
    def run() -> Any:
        with open_session() as s:
            out = sync_service.process(s, _actor(s, world, "researcher"), "phone", items)
            s.commit()
            return out
    return run


def test_a_withdrawal_waits_for_a_sync_that_read_the_consent_live_and_erases_its_fragment(
        client, world, session) -> None:
    frag, consent = _captured(client, world, ["quote", "share"])
    late = fragment_item(frag["data"]["conversation_id"], consent["id"], text=WORDS)
    outcome: dict[str, Any] = {}

    def withdraw_apart() -> Any:
        with open_session() as s:
            outcome["withdrawal"] = _withdraw(world, consent)(s)
            s.commit()

    with _held(lambda s: outcome.update(sync=sync_service.process(s, _actor(s, world, "researcher"), "p", [late]))) \
            as then:
        assert outcome["sync"][0].status == "created"
        then(withdraw_apart)
    assert outcome["withdrawal"].fragments_erased == 2
    session.rollback()
    f = session.get(Fragment, uuid.UUID(late["id"]))
    assert f.status == FragmentStatus.withdrawn and f.text is None


def test_a_sync_that_comes_during_a_withdrawal_finds_the_consent_withdrawn(client, world, session) -> None:
    frag, consent = _captured(client, world, ["quote", "share"])
    late = fragment_item(frag["data"]["conversation_id"], consent["id"], text=WORDS)
    with _held(_withdraw(world, consent)) as then:
        result = then(_sync_apart(world, [late]))[0]
    assert result.status == "rejected" and result.code == "consent_withdrawn"
    session.rollback()
    assert session.get(Fragment, uuid.UUID(late["id"])) is None


def test_an_edit_during_a_withdrawal_finds_the_fragment_erased(client, world, session) -> None:
    frag, consent = _captured(client, world, ["quote", "share"])
    with _held(_withdraw(world, consent)) as then:
        r = then(lambda: client.patch(f"/api/v1/fragments/{frag['id']}", json={"text": "words written back"},
                                      headers={**world.headers("coordinator"), "If-Match": '"1"'}))
    assert r.status_code == 409 and r.json()["code"] == "fragment_erased"
    session.rollback()
    f = session.get(Fragment, uuid.UUID(frag["id"]))
    assert f.status == FragmentStatus.withdrawn and f.text is None


def test_a_kind_edit_during_a_narrowing_cannot_make_a_quote_without_quote(client, world, session) -> None:
    frag, consent = _captured(client, world, ["quote", "share"], kind="paraphrase")
    with _held(_narrow(world, consent, ["share"])) as then:
        r = then(lambda: client.patch(f"/api/v1/fragments/{frag['id']}", json={"kind": "quote"},
                                      headers={**world.headers("coordinator"), "If-Match": '"1"'}))
    assert r.status_code == 422, r.text
    session.rollback()
    assert session.get(Fragment, uuid.UUID(frag["id"])).kind == FragmentKind.paraphrase


def test_tagging_during_a_withdrawal_leaves_no_tag_on_the_tombstone(client, world, session) -> None:
    frag, consent = _captured(client, world, ["quote", "share"])
    h = world.headers("coordinator")
    with _held(_withdraw(world, consent)) as then:
        r = then(lambda: client.put(f"/api/v1/fragments/{frag['id']}/tags/{world.tag.id}", headers=h))
    assert r.status_code == 409
    frag2, consent2 = _captured(client, world, ["quote", "share"])
    with _held(_withdraw(world, consent2)) as then:
        r = then(lambda: client.post(f"/api/v1/tags/{world.tag.id}/fragments", json={"add": [frag2["id"]]},
                                     headers=h))
    assert r.status_code == 422
    session.rollback()
    assert session.exec(select(FragmentTag).where(FragmentTag.tag_id == world.tag.id)).all() == []


def test_an_upload_finishing_during_an_audio_narrowing_leaves_no_clip(client, world, session) -> None:
    frag, consent = _captured(client, world, ["audio", "quote", "share"])
    with _held(_narrow(world, consent, ["quote", "share"])) as then:
        r = then(lambda: upload(client, world.headers("researcher"), frag["id"], wav_bytes(seconds=1)))
    assert r.status_code == 409 and r.json()["code"] == "audio_not_consented", r.text
    session.rollback()
    assert session.get(AudioClip, uuid.UUID(frag["id"])) is None
