"""Audio upload figures for scripts/bench.py (issue 6), against a real `hearken serve` on loopback:

  (c) a 50 MB clip uploaded with tus in 512 KB chunks: MB/s, and the ratio to writing the same bytes in the
      same chunks straight to a file with fsync (the floor any upload path stands on);
  (d) the server's peak RSS growth while it takes a 200 MB clip (target: under 30 MB), read from
      /proc/<pid>/status (VmHWM after resetting it, against VmRSS before).
"""

import base64
import hashlib
import os
import struct
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.live_server import LiveServer, admin_client, login_client, ok  # noqa: E402

CHUNK = 512 * 1024
MB = 1024 * 1024
BLOCK = os.urandom(MB)  # incompressible, repeated: a clip of any size without holding it in memory


def wav_header(data_bytes: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, 48000, 96000, 2, 16) + b"data" + struct.pack("<I", data_bytes))


def clip_chunks(size: int) -> Iterator[bytes]:
    """The clip's bytes in 512 KB chunks: a WAV header, then the random block over and over."""
    header = wav_header(size - 44)
    buf, produced = header, len(header)
    while produced < size or buf:
        while len(buf) < CHUNK and produced < size:
            take = BLOCK[:min(len(BLOCK), size - produced)]
            buf += take
            produced += len(take)
        yield buf[:CHUNK]
        buf = buf[CHUNK:]


def sha256_of(size: int) -> str:
    h = hashlib.sha256()
    for chunk in clip_chunks(size):
        h.update(chunk)
    return h.hexdigest()


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def upload(phone: httpx.Client, fragment_id: str, size: int) -> float:
    """A whole tus upload; answers the seconds from creation to the last chunk's answer."""
    meta = f"fragment_id {_b64(fragment_id)},sha256 {_b64(sha256_of(size))},filename {_b64('clip.wav')}"
    tus = {"Tus-Resumable": "1.0.0"}
    started = time.perf_counter()
    r = phone.post("/uploads/", headers={**tus, "Upload-Length": str(size), "Upload-Metadata": meta})
    ok(r)
    location = r.headers["Location"].removeprefix("/api/v1")
    offset = 0
    for chunk in clip_chunks(size):
        r = phone.patch(location, content=chunk, headers={**tus, "Upload-Offset": str(offset),
                                                          "Content-Type": "application/offset+octet-stream"})
        if r.status_code != 204:
            raise AssertionError(f"PATCH at {offset}: {r.status_code} {r.text}")
        offset = int(r.headers["Upload-Offset"])
    return time.perf_counter() - started


def raw_write(path: Path, size: int) -> float:
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in clip_chunks(size):
            os.write(fd, chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - started


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _fragments(server: LiveServer, n: int) -> tuple[httpx.Client, list[str]]:
    admin = admin_client(server)
    pid = ok(admin.post("/projects", json={"name": "Audio bench"}))["id"]
    researcher = ok(admin.post("/users", json={"email": "a@example.org", "password": "bench-password"}))
    ok(admin.put(f"/projects/{pid}/members/{researcher['id']}", json={"role": "researcher"}))
    today = date.today()
    ok(admin.post(f"/projects/{pid}/members/{researcher['id']}/training", json={
        "completed_on": str(today - timedelta(days=10)), "expires_on": str(today + timedelta(days=300))}))
    form = ok(admin.post(f"/projects/{pid}/consent-forms", json={"title": "c", "body": "b", "scopes": ["audio"]}))
    phone = login_client(server, "a@example.org", "bench-password")
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    conv, consent = str(uuid.uuid4()), str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(n)]
    items: list[dict[str, Any]] = [
        {"type": "conversation", "id": conv, "data": {"project_id": pid, "prompt_ids": [], "started_at": at}},
        {"type": "consent", "id": consent, "data": {"conversation_id": conv, "participant_label": "P-1",
                                                    "consent_form_id": form["id"], "scopes": ["audio"],
                                                    "method": "verbal", "given_at": at}}]
    items += [{"type": "fragment", "id": i, "data": {"conversation_id": conv, "consent_id": consent,
                                                      "kind": "observation", "text": "clip", "captured_at": at,
                                                      "sensitive": False}} for i in ids]
    results = ok(phone.post("/sync", json={"device_id": "bench", "items": items}))["results"]
    assert all(x["status"] == "created" for x in results), results
    return phone, ids


def run(results: dict[str, Any], clip_mb: int = 50, big_mb: int = 200) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(Path(tmp) / "server", env={"HEARKEN_MEDIA_MAX_BYTES": str((big_mb + 1) * MB)})
        with server:
            assert server.proc is not None
            pid = server.proc.pid
            phone, fragments = _fragments(server, 3)
            phone.timeout = httpx.Timeout(120)
            upload(phone, fragments[0], 4 * MB)  # warm up: imports, first allocations, page cache
            http_s = upload(phone, fragments[1], clip_mb * MB)
            raw_s = raw_write(Path(tmp) / "raw.bin", clip_mb * MB)
            rss_before = status_kb(pid, "VmRSS")
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS now
            upload(phone, fragments[2], big_mb * MB)
            peak = status_kb(pid, "VmHWM")
    results["audio_upload_mb_per_s"] = round(clip_mb / http_s, 1)
    results["audio_raw_fsync_mb_per_s"] = round(clip_mb / raw_s, 1)
    results["audio_upload_ratio"] = round(raw_s / http_s, 3)
    results["audio_200mb_rss_growth_mb"] = round((peak - rss_before) / 1024, 1)
    results["audio_server_rss_before_mb"] = round(rss_before / 1024, 1)
    print(f"audio upload (tus)    : {results['audio_upload_mb_per_s']:>8} MB/s ({clip_mb} MB in 512 KB chunks)")
    print(f"raw write + fsync     : {results['audio_raw_fsync_mb_per_s']:>8} MB/s")
    print(f"ratio upload/raw      : {results['audio_upload_ratio']:>8}")
    print(f"server RSS growth     : {results['audio_200mb_rss_growth_mb']:>8} MB during a {big_mb} MB upload "
          f"(target < 30; {results['audio_server_rss_before_mb']} MB before)")


if __name__ == "__main__":
    run({})
