"""Retention: `hearken purge` erases what is past the period exactly as a withdrawal does, and says so."""

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from api.cli import main as hearken
from api.consent.models import Consent
from api.fragments import retention
from api.fragments.models import Fragment, FragmentUpdate
from tests.factories import World, capture_batch, make_world, now_iso, sync
from tests.support.locks import purge_during_an_edit


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def aged(world: World, days: int, n: int = 2, text: str = "old words") -> list[dict]:
    items = capture_batch(world, n, text=text)
    for item, key in zip(items, ("started_at", "given_at", *["captured_at"] * n), strict=True):
        item["data"][key] = now_iso(timedelta(days=-days))
    return items


def test_purge_erases_what_is_past_retention_like_a_withdrawal(client, world, session, engine: Engine,
                                                                capsys) -> None:
    old, recent = aged(world, 40, text="said long ago"), aged(world, 5, text="said last week")
    assert {r["status"] for r in sync(client, world, old + recent).json()["results"]} == {"created"}
    world.project.retention_days = 30
    session.add(world.project)
    session.commit()
    with Session(engine) as s:
        assert retention.expiring(s, s.get(type(world.project), world.project.id), within_days=30) == 4
    assert hearken(["purge", "--dry-run"]) == 0
    assert "would erase 2 fragments" in capsys.readouterr().out
    assert hearken(["purge"]) == 0
    assert "erased 2 fragments" in capsys.readouterr().out
    session.rollback()
    gone = {uuid.UUID(i["id"]) for i in old if i["type"] == "fragment"}
    for f in session.exec(select(Fragment)).all():
        if f.id in gone:
            assert (f.text, f.status) == (None, "expired")
        else:
            assert f.text and f.status == "active"
    feed = client.get("/api/v1/changes", headers=world.headers("coordinator")).json()["items"]
    assert {c["id"] for c in feed if c["op"] == "tombstone"} == {str(i) for i in gone}
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "retention.purge")).one()
    assert entry.detail["fragments_erased"] == 2 and "said long ago" not in str(entry.detail)
    assert hearken(["purge"]) == 0  # on a schedule: nothing more to do, nothing counted twice
    assert "erased 0 fragments" in capsys.readouterr().out
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM fragments WHERE status = 'expired'")).scalar_one() == 2


def test_a_project_without_retention_keeps_everything(client, world, session, capsys) -> None:
    sync(client, world, aged(world, 4000))
    assert hearken(["purge"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    session.rollback()
    kept = session.exec(select(Fragment)).all()
    assert len(kept) == 2 and all(f.text for f in kept)


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite's one writer puts them one after the other
def test_a_purge_and_an_edit_of_its_fragment_never_deadlock(client, world, session, monkeypatch) -> None:
    """The edit locked the fragment, then (checking the capture rules) the consent; the purge locks the consent whose
    signature it clears, then the fragment: each waited for the other and PostgreSQL killed one (a 500 for the
    coordinator, or a failed purge). The edit is held between its fragment and its rules check, the purge let in."""
    items = aged(world, 40, n=1)
    sync(client, world, items)
    consent_id, fragment_id = uuid.UUID(items[1]["id"]), uuid.UUID(items[2]["id"])
    session.execute(sa.update(Consent).where(Consent.id == consent_id).values(signature="data:image/png;base64,AAAA"))
    world.project.retention_days = 30
    session.add(world.project)
    session.commit()
    report = purge_during_an_edit(monkeypatch, world, fragment_id, FragmentUpdate(kind="paraphrase"))
    assert (report.fragments_erased, report.signatures_erased) == (1, 1)
    session.rollback()
    assert session.get(Fragment, fragment_id).text is None and session.get(Consent, consent_id).signature is None
