"""A project's device register lists every phone of its members, wherever it was enrolled (a device token works in
each project of its researcher) and their password logins that sync; never a phone of someone outside the project,
and nothing about other projects."""

import pytest
from sqlmodel import Session, select

from api.people.models import AuthToken, TokenKind
from api.people.security import digest
from api.projects.models import Role
from tests.factories import World, add_member, capture_batch, make_project, make_token, make_user, make_world, sync


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def _token_row(session: Session, secret: str) -> AuthToken:
    row = session.exec(select(AuthToken).where(AuthToken.token_hash == digest(secret))).one()
    session.refresh(row)
    return row


def test_the_register_shows_members_phones_from_any_project_and_synced_password_logins_only(client, session, world):
    secret = "Lighthouse Trust oral history"
    other = make_project(session, name=secret)
    add_member(session, other, world.researcher, Role.researcher)
    stranger = make_user(session)
    add_member(session, other, stranger, Role.researcher)
    elsewhere = make_token(session, world.researcher, kind=TokenKind.device, project_id=other.id)
    here = make_token(session, world.researcher, kind=TokenKind.device, project_id=world.project.id)
    strangers_phone = make_token(session, stranger, kind=TokenKind.device, project_id=other.id)
    idle_login = make_token(session, world.researcher)  # never synced: a laptop login, not a phone
    ended = make_token(session, world.researcher, revoked=True)
    assert sync(client, world, capture_batch(world, 1)).status_code == 200  # the researcher's password login syncs

    r = client.get(f"/api/v1/projects/{world.project.id}/devices", headers=world.headers("coordinator"))
    assert r.status_code == 200, r.text
    rows = {d["id"]: d for d in r.json()}
    ids = {str(_token_row(session, s).id): s for s in (elsewhere, here, strangers_phone, idle_login, ended)}
    by_secret = {s: rows.get(i) for i, s in ids.items()}
    assert by_secret[here]["project_id"] == str(world.project.id) and by_secret[here]["kind"] == "device"
    # Enrolled through the other project: listed, but that project is neither named nor identified.
    assert by_secret[elsewhere]["project_id"] is None and by_secret[elsewhere]["kind"] == "device"
    assert by_secret[strangers_phone] is None and by_secret[idle_login] is None and by_secret[ended] is None
    synced = [d for d in r.json() if d["kind"] == "session"]
    assert [d["user_id"] for d in synced] == [str(world.researcher.id)] and synced[0]["last_sync_at"]
    assert secret not in r.text and str(other.id) not in r.text

    # This project's coordinator can stop a phone that captures here, wherever it was enrolled; not a stranger's.
    stop = client.delete(f"/api/v1/devices/{_token_row(session, elsewhere).id}", headers=world.headers("coordinator"))
    assert stop.status_code == 204
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {elsewhere}"}).status_code == 401
    theirs = client.delete(f"/api/v1/devices/{_token_row(session, strangers_phone).id}",
                           headers=world.headers("coordinator"))
    assert theirs.status_code == 404
    still = client.get(f"/api/v1/projects/{world.project.id}/devices", headers=world.headers("coordinator")).json()
    assert [d["revoked_at"] is not None for d in still if d["id"] == str(_token_row(session, elsewhere).id)] == [True]


def test_researchers_and_other_coordinators_cannot_read_the_register(client, session, world):
    url = f"/api/v1/projects/{world.project.id}/devices"
    assert client.get(url, headers=world.headers("researcher")).status_code == 403
    outsider = make_user(session)
    add_member(session, make_project(session), outsider, Role.coordinator)
    assert client.get(url, headers={"Authorization": f"Bearer {make_token(session, outsider)}"}).status_code == 404
