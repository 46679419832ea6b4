"""The database: engine, naming convention, column types, and the one place a transaction commits."""

import asyncio
import contextlib
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import anyio
import sqlalchemy as sa
from fastapi import Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel
from starlette.concurrency import run_in_threadpool

from api.config import get_settings
from api.errors import AppError, Busy

# Explicit constraint names, so migrations can name what they alter on both databases.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Full-text search lives beside the tables (FTS5 tables on SQLite; a trigger-kept `search_vector` column and its
# GIN index on PostgreSQL) and is made by hand in the migrations; autogenerate has no model for it and must leave
# it alone.
SEARCH_OBJECTS_PREFIX = "fragments_fts"
SEARCH_VECTOR_COLUMN = "search_vector"


def include_in_autogenerate(name: str | None, *_: Any) -> bool:
    """Alembic's include_name / include_object filter: everything but the search objects."""
    return not (name or "").startswith(SEARCH_OBJECTS_PREFIX) and name != SEARCH_VECTOR_COLUMN


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


# On SQLite every id is kept as its 16 bytes and every time as whole microseconds since 1970 (UTC), not as text
# (32 hex digits, 'YYYY-MM-DD HH:MM:SS.ffffff'): ids and capture times are most of what each index of fragments
# holds, and the text forms made the file 60% larger (2.1 KB a fragment at a million, against 1.33 KB). The
# columns keep the declared types they always had (CHAR(32), DATETIME; SQLite stores a value as it is given), so
# the schema and its migrations are the same on both databases; PostgreSQL keeps its own uuid and timestamptz.
# Order is kept: bytes compare as the hex did, microseconds as the text did. In the sqlite3 shell: hex(id), and
# datetime(captured_at / 1000000, 'unixepoch').
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def sqlite_micros(value: datetime) -> int:
    """A time as SQLite keeps it: whole microseconds since 1970 (UTC)."""
    return (value - _EPOCH) // _MICROSECOND


class _SqliteUuidBytes(sa.Uuid):  # type: ignore[type-arg]
    """sa.Uuid on SQLite (see make_engine): the id's 16 bytes in its CHAR(32) column."""

    def bind_processor(self, dialect: sa.Dialect) -> Any:
        def process(value: Any) -> bytes | None:
            if value is None:
                return None
            return (value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))).bytes
        return process

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Any:
        return lambda value: None if value is None else uuid.UUID(bytes=value)

    def literal_processor(self, dialect: sa.Dialect) -> Any:
        bind = self.bind_processor(dialect)
        return lambda value: f"X'{bind(value).hex()}'"


class _SqliteMicroseconds(sqlite.DATETIME):
    """UTCDateTime's form on SQLite: the integer it is given, in its DATETIME column."""

    def bind_processor(self, dialect: sa.Dialect) -> None:
        return None

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> None:
        return None


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python; whole microseconds since 1970 on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SqliteMicroseconds())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if dialect.name == "sqlite":
            return sqlite_micros(value)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return _EPOCH + value * _MICROSECOND
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ContentHash(sa.TypeDecorator[str]):
    """A synced record's content hash, 64 hex digits (or api/fragments/models.py's ERASED_HASH): its 32 bytes on
    SQLite, for the same reason as ids (above)."""

    impl = sa.String(64)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> Any:
        if dialect.name == "sqlite" and value is not None and len(value) == 64:
            return bytes.fromhex(value)
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> str | None:
        return value.hex() if isinstance(value, bytes) else value


def ts_column(nullable: bool = False, index: bool = False) -> Any:
    return sa.Column(UTCDateTime(), nullable=nullable, index=index)


def json_column(nullable: bool = True) -> Any:
    return sa.Column(sa.JSON(none_as_null=True), nullable=nullable)


def text_column(nullable: bool = True) -> Any:
    return sa.Column(sa.Text(), nullable=nullable)


class WriteQueue:
    """SQLite has one writer at a time. Left to itself, a waiting writer sleeps and retries (busy_timeout) in
    growing steps, so under many phones the order is luck and some wait until they give up. In one process
    writers instead queue here, first come first served, before BEGIN IMMEDIATE; a writer that has waited
    `wait_seconds` gets a 503 with Retry-After, long before a phone's own timeout."""

    def __init__(self, wait_seconds: float):
        self.wait_seconds = wait_seconds
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._abandoned: set[int] = set()

    def acquire(self) -> None:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            deadline = time.monotonic() + self.wait_seconds
            while self._serving != ticket:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._abandoned.add(ticket)  # the queue skips it when its turn comes
                    raise Busy()
                self._cond.wait(left)

    def release(self) -> None:
        with self._cond:
            self._serving += 1
            while self._serving in self._abandoned:
                self._abandoned.discard(self._serving)
                self._serving += 1
            self._cond.notify_all()


