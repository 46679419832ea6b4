"""Audio clips: resumable upload (tus 1.0 core), checks before a clip is attached, playback, and erasure that
reaches the bytes in the store.

An upload's chunks arrive for as long as a slow phone takes, so PATCH holds no database transaction while the
body streams in (on SQLite an open writer would hold the one write lock): it checks in one short read, appends
and fsyncs with none open, and records the new offset in one short write. The offset in the database only ever
counts bytes already fsynced; bytes beyond it on disk (a request cut short by a crash) are cut off before the
next append. Bytes that must be erased are written to the media_deletions queue in the erasing transaction and
removed after it commits, or by the media worker while the store is unreachable.
"""

import base64
import binascii
import fcntl
import hashlib
import io
import logging
import os
import re
import time
import uuid
import wave
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.audit import service as audit
from api.config import get_settings
from api.consent.models import Consent, Scope
from api.db import open_session, utcnow
from api.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RangeNotSatisfiable,
    TooLarge,
    Unavailable,
    UnsupportedMediaType,
)
from api.feed import service as feed
from api.fragments.models import Fragment, FragmentStatus
from api.inputs import control_char
from api.media.models import AudioClip, AudioPublic, AudioUpload, DeletionTarget, MediaDeletion, UploadState
from api.media.storage import StorageUnavailable, get_storage, partial_dir
from api.people.deps import Actor
from api.projects.models import Project

log = logging.getLogger("hearken.media")

TUS_VERSION = "1.0.0"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
SNIFF_BYTES = 64 * 1024
_DRAIN_AFTER_COMMIT = "media_drain_after_commit"
ORPHAN_GRACE_SECONDS = 60


# --- what the bytes are ----------------------------------------------------------------------------------

def sniff(head: bytes) -> str | None:
    """The audio container these first bytes start, as a content type, or None if not one we accept."""
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "audio/webm"  # EBML: WebM / Matroska
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "audio/mp4"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"ID3") or _mpeg_frame(head):
        return "audio/mpeg"
    return None


def _mpeg_frame(head: bytes) -> bool:
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0b11
    return version != 0b01 and layer != 0 and bitrate not in (0, 0b1111) and rate != 0b11


def duration_ms(content_type: str, head: bytes) -> int | None:
    """The clip's length when its header tells it cheaply (WAV); None otherwise."""
    if content_type != "audio/wav":
        return None
    try:
        with wave.open(io.BytesIO(head)) as w:
            return round(w.getnframes() * 1000 / w.getframerate()) if w.getframerate() else None
    except (wave.Error, EOFError, ValueError):
        return None


def _measured_ms(value: str | None) -> int | None:
    """The phone's measured length from Upload-Metadata `duration_ms`: whole milliseconds up to a day, else None."""
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 9:
        return None
    ms = int(value)
    return ms if 0 < ms <= 24 * 3600 * 1000 else None


def parse_metadata(header: str | None) -> dict[str, str]:
    """tus Upload-Metadata: comma-separated `key base64(value)` pairs."""
    out: dict[str, str] = {}
    for pair in (header or "").split(","):
        if not pair.strip():
            continue
        key, _, value = pair.strip().partition(" ")
        try:
            out[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8") if value.strip() else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Invalid(f"Upload-Metadata: the value of {key!r} is not base64 of UTF-8 text.",
                          code="invalid_metadata") from exc
        if control_char(key) or control_char(out[key]):
            raise Invalid(f"Upload-Metadata: {key!r} holds a control character.", code="invalid_metadata")
    return out


def public(clip: AudioClip | None) -> AudioPublic | None:
    return AudioPublic.model_validate(clip) if clip else None


def clips_for(session: Session, fragment_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, AudioClip]:
    ids = list(fragment_ids)
    if not ids:
        return {}
    return {c.fragment_id: c for c in session.exec(select(AudioClip).where(col(AudioClip.fragment_id).in_(ids)))}


def storage_key(fragment_id: uuid.UUID, upload_id: uuid.UUID) -> str:
    return f"{fragment_id}/{upload_id}"


def partial_path(upload_id: uuid.UUID) -> Path:
    return partial_dir() / f"{upload_id}.part"


def state(upload: AudioUpload) -> UploadState:
    return UploadState(id=upload.id, offset=upload.offset, length=upload.length,
                       completed=upload.completed_at is not None)


