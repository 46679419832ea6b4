"""Memos: written by coordinators, linked to fragments and tags, searchable, erased of withdrawn words, in .qdpx."""

import io
import xml.etree.ElementTree as ET
import zipfile
from typing import Any

import pytest
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from api.memos import service as memos
from api.memos.models import Memo
from tests.factories import World, capture_batch, consent_item, conversation_item, fragment_item, make_world, sync

NS = {"q": "urn:QDA-XML:project:1.0"}


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def url(world: World) -> str:
    return f"/api/v1/projects/{world.project.id}/memos"


def write(client: Any, world: World, text: str, fragment_ids: list[str] = (), tag_ids: list[str] = ()) -> dict:
    r = client.post(url(world), json={"text": text, "fragment_ids": list(fragment_ids), "tag_ids": list(tag_ids)},
                    headers=world.headers("coordinator"))
    assert r.status_code == 201, r.text
    return r.json()


def captured(client: Any, world: World, texts: list[str]) -> tuple[list[str], str]:
    """Fragments with these texts under one consent: their ids and the consent's."""
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"])
    frags = [fragment_item(conv["id"], consent["id"], text=t) for t in texts]
    assert sync(client, world, [conv, consent, *frags]).status_code == 200
    return [f["id"] for f in frags], consent["id"]


def test_a_memo_links_fragments_and_tags_and_is_found_by_words_fragment_and_tag(client, world) -> None:
    items = capture_batch(world, 2)
    sync(client, world, items)
    fids = [i["id"] for i in items[2:]]
    memo = write(client, world, "Loneliness peaks after the buses stop.", [fids[0]], [str(world.tag.id)])
    assert memo["fragment_ids"] == [fids[0]] and memo["tag_ids"] == [str(world.tag.id)]
    assert memo["author"] in (world.coordinator.display_name, world.coordinator.email) and memo["author"]
    write(client, world, "Something else entirely.", [fids[1]])
    h = world.headers("coordinator")
    assert [m["id"] for m in client.get(f"{url(world)}?q=BUSES", headers=h).json()] == [memo["id"]]
    assert [m["id"] for m in client.get(f"{url(world)}?fragment_id={fids[0]}", headers=h).json()] == [memo["id"]]
    assert [m["id"] for m in client.get(f"{url(world)}?tag_id={world.tag.id}", headers=h).json()] == [memo["id"]]
    assert client.get(f"{url(world)}?q=100%25", headers=h).json() == []  # LIKE wildcards are literal
    r = client.patch(f"/api/v1/memos/{memo['id']}", json={"text": "Revised.", "fragment_ids": []}, headers=h)
    assert r.status_code == 200 and r.json()["text"] == "Revised." and r.json()["fragment_ids"] == []
    assert r.json()["tag_ids"] == [str(world.tag.id)]  # not sent, so kept
    assert client.delete(f"/api/v1/memos/{memo['id']}", headers=h).status_code == 204
    assert client.get(f"/api/v1/memos/{memo['id']}", headers=h).status_code == 404


