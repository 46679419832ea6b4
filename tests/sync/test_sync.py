"""POST /sync: one result per item, consent rules on every record, replays and conflicts."""

import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api.consent.models import Consent
from api.fragments.models import Fragment
from api.projects.models import Membership, Role, TrainingRecord
from tests.factories import (
    World,
    add_member,
    capture_batch,
    consent_item,
    conversation_item,
    fragment_item,
    make_project,
    make_token,
    make_user,
    make_world,
    now_iso,
    sync,
)


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def statuses(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [r["status"] for r in response.json()["results"]]


def codes(response) -> list[str | None]:  # type: ignore[no-untyped-def]
    return [r["code"] for r in response.json()["results"]]


def count(session: Session, table: type) -> int:
    return session.exec(select(sa.func.count()).select_from(table)).one()


def test_a_batch_creates_its_records_and_answers_each_in_order(client, world, session) -> None:
    items = capture_batch(world, 3)
    r = sync(client, world, items)
    assert statuses(r) == ["created"] * 5
    assert [x["id"] for x in r.json()["results"]] == [i["id"] for i in items]
    assert count(session, Fragment) == 3
    fragment = session.get(Fragment, uuid.UUID(items[2]["id"]))
    assert fragment is not None and fragment.researcher_id == world.researcher.id
    assert fragment.place_id == world.places[0].id  # carried from its conversation


def test_a_replay_answers_duplicate_and_stores_nothing_twice(client, world, session) -> None:
    items = capture_batch(world, 2)
    sync(client, world, items)
    assert statuses(sync(client, world, items)) == ["duplicate"] * 4
    assert statuses(sync(client, world, list(reversed(items)))) == ["duplicate"] * 4
    assert count(session, Fragment) == 2


def test_the_same_id_with_other_content_is_a_conflict_and_keeps_the_first(client, world, session) -> None:
    items = capture_batch(world, 1)
    sync(client, world, items)
    changed = {**items[2], "data": {**items[2]["data"], "text": "something else"}}
    r = sync(client, world, [changed])
    assert statuses(r) == ["conflict"]
    assert session.get(Fragment, uuid.UUID(items[2]["id"])).text == items[2]["data"]["text"]


def test_one_bad_item_does_not_sink_the_others(client, world, session) -> None:
    conv, consent, *frags = capture_batch(world, 2)
    bad = fragment_item(conv["id"], consent["id"], text="x" * 5001)
    r = sync(client, world, [conv, consent, frags[0], bad, frags[1]])
    assert statuses(r) == ["created", "created", "created", "rejected", "created"]
    assert codes(r)[3] == "invalid"
    assert count(session, Fragment) == 2


def test_children_of_a_rejected_parent_are_rejected_saying_so(client, world, session) -> None:
    conv = conversation_item(world, place_id=str(uuid.uuid4()))  # not a place of this project
    consent = consent_item(world, conv["id"])
    frag = fragment_item(conv["id"], consent["id"])
    r = sync(client, world, [conv, consent, frag])
    assert statuses(r) == ["rejected"] * 3
    assert codes(r) == ["unknown_place", "parent_rejected", "parent_rejected"]
    assert count(session, Fragment) == 0


def test_records_may_refer_to_parents_sent_in_an_earlier_batch(client, world, session) -> None:
    conv, consent, frag = capture_batch(world, 1)
    assert statuses(sync(client, world, [conv, consent])) == ["created", "created"]
    assert statuses(sync(client, world, [frag])) == ["created"]


@pytest.mark.parametrize(("change", "code"), [
    ({"kind": "quote"}, None),
    ({"kind": "quote", "scopes": ["share"]}, "scope_missing"),
    ({"captured_at": now_iso(timedelta(hours=25))}, "future_time"),
    ({"answers": {"belong": 101}}, "invalid_answers"),
    ({"answers": {"unknown": 3}}, "invalid_answers"),
    ({"answers": {"mood": "elated"}}, "invalid_answers"),
    ({"prompt_id": str(uuid.uuid4())}, "unknown_prompt"),
    ({"surprise": 1}, "invalid"),
    ({"text": "x" * 5001}, "invalid"),
    ({"text": "   "}, "invalid"),
    ({"kind": "gossip"}, "invalid"),
    ({"language": "not a tag!"}, "invalid"),
    ({"captured_at": "2026-11-20T10:00:00"}, "invalid"),  # no offset
])
def test_fragment_rules(client, world, change, code) -> None:
    change = dict(change)
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"], scopes=change.pop("scopes", ["quote", "share"]))
    frag = fragment_item(conv["id"], consent["id"])
    frag["data"].update(change)
    r = sync(client, world, [conv, consent, frag])
    assert statuses(r)[:2] == ["created", "created"]
    assert r.json()["results"][2]["status"] == ("created" if code is None else "rejected")
    assert codes(r)[2] == code
    if code:
        assert r.json()["results"][2]["detail"]


def test_a_fragment_needs_a_consent(client, world) -> None:
    conv = conversation_item(world)
    r = sync(client, world, [conv, fragment_item(conv["id"], str(uuid.uuid4()))])
    assert codes(r) == [None, "unknown_consent"]


def test_a_fragment_cannot_use_a_consent_from_another_conversation(client, world) -> None:
    a, b = conversation_item(world), conversation_item(world)
    consent_a = consent_item(world, a["id"])
    r = sync(client, world, [a, b, consent_a, fragment_item(b["id"], consent_a["id"])])
    assert codes(r)[3] == "consent_other_conversation"


def test_a_fragment_cannot_use_a_consent_from_another_project(client, world, session) -> None:
    other = make_world(session)
    add_member(session, other.project, world.researcher, Role.researcher)
    conv_other = conversation_item(other)
    consent_other = consent_item(other, conv_other["id"])
    assert statuses(sync(client, world, [conv_other, consent_other])) == ["created", "created"]
    conv = conversation_item(world)
    r = sync(client, world, [conv, fragment_item(conv["id"], consent_other["id"])])
    assert codes(r) == [None, "unknown_consent"]


def test_a_fragment_under_a_withdrawn_consent_is_rejected(client, world) -> None:
    conv, consent, frag = capture_batch(world, 1)
    sync(client, world, [conv, consent])
    client.post(f"/api/v1/consents/{consent['id']}/withdraw", json={}, headers=world.headers("coordinator"))
    r = sync(client, world, [frag])
    assert codes(r) == ["consent_withdrawn"]


def test_an_untrained_researcher_cannot_capture(client, world, session) -> None:
    session.execute(sa.delete(TrainingRecord).where(TrainingRecord.user_id == world.researcher.id))
    session.commit()
    r = sync(client, world, capture_batch(world, 1))
    assert codes(r) == ["training_required", "parent_rejected", "parent_rejected"]


def test_expired_training_refuses_new_records_but_keeps_those_made_while_trained(client, world, session) -> None:
    record = session.exec(select(TrainingRecord).where(TrainingRecord.user_id == world.researcher.id)).one()
    record.expires_on = date.today() - timedelta(days=2)
    session.add(record)
    session.commit()
    made_then = capture_batch(world, 1)
    for item, field in zip(made_then, ("started_at", "given_at", "captured_at"), strict=True):
        item["data"][field] = now_iso(timedelta(days=-3))
    assert statuses(sync(client, world, made_then)) == ["created"] * 3
    assert codes(sync(client, world, capture_batch(world, 1)))[0] == "training_required"


def test_a_removed_researcher_cannot_capture(client, world, session) -> None:
    session.delete(session.get(Membership, (world.project.id, world.researcher.id)))
    session.commit()
    assert codes(sync(client, world, capture_batch(world, 1)))[0] == "not_member"


def test_a_researcher_cannot_add_to_someone_elses_conversation(client, world, session) -> None:
    conv, consent, frag = capture_batch(world, 1)
    sync(client, world, [conv, consent])
    other = make_user(session)
    add_member(session, world.project, other, Role.researcher)
    world.tokens["other"] = make_token(session, other)
    r = sync(client, world, [fragment_item(conv["id"], consent["id"])], who="other")
    assert codes(r) == ["unknown_conversation"]


def test_replaying_someone_elses_ids_is_rejected_as_unavailable_not_a_duplicate(client, world, session) -> None:
    items = capture_batch(world, 1)
    sync(client, world, items)
    other = make_user(session)
    add_member(session, world.project, other, Role.researcher)
    world.tokens["other"] = make_token(session, other)
    assert codes(sync(client, world, items, who="other")) == ["id_unavailable"] * 3


def test_consent_rules(client, world) -> None:
    conv = conversation_item(world)
    bad = [
        consent_item(world, conv["id"], method="signed"),
        consent_item(world, conv["id"], signature="data:image/png;base64,AAAA"),
        consent_item(world, conv["id"], method="signed", signature="javascript:alert(1)"),
        consent_item(world, conv["id"], consent_form_id=str(uuid.uuid4())),
        consent_item(world, conv["id"], participant_label="Mary Smith"),
        consent_item(world, conv["id"], scopes=["gossip"]),
    ]
    r = sync(client, world, [conv, *bad])
    assert codes(r) == [None, "signature_required", "unexpected_signature", "invalid", "unknown_consent_form",
                        "invalid", "invalid"]


def test_a_signed_consent_keeps_its_signature(client, world, session) -> None:
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"], method="signed", signature="data:image/png;base64,iVBORw0KGgo=")
    assert statuses(sync(client, world, [conv, consent])) == ["created", "created"]
    assert session.get(Consent, uuid.UUID(consent["id"])).signature.startswith("data:image/png")


def test_a_consent_cannot_ask_for_a_scope_its_form_does_not_offer(client, world, session) -> None:
    world.form.scopes = ["quote"]
    session.add(world.form)
    session.commit()
    conv = conversation_item(world)
    r = sync(client, world, [conv, consent_item(world, conv["id"], scopes=["quote", "publish"])])
    assert codes(r) == [None, "scope_not_on_form"]


def test_a_conversation_for_a_project_the_researcher_is_not_in_is_rejected(client, world, session) -> None:
    elsewhere = make_project(session)
    r = sync(client, world, [conversation_item(world, project_id=str(elsewhere.id))])
    assert codes(r) == ["not_member"]


def test_over_500_items_is_413_and_stores_nothing(client, world, session) -> None:
    items = capture_batch(world, 499)  # 501 items
    r = sync(client, world, items)
    assert r.status_code == 413
    assert r.json()["code"] == "batch_too_large"
    assert count(session, Fragment) == 0


def test_over_2_mb_is_413_and_stores_nothing(client, world, session) -> None:
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"])
    frags = [fragment_item(conv["id"], consent["id"], text="é" * 2500) for _ in range(450)]
    r = sync(client, world, [conv, consent, *frags])
    assert r.status_code == 413
    assert r.json()["code"] == "batch_too_large"
    assert count(session, Fragment) == 0


def test_sync_needs_a_token(client, world) -> None:
    r = client.post("/api/v1/sync", json={"device_id": "x", "items": []})
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized"


def test_sync_records_when_the_device_last_synced(client, world, session) -> None:
    from api.people.models import AuthToken

    sync(client, world, capture_batch(world, 1))
    tokens = session.exec(select(AuthToken).where(AuthToken.user_id == world.researcher.id)).all()
    assert any(t.last_sync_at is not None for t in tokens)


def test_every_consent_created_by_sync_is_audited(client, world, session) -> None:
    from api.audit.models import AuditEntry

    items = capture_batch(world, 1)
    sync(client, world, items)
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "consent.create")).all()
    assert [e.entity_id for e in entries] == [str(uuid.UUID(items[1]["id"]))]
    assert "Nobody" not in str(entries[0].detail) and "fragment" not in str(entries[0].detail)