# --- who may upload what ---------------------------------------------------------------------------------

def _fragment_for_upload(session: Session, actor: Actor, fragment_id: uuid.UUID, lock: bool = False) -> Fragment:
    from api.fragments import service as fragments

    fragment, _ = fragments.get_for_reader(session, actor, fragment_id)
    if fragment.researcher_id != actor.id:
        raise Forbidden("Only the researcher who captured a fragment uploads its audio.", code="not_your_fragment")
    consent = session.get(Consent, fragment.consent_id)
    if lock:
        # The consent first, FOR SHARE, in the order a withdrawal or narrowing takes them (the consent FOR UPDATE,
        # then its fragments), so the two never deadlock: either it waits for this upload and then erases it, or
        # this upload waits for it and is refused. The fragment FOR UPDATE serialises with an erasure that locks
        # no consent (a retention purge of an unsigned consent's fragments) and with another upload of the same
        # fragment. (A purge that clears signatures locks those consents first, in the same order.)
        if consent is not None:
            session.refresh(consent, with_for_update={"read": True})
        session.exec(select(Fragment.id).where(Fragment.id == fragment.id).with_for_update()).one()
        session.refresh(fragment)
    if fragment.status != FragmentStatus.active:
        raise Conflict("This fragment was erased; its audio cannot be kept.", code="fragment_erased")
    if consent is None or consent.withdrawn_at is not None or not consent.allows(Scope.audio):
        raise Conflict("The participant's consent does not cover audio.", code="audio_not_consented")
    return fragment


def create_upload(session: Session, actor: Actor, length: int, metadata: dict[str, str]) -> tuple[AudioUpload, bool]:
    """Start an upload, or find the one already under way for the same clip. Answers (upload, created)."""
    limit = get_settings().media_max_bytes
    if length > limit:
        raise TooLarge(f"An audio clip may be at most {limit // (1024 * 1024)} MB.", code="clip_too_large")
    if length == 0:
        raise Invalid("An empty file is not an audio clip.", code="not_audio")
    try:
        fragment_id = uuid.UUID(metadata.get("fragment_id", ""))
    except ValueError as exc:
        raise Invalid("Upload-Metadata needs fragment_id: the id of the fragment the clip belongs to.",
                      code="invalid_metadata") from exc
    sha256 = metadata.get("sha256", "").lower()
    if not SHA256_HEX.match(sha256):
        raise Invalid("Upload-Metadata needs sha256: the clip's SHA-256 as 64 hex digits.", code="invalid_metadata")
    # Locked: a withdrawal landing meanwhile either finds this upload to erase or is seen here.
    fragment = _fragment_for_upload(session, actor, fragment_id, lock=True)
    clip = session.get(AudioClip, fragment.id)
    if clip is not None:
        if clip.sha256 != sha256 or clip.size != length:
            raise Conflict("This fragment already has another audio clip.", code="audio_exists")
        done = session.exec(select(AudioUpload).where(AudioUpload.fragment_id == fragment.id,
                                                      col(AudioUpload.completed_at).is_not(None))).first()
        if done is None:
            done = AudioUpload(id=uuid.uuid4(), fragment_id=fragment.id, uploaded_by=actor.id, length=length,
                               offset=length, sha256=sha256, completed_at=clip.uploaded_at)
            session.add(done)
        return done, False
    for other in session.exec(select(AudioUpload).where(AudioUpload.fragment_id == fragment.id,
                                                        col(AudioUpload.completed_at).is_(None))):
        if other.sha256 == sha256 and other.length == length:
            return other, False  # the phone lost the upload's address: carry on where it was
        if other.offset == other.length:
            continue  # all its bytes are here and it is being attached: the attach decides which clip stays
        _forget_upload(session, other, "superseded")
    upload = AudioUpload(id=uuid.uuid4(), fragment_id=fragment.id, uploaded_by=actor.id, length=length,
                         sha256=sha256, filename=(metadata.get("filename") or None) and metadata["filename"][:200],
                         filetype=(metadata.get("filetype") or None) and metadata["filetype"][:100],
                         duration_ms=_measured_ms(metadata.get("duration_ms")))
    session.add(upload)
    session.flush()
    return upload, True


