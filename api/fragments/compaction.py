"""Erased words leave the database files, not only the rows.

An UPDATE that empties a column leaves the old value in places no row read sees: SQLite's write-ahead log (-wal)
and the FTS5 search index's segments; PostgreSQL's old row versions (and their TOAST and index entries). What
this module guarantees, per database (the README's "What erasure guarantees" says it to operators):

- SQLite. `secure_delete` zeroes freed bytes in pages. Right after the erasing transaction commits, before the
  request answers, the WAL is checkpointed into the main file and truncated to zero bytes: the rows' old
  contents are then in neither file. The search index is told to forget the words in that transaction (FTS5's
  'delete', from the triggers), but FTS5 only marks them deleted until their segments are merged, and a merge costs
  the whole index (7.8 s at 1M fragments), not the erasure. So the merge runs off the request path: the worker
  starts it as soon as the erasure commits, in slices of MERGE_PAGES pages, each its own short write transaction
  (syncs go on between them), then checkpoints again. Until it ends — seconds; about 10 s at 1M fragments — the
  erased words are in the index's pages in the main file, unreadable through Hearken.
  (FTS5's own `secure-delete` option, SQLite >= 3.42, removes them in place instead, but measured 250× slower
  than a plain erasure: 4–5 s for 500 fragments at 100k, so a withdrawal would hold every phone's sync.)
- PostgreSQL. An UPDATE writes a new row version and leaves the old one (and its GIN entries) in the files until
  the table is rewritten. The worker runs `VACUUM FULL` of the tables erasures touch once an erasure is recorded
  in the audit log after the last compaction (at most every HEARKEN_ERASURE_COMPACT_MINUTES; one process at a
  time, under an advisory lock) and every transaction older than it has ended (VACUUM FULL keeps the row versions
  a running transaction may still see), and records `storage.compacted`. `hearken compact-erased` does it at once.

Neither database reaches copies outside itself: PostgreSQL's WAL segments and archives, and every backup, hold
erased words until they are recycled or rotated out.
"""

import logging
import threading
import time
from collections.abc import Callable
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
# Audit actions after which personal words were erased from rows.
ERASING_ACTIONS = ("consent.withdraw", "consent.narrow", "retention.purge")
COMPACTED = "storage.compacted"
# The tables whose rows an erasure empties or rewrites (PostgreSQL rewrites these; their TOAST tables and indexes go
# along): the records themselves, and where the team quoted them (memos, workshop notes and the boards' logs).
ERASED_TABLES = ("fragments", "consents", "conversations", "audio_clips", "audio_uploads", "fragment_tags", "memos",
                 "workshop_notes", "workshop_themes", "workshop_ops", "tags")
_PG_LOCK_KEY = 0x4845524B  # "HERK": one compaction at a time across processes
CHECKPOINT_WAIT_SECONDS = 2.0
LOCK_WAIT_SECONDS = 2.0  # how long VACUUM FULL waits for a table (PostgreSQL)
SEARCH_INDEXES = ("fragments_fts", "fragments_fts_english")  # api/fragments/service.py's _FTS_TABLE
MERGE_PAGES = 500  # one slice of the index merge: about 0.1 s of work at 100k fragments

_owed: set[str] = set()  # databases (by URL) with an erasure this process has not compacted yet


def mark_erased(session: Session) -> None:
    """Called by every erasing step: once this transaction commits, the files are cleaned as described above."""
    session.info[_ERASED] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Runs after media's own after-commit hook (imported above, so registered earlier), which deletes the clips'
    # bytes and writes their audit rows: the checkpoint then folds those in too and leaves the WAL empty.
    if not session.info.pop(_ERASED, False):
        return
    engine = session.get_bind().engine
    _owed.add(str(engine.url))
    if engine.dialect.name == "sqlite":
        checkpoint(engine)
    _wake.set()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_ERASED, None)


def _in_write_turn(engine: Engine, work: Any) -> Any:
    """Run work(dbapi_connection) on a raw SQLite connection, in this process's writer queue."""
    queue = write_queue(engine)
    if queue is not None:
        queue.acquire()
    try:
        raw: Any = engine.raw_connection()
        try:
            return work(raw)
        finally:
            raw.close()
    finally:
        if queue is not None:
            queue.release()


def checkpoint(engine: Engine, wait_seconds: float = CHECKPOINT_WAIT_SECONDS) -> bool:
    """Fold SQLite's WAL into the main file and truncate it to zero bytes. Answers whether it was truncated (a
    reader on an older snapshot can prevent it for a moment; the next compaction checkpoints again)."""

    def run(raw: Any) -> bool:
        cur = raw.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(wait_seconds * 1000)}")
        blocked = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        cur.execute(f"PRAGMA busy_timeout={int(get_settings().sqlite_busy_timeout_seconds * 1000)}")
        cur.close()
        return not blocked

    try:
        done = _in_write_turn(engine, run)
    except Busy:
        done = False
    if not done:
        log.warning("the WAL could not be truncated after an erasure (a long read?); the next round retries")
        _owed.add(str(engine.url))
    return done


def merge_search_index(engine: Engine, pages: int = MERGE_PAGES) -> int:
    """Merge every FTS5 segment of each search index (exact words and English word forms) into one, a slice of
    `pages` pages per write transaction, so entries marked deleted leave the file (freed pages are zeroed by
    secure_delete). Answers how many slices it took."""
    slices = 0
    for table in SEARCH_INDEXES:
        slices += 1
        while _in_write_turn(engine, _merge_slice(table, -abs(pages))):
            slices += 1
    return slices


