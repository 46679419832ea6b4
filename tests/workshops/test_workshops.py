"""Workshops through the API: the pack and its consent rule, freezing, withdrawal after printing, the board,
paper themes, closing into the codebook, and reading over the API."""

import io
import uuid
import xml.etree.ElementTree as ET
import zipfile
from typing import Any

import pytest
from sqlmodel import Session, col, select

from api.audit.models import AuditEntry
from api.config import get_settings
from api.feed.models import Change
from api.people.deps import Actor
from api.people.models import AuthToken
from api.tags.models import FragmentTag, Tag
from api.workshops import service
from api.workshops.models import Theme, Workshop
from tests.factories import World, bearer, make_world
from tests.support.apps import from_address
from tests.workshops.helpers import add, capture, make_workshop, pack, set_state


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def mixed_pack(client: Any, world: World) -> dict[str, str]:
    ids = {}
    ids["shared"], _ = capture(client, world, scopes=["quote", "share", "publish"], kind="quote", text="shared words")
    ids["internal"], _ = capture(client, world, scopes=["quote"], kind="quote", text="internal only")
    ids["share_only"], _ = capture(client, world, scopes=["share"], text="share not publish")
    ids["sensitive"], _ = capture(client, world, scopes=["quote", "share", "publish"], text="sensitive words",
                                  sensitive=True)
    return ids


def test_a_mixed_audience_sees_only_share_and_the_pack_says_what_was_left_out(client, world) -> None:
    ids = mixed_pack(client, world)
    w = make_workshop(client, world, "mixed")
    r = add(client, world, w["id"], list(ids.values()))
    assert r.status_code == 200, r.text
    assert r.json() == {"added": 4, "already": 0,
                        "left_out": {"consent_lacks_share": 1, "sensitive_not_included": 1}}
    p = pack(client, world, w["id"])
    assert sorted(c["text"] for c in p["cards"]) == ["share not publish", "shared words"]
    assert p["left_out"] == {"consent_lacks_share": 1, "sensitive_not_included": 1}
    assert {(x["reason"], x["text"]) for x in p["left_out_items"]} == {
        ("consent_lacks_share", None), ("sensitive_not_included", "sensitive words")}
    card = next(c for c in p["cards"] if c["text"] == "shared words")
    assert (card["kind"], card["language"], card["prompt"], card["place"]) == \
        ("quote", "en", "Where do you feel you belong?", "Stonehouse")
    assert len(card["month"]) == 7 and "P-4KQ7" not in str(p) and "mood" not in str(p)


def test_public_needs_publish_and_never_takes_a_sensitive_fragment(client, world) -> None:
    ids = mixed_pack(client, world)
    w = make_workshop(client, world, "public")
    add(client, world, w["id"], list(ids.values()))
    assert [c["text"] for c in pack(client, world, w["id"])["cards"]] == ["shared words"]
    r = client.put(f"/api/v1/workshops/{w['id']}/pack/{ids['sensitive']}/sensitive", json={"include": True},
                   headers=world.headers("coordinator"))
    assert r.status_code == 409 and r.json()["code"] == "sensitive_public"


def test_a_sensitive_fragment_comes_in_only_when_included_by_hand_and_that_is_audited(client, world, session) -> None:
    ids = mixed_pack(client, world)
    w = make_workshop(client, world, "project")
    add(client, world, w["id"], list(ids.values()))
    before = pack(client, world, w["id"])
    assert "sensitive words" not in [c["text"] for c in before["cards"]]
    # The coordinator deciding reads what would go on the board; no other reason left out carries words.
    assert {(x["reason"], x["text"]) for x in before["left_out_items"]} == {
        ("sensitive_not_included", "sensitive words")}
    r = client.put(f"/api/v1/workshops/{w['id']}/pack/{ids['sensitive']}/sensitive", json={"include": True},
                   headers=world.headers("coordinator"))
    assert r.status_code == 204, r.text
    assert "sensitive words" in [c["text"] for c in pack(client, world, w["id"])["cards"]]
    session.rollback()
    assert session.exec(select(AuditEntry).where(AuditEntry.action == "workshop.pack.include_sensitive")).one()


def test_freezing_numbers_the_cards_and_each_step_is_audited(client, world, session) -> None:
    ids = mixed_pack(client, world)
    w = make_workshop(client, world, "mixed")
    add(client, world, w["id"], list(ids.values()))
    assert set_state(client, world, w["id"], "running").json()["code"] == "bad_transition"
    assert set_state(client, world, w["id"], "ready").status_code == 200
    assert sorted(c["number"] for c in pack(client, world, w["id"])["cards"]) == [1, 2]
    assert add(client, world, w["id"], [ids["internal"]]).json()["code"] == "pack_frozen"
    assert set_state(client, world, w["id"], "running").status_code == 200
    session.rollback()
    steps = session.exec(select(AuditEntry.detail).where(AuditEntry.action == "workshop.state")
                         .order_by(col(AuditEntry.id))).all()
    assert [(d["from"], d["to"]) for d in steps] == [("draft", "ready"), ("ready", "running")]