def get_upload(session: Session, actor: Actor, upload_id: uuid.UUID) -> AudioUpload:
    """An upload of the caller's own; anyone else's does not exist for them."""
    upload = session.get(AudioUpload, upload_id)
    if upload is None or upload.uploaded_by != actor.id:
        raise NotFound("No such upload (it may have been finished long ago, abandoned, or erased).")
    return upload


# --- appending bytes -------------------------------------------------------------------------------------

def _begin_append(credentials: Any, upload_id: uuid.UUID, checks: Callable[[], int]) -> tuple[Actor, AudioUpload]:
    from api.people.deps import get_actor

    with open_session(read_only=True) as session:
        actor = get_actor(session, credentials)
        offset = checks()
        upload = get_upload(session, actor, upload_id)
        if offset != upload.offset:
            raise Conflict(f"Upload-Offset is {offset} but the server holds {upload.offset} bytes; "
                           "ask HEAD and continue from there.", code="offset_mismatch",
                           headers={"Upload-Offset": str(upload.offset), "Tus-Resumable": TUS_VERSION})
        if upload.completed_at is not None:
            return actor, upload
        # An erasure deletes the upload row, but a chunk must not rely on that alone: no byte of a withdrawn
        # fragment's audio is taken (the attach at the end checks again under a lock).
        try:
            _fragment_for_upload(session, actor, upload.fragment_id)
            return actor, upload
        except Conflict as exc:
            refused = exc
    with open_session() as session:
        _forget_upload(session, upload, "refused_at_append")
        session.commit()
    raise refused


def _record_offset(upload_id: uuid.UUID, before: int, after: int) -> bool:
    with open_session() as session:
        result = session.execute(sa.update(AudioUpload).where(col(AudioUpload.id) == upload_id,
                                                              col(AudioUpload.offset) == before)
                                 .values(offset=after, updated_at=utcnow()))
        session.commit()
        return result.rowcount == 1  # type: ignore[attr-defined]


def _fsync_and_record(fd: int, upload: AudioUpload, received: int) -> bool:
    os.fsync(fd)
    return received == upload.offset or _record_offset(upload.id, upload.offset, received)


async def append(credentials: Any, upload_id: uuid.UUID, checks: Callable[[], int],
                 body: AsyncIterator[bytes]) -> UploadState:
    """tus PATCH: authenticate, run the request's `checks` (answering its Upload-Offset), append the body there,
    fsync, record the new offset; attach the clip once complete."""
    actor, upload = await run_in_threadpool(_begin_append, credentials, upload_id, checks)
    if upload.completed_at is not None:
        return state(upload)
    path = partial_path(upload.id)
    if upload.offset == upload.length and not path.exists():
        # A crash came after the bytes were moved into the store and before the clip was attached.
        await run_in_threadpool(_finish, actor, upload, None)
        upload.completed_at = utcnow()
        return state(upload)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Conflict("Another request is sending this upload's bytes; ask HEAD for the offset in a moment.",
                           code="upload_busy") from exc
        if os.fstat(fd).st_size < upload.offset:
            if not await run_in_threadpool(_record_offset, upload.id, upload.offset, 0):
                path.unlink(missing_ok=True)
                raise NotFound("This upload was erased or abandoned meanwhile.")
            raise Conflict("The server lost this upload's bytes; start again from offset 0.", code="offset_mismatch",
                           headers={"Upload-Offset": "0", "Tus-Resumable": TUS_VERSION})
        # Bytes beyond the recorded offset were written by a request that never confirmed them.
        os.ftruncate(fd, upload.offset)
        os.lseek(fd, upload.offset, os.SEEK_SET)
        received = upload.offset
        try:
            async for chunk in body:
                if received + len(chunk) > upload.length:
                    raise Invalid(f"More bytes than the Upload-Length of {upload.length}.", code="beyond_length")
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                received += len(chunk)
        except ClientDisconnect:
            pass  # keep what arrived: the phone resumes from it
        except BaseException:
            os.ftruncate(fd, upload.offset)
            raise
        if not await run_in_threadpool(_fsync_and_record, fd, upload, received):
            path.unlink(missing_ok=True)
            raise NotFound("This upload was erased or abandoned meanwhile.")
        upload.offset = received
        if received == upload.length:
            await run_in_threadpool(_finish, actor, upload, path)
            upload.completed_at = utcnow()
    finally:
        os.close(fd)
    return state(upload)


