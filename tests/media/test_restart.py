"""A real server stopped or killed in the middle of an upload: after restart, HEAD gives the offset the server
really holds, and the upload resumes from there to a byte-identical clip."""

import contextlib
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from tests.factories import capture_batch, make_world
from tests.media.helpers import CHUNK, TUS, create, head, patch, sha, wav_bytes
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_an_upload_cut_by_a_server_restart_resumes_from_the_right_offset(
        engine, session: Session, database_url: str, tmp_path: Path, how: str) -> None:
    world = make_world(session)
    items = capture_batch(world, 1)
    items[1]["data"]["scopes"] = ["audio", "quote"]
    data = wav_bytes(120)  # about 1.9 MB
    server = LiveServer(tmp_path / "server", env={"HEARKEN_DATABASE_URL": database_url})
    server.start()
    try:
        http = httpx.Client(base_url=server.api, headers=world.headers("researcher"), timeout=30)
        assert http.post("/sync", json={"device_id": "p", "items": items}).status_code == 200
        r = create(http, {}, items[2]["id"], data)
        assert r.status_code == 201, r.text
        location = r.headers["Location"]
        assert patch(http, {}, location, 0, data[:CHUNK]).status_code == 204

        started = threading.Event()

        def slow_chunk():  # type: ignore[no-untyped-def]
            for i in range(CHUNK, 2 * CHUNK, 32 * 1024):
                started.set()
                yield data[i:i + 32 * 1024]
                time.sleep(0.05)

        def send() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server goes away under the phone
                http.patch(location.removeprefix("/api/v1"), content=slow_chunk(), headers={
                    **TUS, "Upload-Offset": str(CHUNK), "Content-Type": "application/offset+octet-stream"})

        sender = threading.Thread(target=send)
        sender.start()
        assert started.wait(10)
        time.sleep(0.3)  # part of the second chunk is on the wire
        server.kill() if how == "kill" else server.stop()
        sender.join(30)
        server.start()

        r = head(http, {}, location)
        assert r.status_code == 200, r.text
        offset = int(r.headers["Upload-Offset"])
        if how == "kill":
            assert offset == CHUNK  # the cut chunk was never confirmed, so it does not count
        else:
            assert offset in (CHUNK, 2 * CHUNK)  # a graceful stop may finish the request in hand
        while offset < len(data):
            r = patch(http, {}, location, offset, data[offset:offset + CHUNK])
            assert r.status_code == 204, r.text
            offset = int(r.headers["Upload-Offset"])
        played = http.get(f"/fragments/{items[2]['id']}/audio")
        assert played.status_code == 200 and sha(played.content) == sha(data)
    finally:
        server.stop()
