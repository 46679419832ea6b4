"""The codebook as a REFI-QDA .qdc file: exported for other tools, imported back without doubles or surprises."""

import uuid
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from api.tags.models import Tag
from tests.factories import World, make_world

NS = {"c": "urn:QDA-XML:codebook:1.0"}
XML = {"Content-Type": "application/xml"}


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def new_tag(client: Any, world: World, name: str, parent: str | None = None, **extra: Any) -> str:
    r = client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": name, "parent_id": parent, **extra},
                    headers=world.headers("coordinator"))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def tree(client: Any, world: World) -> set[tuple[str, str | None, str, str | None]]:
    """The codebook as (name, parent's name, description, colour): what an import must reproduce."""
    tags = client.get(f"/api/v1/projects/{world.project.id}/tags", headers=world.headers("coordinator")).json()
    names = {t["id"]: t["name"] for t in tags}
    return {(t["name"], names.get(t["parent_id"]), t["description"], t["colour"]) for t in tags}


def export(client: Any, world: World, who: str = "coordinator") -> bytes:
    r = client.get(f"/api/v1/projects/{world.project.id}/codebook.qdc", headers=world.headers(who))
    assert r.status_code == 200, r.text
    return r.content


def upload(client: Any, world: World, body: bytes | str, dry_run: bool = False, **headers: str) -> Any:
    return client.post(f"/api/v1/projects/{world.project.id}/codebook.qdc" + ("?dry_run=true" if dry_run else ""),
                       content=body, headers={**world.headers("coordinator"), **XML, **headers})


def codebook_xml(codes: str) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?><CodeBook xmlns="{NS["c"]}"><Codes>{codes}</Codes></CodeBook>'


@pytest.fixture
def grown(client, world) -> dict[str, str]:
    """isolation > evenings > after work, plus hope (coloured, described)."""
    evenings = new_tag(client, world, "evenings", str(world.tag.id), colour="#AA3300",
                       description="After dark & <alone>")
    after = new_tag(client, world, "after work", evenings)
    hope = new_tag(client, world, "hope", colour="#00aa44", description="Looking forward\nto things")
    return {"isolation": str(world.tag.id), "evenings": evenings, "after work": after, "hope": hope}