def _hash_and_head(path: Path) -> tuple[str, bytes]:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
        digest.update(head)
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest(), head


def _discard(upload: AudioUpload, path: Path) -> None:
    path.unlink(missing_ok=True)
    with open_session() as session:
        session.execute(sa.delete(AudioUpload).where(col(AudioUpload.id) == upload.id))
        session.commit()


def _stored_head(upload: AudioUpload) -> tuple[str, bytes]:
    key = storage_key(upload.fragment_id, upload.id)
    try:
        head = b"".join(get_storage().read(key, 0, SNIFF_BYTES - 1))
    except (StorageUnavailable, OSError) as exc:
        if _record_offset(upload.id, upload.offset, 0):
            raise Conflict("The server lost this upload's bytes; start again from offset 0.", code="offset_mismatch",
                           headers={"Upload-Offset": "0", "Tus-Resumable": TUS_VERSION}) from exc
        raise NotFound("This upload was erased or abandoned meanwhile.") from exc
    return upload.sha256, head  # only bytes whose SHA-256 matched were ever moved into the store


def _finish(actor: Actor, upload: AudioUpload, path: Path | None) -> None:
    """All bytes are here: check them, move them into the store, attach the clip to its fragment."""
    try:
        sha256, head = _hash_and_head(path) if path else _stored_head(upload)
    except FileNotFoundError as exc:
        # An erasure (or the upload's replacement) deleted the partial file after its last offset was recorded.
        raise NotFound("This upload was erased or abandoned meanwhile.") from exc
    if path is not None and sha256 != upload.sha256:
        _discard(upload, path)
        raise Invalid("The clip's bytes do not match the SHA-256 sent when the upload began; nothing was kept.",
                      code="checksum_mismatch")
    content_type = sniff(head)
    if content_type is None:
        if path is not None:
            _discard(upload, path)
        raise UnsupportedMediaType("This is not an audio file we recognise (WebM, Ogg, MP4/M4A, MP3 or WAV); "
                                   "nothing was kept.", code="not_audio")
    key = storage_key(upload.fragment_id, upload.id)
    try:
        # The upload row (not yet completed) stands for this object until the clip is attached: an abandoned
        # upload's clean-up removes both.
        if path is not None:
            get_storage().put(key, path)
    except FileNotFoundError as exc:  # as above, between the hash and the put (S3; the filesystem store says 503)
        raise NotFound("This upload was erased or abandoned meanwhile.") from exc
    except StorageUnavailable as exc:
        log.warning("media store unavailable while finishing upload %s: %s", upload.id, exc)
        raise Unavailable("The audio store is not reachable; send the last chunk again in a moment.",
                          code="storage_unavailable", headers={"Retry-After": "30"}) from exc
    with open_session() as session:
        try:
            fragment = _fragment_for_upload(session, actor, upload.fragment_id, lock=True)
            if session.get(AudioClip, fragment.id) is not None:
                raise Conflict("This fragment already has another audio clip.", code="audio_exists")
        except (Conflict, NotFound, Forbidden):
            session.rollback()
            _forget_upload(session, session.get(AudioUpload, upload.id) or upload, "refused_at_attach",
                           project_id=None)
            session.commit()
            raise
        finished = session.execute(sa.update(AudioUpload).where(col(AudioUpload.id) == upload.id,
                                                                col(AudioUpload.completed_at).is_(None))
                                   .values(completed_at=utcnow(), updated_at=utcnow()))
        if finished.rowcount != 1:  # type: ignore[attr-defined]
            # The upload was forgotten meanwhile (replaced by a newer one, or abandoned): its object may already
            # be queued for deletion, so nothing is attached, and the phone, told so, keeps its clip.
            session.rollback()
            _forget_upload(session, upload, "superseded", project_id=fragment.project_id)
            session.commit()
            raise Conflict("This upload was replaced by a newer one for the same fragment; nothing was kept "
                           "from it.", code="upload_superseded")
        session.add(AudioClip(fragment_id=fragment.id, storage_key=key, content_type=content_type,
                              size=upload.length, sha256=sha256,
                              duration_ms=duration_ms(content_type, head) or upload.duration_ms,
                              uploaded_by=actor.id))
        feed.record(session, project_id=fragment.project_id, entity="fragment", entity_id=fragment.id,
                    owner_id=fragment.researcher_id)
        audit.record(session, actor_id=actor.id, action="audio.attach", entity="fragment", entity_id=fragment.id,
                     project_id=fragment.project_id, detail={"size": upload.length, "content_type": content_type})
        session.commit()


