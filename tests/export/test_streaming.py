"""Exports stream: bytes leave while later rows are still unread, and memory stays flat however many rows go out."""

import gc
import json
import tempfile
import tracemalloc
import uuid
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api.db import open_session
from api.export import service
from api.fragments.models import Fragment
from api.people.deps import Actor
from api.people.models import AuthToken
from tests.factories import World, capture_batch, make_world, sync

NS = "{urn:QDA-XML:project:1.0}"
TEXT = "We used to know every neighbour on this street; now the doors stay shut and the bus comes when it likes. " * 4


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def _coordinator(session: Session, world: World) -> Actor:
    token = session.exec(select(AuthToken).where(AuthToken.user_id == world.coordinator.id)).one()
    return Actor(world.coordinator, token)


def _seed(client, world: World, n: int) -> tuple[str, str]:
    """n fragments straight into the table (the sync path would take minutes), under one synced consent;
    answers the conversation and consent ids."""
    items = capture_batch(world, 1)
    assert sync(client, world, items).status_code == 200
    conv, consent = uuid.UUID(items[0]["id"]), uuid.UUID(items[1]["id"])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [{"id": uuid.uuid4(), "project_id": world.project.id, "conversation_id": conv, "consent_id": consent,
             "researcher_id": world.researcher.id, "place_id": world.places[i % 2].id, "kind": "quote",
             "text": f"{i} {TEXT}", "language": "en", "sensitive": False, "captured_at": start + timedelta(seconds=i),
             "received_at": start, "updated_at": start, "status": "active", "version": 1, "sync_hash": "seed"}
            for i in range(n)]
    with open_session() as s:
        _bulk_load(s.connection(), Fragment.__table__, rows)
        s.commit()
    return items[0]["id"], items[1]["id"]


@pytest.mark.slow
def test_the_first_bytes_leave_before_the_last_rows_are_read(client, world, session) -> None:
    _seed(client, world, 3 * service.PAGE)
    stream = service.jsonl_stream(_coordinator(session, world), world.project.id, {}, None)
    first = next(stream)
    assert 0 < len(first) < 2 * service.CHUNK
    # A fragment that arrives after the first bytes went out is still in the export: its page was read later.
    late = capture_batch(world, 1, text="arrived late")
    assert sync(client, world, late).json()["results"][2]["status"] == "created"
    lines = (first + b"".join(stream)).decode().splitlines()
    assert len(lines) == 3 * service.PAGE + 2 and json.loads(lines[-1])["id"] == late[2]["id"]


def _bulk_load(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """As a bulk load would: PostgreSQL's COPY, one statement. psycopg's executemany sends a statement a row, and each
    fires the overview's statement-level trigger, upserting the same weekly counts again in this one transaction
    and walking every earlier version of them: 50,000 rows took 290 s (a sync batch, at most 500, pays little)."""
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(f'COPY "{table.name}" ({", ".join(columns)}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _peak_while(chunks, sink) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        for chunk in chunks:
            sink(chunk)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_stays_flat_while_50k_rows_go_out(client, world, session) -> None:
    n = 50_000
    _seed(client, world, n)
    sent = {"bytes": 0, "lines": 0}

    def count(chunk: bytes) -> None:
        sent["bytes"] += len(chunk)
        sent["lines"] += chunk.count(b"\n")

    peak = _peak_while(service.jsonl_stream(_coordinator(session, world), world.project.id, {}, None), count)
    assert sent["lines"] == n + 1 and sent["bytes"] > 20_000_000
    # Held at once: a page of rows and a chunk, not the export (a tenth of it would be 2 MB more than allowed).
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB while {sent['bytes'] / 1e6:.0f} MB went out"

    sent = {"bytes": 0, "lines": 0}
    peak = _peak_while(service.csv_stream(_coordinator(session, world), world.project.id, {}, None), count)
    # A line a row (the texts hold no line breaks): the header, the n seeded and the one synced.
    assert sent["lines"] == n + 2 and sent["bytes"] > 20_000_000
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB for the CSV"

    with tempfile.TemporaryFile() as out:
        peak = _peak_while(service.qdpx_stream(_coordinator(session, world), world.project, {}, None), out.write)
        assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB for the .qdpx"
        sources = _count_sources(out)
    assert sources == n + 1


def _count_sources(out) -> int:
    with zipfile.ZipFile(out) as archive, archive.open("project.qde") as qde:
        sources = 0
        for _, element in ET.iterparse(qde):
            if element.tag == f"{NS}TextSource":
                sources += 1
                element.clear()
    return sources
