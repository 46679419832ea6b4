"""A device token (an enrolled phone) carries only the researcher role: in every project where its user is a
researcher now, never as admin or coordinator, and it never manages users, projects, members or tokens."""

import pytest
from sqlmodel import Session

from api.people.models import TokenKind
from api.projects.models import Role
from tests.factories import World, add_member, bearer, capture_batch, make_token, make_user, make_world


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def _enrol(client, world: World, user_id, who: str = "admin") -> str:  # type: ignore[no-untyped-def]
    r = client.post(f"/api/v1/projects/{world.project.id}/enrolment-codes", json={"user_id": str(user_id)},
                    headers=world.headers(who))
    assert r.status_code == 201, r.text
    enrolled = client.post("/api/v1/auth/enrol", json={"code": r.json()["code"]})
    assert enrolled.status_code == 200, enrolled.text
    return enrolled.json()["token"]


def test_a_device_token_of_an_admin_never_acts_as_admin(client, world, session) -> None:
    boss = make_user(session, is_admin=True)
    add_member(session, world.project, boss, Role.researcher)
    other = make_world(session)
    device = bearer(_enrol(client, world, boss.id))
    r = client.post("/api/v1/users", json={"email": "evil@example.org", "password": "long enough pw",
                                           "is_admin": True}, headers=device)
    assert r.status_code == 403 and r.json()["code"] == "device_token_not_allowed"
    assert client.get(f"/api/v1/projects/{other.project.id}", headers=device).status_code == 404
    assert client.get(f"/api/v1/fragments?project_id={other.project.id}", headers=device).status_code == 404
    assert client.get(f"/api/v1/projects/{world.project.id}/members", headers=device).status_code == 403
    assert [p["my_role"] for p in client.get("/api/v1/projects", headers=device).json()] == ["researcher"]
    assert [u["id"] for u in client.get("/api/v1/users", headers=device).json()] == [str(boss.id)]
    assert client.patch(f"/api/v1/users/{world.researcher.id}", json={"display_name": "x"},
                        headers=device).status_code == 404
    assert client.post("/api/v1/projects", json={"name": "Mine"}, headers=device).status_code == 403


def test_a_device_token_acts_as_its_researcher_in_every_project_where_they_are_one(client, world, session) -> None:
    second = make_world(session)
    add_member(session, second.project, world.researcher, Role.researcher)
    device = make_token(session, world.researcher, kind=TokenKind.device, project_id=world.project.id)
    assert client.get(f"/api/v1/projects/{second.project.id}", headers=bearer(device)).status_code == 200
    kit = client.get(f"/api/v1/projects/{second.project.id}/capture-kit", headers=bearer(device)).json()
    assert kit["can_capture"] is True, kit
    r = client.post("/api/v1/sync", json={"device_id": "p", "items": capture_batch(second, 1)},
                    headers=bearer(device))
    assert [x["status"] for x in r.json()["results"]] == ["created"] * 3, r.text
    assert {p["id"] for p in client.get("/api/v1/projects", headers=bearer(device)).json()} == {
        str(world.project.id), str(second.project.id)}


def test_a_device_token_of_a_user_who_coordinates_elsewhere_has_no_power_there(client, world, session) -> None:
    """Issue 10 item 11: a device token of project A whose user coordinates B."""
    b = make_world(session)
    add_member(session, b.project, world.researcher, Role.coordinator)
    device = bearer(make_token(session, world.researcher, kind=TokenKind.device, project_id=world.project.id))
    assert client.get(f"/api/v1/projects/{b.project.id}/members", headers=device).status_code == 404
    assert client.get(f"/api/v1/projects/{b.project.id}", headers=device).status_code == 404
    assert client.post("/api/v1/projects", json={"name": "Mine"}, headers=device).status_code == 403
    assert client.post("/api/v1/users", json={"email": "n@example.org", "password": "long enough pw"},
                       headers=device).status_code == 403
    assert client.post(f"/api/v1/projects/{b.project.id}/enrolment-codes", json={"user_id": str(b.researcher.id)},
                       headers=device).status_code == 404
    kit = client.get(f"/api/v1/projects/{b.project.id}/capture-kit", headers=device)
    assert kit.status_code == 404
    r = client.post("/api/v1/sync", json={"device_id": "p", "items": capture_batch(b, 1)}, headers=device)
    assert r.json()["results"][0]["status"] == "rejected", r.text
    # The same user's password session still coordinates B.
    session_token = bearer(make_token(session, world.researcher))
    assert client.get(f"/api/v1/projects/{b.project.id}/members", headers=session_token).status_code == 200


def test_a_device_token_cannot_change_a_password(client, world, session) -> None:
    device = bearer(make_token(session, world.researcher, kind=TokenKind.device, project_id=world.project.id))
    r = client.patch(f"/api/v1/users/{world.researcher.id}", json={"password": "a brand new password"},
                     headers=device)
    assert r.status_code == 403 and r.json()["code"] == "device_token_not_allowed"
    assert client.get("/api/v1/me", headers=world.headers("researcher")).status_code == 200  # nothing revoked