def test_links_to_other_projects_are_refused_and_researchers_cannot_write(client, world, session) -> None:
    other = make_world(session)
    items = capture_batch(other, 1)
    sync(client, other, items)
    h = world.headers("coordinator")
    r = client.post(url(world), json={"text": "x", "fragment_ids": [items[2]["id"]]}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "bad_fragments"
    r = client.post(url(world), json={"text": "x", "tag_ids": [str(other.tag.id)]}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "bad_tags"
    assert client.post(url(world), json={"text": "x"}, headers=world.headers("researcher")).status_code == 403
    assert client.get(url(world), headers=other.headers("coordinator")).status_code == 404


def test_withdrawal_erases_the_fragments_words_from_every_memo_and_leaves_a_mark(client, world, session) -> None:
    fids, consent = captured(client, world, [
        "The last bus goes at six. After that I am stuck at home with nobody to talk to.",
        "Short one."])
    kept_ids, _ = captured(client, world, ["The library is warm and someone always says hello."])
    linked = write(client, world, 'She said "the last bus goes at six" and then: after that i am STUCK at home\n'
                   "with nobody to talk to. My reading: transport is isolation.", [fids[0], kept_ids[0]])
    unlinked = write(client, world, "Quoted elsewhere: The last bus goes at six. Also: Short one.")
    untouched = write(client, world, "The library is warm and someone always says hello.")
    r = client.post(f"/api/v1/consents/{consent}/withdraw", json={}, headers=world.headers("coordinator"))
    assert r.status_code == 200, r.text
    h = world.headers("coordinator")
    after = client.get(f"/api/v1/memos/{linked['id']}", headers=h).json()
    assert after["text"] == 'She said "[withdrawn]" and then: [withdrawn] My reading: transport is isolation.'
    assert after["fragment_ids"] == [kept_ids[0]]  # the link to the erased fragment went with it
    # The whole text of a short fragment is a quote too; a sentence shorter than four words alone is not searched.
    assert client.get(f"/api/v1/memos/{unlinked['id']}", headers=h).json()["text"] == \
        "Quoted elsewhere: [withdrawn] Also: [withdrawn]"
    assert client.get(f"/api/v1/memos/{untouched['id']}", headers=h).json()["text"] == untouched["text"]
    session.rollback()
    for memo in session.exec(select(Memo)):
        assert "stuck at home" not in memo.text.lower() and "last bus" not in memo.text.lower()
    erased = {e.entity_id for e in session.exec(select(AuditEntry).where(AuditEntry.action == "memo.erased"))}
    assert erased == {linked["id"], unlinked["id"]}


def test_quote_patterns_ignore_case_and_spacing_but_not_other_words() -> None:
    text = "nobody  knocks on\ndoors round here any more. But nobody knocks twice."
    pieces = memos._quoted_pieces("Nobody knocks on doors round here any more.")
    assert all(memos._may_occur(p, text.lower()) for p in pieces)  # the cheap pre-check lets them through
    substitute = memos._substitution(dict.fromkeys(pieces, memos.WITHDRAWN), text.lower())
    assert substitute is not None and substitute(text) == "[withdrawn] But nobody knocks twice."


def test_the_quote_pre_check_skips_only_texts_that_cannot_be_quoted() -> None:
    haystack = "the last bus never came. we waited.".lower()
    assert memos._may_occur("The LAST bus", haystack)
    assert not memos._may_occur("the last train", haystack)
    assert memos._may_occur("Straße", haystack)  # beyond ASCII the regex decides, never the pre-check


def test_qdpx_carries_memos_as_notes_linked_to_their_sources_and_codes(client, world) -> None:
    fids, _ = captured(client, world, ["One fragment.", "Another fragment."])
    memo = write(client, world, "Emerging: waiting & <boredom>.", [fids[0]], [str(world.tag.id)])
    h = world.headers("coordinator")
    r = client.get(f"/api/v1/projects/{world.project.id}/export/project.qdpx", headers=h)
    assert r.status_code == 200
    qde = zipfile.ZipFile(io.BytesIO(r.content)).read("project.qde")
    root = ET.fromstring(qde)
    notes = root.findall("q:Notes/q:Note", NS)
    assert [(n.get("guid"), n.find("q:PlainTextContent", NS).text) for n in notes] == [
        (memo["id"], "Emerging: waiting & <boredom>.")]
    links = {(link.get("originGUID"), link.get("targetGUID")) for link in root.findall("q:Links/q:Link", NS)}
    assert links == {(memo["id"], fids[0]), (memo["id"], str(world.tag.id))}
    sources = {s.get("guid") for s in root.findall("q:Sources/q:TextSource", NS)}
    assert fids[0] in sources
    children = [c.tag.split("}")[1] for c in root]
    assert children.index("Sources") < children.index("Notes") < children.index("Links")


def test_only_an_export_for_the_team_carries_memos(client, world) -> None:
    """A memo may quote a fragment whose consent allows no sharing: a partner's or the public's .qdpx, or a
    coordinator's export for one of those audiences, has none."""
    fids, _ = captured(client, world, ["Shared with partners."])
    write(client, world, 'P-1 said "my landlord locks the gate at nine"', fids)
    h = world.headers("coordinator")

    def qde(headers: dict[str, str], audience: str | None = None) -> str:
        r = client.get(f"/api/v1/projects/{world.project.id}/export/project.qdpx", headers=headers,
                       params={"audience": audience} if audience else {})
        assert r.status_code == 200, r.text
        return zipfile.ZipFile(io.BytesIO(r.content)).read("project.qde").decode()

    assert "landlord" in qde(h) and "landlord" in qde(h, "internal")
    for audience in ("partner", "public"):
        assert "landlord" not in qde(h, audience)
        r = client.post(f"/api/v1/projects/{world.project.id}/clients",
                        json={"name": audience, "scopes": ["export"], "audience": audience}, headers=h)
        assert "landlord" not in qde({"Authorization": f"Bearer {r.json()['token']}"})
