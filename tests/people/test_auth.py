"""Logins, sessions, throttling, enrolment and device tokens."""

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from api.people.models import AuthToken, TokenKind
from api.people.security import digest
from tests.factories import PASSWORD, World, bearer, make_token, make_world


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def login(client, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_login_gives_a_token_that_is_stored_only_as_a_hash(client, world, session) -> None:
    r = login(client, world.researcher.email.upper())
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    stored = session.exec(select(AuthToken).where(AuthToken.token_hash == digest(token))).one()
    assert stored.kind == TokenKind.session and token not in stored.token_hash
    me = client.get("/api/v1/me", headers=bearer(token)).json()
    assert me["user"]["email"] == world.researcher.email
    assert me["memberships"][0]["role"] == "researcher" and me["memberships"][0]["training_current"] is True


def test_a_wrong_password_and_an_unknown_email_answer_alike(client, world) -> None:
    wrong = login(client, world.researcher.email, "not the password")
    unknown = login(client, "nobody@example.org", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_logout_revokes_the_token(client, world) -> None:
    token = login(client, world.researcher.email).json()["token"]
    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    r = client.get("/api/v1/me", headers=bearer(token))
    assert r.status_code == 401 and r.json()["code"] == "token_revoked"


def test_an_expired_token_is_refused(client, world, session) -> None:
    token = make_token(session, world.researcher, expires_in=timedelta(seconds=-1))
    r = client.get("/api/v1/me", headers=bearer(token))
    assert r.status_code == 401 and r.json()["code"] == "token_expired"


def test_repeated_failures_are_refused_for_a_while_known_email_or_not(client, world, monkeypatch) -> None:
    monkeypatch.setenv("HEARKEN_LOGIN_SLOW_AFTER", "100")  # keep the test fast: no added delay
    monkeypatch.setenv("HEARKEN_LOGIN_LOCK_AFTER", "4")
    from api.config import get_settings

    get_settings.cache_clear()
    for email in (world.researcher.email, "nobody@example.org"):
        for _ in range(3):
            assert login(client, email, "wrong").status_code == 401
        assert login(client, email, "wrong").status_code == 401  # the fourth failure locks
        locked = login(client, email, PASSWORD)
        assert locked.status_code == 429, locked.text
        assert locked.json()["code"] == "too_many_attempts"
        assert int(locked.headers["Retry-After"]) > 0
    assert login(client, world.coordinator.email).status_code == 200  # others are not affected


def test_failures_slow_down_before_they_lock(client, world, monkeypatch) -> None:
    import time

    monkeypatch.setenv("HEARKEN_LOGIN_SLOW_AFTER", "1")
    from api.config import get_settings

    get_settings.cache_clear()
    login(client, world.researcher.email, "wrong")
    started = time.monotonic()
    login(client, world.researcher.email, "wrong")
    assert time.monotonic() - started >= 0.25


def test_a_coordinator_enrols_a_phone_with_a_one_time_code(client, world, session) -> None:
    r = client.post(f"/api/v1/projects/{world.project.id}/enrolment-codes", json={"user_id": str(world.researcher.id)},
                    headers=world.headers("coordinator"))
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert r.json()["enrol_url"].endswith(code)
    enrolled = client.post("/api/v1/auth/enrol", json={"code": code.lower(), "device_label": "Samsung A13"})
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["kind"] == "device"
    device_token = enrolled.json()["token"]
    assert client.get("/api/v1/me", headers=bearer(device_token)).status_code == 200
    again = client.post("/api/v1/auth/enrol", json={"code": code})
    assert again.status_code == 401 and again.json()["code"] == "invalid_code"
    devices = client.get(f"/api/v1/projects/{world.project.id}/devices", headers=world.headers("coordinator")).json()
    assert [d["device_label"] for d in devices] == ["Samsung A13"]
    assert client.delete(f"/api/v1/devices/{devices[0]['id']}", headers=world.headers("coordinator")).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(device_token)).status_code == 401
    assert client.get("/api/v1/me", headers=world.headers("researcher")).status_code == 200  # revoked alone


def test_an_expired_enrolment_code_is_refused(client, world, session, monkeypatch) -> None:
    monkeypatch.setenv("HEARKEN_ENROLMENT_CODE_TTL_MINUTES", "-1")
    from api.config import get_settings

    get_settings.cache_clear()
    code = client.post(f"/api/v1/projects/{world.project.id}/enrolment-codes",
                       json={"user_id": str(world.researcher.id)}, headers=world.headers("coordinator")).json()["code"]
    assert client.post("/api/v1/auth/enrol", json={"code": code}).status_code == 401


def test_a_device_token_reaches_only_projects_where_its_user_is_a_researcher(client, world, session) -> None:
    other = make_world(session)
    third = make_world(session)
    from api.projects.models import Membership, Role

    session.add(Membership(project_id=other.project.id, user_id=world.researcher.id, role=Role.researcher))
    session.add(Membership(project_id=third.project.id, user_id=world.researcher.id, role=Role.coordinator))
    session.commit()
    device = make_token(session, world.researcher, kind=TokenKind.device, project_id=world.project.id)
    assert client.get(f"/api/v1/projects/{world.project.id}", headers=bearer(device)).status_code == 200
    assert client.get(f"/api/v1/projects/{other.project.id}", headers=bearer(device)).status_code == 200
    assert client.get(f"/api/v1/projects/{third.project.id}", headers=bearer(device)).status_code == 404


def test_disabling_a_user_revokes_their_tokens(client, world) -> None:
    r = client.patch(f"/api/v1/users/{world.researcher.id}", json={"is_active": False}, headers=world.headers("admin"))
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/me", headers=world.headers("researcher")).status_code == 401


def test_a_coordinator_creates_researchers_but_not_admins(client, world) -> None:
    headers = world.headers("coordinator")
    ok = client.post("/api/v1/users", json={"email": "new@example.org", "password": "long enough pw"}, headers=headers)
    assert ok.status_code == 201
    no = client.post("/api/v1/users", json={"email": "boss@example.org", "password": "long enough pw",
                                            "is_admin": True}, headers=headers)
    assert no.status_code == 403
    dup = client.post("/api/v1/users", json={"email": "NEW@example.org", "password": "long enough pw"},
                      headers=headers)
    assert dup.status_code == 409 and dup.json()["code"] == "email_taken"


def test_production_hashes_at_argon2s_defaults_and_verifies_cheaper_ones() -> None:
    """The tests hash cheaply (tests/conftest.py); unset, the settings are argon2-cffi's defaults, and a hash
    carries its own cost, so one made at another cost still verifies."""
    from argon2 import PasswordHasher

    from api.config import Settings
    from api.people.security import _hasher

    fields, reference = Settings.model_fields, PasswordHasher()
    time_cost, memory_kib = fields["password_hash_time_cost"].default, fields["password_hash_memory_kib"].default
    assert (time_cost, memory_kib) == (reference.time_cost, reference.memory_cost)
    strong, _ = _hasher(time_cost, memory_kib)
    made = strong.hash("correct horse")
    assert f"m={reference.memory_cost},t={reference.time_cost}" in made
    cheap, _ = _hasher(1, 64)
    assert cheap.verify(made, "correct horse") and strong.verify(cheap.hash("battery"), "battery")