def merge_new_segments(engine: Engine, pages: int = MERGE_PAGES) -> int:
    """SQLite: the merging FTS5 would otherwise do inside every write (automerge is off, see the migration
    search_index_merged_in_background): segments are merged where a level holds 'usermerge' (4) or more, or a merge
    is under way, a slice of `pages` pages per short write transaction, until none is due. Answers the slices that
    did work."""
    if engine.dialect.name != "sqlite":
        return 0
    worked = 0
    for table in SEARCH_INDEXES:
        while _in_write_turn(engine, _merge_slice(table, pages)):
            worked += 1
    return worked


def _merge_slice(table: str, pages: int) -> Callable[[Any], bool]:
    """One 'merge' command of `pages` pages (negative: everything into one segment) in its own write transaction;
    the callable answers whether it merged anything (FTS5's documented test: the command itself counts as one
    change, work as more)."""

    def run(raw: Any) -> bool:
        before = raw.total_changes
        raw.execute("BEGIN IMMEDIATE")
        try:
            raw.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('merge', {pages})")
            raw.execute("COMMIT")
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        return raw.total_changes - before >= 2
    return run


def _newest_erasure(session: Session, after: int) -> int | None:
    return session.exec(select(sa.func.max(AuditEntry.id)).where(col(AuditEntry.action).in_(ERASING_ACTIONS),
                                                                 col(AuditEntry.id) > after)).one()


def _compacted_through(session: Session) -> int:
    """The newest erasing audit entry the last compaction covered (read from the log, not remembered: another
    process may have compacted since, and a restored database may hold other entries)."""
    last = session.exec(select(AuditEntry.detail).where(AuditEntry.action == COMPACTED)
                        .order_by(col(AuditEntry.id).desc()).limit(1)).first()
    return int((last or {}).get("through", 0))


def compact(engine: Engine, force: bool = False) -> bool:
    """Clean erased words out of the files if an erasure was recorded since the last compaction (or `force`):
    SQLite merges the search index and checkpoints; PostgreSQL rewrites the erased tables (VACUUM FULL), one
    process at a time. Records `storage.compacted` in the audit log; answers whether it ran."""
    key = str(engine.url)
    with open_session(read_only=True) as session:
        through = _newest_erasure(session, _compacted_through(session))
    if through is None and not force:
        _owed.discard(key)
        return False
    started = time.monotonic()
    if engine.dialect.name == "sqlite":
        detail: dict[str, Any] = {"search_index_slices": merge_search_index(engine)}
        checkpoint(engine)
    else:
        with open_session(read_only=True) as session:
            erased_at = session.exec(select(AuditEntry.at).where(AuditEntry.id == through)).first() if through \
                else None
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            if erased_at is not None and _older_transactions(conn, erased_at):
                _owed.add(key)
                return False  # VACUUM FULL must keep what they may still see: the next round tries again
            if not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({_PG_LOCK_KEY})").scalar():
                return False  # another process is at it; its compaction covers this erasure or the next round does
            try:
                # VACUUM FULL needs the table to itself: while it waits for the lock, every later query on the
                # table queues behind it. So it waits briefly, and a busy table is left to the next round.
                conn.exec_driver_sql(f"SET lock_timeout = '{int(LOCK_WAIT_SECONDS * 1000)}ms'")
                for table in ERASED_TABLES:
                    conn.exec_driver_sql(f'VACUUM (FULL, ANALYZE) "{table}"')
            except sa.exc.OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
                    raise
                log.info("compaction put off: %s is in use; the next round tries again", table)
                _owed.add(key)
                return False
            finally:
                conn.exec_driver_sql("RESET lock_timeout")
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_LOCK_KEY})")
        detail = {"tables": list(ERASED_TABLES)}
    with open_session() as session:
        audit.record(session, actor_id=None, action=COMPACTED, entity="database", entity_id=None, project_id=None,
                     detail={"through": through or 0, **detail, "seconds": round(time.monotonic() - started, 3)})
        session.commit()
    _owed.discard(key)
    if engine.dialect.name == "sqlite":
        checkpoint(engine)  # the audit row just written
    return True


def _older_transactions(conn: Any, since: Any) -> list[tuple[Any, ...]]:
    """Transactions that began before `since` and still run, in any database of the cluster (a snapshot covers
    them all): while one runs, VACUUM FULL copies the erased row versions it could still see (a long pg_dump, a
    forgotten session)."""
    return list(conn.execute(sa.text(
        "SELECT pid, datname, xact_start FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
        "AND xact_start < :since AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL)"), {"since": since}))


_last_pg_compaction = float("-inf")


def maintain(engine: Engine, first_round: bool = False) -> None:
    """One round of the worker: compact what this process erased (SQLite: at once; PostgreSQL: at most every
    HEARKEN_ERASURE_COMPACT_MINUTES), and on a first round anything an earlier process left owed."""
    global _last_pg_compaction
    key = str(engine.url)
    if not first_round and key not in _owed and engine.dialect.name == "sqlite":
        return
    if engine.dialect.name != "sqlite":
        minutes = get_settings().erasure_compact_minutes
        if minutes <= 0 or time.monotonic() - _last_pg_compaction < minutes * 60:
            return
        _last_pg_compaction = time.monotonic()  # the audit check below is itself a query: not every round
    compact(engine)


_wake = threading.Event()


def wake_event() -> threading.Event:
    """Set once an erasure commits in this process: the background loop's compaction job runs at once."""
    return _wake
