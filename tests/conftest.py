"""Every database test runs twice: on SQLite and on PostgreSQL (HEARKEN_TEST_POSTGRES_URL).

The schema is built by the migrations once per backend and session; each test then starts from an
empty copy (a copied SQLite file; PostgreSQL tables emptied), so no test leans on another.
"""

import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel

from api import db
from api.cli import migrate
from api.config import get_settings
from tests.support.apps import shared_app
from tests.support.snapshot import tables_with_rows

# argon2 at its real cost is ~0.3 s of CPU per hash or check, and the suite makes thousands (users created and
# logged in through the API, the CLI and live servers). Set before any settings are read, so the in-process app,
# live servers and CLI subprocesses (they inherit the environment) all hash cheaply; argon2 is still what runs.
os.environ.setdefault("HEARKEN_PASSWORD_HASH_TIME_COST", "1")
os.environ.setdefault("HEARKEN_PASSWORD_HASH_MEMORY_KIB", "64")

PG_URL = os.environ.get("HEARKEN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ON_CI = os.environ.get("CI") == "true"


def _pg_admin_url() -> str:
    return "postgresql+psycopg://" + PG_URL.split("://", 1)[1]


def _pg_available() -> bool:
    if not PG_URL:
        return False
    try:
        eng = sa.create_engine(_pg_admin_url(), connect_args={"connect_timeout": 3})
        with eng.connect():
            pass
        eng.dispose()
        return True
    except sa.exc.OperationalError:
        return False


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    url = f"sqlite:///{path}"
    migrate(url)
    # Fold the WAL into the main file, so copying that one file copies the whole schema.
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    if not _pg_available():
        if ON_CI:
            pytest.fail(f"PostgreSQL does not answer at {PG_URL!r}; on CI every database test must run on it.")
        pytest.skip("PostgreSQL not reachable (HEARKEN_TEST_POSTGRES_URL): PostgreSQL half skipped")
    name = f"hearken_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    # Commits need not wait for the disk: nothing here outlives the run, and no test crashes PostgreSQL itself.
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    migrate(url)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _empty_pg(engine: Engine) -> None:
    """DELETE rather than TRUNCATE: TRUNCATE gives every table and index a new file, most of a second for the
    schema under load, where deleting a test's few rows takes milliseconds. Sequences start again at 1, as with
    TRUNCATE … RESTART IDENTITY."""
    with engine.begin() as conn:
        children_first = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
        full = {name for (name,) in conn.exec_driver_sql(tables_with_rows(children_first))}
        if full:
            conn.exec_driver_sql("; ".join(f'DELETE FROM "{name}"' for name in children_first if name in full))
        conn.exec_driver_sql("SELECT setval((quote_ident(schemaname) || '.' || quote_ident(sequencename))::regclass, "
                             "1, false) FROM pg_sequences")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "hearken.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def engine(database_url: str, backend: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Engine]:
    monkeypatch.setenv("HEARKEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HEARKEN_DATABASE_URL", database_url)
    # No webhook delivery thread inside the test's app, polling its database every 2 s beside the test; the tests
    # of that thread ask for it.
    monkeypatch.setenv("HEARKEN_WEBHOOK_WORKER", "false")
    get_settings.cache_clear()
    eng = db.make_engine(database_url)
    if backend == "postgresql":
        _empty_pg(eng)
    db.set_engine(eng)
    yield eng
    db.set_engine(None)
    eng.dispose()
    get_settings.cache_clear()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """The test's own view of the database. Its transactions start deferred on SQLite, so a read the test
    leaves open never blocks the app's writers; `session.rollback()` gives a fresh look."""
    with Session(engine.execution_options(read_only=True), expire_on_commit=False) as s:
        yield s


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(shared_app(), raise_server_exceptions=False) as c:
        yield c


# ---- parallel runs (pytest-xdist, scripts/test) -------------------------------------------------------------------

WEIGHTS = Path(__file__).with_name("file_weights.json")
# Session fixtures every worker builds for itself and any test may share: they do not tie a test to its file.
PER_WORKER = {"sqlite_template", "pg_database", "tmp_path_factory", "worker_id", "testrun_uid"}


def _file(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def _shares_state(item: pytest.Item) -> bool:
    """Whether the test uses a fixture that outlives it (a module's private server, the browser tests' session
    server and world): then it runs beside the rest of its file, in the file's order."""
    for name, defs in item._fixtureinfo.name2fixturedefs.items():
        scope = defs[-1].scope
        if scope in ("module", "class", "package") or (scope == "session" and name not in PER_WORKER):
            return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup` (scripts/test) a file whose tests share a fixture stays on one worker (its
    module-scoped server starts once); the tests of other files, each on its own database, go to whichever worker
    is free (test_permissions alone is half the suite). Heaviest first: the kept-together files by their seconds in
    a recent run (tests/file_weights.json, written by scripts/file_weights; an unlisted file is guessed from its
    number of tests), then the free tests, which fill the gaps at the end. A file's tests keep their order."""
    weights: dict[str, float] = json.loads(WEIGHTS.read_text()) if WEIGHTS.exists() else {}
    together = {_file(item) for item in items if _shares_state(item)}
    if getattr(config.option, "loadgroup", False):  # set in each worker of a --dist loadgroup run
        for item in items:
            if _file(item) in together and not any(item.iter_markers("xdist_group")):
                item.add_marker(pytest.mark.xdist_group(_file(item)))
    sizes: dict[str, int] = {}
    for item in items:
        sizes[_file(item)] = sizes.get(_file(item), 0) + 1

    def weight(item: pytest.Item) -> tuple[bool, float]:
        f = _file(item)
        return f not in together, -weights.get(f, sizes[f] * (5.0 if f in together else 0.5))

    items.sort(key=weight)