# --- playback ----------------------------------------------------------------------------------------------

def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range asked for (inclusive), None for the whole clip. Several ranges get the whole clip."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    unsatisfiable = RangeNotSatisfiable(f"The clip has {size} bytes.", headers={"Content-Range": f"bytes */{size}"})
    if not (first + last).isascii():  # "²".isdigit() is true, but int() refuses it
        return None
    if not dash or not (first.isdigit() or last.isdigit()) or (first and not first.isdigit()) or \
            (last and not last.isdigit()):
        return None
    if not first:
        n = int(last)
        if n == 0:
            raise unsatisfiable
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise unsatisfiable
    return start, end


def open_clip(session: Session, fragment: Fragment) -> AudioClip:
    clip = session.get(AudioClip, fragment.id)
    if clip is None or fragment.status != FragmentStatus.active:
        raise NotFound("This fragment has no audio clip.", code="no_audio")
    return clip


def read_clip(clip: AudioClip, start: int, end: int) -> Iterable[bytes]:
    """The clip's bytes start..end as an iterator whose first chunk is already read, so a missing or
    unreachable object answers 503 before any header is sent."""
    try:
        chunks = iter(get_storage().read(clip.storage_key, start, end))
        first = next(chunks, b"")
    except (StorageUnavailable, OSError) as exc:
        log.warning("cannot read clip %s: %s", clip.storage_key, exc)
        raise Unavailable("The audio store is not reachable; try again in a moment.", code="storage_unavailable",
                          headers={"Retry-After": "30"}) from exc

    def stream() -> Iterable[bytes]:
        yield first
        yield from chunks

    return stream()


# --- erasure -----------------------------------------------------------------------------------------------

def _queue(session: Session, target: DeletionTarget, key: str, fragment_id: uuid.UUID | None,
           project_id: uuid.UUID | None, reason: str) -> None:
    session.add(MediaDeletion(target=target, key=key, fragment_id=fragment_id, project_id=project_id, reason=reason))
    session.info.setdefault(_DRAIN_AFTER_COMMIT, set()).add(key)


def _forget_upload(session: Session, upload: AudioUpload, reason: str, project_id: uuid.UUID | None = None) -> None:
    if upload.completed_at is None:
        _queue(session, DeletionTarget.partial, f"{upload.id}.part", upload.fragment_id, project_id, reason)
        _queue(session, DeletionTarget.store, storage_key(upload.fragment_id, upload.id), upload.fragment_id,
               project_id, reason)
    session.execute(sa.delete(AudioUpload).where(col(AudioUpload.id) == upload.id))


def erase_clips(session: Session, fragments: Iterable[Fragment], reason: str) -> list[uuid.UUID]:
    """Detach the fragments' clips and unfinished uploads, and queue their bytes for deletion, in this
    transaction; the bytes go once it commits. Answers the ids of fragments that had a clip."""
    by_id = {f.id: f for f in fragments}
    if not by_id:
        return []
    clips = clips_for(session, by_id)
    for clip in clips.values():
        _queue(session, DeletionTarget.store, clip.storage_key, clip.fragment_id,
               by_id[clip.fragment_id].project_id, reason)
        session.delete(clip)
    for upload in session.exec(select(AudioUpload).where(col(AudioUpload.fragment_id).in_(list(by_id)))).all():
        _forget_upload(session, upload, reason, by_id[upload.fragment_id].project_id)
    session.flush()
    return list(clips)


@event.listens_for(Session, "after_commit")
def _drain_after_commit(session: Session) -> None:
    keys = session.info.pop(_DRAIN_AFTER_COMMIT, None)
    if keys:
        drain_deletions(keys=keys)


@event.listens_for(Session, "after_rollback")
def _forget_pending_drain(session: Session) -> None:
    session.info.pop(_DRAIN_AFTER_COMMIT, None)


def _delete_bytes(row: MediaDeletion) -> bool:
    """Delete the bytes; answers False for a partial file this server's disk does not hold (another host's goes
    in that host's sweep_partials)."""
    if row.target == DeletionTarget.partial:
        try:
            (partial_dir() / row.key).unlink()
        except FileNotFoundError:
            return False
        return True
    get_storage().delete(row.key)
    return True


def drain_deletions(keys: Iterable[str] | None = None, limit: int = 500) -> tuple[int, int]:
    """Delete queued bytes; each success leaves an audit entry saying when. Answers (done, still queued)."""
    with open_session(read_only=True) as session:
        q = select(MediaDeletion).order_by(col(MediaDeletion.id)).limit(limit)
        if keys is not None:
            q = q.where(col(MediaDeletion.key).in_(list(keys)))
        rows = list(session.exec(q).all())
    done = failed = 0
    for row in rows:
        try:
            here = _delete_bytes(row)
        except (StorageUnavailable, OSError) as exc:
            failed += 1
            log.warning("could not erase %s %s yet (attempt %d): %s", row.target, row.key, row.attempts + 1, exc)
            with open_session() as session:
                session.execute(sa.update(MediaDeletion).where(col(MediaDeletion.id) == row.id)
                                .values(attempts=MediaDeletion.attempts + 1, last_error=str(exc)[:500]))
                session.commit()
            continue
        with open_session() as session:
            gone = session.execute(sa.delete(MediaDeletion).where(col(MediaDeletion.id) == row.id))
            if gone.rowcount == 1:  # type: ignore[attr-defined]  (another worker may have finished it first)
                project_id = row.project_id if row.project_id and session.get(Project, row.project_id) else None
                audit.record(session, actor_id=None, action="media.erased", entity="fragment",
                             entity_id=row.fragment_id, project_id=project_id,
                             detail={"target": row.target, "key": row.key, "reason": row.reason,
                                     "queued_at": row.queued_at.isoformat(), "attempts": row.attempts + 1,
                                     "on_this_server": here})
                done += 1
            session.commit()
    return done, failed


def clean_abandoned_uploads(days: int | None = None) -> int:
    """Forget uploads untouched for `days` (default: the setting, 7): their partial bytes and any object a
    crash left unattached are queued for deletion and removed. Answers how many uploads were forgotten."""
    cutoff = utcnow() - timedelta(days=get_settings().upload_abandoned_days if days is None else days)
    with open_session() as session:
        stale = list(session.exec(select(AudioUpload).where(col(AudioUpload.updated_at) < cutoff)).all())
        for upload in stale:
            _forget_upload(session, upload, "abandoned")
        session.commit()
    return len(stale)


def sweep_partials() -> int:
    """Delete every partial file on this server's disk whose upload is gone. With several servers a partial file
    lives on the one that took its chunks, while an erasure's queued deletion is done by whichever server erased:
    this sweep, run by each server for its own disk (api/maintenance.py), is what reaches the others' files.
    Answers how many it deleted."""
    # Read before the listing, with a grace: a file whose upload was created after this read is spared (its row
    # comes before its file).
    with open_session() as session:
        known = set(session.exec(select(AudioUpload.id)))  # type: ignore[call-overload]
    grace = time.time() - ORPHAN_GRACE_SECONDS
    deleted = 0
    for path in partial_dir().glob("*.part"):
        try:
            orphan = uuid.UUID(path.stem) not in known
        except ValueError:
            orphan = True
        try:
            if orphan and path.stat().st_mtime < grace:
                path.unlink()
                deleted += 1
                log.info("deleted partial upload %s: its upload is gone", path.name)
        except FileNotFoundError:
            pass  # a request or another sweep removed it meanwhile
    return deleted


def maintain(abandoned_days: int | None = None) -> dict[str, int]:
    """One round of media upkeep (`hearken media-maintenance`): clean abandoned uploads, sweep this server's
    partial files, retry queued erasures."""
    cleaned = clean_abandoned_uploads(abandoned_days)
    swept = sweep_partials()
    done, failed = drain_deletions()
    return {"erased": done, "still_queued": failed, "abandoned_uploads": cleaned, "partial_files_deleted": swept}


def queued_deletions(session: Session) -> list[MediaDeletion]:
    return list(session.exec(select(MediaDeletion).order_by(col(MediaDeletion.id))))
