"""A phone learns which of its own researcher's records were erased (and never anyone else's), confirms that it
erased its copies, and the withdrawal preview counts the phones that still hold them."""

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from api.db import utcnow
from api.feed.models import Change
from api.projects.models import Role
from tests.factories import World, add_member, capture_batch, make_token, make_user, make_world, sync


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def another_researcher(session: Session, world: World) -> None:
    """A second researcher of the project, whose token is world.tokens["other"]."""
    other = make_user(session)
    add_member(session, world.project, other, Role.researcher)
    world.tokens["other"] = make_token(session, other)


def test_a_withdrawal_reaches_the_phone_of_its_researcher_only(client, session, world):
    mine = capture_batch(world, 2)
    assert sync(client, world, mine).status_code == 200
    another_researcher(session, world)
    theirs = capture_batch(world, 1)
    assert sync(client, world, theirs, who="other").status_code == 200
    start = client.get("/api/v1/sync/erased", headers=world.headers("researcher")).json()
    assert start["items"] == []

    for batch in (mine, theirs):
        r = client.post(f"/api/v1/consents/{batch[1]['id']}/withdraw", headers=world.headers("coordinator"))
        assert r.status_code == 200

    page = client.get("/api/v1/sync/erased", params={"after": start["last_seq"]},
                      headers=world.headers("researcher")).json()
    assert {(i["entity"], i["id"]) for i in page["items"]} == {(x["type"], x["id"]) for x in mine[1:]}
    assert page["last_seq"] > start["last_seq"]
    again = client.get("/api/v1/sync/erased", params={"after": page["last_seq"]},
                       headers=world.headers("researcher")).json()
    assert again["items"] == [] and again["last_seq"] == page["last_seq"]
    theirs_page = client.get("/api/v1/sync/erased", headers=world.headers("other")).json()
    assert {i["id"] for i in theirs_page["items"]} == {x["id"] for x in theirs[1:]}


def test_a_narrowing_reaches_the_phone_of_its_researcher_with_what_the_consent_allows_now(client, session, world):
    """A phone that still believed a narrowed consent allowed quotes offered to take them: it now hears of the
    narrowing (its own consents only, each once, in its own list: older phones erase every id in `items`)."""
    mine, kept = capture_batch(world, 1), capture_batch(world, 1)
    assert sync(client, world, mine + kept).status_code == 200
    another_researcher(session, world)
    theirs = capture_batch(world, 1)
    assert sync(client, world, theirs, who="other").status_code == 200
    start = client.get("/api/v1/sync/erased", headers=world.headers("researcher")).json()
    assert start["items"] == [] and start["narrowed"] == []  # consents given, none narrowed

    for batch, scopes in ((mine, ["share"]), (theirs, ["share"]), (kept, ["quote"])):
        r = client.patch(f"/api/v1/consents/{batch[1]['id']}", json={"scopes": scopes},
                         headers={**world.headers("coordinator"), "If-Match": '"1"'})
        assert r.status_code == 200, r.text
    page = client.get("/api/v1/sync/erased", params={"after": start["last_seq"]},
                      headers=world.headers("researcher")).json()
    narrowed = {n["id"]: n["scopes"] for n in page["narrowed"]}
    assert narrowed == {mine[1]["id"]: ["share"], kept[1]["id"]: ["quote"]}
    assert [(i["entity"], i["id"]) for i in page["items"]] == [("fragment", mine[2]["id"])]  # its quote, erased
    again = client.get("/api/v1/sync/erased", params={"after": page["last_seq"]},
                       headers=world.headers("researcher")).json()
    assert again["narrowed"] == [] and again["items"] == []

    # Withdrawn after its narrowing: an erasure, no longer a narrowing.
    client.post(f"/api/v1/consents/{mine[1]['id']}/withdraw", headers=world.headers("coordinator"))
    page = client.get("/api/v1/sync/erased", params={"after": page["last_seq"]},
                      headers=world.headers("researcher")).json()
    assert page["narrowed"] == [] and ("consent", mine[1]["id"]) in {(i["entity"], i["id"]) for i in page["items"]}
    assert [n["id"] for n in client.get("/api/v1/sync/erased", headers=world.headers("other")).json()["narrowed"]] \
        == [theirs[1]["id"]]


def test_the_withdrawal_preview_counts_phones_until_they_confirm_erasure(client, session, world):
    batch = capture_batch(world, 1)
    assert sync(client, world, batch, device_id="phone-of-jo").status_code == 200
    consent = batch[1]["id"]
    preview = f"/api/v1/consents/{consent}/withdrawal-preview"
    assert client.get(preview, headers=world.headers("coordinator")).json()["phones_holding"] == 1
    # Confirming before the withdrawal records nothing: there is nothing to erase yet.
    r = client.post("/api/v1/sync/erased", json={"device_id": "phone-of-jo", "consent_ids": [consent]},
                    headers=world.headers("researcher"))
    assert r.status_code == 204
    assert client.get(preview, headers=world.headers("coordinator")).json()["phone_erasures"] == []

    client.post(f"/api/v1/consents/{consent}/withdraw", headers=world.headers("coordinator"))
    assert client.get(preview, headers=world.headers("coordinator")).json()["phones_holding"] == 1
    # Another researcher cannot confirm for Jo's consent.
    another_researcher(session, world)
    client.post("/api/v1/sync/erased", json={"device_id": "phone-of-jo", "consent_ids": [consent]},
                headers=world.headers("other"))
    assert client.get(preview, headers=world.headers("coordinator")).json()["phones_holding"] == 1

    for _ in range(2):  # a repeated confirmation is one
        r = client.post("/api/v1/sync/erased", json={"device_id": "phone-of-jo", "consent_ids": [consent]},
                        headers=world.headers("researcher"))
        assert r.status_code == 204
    answer = client.get(preview, headers=world.headers("coordinator")).json()
    assert answer["phones_holding"] == 0
    assert [e["device_id"] for e in answer["phone_erasures"]] == ["phone-of-jo"]


