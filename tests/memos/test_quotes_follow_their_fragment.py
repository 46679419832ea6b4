"""A quote follows its fragment wherever the team repeated it: memos, a workshop's notes and themes, the board's
log, the tags a workshop leaves. An edit carries the new words there; an erasure leaves "[withdrawn]"."""

import uuid
from typing import Any

import pytest
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from api.memos import service as memos
from tests.factories import World, make_world
from tests.workshops.helpers import add, capture, make_workshop, set_state


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def board_op(client: Any, world: World, workshop_id: str, kind: str, **data: Any) -> None:
    r = ok(client.post(f"/api/v1/workshops/{workshop_id}/board/ops", headers=world.headers("coordinator"),
                       json={"ops": [{"id": str(uuid.uuid4()), "kind": kind, "data": data}]}))
    assert r["results"][0]["status"] == "applied", r


def edit(client: Any, world: World, fragment_id: str, text: str) -> None:
    h = world.headers("coordinator")
    version = ok(client.get(f"/api/v1/fragments/{fragment_id}", headers=h))["version"]
    ok(client.patch(f"/api/v1/fragments/{fragment_id}", json={"text": text}, headers={**h, "If-Match": str(version)}))


def withdraw(client: Any, world: World, consent_id: str) -> None:
    ok(client.post(f"/api/v1/consents/{consent_id}/withdraw", json={"reason": "participant_asked"},
                   headers=world.headers("coordinator")))


def everything_said(client: Any, world: World, workshop_id: str) -> str:
    """What coordinators, the board's screens and other tools can read of the team's words."""
    h, p = world.headers("coordinator"), world.project.id
    urls = [f"/api/v1/projects/{p}/memos", f"/api/v1/workshops/{workshop_id}/board",
            f"/api/v1/workshops/{workshop_id}/board/events?after=0&wait=0", f"/api/v1/projects/{p}/tags",
            f"/api/v1/projects/{p}/codebook.qdc", f"/api/v1/projects/{p}/audit?limit=200"]
    texts = []
    for u in urls:
        r = client.get(u, headers=h)
        assert r.status_code == 200, (u, r.text)
        texts.append(r.text)
    return "\n".join(texts)


def test_an_edit_carries_its_new_words_into_quotes_and_a_withdrawal_then_finds_them(client, world) -> None:
    said = "The driver from number twelve shouted at my son. Nobody on this street ever stood up for him."
    fid, consent_id = capture(client, world, scopes=["quote", "share"], kind="quote", text=said)
    h, p = world.headers("coordinator"), world.project.id
    quoting = ok(client.post(f"/api/v1/projects/{p}/memos", headers=h, json={
        "text": f'Heard: "{said}" And later: "nobody on this street ever stood up for him".'}), 201)
    own = ok(client.post(f"/api/v1/projects/{p}/memos", headers=h, json={"text": "Drivers and schools: ask."}), 201)
    w = make_workshop(client, world)
    ok(add(client, world, w["id"], [fid]))
    ok(set_state(client, world, w["id"], "ready"))
    board_op(client, world, w["id"], "note", note_id=str(uuid.uuid4()),
             text="The driver from number twelve shouted at my son", x=0, y=0)

    # The coordinator takes out who the driver is: the quotes lose it too, in the memo, the note and its log.
    redacted = "The driver shouted at my son. Nobody on this street ever stood up for him."
    edit(client, world, fid, redacted)
    memo = ok(client.get(f"/api/v1/memos/{quoting['id']}", headers=h))["text"]
    assert memo == f'Heard: "{redacted}" And later: "nobody on this street ever stood up for him".'
    assert "number twelve" not in everything_said(client, world, w["id"])
    assert ok(client.get(f"/api/v1/memos/{own['id']}", headers=h))["text"] == "Drivers and schools: ask."
    assert {e["action"] for e in ok(client.get(f"/api/v1/projects/{p}/audit?limit=200", headers=h))["items"]
            if e["entity_id"] == quoting["id"]} >= {"memo.quote_edited"}

    # A sentence taken out of the fragment leaves the quotes of it as [edited out].
    edit(client, world, fid, "The driver shouted at my son.")
    memo = ok(client.get(f"/api/v1/memos/{quoting['id']}", headers=h))["text"]
    assert memo == 'Heard: "The driver shouted at my son." And later: "[edited out]".'

    withdraw(client, world, consent_id)
    seen = everything_said(client, world, w["id"])
    assert "shouted" not in seen and "stood up" not in seen and "twelve" not in seen
    assert ok(client.get(f"/api/v1/memos/{quoting['id']}", headers=h))["text"] == \
        'Heard: "[withdrawn]" And later: "[edited out]".'


