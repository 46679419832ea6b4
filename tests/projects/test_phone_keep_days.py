"""How long phones keep the words of records the server holds is a project setting (default 14 days, 1-90), sent
to phones in the capture kit."""

import pytest
from sqlmodel import Session

from tests.factories import World, make_world


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def test_phone_keep_days_defaults_to_14_is_validated_and_reaches_the_capture_kit(client, world):
    url = f"/api/v1/projects/{world.project.id}"
    kit = f"{url}/capture-kit"
    assert client.get(kit, headers=world.headers("researcher")).json()["project"]["phone_keep_days"] == 14
    for bad in (0, 91, -3, "a week", None, 2.5):
        r = client.patch(url, json={"phone_keep_days": bad}, headers=world.headers("coordinator"))
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["code"]
    r = client.patch(url, json={"phone_keep_days": 3}, headers=world.headers("coordinator"))
    assert r.status_code == 200 and r.json()["phone_keep_days"] == 3
    assert client.get(kit, headers=world.headers("researcher")).json()["project"]["phone_keep_days"] == 3
    assert client.patch(url, json={"phone_keep_days": 5}, headers=world.headers("researcher")).status_code == 403
    r = client.post("/api/v1/projects", json={"name": "Short keep", "phone_keep_days": 1},
                    headers=world.headers("coordinator"))
    assert r.status_code == 201 and r.json()["phone_keep_days"] == 1
