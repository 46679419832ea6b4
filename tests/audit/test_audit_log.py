"""A project's audit log for its coordinators: filters, keyset pages, who did it, and never any content."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from tests.factories import World, bearer, capture_batch, make_world, sync


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def audit(client: Any, world: World, who: str = "coordinator", project: Any = None, **params: Any) -> Any:
    return client.get(f"/api/v1/projects/{project or world.project.id}/audit", params=params,
                      headers=world.headers(who) if who in world.tokens else bearer(who))


def actions(client: Any, world: World, **params: Any) -> list[str]:
    r = audit(client, world, **params)
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["items"]]


def add_entries(session: Session, world: World, *rows: tuple[str, str, str | None, datetime]) -> None:
    for action, entity, entity_id, at in rows:
        session.add(AuditEntry(actor_id=world.admin.id, project_id=world.project.id, action=action, entity=entity,
                               entity_id=entity_id, at=at))
    session.commit()


@pytest.fixture
def logged(world: World, engine) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Five entries at known times, written straight to the log, plus one in another project."""
    now = datetime.now(UTC)
    target = str(uuid.uuid4())
    with Session(engine) as s:
        add_entries(s, world,
                    ("consent_form.create", "consent_form", None, now - timedelta(days=5)),
                    ("consent.narrow", "consent", target, now - timedelta(days=4)),
                    ("consent.withdraw", "consent", target, now - timedelta(days=3)),
                    ("fragment.update", "fragment", None, now - timedelta(days=2)),
                    ("export", "project", str(world.project.id), now - timedelta(days=1)))
        other = make_world(s)
        s.add(AuditEntry(actor_id=other.coordinator.id, project_id=other.project.id, action="consent.withdraw",
                         entity="consent", entity_id=target, at=now))
        s.commit()
    return {"now": now, "target": target, "other": other}


def test_newest_first_only_this_projects_entries(client, world, logged) -> None:
    assert actions(client, world) == ["export", "fragment.update", "consent.withdraw", "consent.narrow",
                                      "consent_form.create"]
    ids = [e["id"] for e in audit(client, world).json()["items"]]
    assert ids == sorted(ids, reverse=True)


def test_action_is_exact_or_a_prefix_with_a_trailing_star(client, world, logged) -> None:
    assert actions(client, world, action="consent.withdraw") == ["consent.withdraw"]
    assert actions(client, world, action="consent") == []  # exact unless it ends in *
    assert actions(client, world, action="consent.*") == ["consent.withdraw", "consent.narrow"]
    # `_` is a character, not a LIKE wildcard: `consent_*` is not `consent.*`.
    assert actions(client, world, action="consent_*") == ["consent_form.create"]
    assert actions(client, world, action="%*") == []
    assert len(actions(client, world, action="*")) == 5


def test_entity_entity_id_actor_and_time_filters(client, world, logged) -> None:
    now, target = logged["now"], logged["target"]
    assert actions(client, world, entity="consent") == ["consent.withdraw", "consent.narrow"]
    assert actions(client, world, entity_id=target) == ["consent.withdraw", "consent.narrow"]
    assert actions(client, world, entity_id=target, action="consent.narrow") == ["consent.narrow"]
    assert len(actions(client, world, actor_id=str(world.admin.id))) == 5
    assert actions(client, world, actor_id=str(world.coordinator.id)) == []
    since = (now - timedelta(days=3)).isoformat()
    until = (now - timedelta(days=1)).isoformat()
    assert actions(client, world, since=since) == ["export", "fragment.update", "consent.withdraw"]
    assert actions(client, world, until=until) == ["fragment.update", "consent.withdraw", "consent.narrow",
                                                   "consent_form.create"]
    assert actions(client, world, since=since, until=until) == ["fragment.update", "consent.withdraw"]


def test_keyset_pages_cover_everything_once_even_while_entries_arrive(client, world, session, logged) -> None:
    seen: list[int] = []
    r = audit(client, world, limit=2).json()
    seen += [e["id"] for e in r["items"]]
    add_entries(session, world, ("late.arrival", "project", None, datetime.now(UTC)))
    while r["next_cursor"]:
        r = audit(client, world, limit=2, cursor=r["next_cursor"]).json()
        seen += [e["id"] for e in r["items"]]
    assert len(seen) == 5 == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    assert audit(client, world, limit=5).json()["next_cursor"] is not None  # six now: one more page
    assert audit(client, world, limit=6).json()["next_cursor"] is None


def test_each_entry_names_the_user_or_the_api_client(client, world, session) -> None:
    made = client.post(f"/api/v1/projects/{world.project.id}/clients",
                       json={"name": "Workshop tool", "scopes": ["fragments:read"]},
                       headers=world.headers("coordinator")).json()
    assert client.get("/api/v1/fragments", headers=bearer(made["token"])).status_code == 200
    items = audit(client, world).json()["items"]
    read = next(e for e in items if e["action"] == "fragments.list")
    created = next(e for e in items if e["action"] == "client.create")
    assert (read["client_name"], read["actor_email"], read["client_id"]) == ("Workshop tool", None, made["id"])
    assert (created["actor_email"], created["client_name"]) == (world.coordinator.email, None)


def test_researchers_get_403_other_projects_404_bad_cursors_422(client, world, session, logged) -> None:
    assert audit(client, world, who="researcher").status_code == 403
    assert audit(client, world, who="admin").status_code == 200
    assert audit(client, logged["other"], project=world.project.id).status_code == 404
    for cursor in ("abc", "-1", "9" * 19):
        r = audit(client, world, cursor=cursor)
        assert r.status_code == 422 and r.json()["code"] == "invalid_cursor", r.text
    for params in ({"since": "2026-01-01T00:00:00"}, {"actor_id": "me"}, {"limit": 0}, {"action": "x" * 66},
                   {"action": "a\x00*"}, {"entity": "\x00"}, {"entity_id": "x\x00"}):
        assert audit(client, world, **params).status_code == 422, params


def test_after_a_withdrawal_no_entry_holds_the_erased_text(client, world, session, engine) -> None:
    secret = "Sandra at number nine hits her kids"
    items = capture_batch(world, 2, text=secret)
    sync(client, world, items)
    coordinator = world.headers("coordinator")
    fid = items[2]["id"]
    client.put(f"/api/v1/fragments/{fid}/tags/{world.tag.id}", headers=coordinator)
    r = client.patch(f"/api/v1/fragments/{fid}", json={"text": secret + " (checked)", "sensitive": True},
                     headers={**coordinator, "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    client.get(f"/api/v1/projects/{world.project.id}/export/fragments.csv", headers=coordinator)
    assert client.post(f"/api/v1/consents/{items[1]['id']}/withdraw", json={"reason": "participant_asked"},
                       headers=coordinator).status_code == 200

    page, everything = audit(client, world, limit=200).json(), []
    everything += page["items"]
    while page["next_cursor"]:
        page = audit(client, world, limit=200, cursor=page["next_cursor"]).json()
        everything += page["items"]
    assert {"consent.withdraw", "fragment.update", "fragment.tag", "export"} <= {e["action"] for e in everything}
    words = [secret, "Sandra", "number nine"]
    for entry in everything:
        text = json.dumps(entry)
        assert not any(w in text for w in words), entry
    with engine.connect() as conn:  # and the table itself, every column of every row
        rows = conn.execute(sa.select(AuditEntry.__table__)).all()
    assert len(rows) >= len(everything)
    assert not any(w in repr(tuple(row)) for row in rows for w in words)
    assert session.exec(select(AuditEntry).where(AuditEntry.action == "consent.withdraw")).one().detail[
        "fragments_erased"] == 2