WAL_AUTOCHECKPOINT_PAGES = 10_000
_WRITE_LOCK_HELD = "hearken_write_lock_held"
_WRITE_QUEUES: "weakref.WeakKeyDictionary[Engine, WriteQueue]" = weakref.WeakKeyDictionary()


# Connections a process may hold at once: at least one for every thread that may want one (anyio's 40 request
# threads, the board streams' 4, the background jobs). With fewer, a burst of requests (sixty workshop screens
# joining at once) took every connection, and the sessions holding them waited for a free thread to end them while
# every thread waited for a connection: nothing moved until the pool's 30 s timeout, then 500s.
POOL_CONNECTIONS = 50


def make_engine(url: str, migrating: bool = False) -> Engine:
    """The app's engine. `hide_parameters`: a database error's message (and so the log of a failed request) never
    carries the statement's values, which may be a participant's words. `migrating`: for the migrations, which
    each work on the data as it was at their revision (ids as 32 hex digits on SQLite before b10b5a11d5e7)."""
    if url.startswith("sqlite"):
        settings = get_settings()
        queue = WriteQueue(settings.sqlite_write_wait_seconds)
        busy_ms = int(settings.sqlite_busy_timeout_seconds * 1000)
        engine = sa.create_engine(url, hide_parameters=True, pool_size=5, max_overflow=POOL_CONNECTIONS - 5,
                                  connect_args={"check_same_thread": False, "timeout": busy_ms / 1000})
        _WRITE_QUEUES[engine] = queue
        if not migrating:
            engine.dialect.colspecs = {**engine.dialect.colspecs, sa.Uuid: _SqliteUuidBytes}  # 16 bytes (above)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when a transaction begins (see the "begin" hook).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            # The background loop checkpoints the WAL every second (api/maintenance.py): left to SQLite's default
            # (1,000 pages), the write that crossed it copied the pages back and fsynced, inside its request —
            # 0.5 s at a time in a 2 GB file, every batch a phone syncs at a million fragments. A write still does
            # it past this many pages (~40 MB), should no loop run.
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            # Another process (the CLI's purge, a second worker) may hold the write lock; within one process
            # writers queue in WriteQueue and never reach this wait.
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            # Erased content must not linger in free pages of the file.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A writing transaction takes the write lock up front (IMMEDIATE), so two writers queue
            # instead of one failing with "database is locked" when it upgrades a read; reads stay
            # deferred and run beside a writer in WAL mode.
            if conn.get_execution_options().get("read_only", False):
                conn.exec_driver_sql("BEGIN")
                return
            queue.acquire()
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                queue.release()
                raise
            conn.connection.info[_WRITE_LOCK_HELD] = True

        def _end(conn: Any) -> None:
            if conn.connection.info.pop(_WRITE_LOCK_HELD, False):
                queue.release()

        event.listen(engine, "commit", _end)
        event.listen(engine, "rollback", _end)

        @event.listens_for(engine, "checkin")
        def _returned(_dbapi_conn: Any, record: Any) -> None:
            # A connection handed back without a commit or rollback event (an error mid-way) frees the queue too.
            if record.info.pop(_WRITE_LOCK_HELD, False):
                queue.release()

        return engine
    # psycopg prepares a statement run five times, and PostgreSQL may then plan it once for any value: for a search
    # word, a tag or a place that generic plan guesses a fixed selectivity and reads every match (a common word's
    # page: 2.8 s at a million fragments, against 1 ms planned for the word). Plan each execution for its values.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=POOL_CONNECTIONS - 10,
                            hide_parameters=True,
                            connect_args={"options": "-c plan_cache_mode=force_custom_plan"})


def write_queue(engine: Engine) -> WriteQueue | None:
    """The queue SQLite writers of this engine wait in (None on PostgreSQL)."""
    return _WRITE_QUEUES.get(engine)


_engine: Engine | None = None


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        settings = get_settings()
        if settings.resolved_database_url().startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        _engine = make_engine(settings.resolved_database_url())
    return _engine


