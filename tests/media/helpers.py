"""Small real audio files made on the spot, and a tus client that speaks to the test client or a live server."""

import base64
import hashlib
import io
import math
import struct
import uuid
import wave
from typing import Any

from sqlmodel import Session

from tests.factories import World, capture_batch, sync

CHUNK = 512 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


def wav_bytes(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV of a 440 Hz tone."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = int(seconds * rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                               for i in range(frames)))
    return buf.getvalue()


def ogg_bytes(size: int = 4096) -> bytes:
    """An Ogg page header (Opus head) followed by filler: enough for the container check."""
    head = b"OggS\x00\x02" + b"\x00" * 8 + b"\x01\x00\x00\x00" + b"\x00" * 8 + b"\x01\x13" + b"OpusHead\x01\x01"
    return head + bytes(range(256)) * ((size - len(head)) // 256 + 1)


def webm_bytes(size: int = 4096) -> bytes:
    head = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm"
    return (head + b"\x00" * size)[:size]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def metadata(fragment_id: str, data: bytes, sha256: str | None = None, filename: str = "clip.wav",
             filetype: str = "audio/wav", duration_ms: str | None = None) -> str:
    pairs = {"fragment_id": fragment_id, "sha256": sha256 or sha(data), "filename": filename, "filetype": filetype}
    if duration_ms is not None:
        pairs["duration_ms"] = duration_ms
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def audio_fragment(client: Any, world: World, scopes: tuple[str, ...] = ("audio", "quote", "share"),
                   n: int = 1) -> list[dict[str, Any]]:
    """Sync a conversation, a consent with these scopes and `n` fragments; answers the items."""
    items = capture_batch(world, n)
    items[1]["data"]["scopes"] = list(scopes)
    r = sync(client, world, items)
    assert r.status_code == 200 and all(x["status"] == "created" for x in r.json()["results"]), r.text
    return items


def create(http: Any, headers: dict[str, str], fragment_id: str, data: bytes, **kw: Any) -> Any:
    return http.post(_url(http, "/uploads/"), headers={**headers, **TUS, "Upload-Length": str(len(data)),
                                                        "Upload-Metadata": metadata(fragment_id, data, **kw)})


def patch(http: Any, headers: dict[str, str], location: str, offset: int, chunk: bytes) -> Any:
    return http.patch(_loc(http, location), content=chunk, headers={
        **headers, **TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})


def head(http: Any, headers: dict[str, str], location: str) -> Any:
    return http.head(_loc(http, location), headers={**headers, **TUS})


def upload(http: Any, headers: dict[str, str], fragment_id: str, data: bytes, chunk: int = CHUNK,
           **kw: Any) -> Any:
    """A whole tus upload: create, then PATCH chunk by chunk. Answers the last response."""
    r = create(http, headers, fragment_id, data, **kw)
    if r.status_code not in (200, 201):
        return r
    location, offset = r.headers["Location"], int(r.headers["Upload-Offset"])
    while offset < len(data):
        r = patch(http, headers, location, offset, data[offset:offset + chunk])
        if r.status_code != 204:
            return r
        offset = int(r.headers["Upload-Offset"])
    return r


def _url(http: Any, path: str) -> str:
    return path if _is_live(http) else "/api/v1" + path


def _loc(http: Any, location: str) -> str:
    return location.removeprefix("/api/v1") if _is_live(http) else location


def _is_live(http: Any) -> bool:
    return str(getattr(http, "base_url", "")).rstrip("/").endswith("/api/v1")


def clip_row(session: Session, fragment_id: str) -> Any:
    from api.media.models import AudioClip

    session.rollback()
    return session.get(AudioClip, uuid.UUID(fragment_id))
