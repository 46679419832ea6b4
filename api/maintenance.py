"""Scheduled upkeep in one place: what `hearken maintain` runs once and `hearken serve` runs on a timer.

- Media (every minute): retry queued erasures of audio bytes, forget abandoned uploads (api/media).
- Planner statistics (every few hours): `ANALYZE` on PostgreSQL; on SQLite `ANALYZE` with an analysis limit (a
  sample, quick at a million rows) — SQLite keeps no statistics of its own, and `PRAGMA optimize` in a fresh
  connection has no queries to learn from. The fragment queries are written to stay right without statistics
  (see api/fragments/service.py's FEW_CANDIDATES), but the planners choose better among indexes with them.
"""

import logging
import threading
import time
from typing import Any

import sqlalchemy as sa

from api.config import get_settings
from api.db import get_engine

log = logging.getLogger(__name__)

STATISTICS_EVERY_SECONDS = 6 * 3600
# Rows SQLite's ANALYZE reads per index (its documented range for a quick, approximate analysis is 100–1000).
SQLITE_ANALYSIS_LIMIT = 1000


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


def maintain(statistics: bool = True) -> dict[str, Any]:
    from api.media import service as media

    result: dict[str, Any] = dict(media.maintain())
    if statistics:
        result.update(refresh_statistics())
    return result


def start_worker(interval: float | None = None) -> threading.Thread | None:
    """Media upkeep every `interval` seconds and statistics every few hours, in a daemon thread (started once by
    `hearken serve`, however many workers serve requests)."""
    interval = get_settings().media_worker_seconds if interval is None else interval
    if interval <= 0:
        return None

    def loop() -> None:
        next_statistics = time.monotonic() + 60  # soon after start: a restore or a big import may have none
        while True:
            due = time.monotonic() >= next_statistics
            try:
                maintain(statistics=due)
            except Exception:  # the loop must outlive a bad round; the next one retries
                log.exception("maintenance round failed")
            if due:
                next_statistics = time.monotonic() + STATISTICS_EVERY_SECONDS
            time.sleep(interval)

    thread = threading.Thread(target=loop, name="hearken-maintenance", daemon=True)
    thread.start()
    return thread