def test_adding_by_tag_and_by_saved_search(client, world) -> None:
    a, _ = capture(client, world, scopes=["share"], text="the bus never comes")
    b, _ = capture(client, world, scopes=["share"], text="the library closed")
    client.put(f"/api/v1/fragments/{b}/tags/{world.tag.id}", headers=world.headers("coordinator"))
    saved = client.post(f"/api/v1/projects/{world.project.id}/saved-searches",
                        json={"name": "buses", "query": {"q": "bus"}}, headers=world.headers("coordinator")).json()
    w = make_workshop(client, world)
    assert add(client, world, w["id"], [], tag_id=str(world.tag.id)).json()["added"] == 1
    r = add(client, world, w["id"], [b], saved_search_id=saved["id"])
    assert r.json()["added"] == 1 and r.json()["already"] == 1
    assert {c["fragment_id"] for c in pack(client, world, w["id"])["cards"]} == {a, b}


def test_fragments_of_another_project_are_refused(client, world, session) -> None:
    other = make_world(session)
    theirs, _ = capture(client, other, scopes=["share"])
    w = make_workshop(client, world)
    r = add(client, world, w["id"], [theirs])
    assert r.status_code == 422 and r.json()["code"] == "bad_fragments"


def ready_workshop(client: Any, world: World, n: int = 3, audience: str = "mixed") -> tuple[dict, list[str], list[str]]:
    frags, consents = [], []
    for i in range(n):
        f, c = capture(client, world, scopes=["quote", "share"], text=f"card words {i}", label=f"P-{i:04d}")
        frags.append(f)
        consents.append(c)
    w = make_workshop(client, world, audience)
    add(client, world, w["id"], frags)
    assert set_state(client, world, w["id"], "ready").status_code == 200
    return w, frags, consents


def test_a_withdrawal_after_printing_lists_the_card_until_confirmed_and_leaves_a_gap(client, world) -> None:
    w, frags, consents = ready_workshop(client, world, 3)
    coordinator = world.headers("coordinator")
    preview = client.get(f"/api/v1/consents/{consents[1]}/withdrawal-preview", headers=coordinator).json()
    assert (preview["workshop_cards"], preview["workshops"]) == (1, ["Belonging"])
    done = client.post(f"/api/v1/consents/{consents[1]}/withdraw", json={}, headers=coordinator).json()
    assert done["workshop_cards_erased"] == 1
    p = pack(client, world, w["id"])
    assert [c["number"] for c in p["cards"]] == [1, 3]  # the reprint leaves 2 as a gap
    assert [x["number"] for x in p["withdrawn"]] == [2]
    assert p["withdrawn"][0]["message"].startswith("card 2 was withdrawn on ")
    assert p["withdrawn"][0]["message"].endswith("— take it out of the printed pack")
    assert "card words 1" not in str(p)
    r = client.post(f"/api/v1/workshops/{w['id']}/withdrawn/2/confirm", headers=coordinator)
    assert r.status_code == 204
    assert pack(client, world, w["id"])["withdrawn"] == []
    assert client.post(f"/api/v1/workshops/{w['id']}/withdrawn/2/confirm", headers=coordinator).status_code == 404


