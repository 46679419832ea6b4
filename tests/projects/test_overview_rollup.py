"""The overview's weekly counts (overview_counts, kept by triggers) equal a recount from the fragments after
every kind of write: sync, edit, review, tagging (one and many), tag merge, withdrawal, purge, a changed place."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from api.fragments import retention
from api.projects import overview
from api.projects.models import Project
from tests.factories import World, consent_item, conversation_item, fragment_item, make_world, sync


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def agree(session: Session, world: World) -> dict:
    session.rollback()  # a fresh look at what the app committed
    project = session.exec(select(Project).where(Project.id == world.project.id)).one()
    stored, recount = overview.stored(session, project), overview.recount(session, project)
    assert stored == recount
    return stored


def test_the_rollup_equals_a_recount_after_every_kind_of_write(client, world, session) -> None:
    h = world.headers("coordinator")
    now = datetime.now(UTC)
    convs = []
    for i, place in enumerate([0, 1, 0]):
        conv = conversation_item(world, place_id=str(world.places[place].id),
                                 started_at=(now - timedelta(days=200)).isoformat())
        consent = consent_item(world, conv["id"], given_at=(now - timedelta(days=200)).isoformat())
        frags = [fragment_item(conv["id"], consent["id"], text=f"words {i} {n}", sensitive=n == 0,
                               prompt_id=str(world.prompts[n % 2].id),
                               captured_at=(now - timedelta(days=7 * n + 30 * i, minutes=1)).isoformat())
                 for n in range(4)]
        assert {r["status"] for r in sync(client, world, [conv, consent, *frags]).json()["results"]} == {"created"}
        convs.append((conv, consent, frags))
    counts = agree(session, world)
    assert sum(n for (d, _, _), n in counts.items() if d == "all") == 12
    assert sum(n for (d, _, _), n in counts.items() if d == "sensitive") == 3

    first = convs[0][2]
    # Edits: sensitive, prompt; a review.
    r = client.patch(f"/api/v1/fragments/{first[1]['id']}", json={"sensitive": True, "prompt_id": None},
                     headers={**h, "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert client.patch(f"/api/v1/fragments/{first[2]['id']}", json={"reviewed": True},
                        headers={**h, "If-Match": '"1"'}).status_code == 200
    agree(session, world)

    # Tagging one, many, and taking one off.
    assert client.put(f"/api/v1/fragments/{first[0]['id']}/tags/{world.tag.id}", headers=h).status_code == 204
    other = client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": "other"}, headers=h).json()
    many = [f["id"] for _, _, frags in convs for f in frags[:3]]
    r = client.post(f"/api/v1/tags/{other['id']}/fragments", json={"add": many}, headers=h)
    assert r.status_code == 200, r.text
    assert client.delete(f"/api/v1/fragments/{many[-1]}/tags/{other['id']}", headers=h).status_code == 204
    counts = agree(session, world)
    assert sum(n for (d, k, _), n in counts.items() if d == "tag" and str(k) == other["id"]) == 8

    # Merge: the merged tag's fragments move to the survivor (no doubles).
    r = client.post(f"/api/v1/tags/{other['id']}/merge", json={"into": str(world.tag.id)}, headers=h)
    assert r.status_code == 200, r.text
    counts = agree(session, world)
    assert sum(n for (d, _, _), n in counts.items() if d == "tag") == 8

    # Withdrawal erases a conversation's fragments: they count nowhere.
    r = client.post(f"/api/v1/consents/{convs[1][1]['id']}/withdraw", json={}, headers=h)
    assert r.status_code == 200, r.text
    counts = agree(session, world)
    assert sum(n for (d, _, _), n in counts.items() if d == "all") == 8

    # Retention: the oldest go.
    assert client.patch(f"/api/v1/projects/{world.project.id}", json={"retention_days": 70},
                        headers=h).status_code == 200
    with Session(session.get_bind().engine) as writer:
        project = writer.exec(select(Project).where(Project.id == world.project.id)).one()
        while retention.purge_project(writer, project).fragments_erased:
            writer.commit()
        writer.commit()
    counts = agree(session, world)
    assert 0 < sum(n for (d, _, _), n in counts.items() if d == "all") < 8

    # The overview itself reads the rollup.
    body = client.get(f"/api/v1/projects/{world.project.id}/overview?weeks=52", headers=h).json()
    assert body["totals"]["fragments"] == sum(n for (d, _, _), n in counts.items() if d == "all")
    assert sum(sum(s["counts"]) for s in body["per_place"]) == body["totals"]["fragments"]


def test_the_expiring_count_from_the_rollup_is_exact_at_any_cut_off(client, world, session) -> None:
    """The overview counts what passes retention from the rollup's whole weeks plus the cut-off's own week counted
    row by row: for cut-offs on every day of a week, at week boundaries and between two fragments of one
    instant, it equals retention's count of the fragments themselves."""
    now = datetime.now(UTC).replace(microsecond=0)
    base = now - timedelta(days=100)
    conv = conversation_item(world, started_at=(base - timedelta(days=30)).isoformat())
    consent = consent_item(world, conv["id"], given_at=(base - timedelta(days=30)).isoformat())
    times = [base - timedelta(days=d, hours=h) for d in range(0, 22, 3) for h in (0, 5)]
    frags = [fragment_item(conv["id"], consent["id"], text=f"w {i}", captured_at=t.isoformat())
             for i, t in enumerate(times)]
    sync(client, world, [conv, consent, *frags])
    session.rollback()
    project = session.exec(select(Project).where(Project.id == world.project.id)).one()
    cutoffs = [base - timedelta(days=d, hours=h) for d in range(-1, 24) for h in (0, 3, 5)] + times
    for cutoff in cutoffs:
        expected = sum(1 for t in times if t < cutoff)
        assert overview._active_before(session, project, cutoff) == expected, cutoff
    project.retention_days = 90
    session.add(project)
    session.flush()
    assert overview._expiring(session, project, now).fragments == retention.expiring(session, project, 30, now=now)
