"""Exports: CSV, JSON Lines and REFI-QDA, within the caller's rights and consent, audited."""

import csv
import io
import json
import re
import uuid
import xml.etree.ElementTree as ET
import zipfile

import pytest
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from api.tags.models import Tag
from tests.factories import (
    World,
    bearer,
    capture_batch,
    consent_item,
    conversation_item,
    fragment_item,
    make_world,
    sync,
)

NS = {"q": "urn:QDA-XML:project:1.0"}
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def base(world: World) -> str:
    return f"/api/v1/projects/{world.project.id}/export"


def test_csv_has_every_active_fragment_once_with_names_and_tags(client, world) -> None:
    items = capture_batch(world, 3, text="the bus, \"always\" late\nsecond line")
    sync(client, world, items)
    client.put(f"/api/v1/fragments/{items[2]['id']}/tags/{world.tag.id}", headers=world.headers("coordinator"))
    r = client.get(f"{base(world)}/fragments.csv", headers=world.headers("coordinator"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert sorted(row["id"] for row in rows) == sorted(i["id"] for i in items[2:])
    first = next(row for row in rows if row["id"] == items[2]["id"])
    assert first["text"] == "the bus, \"always\" late\nsecond line 0"
    assert first["tags"] == "isolation" and first["place"] == "Stonehouse"
    assert first["participant_label"] == "P-4KQ7"


def test_withdrawn_fragments_are_not_exported(client, world) -> None:
    kept, gone = capture_batch(world, 1, text="kept"), capture_batch(world, 2, text="gone")
    sync(client, world, kept + gone)
    client.post(f"/api/v1/consents/{gone[1]['id']}/withdraw", headers=world.headers("coordinator"))
    lines = client.get(f"{base(world)}/fragments.jsonl", headers=world.headers("coordinator")).text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [kept[2]["id"]]


def test_filters_and_audiences_narrow_the_export(client, world) -> None:
    conv = conversation_item(world)
    shared = consent_item(world, conv["id"], participant_label="P-S", scopes=["quote", "share"])
    private = consent_item(world, conv["id"], participant_label="P-P", scopes=["quote"])
    fs, fp = fragment_item(conv["id"], shared["id"], text="shared words"), fragment_item(conv["id"], private["id"])
    sync(client, world, [conv, shared, private, fs, fp])
    h = world.headers("coordinator")
    partner = client.get(f"{base(world)}/fragments.jsonl?audience=partner", headers=h).text.splitlines()
    assert [json.loads(line)["id"] for line in partner] == [fs["id"]]
    # An export made for partners is theirs to read: no participant labels, whoever downloads it.
    assert json.loads(partner[0])["participant_label"] is None
    assert "P-S" not in client.get(f"{base(world)}/fragments.csv?audience=partner", headers=h).text
    assert "P-S" in client.get(f"{base(world)}/fragments.csv", headers=h).text
    found = client.get(f"{base(world)}/fragments.jsonl?q=shared", headers=h).text.splitlines()
    assert [json.loads(line)["id"] for line in found] == [fs["id"]]
    token = client.post(f"/api/v1/projects/{world.project.id}/clients", headers=h,
                        json={"name": "council", "scopes": ["export"], "audience": "partner"}).json()["token"]
    lines = client.get(f"{base(world)}/fragments.jsonl", headers=bearer(token)).text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [fs["id"]]
    assert json.loads(lines[0])["participant_label"] is None  # partners do not get labels


def test_only_coordinators_and_export_clients_export(client, world) -> None:
    assert client.get(f"{base(world)}/fragments.csv", headers=world.headers("researcher")).status_code == 403
    token = client.post(f"/api/v1/projects/{world.project.id}/clients", headers=world.headers("coordinator"),
                        json={"name": "reader", "scopes": ["fragments:read"]}).json()["token"]
    assert client.get(f"{base(world)}/fragments.csv", headers=bearer(token)).status_code == 403


def test_exports_are_audited(client, world, session) -> None:
    client.get(f"{base(world)}/fragments.csv?kind=quote", headers=world.headers("coordinator"))
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "export")).one()
    assert entry.actor_id == world.coordinator.id and entry.detail["format"] == "csv"
    assert entry.detail["kind"] == "quote"


def test_qdpx_is_a_refi_qda_project_with_codebook_sources_and_codings(client, world, session) -> None:
    child = Tag(project_id=world.project.id, name="lonely evenings", parent_id=world.tag.id, colour="#aa3300",
                description="Being alone after dark")
    session.add(child)
    session.commit()
    items = capture_batch(world, 3, text="Nobody calls & nobody <comes>")
    sync(client, world, items)
    h = world.headers("coordinator")
    client.put(f"/api/v1/fragments/{items[2]['id']}/tags/{world.tag.id}", headers=h)
    client.put(f"/api/v1/fragments/{items[2]['id']}/tags/{child.id}", headers=h)
    client.put(f"/api/v1/fragments/{items[3]['id']}/tags/{child.id}", headers=h)
    r = client.get(f"{base(world)}/project.qdpx", headers=h)
    assert r.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    root = ET.fromstring(archive.read("project.qde"))
    assert root.tag == "{urn:QDA-XML:project:1.0}Project" and root.get("name") == world.project.name
    users = {u.get("guid") for u in root.findall("q:Users/q:User", NS)}
    codes = {c.get("guid"): c for c in root.iter("{urn:QDA-XML:project:1.0}Code")}
    assert {c.get("name") for c in codes.values()} == {"isolation", "lonely evenings"}
    parent = root.find("q:CodeBook/q:Codes/q:Code", NS)
    assert parent.get("name") == "isolation" and parent.find("q:Code", NS).get("name") == "lonely evenings"
    sources = root.findall("q:Sources/q:TextSource", NS)
    assert len(sources) == 3
    codings = 0
    for source in sources:
        assert GUID.match(source.get("guid")) and source.get("creatingUser") in users
        assert source.get("plainTextPath") is None  # the schema wants the text inline or in a file, not both
        text = source.find("q:PlainTextContent", NS).text
        assert text.startswith("Nobody calls & nobody <comes>")
        for sel in source.findall("q:PlainTextSelection", NS):
            assert 0 <= int(sel.get("startPosition")) < int(sel.get("endPosition")) <= len(text)
            for coding in sel.findall("q:Coding", NS):
                assert coding.find("q:CodeRef", NS).get("targetGUID") in codes
                codings += 1
    assert codings == 3
    assert archive.namelist() == ["project.qde"]  # one entry, whatever the number of fragments
    every_guid = [e.get("guid") for e in root.iter() if e.get("guid")]
    assert len(every_guid) == len(set(every_guid)) and all(GUID.match(g) for g in every_guid)


def test_qdpx_of_an_empty_project_is_still_valid(client, world, session) -> None:
    r = client.get(f"{base(world)}/project.qdpx", headers=world.headers("coordinator"))
    root = ET.fromstring(zipfile.ZipFile(io.BytesIO(r.content)).read("project.qde"))
    assert root.find("q:Sources", NS) is None and root.find("q:CodeBook", NS) is not None
    _ = uuid
