"""Withdrawal and a narrowed consent erase the clip's bytes from the store, at once or, if the store is down,
as soon as it answers again; the audit log says when."""

import os
import time
import uuid

import pytest
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from api.config import get_settings
from api.media import service as media
from api.media.models import AudioUpload, MediaDeletion
from api.media.storage import FileStorage, StorageUnavailable, partial_dir
from tests.factories import World, make_world
from tests.media.helpers import audio_fragment, clip_row, create, patch, upload, wav_bytes


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def clip_file(session: Session, fid: str):  # type: ignore[no-untyped-def]
    clip = clip_row(session, fid)
    return get_settings().data_dir.resolve() / "media" / "clips" / clip.storage_key


def withdraw(client, world: World, consent_id: str):  # type: ignore[no-untyped-def]
    r = client.post(f"/api/v1/consents/{consent_id}/withdraw", json={}, headers=world.headers("coordinator"))
    assert r.status_code == 200, r.text
    return r


def test_withdrawal_deletes_the_clip_file_from_disk(client, world, session) -> None:
    items = audio_fragment(client, world)
    fid = items[2]["id"]
    data = wav_bytes(1)
    assert upload(client, world.headers("researcher"), fid, data).status_code == 204
    path = clip_file(session, fid)
    assert path.read_bytes() == data
    withdraw(client, world, items[1]["id"])
    assert not path.exists()
    assert not path.parent.exists(), "the emptied folder named after the fragment is removed too"
    assert (get_settings().data_dir.resolve() / "media" / "clips").is_dir()
    assert clip_row(session, fid) is None
    assert session.exec(select(MediaDeletion)).all() == []
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "media.erased")).one()
    assert entry.entity_id == str(uuid.UUID(fid)) and entry.detail["reason"] == "withdrawn"
    assert client.get(f"/api/v1/fragments/{fid}/audio", headers=world.headers("coordinator")).status_code == 404
    fragment = client.get(f"/api/v1/fragments/{fid}", headers=world.headers("coordinator")).json()
    assert fragment["audio"] is None and fragment["status"] == "withdrawn"


def test_withdrawal_also_deletes_an_unfinished_upload(client, world, session) -> None:
    items = audio_fragment(client, world)
    data = wav_bytes(60)
    location = create(client, world.headers("researcher"), items[2]["id"], data).headers["Location"]
    assert patch(client, world.headers("researcher"), location, 0, data[:512 * 1024]).status_code == 204
    assert len(list(partial_dir().glob("*.part"))) == 1
    withdraw(client, world, items[1]["id"])
    assert list(partial_dir().glob("*.part")) == []
    session.rollback()
    assert session.exec(select(AudioUpload)).all() == []
    r = patch(client, world.headers("researcher"), location, 512 * 1024, data[512 * 1024:])
    assert r.status_code == 404


def test_taking_away_the_audio_scope_deletes_the_clip_but_keeps_the_text(client, world, session) -> None:
    items = audio_fragment(client, world)
    fid = items[2]["id"]
    assert upload(client, world.headers("researcher"), fid, wav_bytes(1)).status_code == 204
    path = clip_file(session, fid)
    r = client.patch(f"/api/v1/consents/{items[1]['id']}", json={"scopes": ["quote", "share"]},
                     headers={**world.headers("coordinator"), "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert not path.exists()
    fragment = client.get(f"/api/v1/fragments/{fid}", headers=world.headers("coordinator")).json()
    assert fragment["audio"] is None and fragment["text"] and fragment["status"] == "active"
    session.rollback()
    narrow = session.exec(select(AuditEntry).where(AuditEntry.action == "consent.narrow")).one()
    assert narrow.detail["audio_clips_erased"] == 1


def test_a_store_that_is_down_at_withdrawal_gets_the_deletion_later(client, world, session, monkeypatch) -> None:
    items = audio_fragment(client, world)
    fid = items[2]["id"]
    assert upload(client, world.headers("researcher"), fid, wav_bytes(1)).status_code == 204
    path = clip_file(session, fid)

    def unreachable(self, key: str) -> None:
        raise StorageUnavailable("connection refused")

    with monkeypatch.context() as m:
        m.setattr(FileStorage, "delete", unreachable)
        withdraw(client, world, items[1]["id"])  # the withdrawal itself succeeds at once
        assert path.exists()
        session.rollback()
        queued = session.exec(select(MediaDeletion)).one()
        assert clip_row(session, fid) is None
        assert (queued.attempts, queued.reason, queued.target) == (1, "withdrawn", "store")
        key = queued.key
        assert "connection refused" in queued.last_error
        assert media.drain_deletions() == (0, 1)  # a worker round while the store is still down
        session.rollback()
        assert session.exec(select(MediaDeletion)).one().attempts == 2
    assert media.maintain()["erased"] == 1  # the store is back: the worker's next round
    assert not path.exists()
    session.rollback()
    assert session.exec(select(MediaDeletion)).all() == []
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "media.erased")).one()
    assert entry.detail["key"] == key and entry.detail["attempts"] == 3
    assert entry.detail["queued_at"] < entry.at.isoformat()
    assert entry.project_id == world.project.id