def test_themes_named_with_a_cards_words_and_the_tags_they_became_lose_them_on_withdrawal(client, world) -> None:
    said = "Nobody knocks on doors round here any more."
    fid, consent_id = capture(client, world, scopes=["quote", "share"], kind="quote", text=said)
    keep, _ = capture(client, world, scopes=["quote", "share"], kind="quote", text="The library was our lifeline.")
    w = make_workshop(client, world)
    ok(add(client, world, w["id"], [fid, keep]))
    ok(set_state(client, world, w["id"], "ready"))
    # Two themes named after the card (the room quoted it twice), one in the room's own words.
    themes = [str(uuid.uuid4()) for _ in range(3)]
    for theme_id, name in zip(themes, [f"“{said}”", "nobody knocks on doors round here any more", "Lost places"],
                              strict=True):
        board_op(client, world, w["id"], "theme", theme_id=theme_id, name=name, x=0, y=0)
    ok(set_state(client, world, w["id"], "running"))
    ok(set_state(client, world, w["id"], "closed"))
    h, p = world.headers("coordinator"), world.project.id
    names = {t["name"] for t in ok(client.get(f"/api/v1/projects/{p}/tags", headers=h))}
    assert "nobody knocks on doors round here any more" in names

    withdraw(client, world, consent_id)
    report = client.get(f"/api/v1/workshops/{w['id']}/report", headers=h)
    assert report.status_code == 200, report.text
    assert "knocks" not in (everything_said(client, world, w["id"]) + report.text).lower()
    names = {t["name"] for t in ok(client.get(f"/api/v1/projects/{p}/tags", headers=h))}
    # Tag names stay unique in a project: the second one erased is numbered.
    assert {"“[withdrawn]”", "[withdrawn]", "Lost places"} <= names
    assert "The library was our lifeline" in " ".join(
        c["text"] or "" for c in ok(client.get(f"/api/v1/workshops/{w['id']}/board", headers=h))["cards"])


def test_deleting_or_merging_a_tag_audits_ids_never_its_name(client, world, session) -> None:
    h, p = world.headers("coordinator"), world.project.id
    tags = [ok(client.post(f"/api/v1/projects/{p}/tags", headers=h, json={"name": n}), 201)
            for n in ("We used to know everyone", "Buses", "Night buses")]
    ok(client.post(f"/api/v1/tags/{tags[1]['id']}/merge", headers=h, json={"into": tags[2]["id"]}))
    ok(client.delete(f"/api/v1/tags/{tags[0]['id']}", headers=h))
    session.rollback()
    details = [e.detail for e in session.exec(select(AuditEntry).where(AuditEntry.action.in_(  # type: ignore[attr-defined]
        ["tag.delete", "tag.merge"])))]
    assert len(details) == 2
    assert not any(t["name"] in str(details) for t in tags)
    assert {tags[0]["id"]} == set(next(d for d in details if "deleted" in d)["deleted"])


def test_edited_pieces_pairs_each_changed_sentence_with_what_took_its_place() -> None:
    old = "We had a shop on the corner. It closed in the spring of last year. Now there is nothing at all here."
    new = "We had a shop on the corner. It closed last year. Now there is nothing."
    assert memos._edited_pieces(old, new) == {
        "It closed in the spring of last year": "It closed last year.",
        "Now there is nothing at all here": "Now there is nothing.",
        old.rstrip("."): new,
    }
    assert memos._edited_pieces(old, old) == {}
    gone = memos._edited_pieces(old, "We had a shop on the corner.")
    assert gone["It closed in the spring of last year"] == memos.EDITED_OUT
