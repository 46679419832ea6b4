"""Who may add whom to a project, and mint codes, device tokens and passwords for them (issue 10 items 1-3)."""

import uuid

import pytest
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from api.config import get_settings
from api.projects.models import Role
from tests.factories import PASSWORD, World, add_member, bearer, make_token, make_user, make_world


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def put_member(client, world: World, user_id, who: str = "coordinator", role: str = "researcher"):  # type: ignore[no-untyped-def]
    return client.put(f"/api/v1/projects/{world.project.id}/members/{user_id}", json={"role": role},
                      headers=world.headers(who))


def make_code(client, world: World, user_id, who: str = "coordinator"):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/projects/{world.project.id}/enrolment-codes", json={"user_id": str(user_id)},
                       headers=world.headers(who))


def test_a_coordinator_cannot_add_an_admin_and_enrol_a_phone_for_them(client, world, session) -> None:
    """Item 1: the admin's id from the audit log, PUT as researcher, an enrolment code, a device token."""
    assert put_member(client, world, world.admin.id).status_code == 404
    add_member(session, world.project, world.admin, Role.researcher)  # an admin put themself there
    r = put_member(client, world, world.admin.id, role="coordinator")
    assert r.status_code == 403 and r.json()["code"] == "admin_target"
    r = make_code(client, world, world.admin.id)
    assert r.status_code == 403 and r.json()["code"] == "not_managed"


def test_an_outsiders_id_answers_exactly_like_a_random_one(client, world, session) -> None:
    """Item 2: PUT /members/{id} answered 200 with the victim's email; a random id 404."""
    outsider = make_world(session).researcher
    real, made_up = put_member(client, world, outsider.id), put_member(client, world, uuid.uuid4())
    assert real.status_code == made_up.status_code == 404
    assert real.json() == made_up.json() and outsider.email not in real.text
    for path in (f"/users/{outsider.id}", f"/users/{uuid.uuid4()}"):
        assert client.get("/api/v1" + path, headers=world.headers("coordinator")).status_code == 404
        assert client.patch("/api/v1" + path, json={"password": "taken over now"},
                            headers=world.headers("coordinator")).status_code == 404
    assert make_code(client, world, outsider.id).status_code == 404
    session.rollback()
    assert session.get(type(outsider), outsider.id).password_hash == outsider.password_hash


def test_a_coordinator_adds_the_users_they_created_and_those_of_their_other_projects(client, world, session) -> None:
    made = client.post("/api/v1/users", json={"email": "new.researcher@example.org", "password": "long enough pw"},
                       headers=world.headers("coordinator"))
    assert made.status_code == 201
    assert put_member(client, world, made.json()["id"]).status_code == 200
    second = make_world(session)
    add_member(session, second.project, world.coordinator, Role.coordinator)
    r = put_member(client, world, second.researcher.id)
    assert r.status_code == 200 and r.json()["email"] == second.researcher.email
    users = {u["email"] for u in client.get("/api/v1/users", headers=world.headers("coordinator")).json()}
    assert {"new.researcher@example.org", second.researcher.email, world.researcher.email} <= users
    assert world.admin.email not in users


def test_a_coordinator_enrols_only_researchers_of_their_projects_alone(client, world, session) -> None:
    """Item 2's rule: not an admin, not a coordinator anywhere, in no project the coordinator does not run."""
    assert make_code(client, world, world.researcher.id).status_code == 201
    elsewhere = make_world(session)
    shared = make_user(session)
    add_member(session, world.project, shared, Role.researcher)
    add_member(session, elsewhere.project, shared, Role.researcher)
    r = make_code(client, world, shared.id)
    assert r.status_code == 403 and r.json()["code"] == "not_managed"
    assert make_code(client, world, shared.id, who="admin").status_code == 201  # an admin may, audited
    leader = make_user(session)
    add_member(session, world.project, leader, Role.researcher)
    add_member(session, elsewhere.project, leader, Role.coordinator)
    assert make_code(client, world, leader.id).status_code == 403
    r = make_code(client, world, world.coordinator.id, who="admin")
    assert r.status_code == 409 and r.json()["code"] == "not_a_researcher"
    session.rollback()
    made = session.exec(select(AuditEntry).where(AuditEntry.action == "enrolment.create")).all()
    assert {(e.actor_id, str(e.entity_id)) for e in made} == {(world.coordinator.id, str(world.researcher.id)),
                                                              (world.admin.id, str(shared.id))}


