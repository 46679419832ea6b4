"""The background loop (api/maintenance.py): every job runs under its own lock, so with several processes running
the loop only one runs a job at a time; `hearken serve` starts every job from that one place."""

import threading
from typing import Any

import pytest

from api import db, maintenance


def test_a_job_held_by_one_runner_is_skipped_by_another(engine) -> None:
    entered, release = threading.Event(), threading.Event()
    runs: list[str] = []

    def work() -> str:
        runs.append(threading.current_thread().name)
        entered.set()
        release.wait(30)
        return "done"

    job = maintenance.Job("test-exclusive", 60, work)
    first = threading.Thread(target=job.run_once, name="first")
    first.start()
    assert entered.wait(30)
    assert job.run_once() is None  # the lock is held (another connection / file description): this round skips
    release.set()
    first.join(30)
    assert runs == ["first"]
    assert job.run_once() == "done"  # released with the round: the next one runs
    assert len(runs) == 2


def test_locks_are_per_job(engine) -> None:
    with maintenance.job_lock("test-a") as a, maintenance.job_lock("test-b") as b:
        assert a and b
        with maintenance.job_lock("test-a") as again:
            assert not again


def test_a_failing_round_releases_the_lock(engine) -> None:
    def fail() -> Any:
        raise RuntimeError("boom")

    job = maintenance.Job("test-fail", 60, fail)
    with pytest.raises(RuntimeError):
        job.run_once()
    with maintenance.job_lock("test-fail") as mine:
        assert mine


def test_serve_starts_every_background_job_from_one_place(engine, monkeypatch) -> None:
    names = [j.name for j in maintenance.jobs()]
    assert names[0] == "media" and names[1].startswith("media-partials-")  # this server's own disk
    assert names[2:] == ["compaction", "checkpoint", "search-index", "webhooks", "statistics", "purge"]
    started: list[str] = []
    monkeypatch.setattr(maintenance, "jobs", lambda: [maintenance.Job("x", 0, lambda: None),
                                                     maintenance.Job("y", 3600, lambda: started.append("y"))])
    threads = maintenance.start()
    assert [t.name for t in threads] == ["hearken-y"]  # a job set to 0 is off
    threads[0].join(0.5)
    assert started == ["y"]


def test_statistics_are_gathered_at_once_when_the_fragments_have_none(engine, monkeypatch) -> None:
    monkeypatch.setenv("HEARKEN_MEDIA_WORKER_SECONDS", "60")
    from api.config import get_settings

    get_settings.cache_clear()
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
                conn.exec_driver_sql("DELETE FROM sqlite_stat1")
        else:
            conn.exec_driver_sql("DELETE FROM pg_statistic WHERE starelid = 'fragments'::regclass")
    assert not maintenance.has_statistics()
    assert next(j for j in maintenance.jobs() if j.name == "statistics").first_after == 0



def test_every_job_with_nothing_to_do_waits_for_its_interval(engine) -> None:
    """A round's report (media's counts, the statistics' seconds) once read as "more is due at once": the media
    and statistics jobs ran back to back for ever, an idle server burning a core on ANALYZE. Each real job runs
    here with its first round at once and a long interval: none may start a second round."""
    again, finished = threading.Event(), threading.Semaphore(0)
    rounds: dict[str, int] = {}

    def counted(name: str, work: Any) -> Any:
        def run() -> Any:
            rounds[name] = rounds.get(name, 0) + 1
            if rounds[name] > 1:
                again.set()
            try:
                return work()
            finally:
                finished.release()
        return run

    selected = [maintenance.Job(job.name, 10**6, counted(job.name, job.work), wake=threading.Event())
                for job in maintenance.jobs() if job.every > 0]
    assert {job.name for job in selected} >= {"media", "compaction", "statistics", "purge"}
    maintenance.start(selected)  # daemon threads; after their one round they wait 10**6 s on events never set
    for _ in selected:
        assert finished.acquire(timeout=60)  # every first round is over before the database goes
    assert not again.wait(2), rounds
    assert set(rounds) == {job.name for job in selected}


def test_the_loop_checkpoints_sqlites_wal_so_no_request_does(engine) -> None:
    job = next(j for j in maintenance.jobs() if j.name == "checkpoint")
    if engine.dialect.name != "sqlite":
        assert job.every == 0  # PostgreSQL checkpoints by itself
        return
    assert job.every == maintenance.CHECKPOINT_SECONDS
    with engine.begin() as conn:
        # A write crosses SQLite's own threshold only past ~40 MB of WAL, which the loop never lets it reach.
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == db.WAL_AUTOCHECKPOINT_PAGES
        conn.exec_driver_sql("INSERT INTO audit_log (at, action, entity, detail) "
                             "VALUES ('2026-11-30 06:00:00.000000', 'test.checkpoint', 'test', '{}')")
    report = job.run_once()
    assert report["wal_frames"] > 0 and report["checkpointed"] == report["wal_frames"]
