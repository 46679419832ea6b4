"""Background work in one place: what `hearken serve` runs beside the API, and `hearken maintain` runs once.

- media (every HEARKEN_MEDIA_WORKER_SECONDS, 60 s): retry queued erasures of audio bytes, forget abandoned uploads.
- compaction (as often, and at once after an erasure in this process): erased words out of the database files
  (api/fragments/compaction.py).
- checkpoint (SQLite, every second): the WAL's pages copied back into the database file, off the request path
  (api/db.py's wal_autocheckpoint).
- search index (SQLite, every 10 s while media runs): merge the FTS5 segments syncs wrote, which FTS5 no longer does
  inside each write (api/fragments/compaction.py's merge_new_segments).
- webhooks (every HEARKEN_WEBHOOK_WORKER_SECONDS, 2 s, at once while work is due): deliveries (api/webhooks).
- statistics (every 6 hours; the first at start if the fragments have none, else a minute after): below.
- purge (every HEARKEN_PURGE_HOURS, 24; 0: off): what is past its project's retention (api/fragments/retention.py).

The overview's weekly counts need no job: triggers keep overview_counts in the writing transaction.

Each job runs in its own daemon thread (a slow one — a webhook receiver's timeout, a VACUUM FULL — holds up no
other), and each round runs under a lock named for the job, so however many processes run the loop (`--workers N`
starts it once, in the supervising process; several `hearken serve` on one PostgreSQL database start it each) only
one runs a job at a time, and the others skip that round: on PostgreSQL a session advisory lock, on SQLite (one
host by nature) an exclusive `flock` of a file beside the database. Both are released by the operating system or
the server if the process dies, so no stale lock outlives a crash.

SQLite keeps no planner statistics of its own and `PRAGMA optimize` in a fresh connection has no queries to learn
from, so statistics are an `ANALYZE` with an analysis limit (a sample, quick at a million rows). The fragment
queries are written to stay right without statistics (api/fragments/service.py's FEW_CANDIDATES), but the
planners choose better among indexes with them.
"""

import contextlib
import fcntl
import logging
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from api.config import get_settings
from api.db import get_engine

log = logging.getLogger(__name__)

STATISTICS_EVERY_SECONDS = 6 * 3600
CHECKPOINT_SECONDS = 1.0
# Each write leaves its words as a small FTS5 segment; searches read every segment, so they are merged soon.
SEARCH_MERGE_SECONDS = 10.0
# Rows SQLite's ANALYZE reads per index (its documented range for a quick, approximate analysis is 100–1000).
SQLITE_ANALYSIS_LIMIT = 1000
_LOCK_SPACE = 0x48524B4A  # "HRKJ": the advisory-lock key space of these jobs (compaction's own is "HERK")


def refresh_statistics() -> dict[str, Any]:
    engine = get_engine()
    started = time.perf_counter()
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("PRAGMA optimize")
        else:
            conn.execute(sa.text("ANALYZE"))
        conn.commit()
    return {"statistics_seconds": round(time.perf_counter() - started, 2)}


def checkpoint() -> dict[str, int]:
    """SQLite: copy what the WAL holds back into the database file (PASSIVE: it waits for no reader or writer, and
    what they still use is left to the next round). The WAL then starts again from its beginning."""
    raw: Any = get_engine().raw_connection()  # no transaction: a checkpoint cannot run inside one
    try:
        _, frames, copied = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        raw.close()
    return {"wal_frames": frames, "checkpointed": copied}


def has_statistics() -> bool:
    """Whether the planner has statistics of the fragments table (without them a few filters sort the project)."""
    engine = get_engine()
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            if not conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
                return False
            sql = "SELECT 1 FROM sqlite_stat1 WHERE tbl = 'fragments' LIMIT 1"
        else:
            sql = "SELECT 1 FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'fragments' LIMIT 1"
        return conn.exec_driver_sql(sql).first() is not None


def maintain(statistics: bool = True) -> dict[str, Any]:
    """`hearken maintain`: the media round, the search index's pending merges and planner statistics, once."""
    from api.fragments import compaction
    from api.media import service as media

    result: dict[str, Any] = dict(media.maintain())
    result["search_index_slices"] = compaction.merge_new_segments(get_engine())
    if statistics:
        result.update(refresh_statistics())
    return result