def test_the_codebook_is_a_refi_qda_codebook_with_guids_colours_descriptions_and_nesting(client, world,
                                                                                         grown) -> None:
    r = client.get(f"/api/v1/projects/{world.project.id}/codebook.qdc", headers=world.headers("researcher"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert r.headers["content-disposition"] == f'attachment; filename="{world.project.name.replace(" ", "-")}' \
                                               f'-codebook.qdc"'
    root = ET.fromstring(r.content)
    assert root.tag == "{urn:QDA-XML:codebook:1.0}CodeBook"
    top = root.findall("c:Codes/c:Code", NS)
    assert [c.get("name") for c in top] == ["hope", "isolation"]
    for code in root.iter("{urn:QDA-XML:codebook:1.0}Code"):
        assert code.get("guid") == grown[code.get("name")] and code.get("isCodable") == "true"
    hope, isolation = top
    assert hope.get("color") == "#00aa44" and hope.find("c:Description", NS).text == "Looking forward\nto things"
    evenings = isolation.find("c:Code", NS)
    assert evenings.get("name") == "evenings" and evenings.get("color") == "#AA3300"
    assert evenings.find("c:Description", NS).text == "After dark & <alone>"
    assert [c.get("name") for c in evenings.findall("c:Code", NS)] == ["after work"]
    assert isolation.get("color") is None and isolation.find("c:Description", NS) is None
    # Description comes before child codes (the schema's sequence).
    assert [child.tag.split("}")[1] for child in evenings] == ["Description", "Code"]


def test_the_qdpx_export_carries_the_same_codes(client, world, grown) -> None:
    import io
    import zipfile

    r = client.get(f"/api/v1/projects/{world.project.id}/export/project.qdpx", headers=world.headers("coordinator"))
    assert r.status_code == 200, r.text
    qde = ET.fromstring(zipfile.ZipFile(io.BytesIO(r.content)).read("project.qde"))
    qdc = ET.fromstring(export(client, world))

    def shape(element: ET.Element) -> list[Any]:
        return [(c.get("guid"), c.get("name"), c.get("color"), shape(c)) for c in element if c.tag.endswith("}Code")]

    assert shape(qde.find("{urn:QDA-XML:project:1.0}CodeBook/{urn:QDA-XML:project:1.0}Codes")) == \
        shape(qdc.find("c:Codes", NS))


def test_export_and_import_into_another_project_make_the_same_tree_and_again_change_nothing(client, world, session,
                                                                                           grown) -> None:
    other = make_world(session)
    other.tokens["coordinator"] = world.tokens["admin"]
    file = export(client, world)
    before = tree(client, other)
    r = upload(client, other, file, Authorization=f"Bearer {world.tokens['admin']}")
    assert r.status_code == 200, r.text
    # The other project already had an "isolation" tag: it is matched by name and takes the file's place for it.
    assert r.json() == {"created": 3, "updated": 0, "unchanged": 1, "dry_run": False}
    assert tree(client, other) == tree(client, world) and before < tree(client, other)
    r = upload(client, other, file, Authorization=f"Bearer {world.tokens['admin']}")
    assert r.json() == {"created": 0, "updated": 0, "unchanged": 4, "dry_run": False}
    # The other project's tags are its own: no id is shared between projects.
    session.rollback()
    theirs = {t.id for t in session.exec(select(Tag).where(Tag.project_id == other.project.id))}
    assert not theirs & {uuid.UUID(i) for i in grown.values()}


def test_a_code_renamed_moved_and_recoloured_elsewhere_updates_the_same_tag(client, world, session, grown) -> None:
    root = ET.fromstring(export(client, world))
    codes = {c.get("name"): c for c in root.iter("{urn:QDA-XML:codebook:1.0}Code")}
    codes["evenings"].set("name", "nights")
    codes["hope"].set("color", "#123")
    # "after work" moves from under evenings to the top level.
    codes["evenings"].remove(codes["after work"])
    root.find("c:Codes", NS).append(codes["after work"])
    r = upload(client, world, ET.tostring(root))
    assert r.json() == {"created": 0, "updated": 3, "unchanged": 1, "dry_run": False}
    tags = {t["id"]: t for t in client.get(f"/api/v1/projects/{world.project.id}/tags",
                                           headers=world.headers("coordinator")).json()}
    assert tags[grown["evenings"]]["name"] == "nights" and tags[grown["hope"]]["colour"] == "#112233"
    assert tags[grown["after work"]]["parent_id"] is None and len(tags) == 4
    session.rollback()
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "codebook.import")).one()
    assert entry.detail == {"created": 0, "updated": 3, "unchanged": 1}


def test_two_codes_may_swap_names(client, world, grown) -> None:
    root = ET.fromstring(export(client, world))
    codes = {c.get("name"): c for c in root.iter("{urn:QDA-XML:codebook:1.0}Code")}
    codes["hope"].set("name", "isolation")
    codes["isolation"].set("name", "hope")
    assert upload(client, world, ET.tostring(root)).json()["updated"] == 2
    tags = {t["name"]: t["id"] for t in client.get(f"/api/v1/projects/{world.project.id}/tags",
                                                   headers=world.headers("coordinator")).json()}
    assert tags["hope"] == grown["isolation"] and tags["isolation"] == grown["hope"]


def test_new_codes_from_another_tool_keep_their_guid_and_match_by_it_next_time(client, world) -> None:
    guid = str(uuid.uuid4())
    child = str(uuid.uuid4())
    file = codebook_xml(f'<Code guid="{{{guid.upper()}}}" name="Trust" isCodable="true" color="#ff0000">'
                        f'<Description>In services</Description><Code guid="{child}" name="Doctors" '
                        f'isCodable="false"/></Code>')
    assert upload(client, world, file, **{"Content-Type": "text/xml; charset=utf-8"}).json()["created"] == 2
    renamed = file.replace('name="Trust"', 'name="Trust in services"')
    assert upload(client, world, renamed).json() == {"created": 0, "updated": 1, "unchanged": 1, "dry_run": False}
    tags = {t["id"]: t for t in client.get(f"/api/v1/projects/{world.project.id}/tags",
                                           headers=world.headers("coordinator")).json()}
    assert tags[guid]["name"] == "Trust in services" and tags[guid]["description"] == "In services"
    assert tags[child]["parent_id"] == guid