def test_erasure_confirmations_refuse_bad_input(client, world):
    r = client.post("/api/v1/sync/erased", json={"device_id": "", "consent_ids": ["nope"]},
                    headers=world.headers("researcher"))
    assert r.status_code == 422 and r.json()["code"]
    r = client.get("/api/v1/sync/erased", params={"after": -1}, headers=world.headers("researcher"))
    assert r.status_code == 422
    assert client.get("/api/v1/sync/erased").status_code == 401


def test_the_members_list_shows_each_persons_last_sync_even_without_a_phone(client, world):
    members = f"/api/v1/projects/{world.project.id}/members"
    before = {m["user_id"]: m for m in client.get(members, headers=world.headers("coordinator")).json()}
    assert before[str(world.researcher.id)]["last_sync_at"] is None
    assert sync(client, world, capture_batch(world, 1)).status_code == 200  # with a password login's token
    after = {m["user_id"]: m for m in client.get(members, headers=world.headers("coordinator")).json()}
    assert after[str(world.researcher.id)]["last_sync_at"] is not None
    assert after[str(world.coordinator.id)]["last_sync_at"] is None


def test_receipt_cards_are_a_pdf_of_new_labels_for_coordinators_only(client, world):
    url = f"/api/v1/projects/{world.project.id}/receipt-cards"
    r = client.get(url, params={"count": 10}, headers=world.headers("coordinator"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF") and r.content.count(b"/Type /Page\n") == 2  # 8 to a page
    assert client.get(url, headers=world.headers("researcher")).status_code == 403
    assert client.get(url, params={"count": 0}, headers=world.headers("coordinator")).status_code == 422


def test_a_withdrawal_contact_of_null_clears_it(client, world):
    url = f"/api/v1/projects/{world.project.id}"
    r = client.patch(url, json={"withdrawal_contact": "Ana, 01752 000 000"}, headers=world.headers("coordinator"))
    assert r.status_code == 200 and r.json()["withdrawal_contact"] == "Ana, 01752 000 000"
    r = client.patch(url, json={"withdrawal_contact": None}, headers=world.headers("coordinator"))
    assert r.status_code == 200 and r.json()["withdrawal_contact"] == ""
    r = client.patch(url, json={"withdrawal_contact": "a\u0000b"}, headers=world.headers("coordinator"))
    assert r.status_code == 422


def test_a_phones_question_reads_the_small_index_not_every_change(client, engine, world, session):
    """Every phone asks once a minute: the query reads the small partial index of tombstones and consent changes by
    owner, not every change since its cursor. (Among a few rows without statistics either plan costs the same, and
    PostgreSQL once picked the walk: so other researchers' changes first, and statistics, as production has.)"""
    others = [{"project_id": world.project.id, "owner_id": uuid.uuid4(), "entity": "fragment",
               "entity_id": uuid.uuid4(), "op": "upsert", "at": utcnow()} for _ in range(3000)]
    session.execute(sa.insert(Change), others)
    session.commit()
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE changes")
        conn.commit()
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM changes" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert client.get("/api/v1/sync/erased", headers=world.headers("researcher")).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert seen
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        for statement, parameters in seen:
            plan = conn.exec_driver_sql(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement,
                                        parameters).all()
            assert "ix_changes_owner_for_phones" in "\n".join(str(r[-1]) for r in plan), plan


def test_receipt_cards_print_any_script_and_keep_how_to_withdraw_readable():
    """The core PDF fonts printed a Polish contact and an Arabic name as question marks, and a long project name ran
    into the line that says how to withdraw. Labels have six characters (a billion), so sheets printed before any
    is used do not share one."""
    import io

    from pypdf import PdfReader

    from api.consent import cards

    labels = cards.new_labels(8, set())
    assert all(len(label) == 8 and set(label[2:]) <= set(cards.ALPHABET) for label in labels)
    contact = "Małgorzata Wróbel, Ośrodek Kultury, 58 123 45 67"
    name = "بيت الجيران — Łódź " + "listening to the neighbourhood " * 5
    text = " ".join(PdfReader(io.BytesIO(cards.sheet(name, contact, labels))).pages[0].extract_text().split())
    assert "Małgorzata Wróbel" in text and "Ośrodek" in text and "?" not in text
    assert text.count("To take your words out") == 8 and "…" in text


def test_a_replay_of_an_erased_record_says_so_so_a_restored_backup_erases_its_copy(client, world):
    items = capture_batch(world, 2)  # a conversation, a consent, two fragments
    first = sync(client, world, items).json()["results"]
    assert [r.get("erased") for r in first] == [None] * 4
    again = sync(client, world, items).json()["results"]
    assert [(r["status"], r.get("erased")) for r in again] == [("duplicate", None)] * 4
    r = client.post(f"/api/v1/consents/{items[1]['id']}/withdraw", json={"reason": "participant_asked"},
                    headers=world.headers("coordinator"))
    assert r.status_code == 200, r.text
    after = sync(client, world, items).json()["results"]
    # The consent and its fragments are held erased; the conversation (it had no note to erase) is not.
    assert [(r["status"], r.get("erased")) for r in after] == [("duplicate", None)] + [("duplicate", True)] * 3
