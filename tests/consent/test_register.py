"""The consent register: GET /consents with filters, per-consent fragment counts and X-Total-Count."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from api.projects.models import Role
from tests.factories import (
    World,
    add_member,
    bearer,
    consent_item,
    conversation_item,
    fragment_item,
    make_token,
    make_user,
    make_world,
    now_iso,
    sync,
)


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def capture(client: Any, world: World, label: str, *, place: int = 0, days_ago: int = 1,
            scopes: tuple[str, ...] = ("quote", "share"), fragments: int = 1, who: str = "researcher") -> str:
    conv = conversation_item(world, place_id=str(world.places[place].id),
                             started_at=now_iso(timedelta(days=-days_ago, minutes=-5)))
    consent = consent_item(world, conv["id"], participant_label=label, scopes=list(scopes),
                           given_at=now_iso(timedelta(days=-days_ago)))
    frags = [fragment_item(conv["id"], consent["id"]) for _ in range(fragments)]
    r = sync(client, world, [conv, consent, *frags], who=who)
    assert all(x["status"] == "created" for x in r.json()["results"]), r.text
    return consent["id"]


def register(client: Any, world: World, who: str = "coordinator", **params: Any) -> tuple[list[str], int, Any]:
    r = client.get("/api/v1/consents", params={"project_id": str(world.project.id), **params},
                   headers=world.headers(who) if who in world.tokens else bearer(who))
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()], int(r.headers["X-Total-Count"]), r.json()


def test_each_consent_says_its_place_and_how_many_fragments_it_still_holds(client, world) -> None:
    three = capture(client, world, "P-1", place=1, fragments=3)
    withdrawn = capture(client, world, "P-2", fragments=2, days_ago=2)
    client.post(f"/api/v1/consents/{withdrawn}/withdraw", json={}, headers=world.headers("coordinator"))
    _, total, body = register(client, world)
    by_id = {c["id"]: c for c in body}
    assert total == 2
    assert (by_id[three]["fragment_count"], by_id[three]["place_id"]) == (3, str(world.places[1].id))
    assert (by_id[withdrawn]["fragment_count"], by_id[withdrawn]["place_id"]) == (0, str(world.places[0].id))
    assert by_id[withdrawn]["withdrawn_at"] is not None


def test_label_filter_is_a_case_insensitive_substring_and_wildcards_are_literal(client, world) -> None:
    a = capture(client, world, "P-4KQ7")
    b = capture(client, world, "Q_100")
    c = capture(client, world, "Q1100")
    assert register(client, world, participant_label="p-4k")[0] == [a]
    assert register(client, world, participant_label="kq7")[0] == [a]
    # `_` and `%` are characters to find, not LIKE wildcards: `Q_1` must not match Q1100.
    assert register(client, world, participant_label="q_1")[0] == [b]
    assert register(client, world, participant_label="%")[:2] == ([], 0)
    assert sorted(register(client, world, participant_label="00")[0]) == sorted([b, c])


def test_filters_by_conversation_place_dates_scope_and_state(client, world) -> None:
    old = capture(client, world, "P-A", place=0, days_ago=10, scopes=("quote",))
    mid = capture(client, world, "P-B", place=1, days_ago=5, scopes=("quote", "audio"))
    new = capture(client, world, "P-C", place=1, days_ago=1, scopes=("quote", "publish"))
    client.post(f"/api/v1/consents/{mid}/withdraw", json={}, headers=world.headers("coordinator"))
    conversation = client.get(f"/api/v1/consents/{new}", headers=world.headers("coordinator")).json()["conversation_id"]

    assert register(client, world, conversation_id=conversation)[0] == [new]
    assert register(client, world, place=str(world.places[1].id))[0] == [new, mid]  # newest given first
    assert register(client, world, given_after=now_iso(timedelta(days=-6)))[0] == [new, mid]
    assert register(client, world, given_before=now_iso(timedelta(days=-6)))[0] == [old]
    assert register(client, world, given_after=now_iso(timedelta(days=-6)),
                    given_before=now_iso(timedelta(days=-2)))[0] == [mid]
    assert register(client, world, scope="audio")[0] == [mid]
    assert register(client, world, scope="quote")[1] == 3
    assert register(client, world, state="withdrawn")[0] == [mid]
    assert register(client, world, state="active")[0] == [new, old]
    assert register(client, world, state="active", place=str(world.places[1].id))[0] == [new]


def test_total_count_is_of_all_matches_not_the_page(client, world) -> None:
    made = [capture(client, world, f"P-{i}", days_ago=i + 1) for i in range(5)]
    first, total, _ = register(client, world, limit=2)
    second, total2, _ = register(client, world, limit=2, offset=2)
    third, _, _ = register(client, world, limit=2, offset=4)
    assert total == total2 == 5
    assert first + second + third == made
    assert register(client, world, limit=2, participant_label="P-")[1] == 5


def test_a_researcher_sees_only_the_consents_they_recorded(client, world, session) -> None:
    other = make_user(session)
    add_member(session, world.project, other, Role.researcher)
    world.tokens["other_researcher"] = make_token(session, other)
    mine = capture(client, world, "P-MINE")
    theirs = capture(client, world, "P-THEIRS", who="other_researcher")
    assert register(client, world, who="researcher")[:2] == ([mine], 1)
    assert register(client, world, who="other_researcher")[:2] == ([theirs], 1)
    assert register(client, world, who="researcher", participant_label="THEIRS")[:2] == ([], 0)
    assert sorted(register(client, world)[0]) == sorted([mine, theirs])


def test_the_register_costs_the_same_few_queries_for_any_page_size(client, world, engine) -> None:
    for i in range(6):
        capture(client, world, f"P-{i}", fragments=2)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        register(client, world, limit=1)
        few = len(statements)
        statements.clear()
        register(client, world, limit=6)
        assert len(statements) == few
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.mark.parametrize("params", [{"scope": "overlord"}, {"state": "gone"}, {"given_after": "2026-01-01T00:00:00"},
                                    {"place": "nowhere"}, {"participant_label": "x" * 41},
                                    {"participant_label": "P\x00"}])
def test_bad_filters_are_422_not_500(client, world, params) -> None:
    r = client.get("/api/v1/consents", params={"project_id": str(world.project.id), **params},
                   headers=world.headers("coordinator"))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"


def test_another_projects_consents_are_not_listed(client, world, session) -> None:
    capture(client, world, "P-1")
    other = make_world(session)
    r = client.get("/api/v1/consents", params={"project_id": str(world.project.id)},
                   headers=other.headers("coordinator"))
    assert r.status_code == 404
    assert register(client, other)[:2] == ([], 0)


def test_a_code_read_off_a_receipt_finds_that_participant_first_whatever_its_case_and_spaces(client, world) -> None:
    # A newer consent whose label only contains the code would come first by date; the code itself must lead.
    capture(client, world, "P-4KQ7", days_ago=5)
    capture(client, world, "P-4KQ7B", days_ago=1)
    capture(client, world, "XP-4KQ7", days_ago=2)
    for typed in ("P-4KQ7", "p-4kq7", " p 4kq7 ", "P4KQ7", "p - 4KQ7"):
        r = client.get("/api/v1/consents", params={"project_id": str(world.project.id), "participant_label": typed},
                       headers=world.headers("coordinator"))
        assert r.status_code == 200, r.text
        labels = [c["participant_label"] for c in r.json()]
        assert labels[0] == "P-4KQ7" and sorted(labels) == ["P-4KQ7", "P-4KQ7B", "XP-4KQ7"], (typed, labels)