def test_narrowing_a_consent_takes_the_card_off_a_mixed_board(client, world) -> None:
    w, frags, consents = ready_workshop(client, world, 2)
    r = client.patch(f"/api/v1/consents/{consents[0]}", json={"scopes": ["quote"]},
                     headers={**world.headers("coordinator"), "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    board = client.get(f"/api/v1/workshops/{w['id']}/board", headers=world.headers("coordinator")).json()
    assert [c["number"] for c in board["cards"]] == [2]
    # Card 1 may have been printed for a mixed room: the pack says to take it out, until confirmed.
    listed = pack(client, world, w["id"])["withdrawn"]
    assert [(x["number"], "no longer allows sharing" in x["message"]) for x in listed] == [(1, True)]
    assert client.post(f"/api/v1/workshops/{w['id']}/withdrawn/1/confirm",
                       headers=world.headers("coordinator")).status_code in (200, 204)
    assert pack(client, world, w["id"])["withdrawn"] == []


def op(kind: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "kind": kind, "data": data}


def test_board_operations_apply_once_in_sequence_and_a_resend_is_a_duplicate(client, world) -> None:
    w, _, _ = ready_workshop(client, world, 2)
    set_state(client, world, w["id"], "running")
    h = world.headers("coordinator")
    board = client.get(f"/api/v1/workshops/{w['id']}/board", headers=h).json()
    card = board["cards"][0]["id"]
    theme = str(uuid.uuid4())
    ops = [op("theme", theme_id=theme, name="Feeling invisible", x=10, y=10),
           op("move", card_id=card, x=20, y=60, theme_id=theme), op("vote", theme_id=theme, delta=1),
           op("note", note_id=str(uuid.uuid4()), text="Who is missing?", theme_id=theme, x=0, y=0)]
    r = client.post(f"/api/v1/workshops/{w['id']}/board/ops", json={"ops": ops}, headers=h).json()
    assert [x["status"] for x in r["results"]] == ["applied"] * 4
    assert [x["seq"] for x in r["results"]] == [1, 2, 3, 4]
    again = client.post(f"/api/v1/workshops/{w['id']}/board/ops", json={"ops": ops}, headers=h).json()
    assert [(x["status"], x["seq"]) for x in again["results"]] == [("duplicate", s) for s in (1, 2, 3, 4)]
    board = client.get(f"/api/v1/workshops/{w['id']}/board", headers=h).json()
    assert board["seq"] == 4 and board["themes"][0]["votes"] == 1
    assert next(c for c in board["cards"] if c["id"] == card)["theme_id"] == theme
    bad = client.post(f"/api/v1/workshops/{w['id']}/board/ops",
                      json={"ops": [op("move", card_id=str(uuid.uuid4()), x=1, y=1)]}, headers=h).json()
    assert bad["results"][0]["status"] == "rejected"


def join(client: Any, code: str) -> dict[str, str]:
    r = client.post("/api/v1/join", json={"code": code.lower(), "name": "Sam"})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_a_join_token_opens_its_board_only_and_dies_when_the_workshop_closes(client, world) -> None:
    w, _, _ = ready_workshop(client, world, 2)
    set_state(client, world, w["id"], "running")
    guest = join(client, w["short_code"])
    board = client.get("/api/v1/board", headers=guest)
    assert board.status_code == 200 and board.json()["guests"] is None
    assert "fragment_id" not in str(board.json()) and "P-0000" not in str(board.json())
    for path in ("/me", f"/workshops/{w['id']}", f"/workshops/{w['id']}/board", f"/projects/{world.project.id}",
                 "/fragments", "/changes", f"/projects/{world.project.id}/tags"):
        r = client.get("/api/v1" + path, headers=guest)
        assert r.status_code == 404, (path, r.text)
    card = board.json()["cards"][0]["id"]
    moved = client.post("/api/v1/board/ops", json={"ops": [op("move", card_id=card, x=5, y=5)]}, headers=guest)
    assert moved.json()["results"][0]["status"] == "applied"
    lock = client.post("/api/v1/board/ops", json={"ops": [op("lock", locked=True)]}, headers=guest).json()
    assert lock["results"][0]["reason"] == "not_allowed"
    client.post(f"/api/v1/workshops/{w['id']}/board/ops", json={"ops": [op("lock", locked=True)]},
                headers=world.headers("coordinator"))
    locked = client.post("/api/v1/board/ops", json={"ops": [op("move", card_id=card, x=9, y=9)]}, headers=guest)
    assert locked.json()["results"][0]["reason"] == "board_locked"
    assert set_state(client, world, w["id"], "closed").status_code == 200
    assert client.get("/api/v1/board", headers=guest).status_code == 401
    assert client.post("/api/v1/join", json={"code": w["short_code"]}).status_code == 404


def test_guessing_join_codes_is_refused_from_that_address_while_right_codes_still_join(client, world) -> None:
    w, _, _ = ready_workshop(client, world, 1)
    set_state(client, world, w["id"], "running")
    for _ in range(5):  # a room of phones behind one address: right codes never count against it
        join(client, w["short_code"])
    limit = get_settings().enrol_address_lock_after
    answers = [client.post("/api/v1/join", json={"code": f"ZZ{n:04d}"}).status_code for n in range(limit + 1)]
    assert answers == [404] * limit + [429]
    refused = client.post("/api/v1/join", json={"code": w["short_code"]})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_join_code_guessing_spread_over_addresses_is_limited_overall(client, world, monkeypatch) -> None:
    """A guesser with many addresses (an IPv6 /48 holds 65,536 /64s) still meets the overall limit."""
    w, _, _ = ready_workshop(client, world, 1)
    monkeypatch.setenv("HEARKEN_ENROL_GLOBAL_LOCK_AFTER", "5")
    get_settings.cache_clear()
    try:
        answers = [from_address(f"203.0.113.{20 + i}").post("/api/v1/join", json={"code": "ZZZZZZ"}).status_code
                   for i in range(6)]
        assert answers == [404] * 5 + [429], answers
        assert from_address("198.51.100.41").post("/api/v1/join", json={"code": w["short_code"]}).status_code == 429
    finally:
        get_settings.cache_clear()


def test_back_to_draft_signs_every_participant_out_and_gives_the_board_a_new_code(client, world) -> None:
    """A guest was let in for one pack and one audience: when the coordinator unfreezes the pack (and may widen what
    the board shows), neither their token nor the old code opens the board again."""
    w, _, _ = ready_workshop(client, world, 2, audience="mixed")
    guest = join(client, w["short_code"])
    assert client.get("/api/v1/board", headers=guest).status_code == 200
    assert set_state(client, world, w["id"], "draft").status_code == 200
    assert client.get("/api/v1/board", headers=guest).status_code == 401
    coordinator = world.headers("coordinator")
    client.patch(f"/api/v1/workshops/{w['id']}", json={"audience": "project"}, headers=coordinator)
    assert set_state(client, world, w["id"], "ready").status_code == 200
    assert client.get("/api/v1/board", headers=guest).status_code == 401
    now = client.get(f"/api/v1/workshops/{w['id']}", headers=coordinator).json()
    assert now["audience"] == "project" and now["short_code"] != w["short_code"]
    assert client.post("/api/v1/join", json={"code": w["short_code"]}).status_code == 404
    board = client.get(f"/api/v1/workshops/{w['id']}/board", headers=coordinator).json()
    assert board["guests"] == []
    # Now a board for the project's own people: its cards need no `share`, and a code proves no one is one of them.
    refused = client.post("/api/v1/join", json={"code": now["short_code"]})
    assert (refused.status_code, refused.json()["code"]) == (403, "board_for_team")


def test_a_note_quoting_a_withdrawn_card_leaves_the_board_and_its_replayed_log(client, world) -> None:
    """Screens catch up by replaying the board's operations: the note's words must go from the log as from the
    note."""
    w, _, consents = ready_workshop(client, world, 2)
    set_state(client, world, w["id"], "running")
    guest = join(client, w["short_code"])
    note = op("note", note_id=str(uuid.uuid4()), text='She said "card words 0" and we all nodded', x=0, y=0)
    assert client.post("/api/v1/board/ops", json={"ops": [note]}, headers=guest).json()["results"][0]["status"] \
        == "applied"
    assert "card words 0" in client.get("/api/v1/board/events?after=0&wait=0", headers=guest).text
    r = client.post(f"/api/v1/consents/{consents[0]}/withdraw", json={}, headers=world.headers("coordinator"))
    assert r.status_code == 200
    assert "card words 0" not in client.get("/api/v1/board", headers=guest).text
    events = client.get("/api/v1/board/events?after=0&wait=0", headers=guest).text
    assert "card words 0" not in events and "[withdrawn]" in events and "and we all nodded" in events


def test_a_participant_edits_only_its_own_notes_and_a_note_taken_down_leaves_the_replayed_log(client, world) -> None:
    """A hostile phone could rewrite anyone's note (the facilitator's too) or put back one the facilitator took
    down, and a note taken down was still replayed, words and all, to every screen that caught up."""
    w, _, _ = ready_workshop(client, world, 1)
    set_state(client, world, w["id"], "running")
    h, sam, kim = world.headers("coordinator"), join(client, w["short_code"]), join(client, w["short_code"])
    ops_path = f"/api/v1/workshops/{w['id']}/board/ops"

    def send(headers: dict[str, str], *ops: dict[str, Any], path: str = "/api/v1/board/ops") -> list[str]:
        return [r["status"] for r in client.post(path, json={"ops": list(ops)}, headers=headers).json()["results"]]

    facilitator_note, sams_note = str(uuid.uuid4()), str(uuid.uuid4())
    assert send(h, op("note", note_id=facilitator_note, text="Bus routes", x=0, y=0), path=ops_path) == ["applied"]
    assert send(sam, op("note", note_id=sams_note, text="That was Mrs Jones from Flat 4", x=0, y=0)) == ["applied"]
    assert send(sam, op("note", note_id=sams_note, text="Someone from the flats", x=0, y=0)) == ["applied"]
    assert send(kim, op("note", note_id=sams_note, text="hijacked", x=0, y=0)) == ["rejected"]
    # Text under the API's rule: a control character would go into the memo this note becomes, and every .qdpx.
    assert send(kim, op("note", note_id=str(uuid.uuid4()), text="hi\x0b\x1b[2Jthere", x=0, y=0)) == ["rejected"]
    assert send(sam, op("note", note_id=facilitator_note, text="hijacked", x=0, y=0)) == ["rejected"]
    assert send(h, op("note_remove", note_id=sams_note), path=ops_path) == ["applied"]
    assert send(sam, op("note", note_id=sams_note, text="Mrs Jones again", x=0, y=0)) == ["rejected"]
    board = client.get("/api/v1/board", headers=kim).json()
    assert [n["text"] for n in board["notes"]] == ["Bus routes"]
    replayed = client.get("/api/v1/board/events?after=0&wait=0", headers=kim).text
    assert "Jones" not in replayed and "flats" not in replayed and "hijacked" not in replayed


def test_a_card_leaving_reaches_a_screen_that_catches_up_after_being_away(client, world) -> None:
    """A screen that was offline (or between two streams) when a card was withdrawn catches up by replaying the
    board's log after its last seq: the log tells it to load the board again, so the card leaves that screen too.
    Only changes to what a board holds touch it: a new fragment elsewhere in the project does not."""
    w, frags, consents = ready_workshop(client, world, 2)
    set_state(client, world, w["id"], "running")
    guest = join(client, w["short_code"])
    seq = client.get("/api/v1/board", headers=guest).json()["seq"]
    capture(client, world, scopes=["quote", "share"], text="not on any board")
    assert client.get("/api/v1/board", headers=guest).json()["seq"] == seq
    assert client.post(f"/api/v1/consents/{consents[0]}/withdraw", json={},
                       headers=world.headers("coordinator")).status_code == 200
    caught_up = client.get(f"/api/v1/board/events?after={seq}&wait=0", headers=guest).text
    assert '"kind": "reload"' in caught_up
    assert [c["text"] for c in client.get("/api/v1/board", headers=guest).json()["cards"]] == ["card words 1"]


def test_a_partner_tools_report_leaves_out_the_rooms_words_about_cards_it_may_not_see(client, world) -> None:
    """A project workshop's report, read by a partner's tool: the card without `share` is not there, and neither
    is the note quoting it nor the theme named after it."""
    private, _ = capture(client, world, scopes=["quote"], text="My son is in prison in Exeter")
    shared, _ = capture(client, world, scopes=["quote", "share"], text="The bus is late")
    w = make_workshop(client, world, "project")
    add(client, world, w["id"], [private, shared])
    set_state(client, world, w["id"], "ready")
    set_state(client, world, w["id"], "running")
    h = world.headers("coordinator")
    cards = {c["text"]: c["id"] for c in client.get(f"/api/v1/workshops/{w['id']}/board", headers=h).json()["cards"]}
    prison, buses = str(uuid.uuid4()), str(uuid.uuid4())
    client.post(f"/api/v1/workshops/{w['id']}/board/ops", headers=h, json={"ops": [
        op("theme", theme_id=prison, name="Prison families", x=0, y=0),
        op("move", card_id=cards["My son is in prison in Exeter"], x=1, y=1, theme_id=prison),
        op("note", note_id=str(uuid.uuid4()), text="Card 1: 'my son is in prison'", theme_id=prison, x=0, y=0),
        op("theme", theme_id=buses, name="Buses", x=400, y=0),
        op("move", card_id=cards["The bus is late"], x=401, y=1, theme_id=buses)]})
    token = client.post(f"/api/v1/projects/{world.project.id}/clients", headers=h, json={
        "name": "council", "scopes": ["workshops:read"], "audience": "partner"}).json()["token"]
    report = client.get(f"/api/v1/workshops/{w['id']}/report", headers=bearer(token))
    assert report.status_code == 200 and "prison" not in report.text.lower()
    assert [(t["name"], t["card_count"]) for t in report.json()["themes"]] == [("Buses", 1)]
    # The team's own report keeps everything.
    assert "prison" in client.get(f"/api/v1/workshops/{w['id']}/report", headers=h).text.lower()


def test_one_participant_cannot_flood_a_board(client, world, monkeypatch) -> None:
    """A join token may move cards and add a few short notes: answered a batch at a time (the rest wait in the
    phone's queue), with a cap on notes and on all its operations, and a cap on who may join."""
    w, _, _ = ready_workshop(client, world, 1)
    set_state(client, world, w["id"], "running")
    guest = join(client, w["short_code"])

    def note(text: str = "we all said so") -> dict[str, Any]:
        return op("note", note_id=str(uuid.uuid4()), text=text, x=0, y=0)

    sent = [note() for _ in range(service.GUEST_NOTES_MAX + 40)]
    answered = client.post("/api/v1/board/ops", json={"ops": sent}, headers=guest).json()["results"]
    assert [r["id"] for r in answered] == [o["id"] for o in sent[:service.GUEST_BATCH]]
    answered += client.post("/api/v1/board/ops", json={"ops": sent[service.GUEST_BATCH:]},
                            headers=guest).json()["results"]
    assert [r["status"] for r in answered] == ["applied"] * service.GUEST_NOTES_MAX + ["rejected"] * 40
    assert {r.get("reason") for r in answered[service.GUEST_NOTES_MAX:]} == {"too_many_notes"}
    other = join(client, w["short_code"])
    long = client.post("/api/v1/board/ops", json={"ops": [note("x" * (service.GUEST_NOTE_CHARS + 1))]},
                       headers=other).json()["results"]
    assert long[0]["reason"] == "note_too_long"
    coordinator = client.post(f"/api/v1/workshops/{w['id']}/board/ops", json={"ops": [note("x" * 1500)]},
                              headers=world.headers("coordinator")).json()["results"]
    assert coordinator[0]["status"] == "applied"  # the facilitator is not a guest
    monkeypatch.setattr(service, "GUESTS_MAX", 2)
    full = client.post("/api/v1/join", json={"code": w["short_code"], "name": "Three"})
    assert full.status_code == 409 and full.json()["code"] == "board_full"


def test_a_removed_participant_is_shut_out_at_once(client, world) -> None:
    w, _, _ = ready_workshop(client, world, 1)
    guest = join(client, w["short_code"])
    board = client.get(f"/api/v1/workshops/{w['id']}/board", headers=world.headers("coordinator")).json()
    gid = board["guests"][0]["id"]
    r = client.delete(f"/api/v1/workshops/{w['id']}/guests/{gid}", headers=world.headers("coordinator"))
    assert r.status_code == 204
    assert client.get("/api/v1/board", headers=guest).status_code == 401


def test_the_event_stream_sends_operations_and_a_withdrawn_card_leaving(client, world) -> None:
    w, frags, consents = ready_workshop(client, world, 2)
    set_state(client, world, w["id"], "running")
    h = world.headers("coordinator")
    card = client.get(f"/api/v1/workshops/{w['id']}/board", headers=h).json()["cards"][0]["id"]
    client.post(f"/api/v1/workshops/{w['id']}/board/ops", json={"ops": [op("move", card_id=card, x=3, y=4)]},
                headers=h)
    body = client.get(f"/api/v1/workshops/{w['id']}/board/events?after=0&wait=0", headers=h).text
    assert "event: op" in body and '"seq": 1' in body
    guest = join(client, w["short_code"])
    assert "event: op" in client.get("/api/v1/board/events?after=0&wait=0", headers=guest).text
    client.post(f"/api/v1/consents/{consents[0]}/withdraw", json={}, headers=h)
    board = client.get("/api/v1/board", headers=guest).json()
    assert card not in [c["id"] for c in board["cards"]]


def test_paper_themes_from_typed_lines_and_closing_makes_the_tags(client, world, session) -> None:
    w, frags, _ = ready_workshop(client, world, 4)
    h = world.headers("coordinator")
    bad = client.post(f"/api/v1/workshops/{w['id']}/paper", json={"text": "Lonely: 1 99"}, headers=h)
    assert bad.status_code == 422 and "no card 99" in bad.json()["detail"]
    text = "Feeling invisible: 1 3\n- nobody asks us\nTransport: 2, 4\n"
    r = client.post(f"/api/v1/workshops/{w['id']}/paper", json={"text": text}, headers=h)
    assert r.status_code == 200 and r.json() == {"themes": 2, "cards": 4}
    report = client.get(f"/api/v1/workshops/{w['id']}/report", headers=h).json()
    assert [(t["name"], [c["number"] for c in t["cards"]]) for t in report["themes"]] == \
        [("Feeling invisible", [1, 3]), ("Transport", [2, 4])]
    assert report["themes"][0]["notes"] == ["nobody asks us"]
    assert report["themes"][0]["places"] == {"Stonehouse": 2}
    assert set_state(client, world, w["id"], "closed").status_code == 200
    session.rollback()
    parent = session.exec(select(Tag).where(Tag.name == "Workshop: Belonging (2026-12-03)")).one()
    children = {t.name: t for t in session.exec(select(Tag).where(Tag.parent_id == parent.id))}
    assert set(children) == {"Feeling invisible", "Transport"}
    tagged = set(session.exec(select(FragmentTag.fragment_id)
                              .where(FragmentTag.tag_id == children["Transport"].id)))
    assert tagged == {uuid.UUID(frags[1]), uuid.UUID(frags[3])}
    assert session.exec(select(Change).where(Change.entity == "fragment",
                                             Change.entity_id == uuid.UUID(frags[1]))).one()


def test_paper_themes_refuse_a_card_twice_keep_a_colon_in_a_name_and_keep_replaced_notes_once(client, world) -> None:
    w, _, _ = ready_workshop(client, world, 4)
    h = world.headers("coordinator")
    url = f"/api/v1/workshops/{w['id']}/paper"
    twice = client.post(url, json={"text": "Buses: 1 2 3\nTrains: 3 4"}, headers=h)  # card 3 went to Trains, silently
    assert twice.status_code == 422 and "card 3 is listed twice" in twice.json()["detail"]
    r = client.post(url, json={"text": "Transport: buses and trains: 1 2\n- last bus is 6pm\nCost: 3"}, headers=h)
    assert r.status_code == 200 and r.json() == {"themes": 2, "cards": 3}
    # Typed again with one theme fewer: the note of the theme that went stays, on the board; typed again, once.
    r = client.post(url, json={"text": "Cost: 3 4\n- last bus is 6pm"}, headers=h)
    assert r.status_code == 200 and r.json() == {"themes": 1, "cards": 2}
    report = client.get(f"/api/v1/workshops/{w['id']}/report", headers=h).json()
    assert [t["name"] for t in report["themes"]] == ["Cost"]
    notes = [n for t in report["themes"] for n in t["notes"]] + report["notes"]
    assert notes.count("last bus is 6pm") == 1
    assert client.post(url, json={"text": "Transport: 1 2\n- the 34 is cut\nCost: 3"}, headers=h).status_code == 200
    assert client.post(url, json={"text": "Cost: 3"}, headers=h).status_code == 200
    report = client.get(f"/api/v1/workshops/{w['id']}/report", headers=h).json()
    assert "the 34 is cut" in report["notes"]  # a replaced theme's note is kept, loose on the board


def test_a_closed_workshop_keeps_counts_but_no_erased_words(client, world) -> None:
    w, frags, consents = ready_workshop(client, world, 2)
    h = world.headers("coordinator")
    client.post(f"/api/v1/workshops/{w['id']}/paper", json={"text": "Both: 1 2"}, headers=h)
    set_state(client, world, w["id"], "closed")
    client.post(f"/api/v1/consents/{consents[0]}/withdraw", json={}, headers=h)
    report = client.get(f"/api/v1/workshops/{w['id']}/report", headers=h).json()
    assert report["themes"][0]["card_count"] == 2
    assert [c["text"] for c in report["themes"][0]["cards"]] == ["card words 1"]
    assert "card words 0" not in str(report) and "card words 0" not in str(pack(client, world, w["id"]))


def test_an_api_client_reads_workshops_with_workshops_read_within_its_audience(client, world) -> None:
    shared, _ = capture(client, world, scopes=["quote", "share", "publish"], text="for everyone")
    inside, _ = capture(client, world, scopes=["quote", "share"], text="partners only")
    w = make_workshop(client, world, "mixed")
    add(client, world, w["id"], [shared, inside])
    set_state(client, world, w["id"], "ready")
    client.post(f"/api/v1/workshops/{w['id']}/paper", json={"text": "All: 1 2"}, headers=world.headers("coordinator"))
    h = world.headers("coordinator")

    def token(scopes: list[str], audience: str) -> dict[str, str]:
        r = client.post(f"/api/v1/projects/{world.project.id}/clients",
                        json={"name": f"t{audience}{scopes}", "scopes": scopes, "audience": audience}, headers=h)
        return {"Authorization": f"Bearer {r.json()['token']}"}

    partner, public, without = token(["workshops:read"], "partner"), token(["workshops:read"], "public"), \
        token(["fragments:read"], "internal")
    assert client.get(f"/api/v1/projects/{world.project.id}/workshops", headers=partner).status_code == 200
    texts = [c["text"] for c in client.get(f"/api/v1/workshops/{w['id']}/report", headers=partner)
             .json()["themes"][0]["cards"]]
    assert sorted(texts) == ["for everyone", "partners only"]
    texts = [c["text"] for c in client.get(f"/api/v1/workshops/{w['id']}/report", headers=public)
             .json()["themes"][0]["cards"]]
    assert texts == ["for everyone"]
    r = client.get(f"/api/v1/workshops/{w['id']}/report", headers=without)
    assert r.status_code == 403 and r.json()["code"] == "scope_missing"


def test_an_api_client_never_gets_a_join_code(client, world) -> None:
    """The code alone joins the board, which may show more than a partner's or the public's consent scope."""
    inside, _ = capture(client, world, scopes=["quote"], text="project members only")
    w = make_workshop(client, world, "project")
    add(client, world, w["id"], [inside])
    set_state(client, world, w["id"], "ready")
    h = world.headers("coordinator")
    r = client.post(f"/api/v1/projects/{world.project.id}/clients",
                    json={"name": "partner", "scopes": ["workshops:read"], "audience": "partner"}, headers=h)
    partner = {"Authorization": f"Bearer {r.json()['token']}"}
    listed = client.get(f"/api/v1/projects/{world.project.id}/workshops", headers=partner).json()
    assert [x["short_code"] for x in listed] == [None]
    report = client.get(f"/api/v1/workshops/{w['id']}/report", headers=partner).json()
    assert report["workshop"]["short_code"] is None and w["short_code"] not in str(report)
    mine = client.get(f"/api/v1/projects/{world.project.id}/workshops", headers=h).json()
    assert [x["short_code"] for x in mine] == [w["short_code"]]


def test_the_join_details_give_the_code_a_link_and_a_qr_code(client, world) -> None:
    w = make_workshop(client, world)
    r = client.get(f"/api/v1/workshops/{w['id']}/join", headers=world.headers("coordinator"))
    assert r.status_code == 200
    j = r.json()
    assert j["code"] == w["short_code"] and j["link"].endswith(f"/app/join.html#{w['short_code']}")
    assert j["qr_svg"].startswith("<svg") and "join the workshop board" in j["qr_svg"]


# --- closing: notes into memos (and so into .qdpx as REFI-QDA notes) ---------------------------------------------

def closed_with_notes(client: Any, world: World, n: int = 3) -> tuple[dict, list[str], list[str], str]:
    """Cards 1 and 2 in theme "Feeling invisible" with a note quoting card 1, a note on the board, and card 3 loose.
    Answers the workshop, fragments, consents and the theme's id."""
    w, frags, consents = ready_workshop(client, world, n)
    set_state(client, world, w["id"], "running")
    h = world.headers("coordinator")
    cards = {frags[int(c["text"].split()[-1])]: c["id"]
             for c in client.get(f"/api/v1/workshops/{w['id']}/board", headers=h).json()["cards"]}
    theme = str(uuid.uuid4())
    ops = [op("theme", theme_id=theme, name="Feeling invisible", x=10, y=10),
           op("move", card_id=cards[frags[0]], x=20, y=60, theme_id=theme),
           op("move", card_id=cards[frags[1]], x=30, y=60, theme_id=theme),
           op("note", note_id=str(uuid.uuid4()), text="Card words 0 - said twice in the room", theme_id=theme,
              x=0, y=0),
           op("note", note_id=str(uuid.uuid4()), text="Who is missing?", x=5, y=5)]
    r = client.post(f"/api/v1/workshops/{w['id']}/board/ops", json={"ops": ops}, headers=h).json()
    assert [x["status"] for x in r["results"]] == ["applied"] * 5, r
    assert set_state(client, world, w["id"], "closed").status_code == 200
    return w, frags, consents, theme


def memos_of(client: Any, world: World) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/projects/{world.project.id}/memos", headers=world.headers("coordinator"))
    assert r.status_code == 200, r.text
    return sorted(r.json(), key=lambda m: m["text"])


def test_closing_keeps_each_note_as_a_memo_linked_to_its_theme_and_fragments_once(client, world, session) -> None:
    w, frags, _, _ = closed_with_notes(client, world)
    session.rollback()
    parent = session.exec(select(Tag).where(Tag.name == "Workshop: Belonging (2026-12-03)")).one()
    child = session.exec(select(Tag).where(Tag.parent_id == parent.id)).one()
    memos = memos_of(client, world)
    assert [(m["text"], m["tag_ids"], sorted(m["fragment_ids"])) for m in memos] == [
        ("Workshop Belonging, board: Who is missing?", [str(parent.id)], []),
        ("Workshop Belonging, theme Feeling invisible: Card words 0 - said twice in the room", [str(child.id)],
         sorted(frags[:2]))]
    audited = session.exec(select(AuditEntry).where(AuditEntry.action == "memo.create",
                                                    AuditEntry.project_id == world.project.id)).all()
    assert {str(a.entity_id) for a in audited} == {m["id"] for m in memos}
    # Closing again is refused and makes nothing; the closing step run again (a retry) finds its memos made.
    assert set_state(client, world, w["id"], "closed").status_code == 409
    workshop = session.get(Workshop, uuid.UUID(w["id"]))
    token = session.exec(select(AuthToken).where(AuthToken.user_id == world.coordinator.id)).first()
    themes = {t.id: t for t in session.exec(select(Theme).where(Theme.workshop_id == workshop.id))}
    service._notes_into_memos(session, Actor(user=world.coordinator, token=token), workshop, themes,
                              {t: [uuid.UUID(f) for f in frags[:2]] for t in themes})
    session.commit()
    assert memos_of(client, world) == memos


def test_the_qdpx_export_carries_the_workshop_notes_as_refi_qda_notes(client, world) -> None:
    _, frags, _, _ = closed_with_notes(client, world)
    memo = next(m for m in memos_of(client, world) if "theme Feeling invisible" in m["text"])
    r = client.get(f"/api/v1/projects/{world.project.id}/export/project.qdpx", headers=world.headers("coordinator"))
    assert r.status_code == 200
    ns = {"q": "urn:QDA-XML:project:1.0"}
    root = ET.fromstring(zipfile.ZipFile(io.BytesIO(r.content)).read("project.qde"))
    notes = {n.get("guid"): n.find("q:PlainTextContent", ns).text for n in root.findall("q:Notes/q:Note", ns)}
    assert notes[memo["id"]] == "Workshop Belonging, theme Feeling invisible: Card words 0 - said twice in the room"
    assert len(notes) == 2
    links = {(x.get("originGUID"), x.get("targetGUID")) for x in root.findall("q:Links/q:Link", ns)}
    assert {(memo["id"], frags[0]), (memo["id"], frags[1]), (memo["id"], memo["tag_ids"][0])} <= links
    codes = {c.get("guid"): c.get("name") for c in root.iter(f"{{{ns['q']}}}Code")}
    assert codes[memo["tag_ids"][0]] == "Feeling invisible"


def test_a_theme_note_keeps_no_words_of_a_fragment_withdrawn_after_closing(client, world) -> None:
    w, frags, consents, _ = closed_with_notes(client, world)
    h = world.headers("coordinator")
    assert client.post(f"/api/v1/consents/{consents[0]}/withdraw", json={}, headers=h).status_code < 300
    memo = next(m for m in memos_of(client, world) if "theme Feeling invisible" in m["text"])
    assert "card words 0" not in memo["text"].lower()
    assert memo["text"] == "Workshop Belonging, theme Feeling invisible: [withdrawn] - said twice in the room"
    assert memo["fragment_ids"] == [frags[1]]
    report = client.get(f"/api/v1/workshops/{w['id']}/report", headers=h).json()
    assert "card words 0" not in str(report).lower()
    assert "[withdrawn] - said twice in the room" in str(report)
    r = client.get(f"/api/v1/projects/{world.project.id}/export/project.qdpx", headers=h)
    assert b"card words 0" not in zipfile_text(r.content).lower()


def zipfile_text(content: bytes) -> bytes:
    z = zipfile.ZipFile(io.BytesIO(content))
    return b"".join(z.read(name) for name in z.namelist())
