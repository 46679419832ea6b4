"""Saved searches: named GET /fragments filters, shared by a project's coordinators."""

import re

import pytest
from sqlmodel import Session

from api.fragments.models import MAX_SAVED_SEARCHES, SEARCH_FILTERS, SavedSearch
from tests.factories import World, make_world


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def url(world: World) -> str:
    return f"/api/v1/projects/{world.project.id}/saved-searches"


def test_saved_by_one_coordinator_listed_for_another_and_runnable_as_is(client, world, session) -> None:
    query = {"q": "bus", "place": str(world.places[0].id), "captured_after": "2026-01-01T00:00:00Z"}
    r = client.post(url(world), json={"name": "Buses in Stonehouse", "query": query},
                    headers=world.headers("coordinator"))
    assert r.status_code == 201, r.text
    saved = r.json()
    assert saved["query"] == query and saved["created_by"] == str(world.coordinator.id)
    assert set(saved) == {"id", "project_id", "name", "query", "created_by", "created_at"}
    listed = client.get(url(world), headers=world.headers("admin")).json()
    assert listed == [saved]
    run = client.get("/api/v1/fragments", params={"project_id": str(world.project.id), **saved["query"]},
                     headers=world.headers("coordinator"))
    assert run.status_code == 200, run.text


def test_listed_by_name_and_only_the_projects_own(client, world, session) -> None:
    other = make_world(session)
    for name in ("zebra", "Apples", "mango"):
        client.post(url(world), json={"name": name, "query": {}}, headers=world.headers("coordinator"))
    client.post(url(other), json={"name": "theirs", "query": {}}, headers=other.headers("coordinator"))
    names = [s["name"] for s in client.get(url(world), headers=world.headers("coordinator")).json()]
    assert names == ["Apples", "mango", "zebra"]


@pytest.mark.parametrize(("query", "code"), [
    ({"project_id": "x"}, "unknown_filters"),  # a saved search belongs to its project
    ({"cursor": "abc"}, "unknown_filters"),
    ({"colour": "red", "q": "bus"}, "unknown_filters"),
    ({"place": "Stonehouse"}, "invalid_filter"),
    ({"kind": "rumour"}, "invalid_filter"),
    ({"sensitive": "perhaps"}, "invalid_filter"),
    ({"captured_after": "2026-01-01"}, "invalid_filter"),  # no time zone: GET /fragments refuses it too
    ({"q": "!!!"}, "invalid_query"),
    ({"q": "x" * 201}, "validation_error"),
    ({"q": 3}, "validation_error"),
    ({"q": ["bus"]}, "validation_error"),
])
def test_a_query_get_fragments_would_refuse_is_refused_and_nothing_is_stored(client, world, session, query,
                                                                             code) -> None:
    r = client.post(url(world), json={"name": "n", "query": query}, headers=world.headers("coordinator"))
    assert r.status_code == 422 and r.json()["code"] == code, r.text
    assert client.get(url(world), headers=world.headers("coordinator")).json() == []


@pytest.mark.parametrize("name", ["", "x" * 121])
def test_a_name_must_be_1_to_120_characters(client, world, name) -> None:
    r = client.post(url(world), json={"name": name, "query": {}}, headers=world.headers("coordinator"))
    assert r.status_code == 422


def test_names_are_unique_in_a_project_but_not_across_projects(client, world, session) -> None:
    other = make_world(session)
    body = {"name": "Loneliness", "query": {"q": "lonely"}}
    assert client.post(url(world), json=body, headers=world.headers("coordinator")).status_code == 201
    again = client.post(url(world), json=body, headers=world.headers("admin"))
    assert again.status_code == 409 and again.json()["code"] == "duplicate_name"
    assert client.post(url(other), json=body, headers=other.headers("coordinator")).status_code == 201


def test_a_project_keeps_at_most_100(client, world, session) -> None:
    session.add_all([SavedSearch(project_id=world.project.id, name=f"s{i}", query={}, created_by=world.coordinator.id)
                     for i in range(MAX_SAVED_SEARCHES)])
    session.commit()
    r = client.post(url(world), json={"name": "one more", "query": {}}, headers=world.headers("coordinator"))
    assert r.status_code == 409 and r.json()["code"] == "too_many_saved_searches"
    first = client.get(url(world), headers=world.headers("coordinator")).json()[0]
    r = client.delete(f"/api/v1/saved-searches/{first['id']}", headers=world.headers("coordinator"))
    assert r.status_code == 204
    assert client.post(url(world), json={"name": "one more", "query": {}},
                       headers=world.headers("coordinator")).status_code == 201


def test_deleted_by_any_coordinator_of_the_project_and_by_no_one_else(client, world, session) -> None:
    other = make_world(session)
    saved = client.post(url(world), json={"name": "mine", "query": {"kind": "quote"}},
                        headers=world.headers("coordinator")).json()
    gone = f"/api/v1/saved-searches/{saved['id']}"
    assert client.delete(gone, headers=other.headers("coordinator")).status_code == 404
    assert client.delete(gone, headers=world.headers("researcher")).status_code == 403
    assert client.delete(gone, headers=world.headers("admin")).status_code == 204
    assert client.delete(gone, headers=world.headers("admin")).status_code == 404
    assert client.get(url(world), headers=world.headers("coordinator")).json() == []


def test_the_allowed_keys_are_exactly_the_filters_of_get_fragments(client) -> None:
    """If GET /fragments gains or renames a filter, saved searches must follow (or say why not)."""
    params = {p["name"] for p in client.get("/openapi.json").json()["paths"]["/api/v1/fragments"]["get"]["parameters"]}
    assert set(SEARCH_FILTERS) == params - {"project_id", "cursor", "limit", "fields", "total"}
    assert all(re.fullmatch(r"[a-z_]+", k) for k in SEARCH_FILTERS)
