"""A test world built once per worker and backend, then put back for each test that wants it.

The permission table and the bad-input tests each start from the same world (two projects, a synced
conversation, an uploaded clip, workshops: ~30 API calls), the query-plan tests from 3,000 seeded fragments.
Building it for each of their ~1,600 tests was half the suite's time; putting back its rows and files takes
milliseconds. What is put back is everything the build left: every table (SQLite: the whole file, full-text index
and sequences included; PostgreSQL: every table of the schema and every sequence) and the data directory (clips).
The build's answer (ids, raw tokens) is kept beside it, its rows (a World's users, project …) handed to each test
in that test's session. A test still gets a database of its own: it changes its restored copy, never the snapshot.
Planner statistics are not rows: a test that needs them fresh refreshes them after the put-back.
"""

import dataclasses
import functools
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from api.config import get_settings

P = ParamSpec("P")
R = TypeVar("R")


@dataclasses.dataclass
class _Snapshot:
    answer: Any
    files: Path  # a copy of the data directory
    sqlite_copy: Path | None = None
    pg_tables: dict[str, bytes] | None = None
    pg_sequences: list[tuple[str, int, bool]] | None = None


_EMPTY_BINARY_COPY = 21  # bytes of a binary COPY of no rows: its header (19) and trailer (2)
_KEPT: dict[tuple[str, str], _Snapshot] = {}
_HOME = Path(tempfile.mkdtemp(prefix="hearken-snapshots-"))


def built_once(build: Callable[P, R]) -> Callable[P, R]:
    """`build(session, client, …)` runs once per backend in this process; later calls get its database rows and
    data files back as they were when it returned, and the same answer."""

    @functools.wraps(build)
    def restore_or_build(*args: P.args, **kwargs: P.kwargs) -> R:
        session = args[0]
        assert isinstance(session, Session)
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        key = (build.__qualname__, engine.dialect.name)
        data_dir = get_settings().data_dir
        if key in _KEPT:
            _put_back(engine, _KEPT[key], data_dir)
            session.rollback()  # the test's next read sees the restored rows
            return _in_session(_KEPT[key].answer, session)  # type: ignore[no-any-return]
        answer = build(*args, **kwargs)
        _KEPT[key] = _take(engine, answer, data_dir, _HOME / f"{key[0]}-{key[1]}")
        return answer

    return restore_or_build


def tables_with_rows(tables: list[str]) -> str:
    """One query naming those of `tables` that hold a row (PostgreSQL): a test touches a few of the ~70, and deleting
    from an empty table still costs a lock and a trigger check each."""
    return " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT FROM \"{t}\")" for t in tables)


def _in_session(answer: Any, session: Session) -> Any:
    """The answer with its rows (a World's users, project, places …) in this test's session: the build's session is
    gone, and its objects would load nothing more."""
    if isinstance(answer, SQLModel):
        return session.merge(answer, load=False)
    if isinstance(answer, list):
        return [_in_session(item, session) for item in answer]
    if dataclasses.is_dataclass(answer) and not isinstance(answer, type):
        return dataclasses.replace(answer, **{f.name: _in_session(getattr(answer, f.name), session)
                                              for f in dataclasses.fields(answer) if f.init})
    return answer


def _take(engine: Engine, answer: Any, data_dir: Path, home: Path) -> _Snapshot:
    home.mkdir(parents=True)
    files = home / "data"
    if data_dir.exists():
        shutil.copytree(data_dir, files)
    else:
        files.mkdir()
    kept = _Snapshot(answer=answer, files=files)
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "sqlite":
            kept.sqlite_copy = home / "world.db"
            with sqlite3.connect(kept.sqlite_copy) as copy:
                raw.driver_connection.backup(copy)  # type: ignore[union-attr]
            copy.close()
        else:
            pg = raw.driver_connection
            with pg.cursor() as cur:  # type: ignore[union-attr]
                tables = [t for (t,) in cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = "
                                                    "current_schema() AND tablename <> 'alembic_version'")]
                kept.pg_tables = {}
                for table in tables:
                    with cur.copy(f'COPY "{table}" TO STDOUT (FORMAT BINARY)') as out:
                        kept.pg_tables[table] = b"".join(bytes(block) for block in out)
                    if len(kept.pg_tables[table]) <= _EMPTY_BINARY_COPY:
                        kept.pg_tables[table] = b""
                kept.pg_sequences = list(cur.execute(
                    "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), "
                    "coalesce(last_value, 1), last_value IS NOT NULL FROM pg_sequences"))
            pg.rollback()  # type: ignore[union-attr]
    finally:
        raw.close()
    return kept


def _put_back(engine: Engine, kept: _Snapshot, data_dir: Path) -> None:
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.copytree(kept.files, data_dir)
    raw = engine.raw_connection()
    try:
        if kept.sqlite_copy is not None:
            with sqlite3.connect(kept.sqlite_copy) as copy:
                copy.backup(raw.driver_connection)  # type: ignore[arg-type]
            copy.close()
            return
        assert kept.pg_tables is not None and kept.pg_sequences is not None
        pg = raw.driver_connection
        with pg.cursor() as cur:  # type: ignore[union-attr]
            # Neither triggers (search vectors, overview counts) nor foreign keys run while the rows go back: they
            # are put back exactly as they were, derived columns and counts included, in any order.
            cur.execute("SET LOCAL session_replication_role = replica")
            full = [table for (table,) in cur.execute(tables_with_rows(list(kept.pg_tables)))]
            if full:
                cur.execute("; ".join(f'DELETE FROM "{table}"' for table in full))
            for table, rows in kept.pg_tables.items():
                if rows:
                    with cur.copy(f'COPY "{table}" FROM STDIN (FORMAT BINARY)') as into:
                        into.write(rows)
            cur.execute("; ".join(f"SELECT setval('{sequence}'::regclass, {value}, {called})"
                                  for sequence, value, called in kept.pg_sequences))
        pg.commit()  # type: ignore[union-attr]
    finally:
        raw.close()
