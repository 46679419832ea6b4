"""An upload meeting a withdrawal or another upload of the same fragment at the worst moment: nothing a withdrawal
erased may be kept or taken afterwards, no clip's bytes are deleted under it, and the phone gets a 4xx it can act
on (it keeps its clip), never a 500 or a 204 for a clip that is gone."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api.config import get_settings
from api.consent import service as consents
from api.consent.models import Consent
from api.db import open_session, utcnow
from api.fragments import retention
from api.fragments.models import Fragment
from api.media import service as media
from api.media.models import AudioUpload, MediaDeletion
from api.media.storage import FileStorage, partial_dir
from api.people.deps import Actor
from api.people.models import AuthToken
from api.people.security import digest
from tests.factories import World, make_world
from tests.media.helpers import audio_fragment, clip_row, create, patch, sha, upload, wav_bytes
from tests.support.locks import wait_until_it_waits


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def stored_files() -> list[str]:
    media_dir = get_settings().data_dir.resolve() / "media"
    return [str(p.relative_to(media_dir)) for p in media_dir.rglob("*") if p.is_file()]


def withdraw(client, world: World, consent_id: str) -> None:  # type: ignore[no-untyped-def]
    r = client.post(f"/api/v1/consents/{consent_id}/withdraw", json={}, headers=world.headers("coordinator"))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite's one writer puts them one after the other
def test_an_upload_begun_while_a_withdrawal_commits_is_refused(client, world, session) -> None:
    items = audio_fragment(client, world)
    data = wav_bytes(40)
    with ThreadPoolExecutor(1) as pool, open_session() as held:
        token = held.exec(select(AuthToken).where(AuthToken.token_hash == digest(world.tokens["coordinator"]))).one()
        consents.withdraw(held, Actor(user=world.coordinator, token=token),
                          held.get(Consent, uuid.UUID(items[1]["id"])), None)
        held.flush()  # erased, its uploads (none yet) read; not committed
        creation = pool.submit(create, client, world.headers("researcher"), items[2]["id"], data)
        wait_until_it_waits(creation, "the creation (for the withdrawal)")
        held.commit()
        r = creation.result(timeout=30)
    assert r.status_code == 409 and r.json()["code"] in ("fragment_erased", "audio_not_consented"), r.text
    session.rollback()
    assert session.exec(select(AudioUpload)).all() == []


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite's one writer puts them one after the other
def test_a_purge_and_an_upload_of_its_fragment_never_deadlock(client, world, session) -> None:
    """The purge locked the fragment (erasing it), then the consent (clearing its signature), while an upload's
    creation takes the consent FOR SHARE, then the fragment: each waited for the other, and PostgreSQL killed one
    (a 500 for the phone, or a failed `hearken purge`)."""
    items = audio_fragment(client, world)
    consent_id, fragment_id = uuid.UUID(items[1]["id"]), uuid.UUID(items[2]["id"])
    long_ago = utcnow() - timedelta(days=40)
    session.execute(sa.update(Consent).where(Consent.id == consent_id).values(
        signature="data:image/png;base64,AAAA", given_at=long_ago))
    session.execute(sa.update(Fragment).where(Fragment.id == fragment_id).values(captured_at=long_ago))
    world.project.retention_days = 30
    session.add(world.project)
    session.commit()

    with ThreadPoolExecutor(1) as pool, open_session() as creation:
        token = creation.exec(select(AuthToken).where(AuthToken.token_hash == digest(world.tokens["researcher"]))).one()
        # The creation's first lock (api/media/service.py `_fragment_for_upload`): the consent, FOR SHARE.
        creation.exec(select(Consent.id).where(Consent.id == consent_id).with_for_update(read=True)).one()
        purging = pool.submit(retention.purge_all)  # what `hearken purge` runs
        wait_until_it_waits(purging, "the purge (for the consent)")
        # Then all of its locks, the fragment's too: the purge must not be holding it.
        media._fragment_for_upload(creation, Actor(user=world.researcher, token=token), fragment_id, lock=True)
        creation.commit()
        (report,) = [r for p, r in purging.result(timeout=30) if p.id == world.project.id]
    assert (report.fragments_erased, report.signatures_erased) == (1, 1)
    session.rollback()
    assert session.get(Fragment, fragment_id).text is None and session.get(Consent, consent_id).signature is None


def test_a_chunk_for_a_fragment_erased_meanwhile_is_refused_and_its_bytes_erased(client, world, session) -> None:
    items = audio_fragment(client, world)
    data = wav_bytes(60)
    location = create(client, world.headers("researcher"), items[2]["id"], data).headers["Location"]
    upload_id = uuid.UUID(location.rsplit("/", 1)[1])
    withdraw(client, world, items[1]["id"])
    # An upload row an erasure did not find (one created as it committed, before creation took the lock):
    # PATCH itself must not take the withdrawn participant's audio.
    with open_session() as s:
        s.add(AudioUpload(id=upload_id, fragment_id=uuid.UUID(items[2]["id"]), uploaded_by=world.researcher.id,
                          length=len(data), offset=1000, sha256=sha(data)))
        s.commit()
    (partial_dir() / f"{upload_id}.part").write_bytes(data[:1000])
    r = patch(client, world.headers("researcher"), location, 1000, data[1000:2000])
    assert r.status_code == 409 and r.json()["code"] == "fragment_erased", r.text
    session.rollback()
    assert session.exec(select(AudioUpload)).all() == []
    assert session.exec(select(MediaDeletion)).all() == []
    assert list(partial_dir().glob("*.part")) == []


def test_a_withdrawal_between_the_last_chunk_and_the_attach_answers_404(client, world, session,
                                                                        monkeypatch) -> None:
    items = audio_fragment(client, world)
    data = wav_bytes(1)
    recorded = media._fsync_and_record

    def then_withdrawn(fd: int, upload: AudioUpload, received: int) -> bool:
        ok = recorded(fd, upload, received)
        if received == upload.length:  # every byte recorded; the clip is not yet hashed
            withdraw(client, world, items[1]["id"])
        return ok

    monkeypatch.setattr(media, "_fsync_and_record", then_withdrawn)
    r = upload(client, world.headers("researcher"), items[2]["id"], data)
    assert r.status_code == 404, r.text
    assert clip_row(session, items[2]["id"]) is None
    assert stored_files() == []


def test_a_second_clip_begun_while_the_first_is_attached_leaves_the_first_whole(client, world, session,
                                                                               monkeypatch) -> None:
    h = world.headers("researcher")
    fid = audio_fragment(client, world)[2]["id"]
    first, second = wav_bytes(1), wav_bytes(2)
    put = FileStorage.put
    answers: list[Any] = []

    def then_another_clip(self: FileStorage, key: str, path: Any) -> None:
        put(self, key, path)
        if not answers:  # the first clip is in the store, not yet attached: the phone starts a re-recording
            answers.append(create(client, h, fid, second))

    monkeypatch.setattr(FileStorage, "put", then_another_clip)
    r = upload(client, h, fid, first)
    assert r.status_code == 204, r.text
    assert answers[0].status_code == 201, answers[0].text
    played = client.get(f"/api/v1/fragments/{fid}/audio", headers=world.headers("coordinator"))
    assert played.status_code == 200 and played.content == first
    r = upload(client, h, fid, second)
    assert r.status_code == 409 and r.json()["code"] == "audio_exists", r.text
    assert client.get(f"/api/v1/fragments/{fid}/audio", headers=world.headers("coordinator")).content == first


def test_an_upload_forgotten_while_it_was_attached_is_refused_and_nothing_kept(client, world, session,
                                                                              monkeypatch) -> None:
    h = world.headers("researcher")
    fid = audio_fragment(client, world)[2]["id"]
    data = wav_bytes(1)
    put = FileStorage.put

    def then_forgotten(self: FileStorage, key: str, path: Any) -> None:
        put(self, key, path)
        # As a newer upload's creation that read this one a moment before its last offset was recorded does:
        # the row goes and the stored object is deleted once that commits.
        with open_session() as s:
            media._forget_upload(s, s.get(AudioUpload, uuid.UUID(key.split("/")[1])), "superseded")
            s.commit()

    with monkeypatch.context() as m:
        m.setattr(FileStorage, "put", then_forgotten)
        r = upload(client, h, fid, data)
    assert r.status_code == 409 and r.json()["code"] == "upload_superseded", r.text
    assert clip_row(session, fid) is None
    assert stored_files() == []
    assert session.exec(select(MediaDeletion)).all() == []
    assert upload(client, h, fid, data).status_code == 204  # the phone kept its clip and sends it again
    assert client.get(f"/api/v1/fragments/{fid}/audio", headers=world.headers("coordinator")).content == data