def set_engine(engine: Engine | None) -> None:
    """Point the app at another engine (tests, CLI)."""
    global _engine
    _engine = engine


def open_session(read_only: bool = False) -> Session:
    engine = get_engine()
    bind = engine.execution_options(read_only=True) if read_only else engine
    return Session(bind, expire_on_commit=False)


# Requests that may hold a session at once, each in its turn; the rest wait in the event loop, holding nothing. A
# request holds its connection between its hops to a worker thread (its authentication, its handler, its commit);
# without turns, a burst of them (sixty board screens joining while forty long polls waited) held every connection
# and waited for a thread, while every thread waited for a connection: nothing moved until the pool's 30 s timeout,
# then 500s. The rest of the pool is for the board streams' looks (4), the background jobs (7) and a request's
# second connection (an API client's audit row).
SESSION_TURNS = 32
_TURN = "request_turn"


class _Turn:
    """A request's turn; given back once however its waiting ends (a wait for it again may be cancelled)."""

    def __init__(self, turns: asyncio.Semaphore) -> None:
        self.turns, self.held = turns, False

    async def take(self) -> None:
        await self.turns.acquire()
        self.held = True

    def give(self) -> None:
        if self.held:
            self.held = False
            self.turns.release()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One request, one transaction: the only commit, or a rollback on any exception.

    Async so that waiting for a turn and opening the session (no I/O: the connection is taken at the first query)
    cost no hop to a worker thread; the commit or rollback, which does I/O, and the close go to one together."""
    turn = _Turn(_turns())
    await turn.take()
    try:
        session = open_session(read_only=request.method in ("GET", "HEAD"))
        session.info[_TURN] = turn
        try:
            yield session
        except AppError as exc:
            await run_in_threadpool(_finish, session, exc.keep_changes)
            raise
        except BaseException:
            # Here, not in a worker thread: a cancelled request (the client went away) must not be able to skip it
            # and leave the connection, and SQLite's write queue, held.
            _finish(session, False)
            raise
        if session.in_transaction():
            await run_in_threadpool(_finish, session, True)
        else:
            session.close()  # committed by the endpoint (answered_here): no I/O left, no hop for it
    finally:
        turn.give()


@contextlib.asynccontextmanager
async def turn_given_up(session: Session) -> AsyncIterator[None]:
    """A request that waits with its read ended (a long poll between its looks) lets others have its turn."""
    turn = session.info.get(_TURN)
    if turn is None:
        yield
        return
    turn.give()
    try:
        yield
    finally:
        await turn.take()


_turns_by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = \
    weakref.WeakKeyDictionary()
_limiters: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, anyio.CapacityLimiter]]" = \
    weakref.WeakKeyDictionary()


def _turns() -> asyncio.Semaphore:
    return _turns_by_loop.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(SESSION_TURNS))


def thread_limiter(name: str, threads: int) -> anyio.CapacityLimiter:
    """`threads` worker threads of their own for one kind of work, apart from the request threads (a limiter
    belongs to the event loop it was made in: one per loop)."""
    mine = _limiters.setdefault(asyncio.get_running_loop(), {})
    if name not in mine:
        mine[name] = anyio.CapacityLimiter(threads)
    return mine[name]


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


def commit_apart(*rows: SQLModel) -> None:
    """Write rows in a short transaction of their own, now. For the one record a read must leave behind
    (the audit of an API client's read): the request's own transaction stays read-only, so it neither
    holds SQLite's write lock nor fails to upgrade; the data is sent only after this has committed. Core
    inserts, no ORM session: every page an API client reads pays for this."""
    with get_engine().begin() as conn:
        for row in rows:
            table = row.__table__  # type: ignore[attr-defined]
            conn.execute(table.insert(), {c.key: value for c in table.columns
                                          if (value := getattr(row, c.key)) is not None})


def answered_here(session: Session, answer: BaseModel) -> Response:
    """Commit, and write the answer, in the endpoint's own worker thread. For what every phone calls often: FastAPI
    would take two more hops to a worker thread, one for get_session's commit and one to check the answer against
    the response model (built from that model already). The commit still comes before the answer is sent."""
    session.commit()
    return Response(answer.model_dump_json(), media_type="application/json")


# scope="function": the commit happens when the endpoint returns, before the answer is sent. A phone drops a
# record from its outbox on the answer, so the answer must never come before the commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
