"""Every database test runs twice: on SQLite and on PostgreSQL (HEARKEN_TEST_POSTGRES_URL).

The schema is built by the migrations once per backend and session; each test then starts from an
empty copy (a copied SQLite file; PostgreSQL tables truncated), so no test leans on another.
"""

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
    migrate(url)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _truncate_pg(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


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
    get_settings.cache_clear()
    eng = db.make_engine(database_url)
    if backend == "postgresql":
        _truncate_pg(eng)
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
    from api.main import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c