def test_abandoned_uploads_are_cleaned_after_their_time(client, world, session) -> None:
    items = audio_fragment(client, world)
    data = wav_bytes(60)
    location = create(client, world.headers("researcher"), items[2]["id"], data).headers["Location"]
    patch(client, world.headers("researcher"), location, 0, data[:1000])
    assert media.clean_abandoned_uploads() == 0  # a fresh upload stays
    assert media.clean_abandoned_uploads(days=0) == 1
    assert list(partial_dir().glob("*.part")) == []
    session.rollback()
    assert session.exec(select(AudioUpload)).all() == []


def test_the_media_maintenance_command_retries_and_reports(client, world, session, monkeypatch) -> None:
    from api.cli import main

    assert main(["media-maintenance"]) == 0


def test_a_clip_stored_but_never_attached_goes_with_its_abandoned_upload(client, world, session, monkeypatch) -> None:
    data = wav_bytes(1)
    fid = audio_fragment(client, world)[2]["id"]
    location = create(client, world.headers("researcher"), fid, data).headers["Location"]

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the process died here")

    with monkeypatch.context() as m:
        m.setattr(media.feed, "record", crash)
        assert patch(client, world.headers("researcher"), location, 0, data).status_code == 500
    stored = list((get_settings().data_dir.resolve() / "media" / "clips").rglob("*-*"))
    stored = [p for p in stored if p.is_file()]
    assert len(stored) == 1
    assert media.clean_abandoned_uploads(days=0) == 1
    assert not stored[0].exists()


def test_a_partial_upload_on_another_server_goes_in_that_servers_next_round(client, world, session, monkeypatch,
                                                                             tmp_path) -> None:
    items = audio_fragment(client, world)
    data = wav_bytes(60)
    location = create(client, world.headers("researcher"), items[2]["id"], data).headers["Location"]
    assert patch(client, world.headers("researcher"), location, 0, data[:512 * 1024]).status_code == 204
    [partial] = partial_dir().glob("*.part")  # on this server's disk
    with monkeypatch.context() as m:  # the withdrawal is served by another server, with a data directory of its own
        m.setenv("HEARKEN_DATA_DIR", str(tmp_path / "other-server"))
        get_settings.cache_clear()
        withdraw(client, world, items[1]["id"])
    get_settings.cache_clear()
    assert partial.exists()
    session.rollback()
    erased = session.exec(select(AuditEntry).where(AuditEntry.action == "media.erased")).all()
    assert [e.detail["on_this_server"] for e in erased if e.detail["target"] == "partial"] == [False]
    media.maintain()  # this server's next round: a file just written may belong to an upload being created
    assert partial.exists()
    a_minute_ago = time.time() - media.ORPHAN_GRACE_SECONDS - 1
    os.utime(partial, (a_minute_ago, a_minute_ago))
    media.maintain()
    assert not partial.exists()