def test_changing_your_own_password_needs_the_current_one(client, world, session) -> None:
    """Item 3: PATCH /users/{id} {"password"} changed it with no current password asked."""
    me = f"/api/v1/users/{world.researcher.id}"
    other_session = bearer(make_token(session, world.researcher))
    headers = world.headers("researcher")
    r = client.patch(me, json={"password": "a brand new password"}, headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "current_password_required"
    r = client.patch(me, json={"password": "a brand new password", "current_password": "not it at all"},
                     headers=headers)
    assert r.status_code == 403 and r.json()["code"] == "current_password_wrong"
    assert client.get("/api/v1/me", headers=other_session).status_code == 200  # nothing happened
    r = client.patch(me, json={"password": "a brand new password", "current_password": PASSWORD}, headers=headers)
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # this session stays
    assert client.get("/api/v1/me", headers=other_session).status_code == 401  # the others end
    assert client.post("/api/v1/auth/login", json={"email": world.researcher.email,
                                                   "password": "a brand new password"}).status_code == 200
    assert "current_password" not in str(session.exec(select(AuditEntry.detail)).all())


def test_a_stolen_session_cannot_guess_the_current_password(client, world, monkeypatch) -> None:
    """Wrong current passwords are counted per account: after the login limit even the right one waits for the
    window to end, so a session token is no oracle for the account's password."""
    monkeypatch.setenv("HEARKEN_LOGIN_SLOW_AFTER", "1000")  # the added waits are test_throttle's (16 s here)
    get_settings.cache_clear()
    me = f"/api/v1/users/{world.researcher.id}"
    headers = world.headers("researcher")
    guess = {"password": "a brand new password", "current_password": "not it at all"}
    for _ in range(get_settings().login_lock_after):
        assert client.patch(me, json=guess, headers=headers).json()["code"] == "current_password_wrong"
    r = client.patch(me, json={**guess, "current_password": PASSWORD}, headers=headers)
    assert r.status_code == 429 and r.json()["code"] == "too_many_attempts" and int(r.headers["Retry-After"]) > 0
    assert client.post("/api/v1/auth/login", json={"email": world.researcher.email,
                                                   "password": PASSWORD}).status_code == 200  # unchanged


def test_an_admin_resets_anyones_password_audited(client, world, session) -> None:
    r = client.patch(f"/api/v1/users/{world.coordinator.id}", json={"password": "reset by the admin"},
                     headers=world.headers("admin"))
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/me", headers=world.headers("coordinator")).status_code == 401
    session.rollback()
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "user.password_reset")).one()
    assert entry.actor_id == world.admin.id and str(entry.entity_id) == str(world.coordinator.id)
    assert "reset by the admin" not in str([e.detail for e in session.exec(select(AuditEntry)).all()])


def test_a_coordinator_resets_only_a_researcher_they_manage(client, world, session) -> None:
    headers = world.headers("coordinator")
    r = client.patch(f"/api/v1/users/{world.researcher.id}", json={"password": "reset by coordinator"},
                     headers=headers)
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/me", headers=world.headers("researcher")).status_code == 401
    second = make_user(session)
    add_member(session, world.project, second, Role.coordinator)
    r = client.patch(f"/api/v1/users/{second.id}", json={"password": "reset by coordinator"}, headers=headers)
    assert r.status_code == 403 and r.json()["code"] == "not_managed"
    elsewhere = make_world(session)
    add_member(session, elsewhere.project, world.researcher, Role.researcher)
    r = client.patch(f"/api/v1/users/{world.researcher.id}", json={"password": "again by coordinator"},
                     headers=headers)
    assert r.status_code == 403
    r = client.patch(f"/api/v1/users/{world.researcher.id}", json={"display_name": "renamed"}, headers=headers)
    assert r.status_code == 403


def test_a_coordinator_cannot_demote_or_remove_a_fellow_coordinator_to_take_over_their_account(
        client, world, session) -> None:
    """Demoted to researcher, a fellow coordinator became someone `manages` allows: the demoter could set their
    password, or mint a phone for them, and then give the role back. Only an admin changes a coordinator."""
    peer = make_user(session)
    add_member(session, world.project, peer, Role.coordinator)
    headers = world.headers("coordinator")
    r = put_member(client, world, peer.id, role="researcher")
    assert r.status_code == 403 and r.json()["code"] == "coordinator_target"
    r = client.delete(f"/api/v1/projects/{world.project.id}/members/{peer.id}", headers=headers)
    assert r.status_code == 403 and r.json()["code"] == "coordinator_target"
    r = client.patch(f"/api/v1/users/{peer.id}", json={"password": "taken over"}, headers=headers)
    assert r.status_code == 403 and r.json()["code"] == "not_managed"
    r = make_code(client, world, peer.id)
    assert r.status_code == 409 and r.json()["code"] == "not_a_researcher"
    assert put_member(client, world, peer.id, role="coordinator").status_code == 200  # no change is no change
    # A researcher may still be made coordinator, and an admin may change any coordinator.
    assert put_member(client, world, world.researcher.id, role="coordinator").status_code == 200
    assert put_member(client, world, world.researcher.id, who="admin").status_code == 200
    assert client.delete(f"/api/v1/projects/{world.project.id}/members/{peer.id}",
                         headers=world.headers("admin")).status_code == 204
    # Your own role is yours to give up (removing yourself stays refused: a project must not lose its last one).
    assert put_member(client, world, world.coordinator.id, role="researcher").status_code == 200
