"""The coordinator's overview: weekly counts per place, prompt and tag, totals, researchers, quiet phones, expiry."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session

from api.people.models import AuthToken, TokenKind
from tests.factories import (
    World,
    capture_batch,
    consent_item,
    conversation_item,
    fragment_item,
    make_token,
    make_world,
    sync,
)


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def monday(weeks_ago: int) -> datetime:
    now = datetime.now(UTC)
    this_week = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=now.weekday())
    return this_week - timedelta(weeks=weeks_ago)


def batch(world: World, place: int, prompt: int, times: list[datetime], given: datetime, **consent: object) -> list:
    conv = conversation_item(world, place_id=str(world.places[place].id), prompt_ids=[str(world.prompts[prompt].id)],
                             started_at=(given - timedelta(minutes=1)).isoformat())
    cons = consent_item(world, conv["id"], given_at=given.isoformat(), **consent)
    return [conv, cons, *[fragment_item(conv["id"], cons["id"], prompt_id=str(world.prompts[prompt].id),
                                        captured_at=t.isoformat(), text=f"words {i}") for i, t in enumerate(times)]]


def week_index(when: datetime, weeks: int = 12) -> int:
    """Which of the `weeks` slots a time falls in, by plain date arithmetic (the server buckets in SQL)."""
    start = when.date() - timedelta(days=when.weekday())
    return weeks - 1 - (monday(0).date() - start).days // 7


def test_overview_counts_weeks_places_prompts_tags_and_leaves_out_erased(client, world, session) -> None:
    phone = make_token(session, world.researcher, kind=TokenKind.device, project_id=world.project.id)
    world.tokens["phone"] = phone
    now = datetime.now(UTC)
    f_start = monday(1) + timedelta(seconds=30)  # the first minute of last week
    f_end = monday(1) - timedelta(seconds=60)  # the last minute of the week before
    f_now = now - timedelta(minutes=1)
    f_three = monday(3) + timedelta(days=1)
    old = now - timedelta(days=140)  # outside the 12 weeks; within 30 days of a 150-day retention
    a = batch(world, 0, 0, [f_start, f_end, f_now], given=monday(4))
    a[3]["data"]["sensitive"] = True
    b = batch(world, 1, 1, [f_three], given=monday(4))
    gone = batch(world, 1, 0, [f_start + timedelta(hours=2)], given=monday(4))
    signed = batch(world, 0, 1, [old], given=old - timedelta(days=1), method="signed",
                   signature="data:image/png;base64,iVBORw0KGgo=")
    results = sync(client, world, a + b + gone + signed, who="phone").json()["results"]
    assert {r["status"] for r in results} == {"created"}, results
    coordinator = world.headers("coordinator")
    for fragment in (a[2], b[2], gone[2]):
        assert client.put(f"/api/v1/fragments/{fragment['id']}/tags/{world.tag.id}",
                          headers=coordinator).status_code == 204
    reviewed = client.patch(f"/api/v1/fragments/{a[4]['id']}", json={"reviewed": True},
                            headers={**coordinator, "If-Match": '"1"'})
    assert reviewed.status_code == 200, reviewed.text
    assert client.post(f"/api/v1/consents/{gone[1]['id']}/withdraw", json={}, headers=coordinator).status_code == 200
    other = make_world(session)  # another project's capture counts nowhere here
    assert {r["status"] for r in sync(client, other, capture_batch(other, 2)).json()["results"]} == {"created"}

    world.project.retention_days = 150
    session.add(world.project)
    stale = AuthToken(user_id=world.researcher.id, token_hash=uuid.uuid4().hex, kind=TokenKind.device,
                      project_id=world.project.id, device_label="old phone", expires_at=now + timedelta(days=90),
                      last_sync_at=now - timedelta(days=8))
    never = AuthToken(user_id=world.coordinator.id, token_hash=uuid.uuid4().hex, kind=TokenKind.device,
                      project_id=world.project.id, device_label="spare", expires_at=now + timedelta(days=90))
    quiet_but_revoked = AuthToken(user_id=world.researcher.id, token_hash=uuid.uuid4().hex, kind=TokenKind.device,
                                  project_id=world.project.id, expires_at=now + timedelta(days=90), revoked_at=now)
    quiet_but_expired = AuthToken(user_id=world.researcher.id, token_hash=uuid.uuid4().hex, kind=TokenKind.device,
                                  project_id=world.project.id, expires_at=now - timedelta(days=1))
    session.add_all([stale, never, quiet_but_revoked, quiet_but_expired])
    session.commit()

    r = client.get(f"/api/v1/projects/{world.project.id}/overview", headers=coordinator)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["weeks"] == [(monday(0).date() - timedelta(weeks=11 - i)).isoformat() for i in range(12)]
    assert all(date.fromisoformat(w).weekday() == 0 for w in body["weeks"])

    def counts(*times: datetime) -> list[int]:
        out = [0] * 12
        for t in times:
            out[week_index(t)] += 1
        return out

    assert week_index(f_start) == 10 and week_index(f_end) == 9  # the boundaries fall where Monday says
    by_place = {p["name"]: p["counts"] for p in body["per_place"]}
    assert by_place == {"Stonehouse": counts(f_start, f_end, f_now), "Devonport": counts(f_three)}
    by_prompt = {p["id"]: p["counts"] for p in body["per_prompt"]}
    assert by_prompt == {str(world.prompts[0].id): counts(f_start, f_end, f_now),
                         str(world.prompts[1].id): counts(f_three)}
    assert body["per_tag"] == [{"id": str(world.tag.id), "name": "isolation", "counts": counts(f_start, f_three)}]
    assert body["totals"] == {"fragments": 5, "sensitive": 1, "unreviewed": 4, "withdrawn_consents": 1,
                              "researchers": 1}

    (researcher,) = [p for p in body["researchers"] if p["user_id"] == str(world.researcher.id)]
    assert researcher["fragments"] == 5 and researcher["email"] == world.researcher.email
    assert datetime.fromisoformat(researcher["last_captured_at"]) == f_now
    assert datetime.fromisoformat(researcher["last_sync_at"]) > now - timedelta(minutes=5)  # the phone that synced
    assert [d["id"] for d in body["stale_devices"]] == [str(never.id), str(stale.id)]  # never synced first
    assert body["stale_devices"][1]["device_label"] == "old phone"
    assert body["stale_devices"][1]["user_id"] == str(world.researcher.id)

    expiring = body["expiring"]
    assert (expiring["days"], expiring["fragments"], expiring["signatures"]) == (30, 1, 1)
    first = datetime.fromisoformat(expiring["first_at"])
    assert abs(first - (old - timedelta(days=1) + timedelta(days=150))) < timedelta(seconds=1)

    short = client.get(f"/api/v1/projects/{world.project.id}/overview?weeks=2", headers=coordinator).json()
    assert short["weeks"] == body["weeks"][-2:]
    assert {p["name"]: p["counts"] for p in short["per_place"]}["Stonehouse"] == by_place["Stonehouse"][-2:]


def test_overview_of_an_empty_project_is_all_zeros(client, world) -> None:
    body = client.get(f"/api/v1/projects/{world.project.id}/overview?weeks=4",
                      headers=world.headers("admin")).json()
    assert [p["counts"] for p in body["per_place"]] == [[0, 0, 0, 0]] * 2
    assert body["totals"] == {"fragments": 0, "sensitive": 0, "unreviewed": 0, "withdrawn_consents": 0,
                              "researchers": 1}
    assert body["researchers"][0]["fragments"] == 0 and body["researchers"][0]["last_sync_at"] is None
    assert body["stale_devices"] == []
    assert body["expiring"] == {"days": 30, "fragments": 0, "signatures": 0, "first_at": None}


@pytest.mark.parametrize("weeks", ["0", "105", "many"])
def test_overview_refuses_a_silly_number_of_weeks(client, world, weeks: str) -> None:
    r = client.get(f"/api/v1/projects/{world.project.id}/overview?weeks={weeks}", headers=world.headers("coordinator"))
    assert r.status_code == 422 and r.json()["code"]


def test_a_researcher_cannot_see_the_overview(client, world) -> None:
    r = client.get(f"/api/v1/projects/{world.project.id}/overview", headers=world.headers("researcher"))
    assert r.status_code == 403
    assert client.get(f"/api/v1/projects/{uuid.uuid4()}/overview",
                      headers=world.headers("coordinator")).status_code == 404