@contextlib.contextmanager
def job_lock(name: str) -> Iterator[bool]:
    """Hold the lock of job `name` while the block runs, if no other process holds it: yields whether it did."""
    engine = get_engine()
    if engine.dialect.name == "sqlite":
        folder = Path(engine.url.database or ".").resolve().parent
        with open(folder / f".hearken-job-{name}.lock", "a+") as f:  # noqa: PTH123
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        return
    key = zlib.crc32(name.encode()) & 0x7FFFFFFF  # the two-int form of the lock takes int4 keys
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if not conn.execute(sa.select(sa.func.pg_try_advisory_lock(_LOCK_SPACE, key))).scalar():
            yield False
            return
        try:
            yield True
        finally:
            conn.execute(sa.select(sa.func.pg_advisory_unlock(_LOCK_SPACE, key)))


@dataclass
class Job:
    name: str
    every: float  # seconds between rounds (0 or less: the job is off)
    work: Callable[[], Any]  # one round; answering True (exactly) means more is due at once, anything else waits
    first_after: float = 0.0
    wake: threading.Event | None = None  # set by the app to run a round before the interval ends

    def run_once(self) -> Any:
        with job_lock(self.name) as mine:
            return self.work() if mine else None


def _here() -> str:
    """This server's disk, as a short name: the host and the folder partial uploads go to."""
    from api.media.storage import partial_dir

    return f"{zlib.crc32(f'{socket.gethostname()}:{partial_dir().resolve()}'.encode()):08x}"


def jobs() -> list[Job]:
    from api.fragments import compaction, retention
    from api.media import service as media
    from api.webhooks.worker import Worker

    settings = get_settings()
    every = settings.media_worker_seconds
    sqlite = get_engine().dialect.name == "sqlite"
    first_compaction = [True]

    def compact() -> None:
        compaction.maintain(get_engine(), first_round=first_compaction[0])
        first_compaction[0] = False

    worker: list[Worker] = []

    def deliver() -> bool:
        if not worker:
            worker.append(Worker())
        return worker[0].run_once() > 0  # a full claim may have left more waiting

    def purge() -> int:
        erased = sum(r.fragments_erased + r.signatures_erased + r.notes_erased for _, r in retention.purge_all())
        if erased:
            compaction.compact(get_engine())
        return 0

    return [
        Job("media", every, media.maintain),
        # Partial uploads lie on the disk of the server that took them: each server sweeps its own, whatever
        # server holds the cluster's "media" lock (the lock is per data folder, so workers of one host take turns).
        Job(f"media-partials-{_here()}", every, media.sweep_partials),
        Job("compaction", every, compact, wake=compaction.wake_event()),
        Job("checkpoint", CHECKPOINT_SECONDS if sqlite else 0, checkpoint),
        Job("search-index", SEARCH_MERGE_SECONDS if every > 0 and sqlite else 0,
            lambda: compaction.merge_new_segments(get_engine())),
        Job("webhooks", settings.webhook_worker_seconds if settings.webhook_worker else 0, deliver),
        # At once when the fragments have no statistics (a restore, a big import, autovacuum off), otherwise soon.
        Job("statistics", STATISTICS_EVERY_SECONDS if every > 0 else 0, refresh_statistics,
            first_after=0.0 if every > 0 and not has_statistics() else 60.0),
        Job("purge", settings.purge_hours * 3600, purge, first_after=300.0),
    ]


def start(selected: list[Job] | None = None) -> list[threading.Thread]:
    """Start every job that is on, each in its daemon thread; called once by `hearken serve`."""
    threads = []
    for job in selected if selected is not None else jobs():
        if job.every <= 0:
            continue

        def loop(job: Job = job) -> None:
            wake = job.wake or threading.Event()
            if job.first_after:
                wake.wait(job.first_after)
            while True:
                try:
                    more = job.run_once()
                except Exception:  # the loop must outlive a bad round; the next one retries
                    log.exception("background job %s: a round failed", job.name)
                    more = None
                if more is not True:  # a report (a dict, a count) is no reason to run again at once
                    wake.wait(job.every)
                    wake.clear()

        thread = threading.Thread(target=loop, name=f"hearken-{job.name}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads
