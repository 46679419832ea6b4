"""Erased words leave the database files, not only the rows.

An UPDATE that empties a column leaves the old value behind in places a row read never sees: SQLite's write-ahead
log (-wal) and the FTS5 index, PostgreSQL's old row versions (and their TOAST and index entries). What this module
guarantees, per database (the README's "What erasure guarantees" says it to operators):

- SQLite: FTS5 runs with `secure-delete` (SQLite >= 3.42, from the sqlean.py wheel), so an erasure removes its
  words from the index in place, in the erasing transaction, at a cost in proportion to what it erases;
  `secure_delete` zeroes freed bytes in pages; and right after the erasing transaction commits, before the
  request answers, the WAL is checkpointed into the main file and truncated to zero bytes. A reader that holds an
  older snapshot open can stop the truncation for a moment: then the maintenance worker retries within a round.
  With a SQLite older than 3.42 the index is instead merged whole (`optimize`) in the erasing transaction.
- PostgreSQL: an UPDATE writes a new row version and leaves the old one (and its GIN entries) in the files
  until the table is rewritten. The maintenance worker (every process may run it; one at a time does, under an
  advisory lock) runs `VACUUM FULL` on the tables erasures touch once erasures are recorded in the audit log after
  the last compaction, and records `storage.compacted`. `hearken compact-erased` does the same at once.

Neither database can reach copies outside itself: PostgreSQL's WAL segments and archives and any backup hold
erased words until they are recycled or rotated out.
"""

import logging
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.audit import service as audit
from api.audit.models import AuditEntry
from api.config import get_settings
from api.db import open_session, write_queue
from api.errors import Busy
from api.media import service as _media  # noqa: F401  (its after-commit hook must register first)

log = logging.getLogger("hearken.erasure")

_ERASED = "hearken_erased"
# Audit actions after which some personal words were erased from rows.
ERASING_ACTIONS = ("consent.withdraw", "consent.narrow", "retention.purge")
COMPACTED = "storage.compacted"
# The tables whose rows an erasure empties (PostgreSQL rewrites these; their TOAST tables and indexes go along).
ERASED_TABLES = ("fragments", "consents", "conversations", "audio_clips", "audio_uploads", "fragment_tags")
_PG_LOCK_KEY = 0x4845524B  # "HERK": one compaction at a time across processes
CHECKPOINT_WAIT_SECONDS = 2.0

_checkpoint_owed: set[str] = set()  # SQLite URLs whose post-erasure checkpoint could not truncate yet


def mark_erased(session: Session) -> None:
    """Called by every erasing step: once this transaction commits, the files are cleaned as described above."""
    session.info[_ERASED] = True


def fts_secure_delete(session: Session) -> bool:
    """Whether the FTS5 index removes erased words in place (else the caller merges it whole)."""
    row = session.execute(sa.text("SELECT v FROM fragments_fts_config WHERE k = 'secure-delete'")).first()
    return row is not None and str(row[0]) == "1"


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Runs after media's own after-commit hook (imported above, so registered earlier), which deletes the clips'
    # bytes and writes their audit rows: the checkpoint then folds those in too and leaves the WAL empty.
    if not session.info.pop(_ERASED, False):
        return
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        checkpoint(bind.engine)
    else:
        _wake.set()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_ERASED, None)


def checkpoint(engine: Engine, wait_seconds: float = CHECKPOINT_WAIT_SECONDS) -> bool:
    """Fold SQLite's WAL into the main file and truncate it to zero bytes. Answers whether it was truncated
    (a reader on an older snapshot can prevent it; it is then owed and retried by `maintain`)."""
    queue = write_queue(engine)
    key = str(engine.url)
    try:
        if queue is not None:
            queue.acquire()  # no writer of this process slips in between the frames and the truncation
    except Busy:
        _checkpoint_owed.add(key)
        return False
    try:
        raw: Any = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(f"PRAGMA busy_timeout={int(wait_seconds * 1000)}")
            blocked = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            cur.execute(f"PRAGMA busy_timeout={int(get_settings().sqlite_busy_timeout_seconds * 1000)}")
            cur.close()
        finally:
            raw.close()
    finally:
        if queue is not None:
            queue.release()
    if blocked:
        log.warning("the WAL could not be truncated after an erasure (a long read?); retrying in the next round")
        _checkpoint_owed.add(key)
        return False
    _checkpoint_owed.discard(key)
    return True


def _pending_since_compaction(session: Session) -> int | None:
    """The newest erasing audit entry not yet followed by a compaction, or None."""
    newest = session.exec(select(sa.func.max(AuditEntry.id)).where(col(AuditEntry.action).in_(ERASING_ACTIONS))).one()
    if newest is None:
        return None
    last = session.exec(select(AuditEntry.detail).where(AuditEntry.action == COMPACTED)
                        .order_by(col(AuditEntry.id).desc()).limit(1)).first()
    done_through = int((last or {}).get("through", 0))
    return newest if newest > done_through else None


def compact_postgresql(engine: Engine, force: bool = False) -> bool:
    """VACUUM FULL the erased tables if erasures happened since the last compaction (or `force`). Runs in one
    process at a time; answers whether it ran."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({_PG_LOCK_KEY})").scalar():
            return False
        try:
            with Session(conn) as session:
                through = _pending_since_compaction(session)
            if through is None and not force:
                return False
            started = time.monotonic()
            for table in ERASED_TABLES:
                conn.exec_driver_sql(f'VACUUM (FULL, ANALYZE) "{table}"')
            with open_session() as session:
                audit.record(session, actor_id=None, action=COMPACTED, entity="database", entity_id=None,
                             project_id=None, detail={"through": through or 0, "tables": list(ERASED_TABLES),
                                                      "seconds": round(time.monotonic() - started, 3)})
                session.commit()
            return True
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_LOCK_KEY})")


def maintain(engine: Engine) -> None:
    """One round: a SQLite checkpoint still owed, or a PostgreSQL compaction once erasures are waiting for one and
    the last compaction is older than HEARKEN_ERASURE_COMPACT_MINUTES."""
    if engine.dialect.name == "sqlite":
        if str(engine.url) in _checkpoint_owed:
            checkpoint(engine)
        return
    minutes = get_settings().erasure_compact_minutes
    if minutes <= 0:
        return
    global _last_compaction
    if time.monotonic() - _last_compaction < minutes * 60:
        return
    if compact_postgresql(engine):
        _last_compaction = time.monotonic()


_last_compaction = float("-inf")
_wake = threading.Event()


def start_worker(interval: float | None = None) -> threading.Thread | None:
    """Run maintain() in a daemon thread (started by `hearken serve`): every `interval` seconds, and soon after
    an erasure commits."""
    from api.db import get_engine

    interval = get_settings().media_worker_seconds if interval is None else interval
    if interval <= 0:
        return None

    def loop() -> None:
        while True:
            _wake.wait(interval)
            _wake.clear()
            try:
                maintain(get_engine())
            except Exception:  # the loop must outlive a bad round; the next one retries
                log.exception("erasure maintenance round failed")

    thread = threading.Thread(target=loop, name="hearken-erasure-worker", daemon=True)
    thread.start()
    return thread
