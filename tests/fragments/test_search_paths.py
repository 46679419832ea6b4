"""GET /fragments finds the same fragments in the same order whether SQLite drives the query from a few
candidates (a rare word or tag) or walks the project in capture order checking each row (a common one);
and a cursor it did not give out is refused cleanly."""

import base64
import json
from datetime import timedelta

import pytest
from sqlmodel import Session

from api.fragments import service
from tests.factories import World, consent_item, conversation_item, fragment_item, make_world, now_iso, sync


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def pages(client, world: World, **params: str) -> list[str]:
    seen: list[str] = []
    params = {"project_id": str(world.project.id), "limit": "2", **params}
    while True:
        r = client.get("/api/v1/fragments", params=params, headers=world.headers("coordinator"))
        assert r.status_code == 200, r.text
        seen += [f["id"] for f in r.json()["items"]]
        if not r.json()["next_cursor"]:
            return seen
        params["cursor"] = r.json()["next_cursor"]


@pytest.mark.parametrize("few", [0, 1000])
def test_word_and_tag_searches_agree_whichever_side_drives_them(client, world, session, monkeypatch, few) -> None:
    monkeypatch.setattr(service, "FEW_CANDIDATES", few)
    other = make_world(session)
    texts = ["the bus never came", "a quiet street", "buses and doctors", "bus stop talk", "no transport at all",
             "the last bus home"]
    conv = conversation_item(world, place_id=str(world.places[1].id))
    consent = consent_item(world, conv["id"])
    frags = [fragment_item(conv["id"], consent["id"], text=t, captured_at=now_iso(timedelta(minutes=-60 + i)))
             for i, t in enumerate(texts)]
    sync(client, world, [conv, consent, *frags])
    oconv = conversation_item(other)
    oconsent = consent_item(other, oconv["id"])
    sync(client, other, [oconv, oconsent, fragment_item(oconv["id"], oconsent["id"], text="another bus")])
    for f in frags[1:4]:
        client.put(f"/api/v1/fragments/{f['id']}/tags/{world.tag.id}", headers=world.headers("coordinator"))
    ids = [f["id"] for f in frags]
    assert pages(client, world, q="bus") == [ids[0], ids[2], ids[3], ids[5]]
    assert pages(client, world, q="bus", place=str(world.places[1].id)) == [ids[0], ids[2], ids[3], ids[5]]
    assert pages(client, world, q="bus", place=str(world.places[0].id)) == []
    assert pages(client, world, tag=str(world.tag.id)) == ids[1:4]
    assert pages(client, world, tag=str(world.tag.id), q="bus") == [ids[2], ids[3]]
    assert pages(client, world, q="zebra") == []


@pytest.mark.parametrize("raw", [["2026-01-01T00:00:00", "6f1c0f3e-4b7e-4a51-9c5e-0d2d3f6b7a10"],  # no offset
                                 ["9999-12-31T23:59:59-12:00", "6f1c0f3e-4b7e-4a51-9c5e-0d2d3f6b7a10"],  # past 9999
                                 ["2026-01-01T00:00:00+00:00", "x"], [1, 2], {"a": 1}])
def test_a_forged_fragments_cursor_is_a_422_not_a_500(client, world, raw) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    r = client.get("/api/v1/fragments", params={"project_id": str(world.project.id), "cursor": cursor},
                   headers=world.headers("coordinator"))
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor", r.text
