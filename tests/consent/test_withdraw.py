"""Withdrawal erases for real, at once, everywhere, and says what it did."""

import json
import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from api.consent.models import Consent
from api.fragments.models import Fragment
from tests.factories import World, capture_batch, make_world, sync


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def withdraw(client, world: World, consent_id: str, who: str = "coordinator"):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/consents/{consent_id}/withdraw", json={"reason": "participant_asked"},
                       headers=world.headers(who))


def test_withdrawn_consent_erases_fragment_text_from_the_rows(client, world, session, engine) -> None:
    items = capture_batch(world, 3, text="my neighbour Sandra helps me")
    sync(client, world, items)
    r = withdraw(client, world, items[1]["id"])
    assert r.status_code == 200, r.text
    assert r.json()["fragments_erased"] == 3
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT text, answers, kind, status, sync_hash FROM fragments")).all()
    assert len(rows) == 3
    for text, answers, kind, status, sync_hash in rows:
        assert (text, answers, kind) == (None, None, None)
        assert status == "withdrawn"
        assert sync_hash == "erased"


def test_withdrawn_text_is_gone_from_search_list_and_feed(client, world, session) -> None:
    items = capture_batch(world, 2, text="Sandra goes")
    keep = capture_batch(world, 1, text="Sandra stays")
    sync(client, world, items + keep)
    withdraw(client, world, items[1]["id"])
    headers = world.headers("coordinator")
    found = client.get(f"/api/v1/fragments?project_id={world.project.id}&q=Sandra", headers=headers).json()
    assert [f["id"] for f in found["items"]] == [keep[2]["id"]]
    listed = client.get(f"/api/v1/fragments?project_id={world.project.id}", headers=headers).json()["items"]
    assert "Sandra" not in json.dumps([f for f in listed if f["id"] != keep[2]["id"]])
    changes = client.get("/api/v1/changes?after=0", headers=headers).json()["items"]
    tombstones = {c["id"] for c in changes if c["op"] == "tombstone"}
    assert {items[2]["id"], items[3]["id"], items[1]["id"]} <= tombstones
    assert all(c["record"] is None for c in changes if c["op"] == "tombstone")
    assert "Sandra goes" not in json.dumps(changes)


def test_withdrawal_erases_the_signature_too(client, world, session) -> None:
    conv, consent, frag = capture_batch(world, 1)
    consent["data"].update(method="signed", signature="data:image/png;base64,iVBORw0KGgo=")
    sync(client, world, [conv, consent, frag])
    withdraw(client, world, consent["id"])
    session.rollback()
    stored = session.get(Consent, uuid.UUID(consent["id"]))
    assert stored.withdrawn_at is not None and stored.signature is None


def test_withdrawal_is_audited_without_content(client, world, session) -> None:
    items = capture_batch(world, 1, text="secret words")
    sync(client, world, items)
    withdraw(client, world, items[1]["id"])
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "consent.withdraw")).one()
    assert entry.actor_id == world.coordinator.id
    assert entry.entity_id == str(uuid.UUID(items[1]["id"]))
    assert entry.detail["fragments_erased"] == 1
    everything = json.dumps([e.detail for e in session.exec(select(AuditEntry)).all()])
    assert "secret words" not in everything


def test_a_replay_after_withdrawal_does_not_bring_anything_back(client, world, session) -> None:
    items = capture_batch(world, 2, text="do not resurrect")
    sync(client, world, items)
    withdraw(client, world, items[1]["id"])
    r = sync(client, world, items)
    assert [x["status"] for x in r.json()["results"]] == ["duplicate"] * 4
    session.rollback()
    assert all(f.text is None for f in session.exec(select(Fragment)).all())


def test_withdrawal_cannot_be_repeated_or_undone(client, world) -> None:
    items = capture_batch(world, 1)
    sync(client, world, items)
    assert withdraw(client, world, items[1]["id"]).status_code == 200
    r = withdraw(client, world, items[1]["id"])
    assert r.status_code == 409
    assert r.json()["code"] == "already_withdrawn"


def test_only_coordinators_withdraw(client, world) -> None:
    items = capture_batch(world, 1)
    sync(client, world, items)
    assert withdraw(client, world, items[1]["id"], who="researcher").status_code == 403


