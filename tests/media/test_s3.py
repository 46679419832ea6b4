"""The S3-compatible backend against a real S3 API: moto's server, run on loopback as a subprocess.
Skipped, saying so, where moto[server] (a dev dependency) cannot be started."""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from api.config import get_settings
from api.media import service as media
from api.media import storage
from api.media.models import MediaDeletion
from tests.factories import World, make_world
from tests.media.helpers import audio_fragment, clip_row, ogg_bytes, upload, wav_bytes
from tests.support.live_server import free_port


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as exc:
        # The dev extra installs moto: on CI its absence is a broken set-up, not a reason to test less.
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"moto[server] is not installed ({exc}); scripts/test installs the dev extra")
        pytest.skip(f"S3 backend tests skipped: moto[server] is not installed ({exc})")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        proc.kill()
        reason = f"moto's server did not start: {Path(log).read_text()[-500:]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(f"S3 backend tests skipped: {reason}")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def s3(s3_endpoint: str, engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    bucket = f"hearken-{uuid.uuid4().hex[:12]}"  # one bucket per test: moto's server lives for the session
    for key, value in {"MEDIA_BACKEND": "s3", "S3_BUCKET": bucket, "S3_ENDPOINT_URL": s3_endpoint,
                       "S3_ACCESS_KEY_ID": "test", "S3_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(f"HEARKEN_{key}", value)
    get_settings.cache_clear()
    storage._storage_for.cache_clear()
    store = storage.get_storage()
    assert isinstance(store, storage.S3Storage)
    store.client.create_bucket(Bucket=bucket)
    yield store.client
    storage._storage_for.cache_clear()
    get_settings.cache_clear()


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def objects(client: object) -> list[str]:
    found = client.list_objects_v2(Bucket=get_settings().s3_bucket)  # type: ignore[attr-defined]
    return [o["Key"] for o in found.get("Contents", [])]


def test_a_clip_goes_into_the_bucket_and_plays_back_with_ranges(client, world, session, s3) -> None:
    data = wav_bytes(40)  # about 640 KB: two chunks
    fid = audio_fragment(client, world)[2]["id"]
    assert upload(client, world.headers("researcher"), fid, data).status_code == 204
    key = clip_row(session, fid).storage_key
    assert s3.get_object(Bucket=get_settings().s3_bucket, Key=key)["Body"].read() == data
    assert not (get_settings().data_dir / "media" / "clips").exists()
    r = client.get(f"/api/v1/fragments/{fid}/audio", headers={**world.headers("coordinator"), "Range": "bytes=100-"})
    assert r.status_code == 206 and r.content == data[100:]


def test_withdrawal_deletes_the_object_and_a_bucket_out_of_reach_is_retried(client, world, session, s3,
                                                                            monkeypatch) -> None:
    first, second = audio_fragment(client, world), audio_fragment(client, world)
    for items in (first, second):
        assert upload(client, world.headers("researcher"), items[2]["id"], wav_bytes(1)).status_code == 204
    assert len(objects(s3)) == 2
    r = client.post(f"/api/v1/consents/{first[1]['id']}/withdraw", json={}, headers=world.headers("coordinator"))
    assert r.status_code == 200
    assert len(objects(s3)) == 1

    import boto3

    store = storage.get_storage()
    dead = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{free_port()}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")
    monkeypatch.setattr(store, "client", dead)  # the bucket's host stops answering
    r = client.post(f"/api/v1/consents/{second[1]['id']}/withdraw", json={}, headers=world.headers("coordinator"))
    assert r.status_code == 200
    session.rollback()
    assert session.exec(select(MediaDeletion)).one().attempts == 1
    monkeypatch.setattr(store, "client", s3)  # it is back
    assert media.drain_deletions() == (1, 0)
    assert objects(s3) == []
    session.rollback()
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "media.erased")).all()
    assert sorted(e.detail["attempts"] for e in entries) == [1, 2]


def test_withdrawal_leaves_no_old_version_in_a_versioned_bucket(client, world, session, s3) -> None:
    bucket = get_settings().s3_bucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    items = audio_fragment(client, world)
    assert upload(client, world.headers("researcher"), items[2]["id"], wav_bytes(1)).status_code == 204
    r = client.post(f"/api/v1/consents/{items[1]['id']}/withdraw", json={}, headers=world.headers("coordinator"))
    assert r.status_code == 200
    left = s3.list_object_versions(Bucket=bucket)
    assert left.get("Versions", []) == [] and left.get("DeleteMarkers", []) == []


def test_withdrawal_aborts_the_parts_a_failed_multipart_put_left(client, world, session, s3) -> None:
    from botocore.exceptions import EndpointConnectionError

    items = audio_fragment(client, world)
    data = ogg_bytes(9 * 1024 * 1024)  # above the 8 MB at which a put goes in parts
    client_of_store = storage.get_storage().client  # type: ignore[attr-defined]

    def network_drops(params, **kwargs):  # type: ignore[no-untyped-def]
        # The first part arrives; the second, and the abort that would clean up, never reach the bucket.
        if kwargs["model"].name == "AbortMultipartUpload" or params.get("PartNumber", 0) >= 2:
            raise EndpointConnectionError(endpoint_url="http://s3")

    for op in ("UploadPart", "AbortMultipartUpload"):
        client_of_store.meta.events.register(f"before-parameter-build.s3.{op}", network_drops)
    try:
        r = upload(client, world.headers("researcher"), items[2]["id"], data, chunk=1024 * 1024)
    finally:
        for op in ("UploadPart", "AbortMultipartUpload"):
            client_of_store.meta.events.unregister(f"before-parameter-build.s3.{op}", network_drops)
    assert r.status_code == 503, r.text
    bucket = get_settings().s3_bucket
    assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1
    r = client.post(f"/api/v1/consents/{items[1]['id']}/withdraw", json={}, headers=world.headers("coordinator"))
    assert r.status_code == 200
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert objects(s3) == []