def test_a_dry_run_reports_and_stores_nothing(client, world, session, grown) -> None:
    before = tree(client, world)
    file = export(client, world).replace(b'name="hope"', b'name="hopes"')
    file = file.replace(b"</Codes>", f'<Code guid="{uuid.uuid4()}" name="new" isCodable="true"/></Codes>'.encode())
    r = upload(client, world, file, dry_run=True)
    assert r.status_code == 200 and r.json() == {"created": 1, "updated": 1, "unchanged": 3, "dry_run": True}
    assert tree(client, world) == before
    session.rollback()
    assert session.exec(select(AuditEntry).where(AuditEntry.action == "codebook.import")).all() == []


def test_a_name_held_by_a_tag_the_file_does_not_match_is_a_conflict(client, world, grown) -> None:
    file = codebook_xml(f'<Code guid="{grown["evenings"]}" name="hope" isCodable="true"/>')
    r = upload(client, world, file)
    assert r.status_code == 409 and r.json()["code"] == "tag_exists"


G = "6f1c1d2e-54a4-4c8e-9a43-2f4f0c1e9b10"
LAUGHS = f"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="{G}" name="&lol4;" isCodable="true"/></Codes></CodeBook>
"""
EXTERNAL = f"""<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="{G}" name="&x;" isCodable="true"/></Codes></CodeBook>
"""


def _nested(depth: int) -> str:
    return "".join(f'<Code guid="{uuid.UUID(int=i + 1)}" name="level {i}" isCodable="true">' for i in range(depth)) + \
        "</Code>" * depth


BAD = {
    "empty": b"", "not xml": b"not xml at all", "truncated": b"<CodeBook", "binary": b"\xff\xfe\x00garbage",
    "billion laughs": LAUGHS, "external entity": EXTERNAL,
    "a project": '<?xml version="1.0" encoding="utf-8"?><Project xmlns="urn:QDA-XML:project:1.0"/>',
    "no namespace": f'<CodeBook><Codes><Code guid="{G}" name="x" isCodable="true"/></Codes></CodeBook>',
    "no codes": f'<CodeBook xmlns="{NS["c"]}"/>',
    "bad guid": codebook_xml('<Code guid="not-a-guid" name="x" isCodable="true"/>'),
    "no name": codebook_xml(f'<Code guid="{G}" isCodable="true"/>'),
    "bad colour": codebook_xml(f'<Code guid="{G}" name="x" isCodable="true" color="red"/>'),
    "long name": codebook_xml(f'<Code guid="{G}" name="{"x" * 121}" isCodable="true"/>'),
    "same name twice": codebook_xml('<Code name="twice" isCodable="true"/><Code name="twice" isCodable="true"/>'),
    "same guid twice": codebook_xml(f'<Code guid="{G}" name="b" isCodable="true"/>'
                                    f'<Code guid="{G}" name="c" isCodable="true"/>'),
    "too deep": codebook_xml(_nested(40)),
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_a_malformed_unsafe_or_foreign_file_is_refused_and_changes_nothing(client, world, grown, body) -> None:
    before = tree(client, world)
    for dry_run in (False, True):
        r = upload(client, world, body, dry_run=dry_run)
        assert r.status_code == 400 and r.json()["code"] == "invalid_codebook", r.text
    assert tree(client, world) == before


def test_only_xml_is_accepted(client, world) -> None:
    r = upload(client, world, codebook_xml(""), **{"Content-Type": "application/json"})
    assert r.status_code == 415


def test_an_empty_codebook_goes_out_and_comes_back_as_nothing(client, world, session) -> None:
    session.delete(session.get(Tag, world.tag.id))
    session.commit()
    file = export(client, world)
    assert ET.fromstring(file).find("c:Codes", NS) is not None
    assert upload(client, world, file).json() == {"created": 0, "updated": 0, "unchanged": 0, "dry_run": False}


def test_an_api_client_reads_the_codebook_only_with_tags_read(client, world) -> None:
    from tests.factories import bearer

    def token(scopes: list[str]) -> str:
        return client.post(f"/api/v1/projects/{world.project.id}/clients", json={"name": "t", "scopes": scopes},
                           headers=world.headers("coordinator")).json()["token"]

    url = f"/api/v1/projects/{world.project.id}/codebook.qdc"
    assert client.get(url, headers=bearer(token(["tags:read"]))).status_code == 200
    assert client.get(url, headers=bearer(token(["fragments:read"]))).status_code == 403
