"""Coordinators edit prompts and places; phones pick the changes up with the capture kit."""

import uuid

import pytest
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from tests.factories import World, capture_batch, make_world, sync


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def kit(client, world: World) -> dict:
    return client.get(f"/api/v1/projects/{world.project.id}/capture-kit", headers=world.headers("researcher")).json()


def test_a_prompt_is_reworded_reordered_and_retired_and_the_phone_follows(client, world, session) -> None:
    first, second = world.prompts
    r = client.patch(f"/api/v1/prompts/{second.id}", json={"text": "Who do you turn to when things are hard?",
                                                           "position": 0}, headers=world.headers("coordinator"))
    assert r.status_code == 200, r.text
    assert (r.json()["text"], r.json()["position"], r.json()["active"]) == (
        "Who do you turn to when things are hard?", 0, True)
    assert client.patch(f"/api/v1/prompts/{first.id}", json={"position": 1},
                        headers=world.headers("coordinator")).status_code == 200
    assert [p["text"] for p in kit(client, world)["prompts"]] == [
        "Who do you turn to when things are hard?", "Where do you feel you belong?"]
    assert client.patch(f"/api/v1/prompts/{first.id}", json={"active": False},
                        headers=world.headers("admin")).status_code == 200
    assert [p["id"] for p in kit(client, world)["prompts"]] == [str(second.id)]
    listed = client.get(f"/api/v1/projects/{world.project.id}/prompts", headers=world.headers("coordinator")).json()
    assert {p["id"]: p["active"] for p in listed} == {str(first.id): False, str(second.id): True}
    session.rollback()
    audits = session.exec(select(AuditEntry).where(AuditEntry.action == "prompt.update")).all()
    assert [a.detail["fields"] for a in audits].count(["position", "text"]) == 1


def test_a_prompt_that_fragments_answer_keeps_its_wording(client, world, session) -> None:
    items = capture_batch(world, 1)
    items[2]["data"]["prompt_id"] = str(world.prompts[0].id)
    assert sync(client, world, items).json()["results"][2]["status"] == "created"
    url = f"/api/v1/prompts/{world.prompts[0].id}"
    r = client.patch(url, json={"text": "Where do you feel at home?"}, headers=world.headers("coordinator"))
    assert r.status_code == 409 and r.json()["code"] == "prompt_in_use"
    session.rollback()
    assert session.get(type(world.prompts[0]), world.prompts[0].id).text == "Where do you feel you belong?"
    # The same wording, its order and whether phones offer it may still change.
    r = client.patch(url, json={"text": "Where do you feel you belong?", "position": 5, "active": False},
                     headers=world.headers("coordinator"))
    assert r.status_code == 200 and (r.json()["position"], r.json()["active"]) == (5, False)
    # An unused prompt can still be reworded.
    assert client.patch(f"/api/v1/prompts/{world.prompts[1].id}", json={"text": "Who helps?"},
                        headers=world.headers("coordinator")).json()["text"] == "Who helps?"


def test_a_place_is_renamed_and_retired(client, world) -> None:
    stonehouse, devonport = world.places
    r = client.patch(f"/api/v1/places/{devonport.id}", json={"name": "Devonport & Morice Town"},
                     headers=world.headers("coordinator"))
    assert r.status_code == 200 and r.json()["name"] == "Devonport & Morice Town"
    assert client.patch(f"/api/v1/places/{stonehouse.id}", json={"active": False},
                        headers=world.headers("coordinator")).json()["active"] is False
    assert [p["name"] for p in kit(client, world)["places"]] == ["Devonport & Morice Town"]
    clash = client.patch(f"/api/v1/places/{stonehouse.id}", json={"name": "Devonport & Morice Town"},
                         headers=world.headers("coordinator"))
    assert clash.status_code == 409 and clash.json()["code"] == "duplicate_name"
    same = client.patch(f"/api/v1/places/{stonehouse.id}", json={"name": "Stonehouse"},
                        headers=world.headers("coordinator"))
    assert same.status_code == 200


@pytest.mark.parametrize("path,body", [("prompts", {"text": None}), ("prompts", {"active": None}),
                                       ("prompts", {"text": ""}), ("prompts", {"position": -1}),
                                       ("prompts", {"project_id": str(uuid.uuid4())}),
                                       ("places", {"name": None}), ("places", {"name": ""}),
                                       ("places", {"colour": "red"})])
def test_bad_edits_are_refused_and_store_nothing(client, world, session, path: str, body: dict) -> None:
    target = (world.prompts if path == "prompts" else world.places)[0]
    r = client.patch(f"/api/v1/{path}/{target.id}", json=body, headers=world.headers("coordinator"))
    assert r.status_code == 422 and r.json()["code"], r.text
    session.rollback()
    stored = session.get(type(target), target.id)
    assert (stored.project_id, stored.active) == (world.project.id, True)


def test_prompts_and_places_of_other_projects_are_not_found(client, world, session) -> None:
    other = make_world(session)
    for path, target in (("prompts", other.prompts[0]), ("places", other.places[0])):
        r = client.patch(f"/api/v1/{path}/{target.id}", json={"active": False}, headers=world.headers("coordinator"))
        assert r.status_code == 404
        assert client.patch(f"/api/v1/{path}/{uuid.uuid4()}", json={"active": False},
                            headers=world.headers("coordinator")).status_code == 404
        assert client.patch(f"/api/v1/{path}/{world.prompts[0].id if path == 'prompts' else world.places[0].id}",
                            json={"active": False}, headers=world.headers("researcher")).status_code == 403