def test_an_erased_fragment_cannot_be_edited_or_tagged(client, world) -> None:
    items = capture_batch(world, 1)
    sync(client, world, items)
    withdraw(client, world, items[1]["id"])
    fid = items[2]["id"]
    r = client.patch(f"/api/v1/fragments/{fid}", json={"text": "back"},
                     headers={**world.headers("coordinator"), "If-Match": '"2"'})
    assert r.status_code == 409 and r.json()["code"] == "fragment_erased"
    r = client.put(f"/api/v1/fragments/{fid}/tags/{world.tag.id}", headers=world.headers("coordinator"))
    assert r.status_code == 409


def test_narrowing_away_the_quote_scope_erases_the_quotes_only(client, world, session) -> None:
    conv, consent, quote = capture_batch(world, 1)
    paraphrase = {**quote, "id": str(uuid.uuid4()), "data": {**quote["data"], "kind": "paraphrase"}}
    sync(client, world, [conv, consent, quote, paraphrase])
    r = client.patch(f"/api/v1/consents/{consent['id']}", json={"scopes": ["share"]},
                     headers={**world.headers("coordinator"), "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["scopes"] == ["share"]
    session.rollback()
    assert session.get(Fragment, uuid.UUID(quote["id"])).text is None
    assert session.get(Fragment, uuid.UUID(paraphrase["id"])).text is not None
    widen = client.patch(f"/api/v1/consents/{consent['id']}", json={"scopes": ["share", "publish"]},
                         headers={**world.headers("coordinator"), "If-Match": '"2"'})
    assert widen.status_code == 409 and widen.json()["code"] == "scope_widening"


def test_a_free_text_reason_is_refused_and_a_code_is_kept(client, world, session) -> None:
    items = capture_batch(world, 1)
    sync(client, world, items)
    url = f"/api/v1/consents/{items[1]['id']}/withdraw"
    r = client.post(url, json={"reason": "Sandra from number nine asked"}, headers=world.headers("coordinator"))
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert client.post(url, json={"reason": "safeguarding"}, headers=world.headers("coordinator")).status_code == 200
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "consent.withdraw")).one()
    assert entry.detail["reason"] == "safeguarding"


def test_the_note_goes_with_the_last_live_consent_of_its_conversation(client, world, session) -> None:
    from tests.factories import consent_item, conversation_item, fragment_item

    conv = conversation_item(world, note="Met Sandra outside the chemist")
    first, second = consent_item(world, conv["id"]), consent_item(world, conv["id"], participant_label="P-9ZZ1")
    items = [conv, first, second, fragment_item(conv["id"], first["id"]), fragment_item(conv["id"], second["id"])]
    assert all(r["status"] == "created" for r in sync(client, world, items).json()["results"])
    coordinator = world.headers("coordinator")
    assert withdraw(client, world, first["id"]).status_code == 200
    assert client.get(f"/api/v1/conversations/{conv['id']}", headers=coordinator).json()["note"] is not None

    assert withdraw(client, world, second["id"]).status_code == 200
    assert client.get(f"/api/v1/conversations/{conv['id']}", headers=coordinator).json()["note"] is None
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "consent.withdraw")
                         .order_by(AuditEntry.id.desc())).first()
    assert entry.detail["note_erased"] is True
    changes = client.get("/api/v1/changes?after=0", headers=coordinator).json()["items"]
    assert "chemist" not in json.dumps(changes)
    # The phone's replay of the conversation (note and all) is a duplicate: the note does not come back.
    assert sync(client, world, [conv]).json()["results"][0]["status"] == "duplicate"
    assert client.get(f"/api/v1/conversations/{conv['id']}", headers=coordinator).json()["note"] is None
    # Nor can it be written back by hand: it is about people who all withdrew.
    for who in ("researcher", "coordinator"):
        version = client.get(f"/api/v1/conversations/{conv['id']}", headers=coordinator).json()["version"]
        r = client.patch(f"/api/v1/conversations/{conv['id']}", json={"note": "Met Sandra again"},
                         headers={**world.headers(who), "If-Match": f'"{version}"'})
        assert r.status_code == 409 and r.json()["code"] == "no_live_consent", (who, r.text)
    assert client.get(f"/api/v1/conversations/{conv['id']}", headers=coordinator).json()["note"] is None
