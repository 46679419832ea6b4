"""Search finds English word forms, reads a small query language (phrases, OR, -word, prefix*), keeps exact
words for a `simple` project, counts its matches, and never lets the user's text become index syntax."""

from datetime import timedelta

import pytest
from alembic.command import downgrade, upgrade
from alembic.config import Config
from sqlmodel import Session

from api.cli import REPO
from api.fragments import query as query_language
from api.fragments import service
from tests.factories import World, consent_item, conversation_item, fragment_item, make_world, now_iso, sync

TEXTS = ["the bus was late again", "two buses on a Sunday", "you are welcome at the hub",
         "a quiet street at night", "welcoming faces, late buses"]


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


@pytest.fixture
def frags(client, world) -> list[str]:
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"])
    items = [fragment_item(conv["id"], consent["id"], text=t, captured_at=now_iso(timedelta(minutes=-60 + i)))
             for i, t in enumerate(TEXTS)]
    assert sync(client, world, [conv, consent, *items]).status_code == 200
    return [f["id"] for f in items]


def found(client, world: World, q: str, **params: str) -> list[str]:
    r = client.get("/api/v1/fragments", params={"project_id": str(world.project.id), "q": q, **params},
                   headers=world.headers("coordinator"))
    assert r.status_code == 200, r.text
    return [f["id"] for f in r.json()["items"]]


def test_english_search_finds_word_forms(client, world, frags) -> None:
    bus, buses, welcome, street, both = frags
    assert found(client, world, "buses") == [bus, buses, both]
    assert found(client, world, "bus") == [bus, buses, both]
    assert found(client, world, "welcom") == [welcome, both]
    assert found(client, world, "BUS") == [bus, buses, both]


def test_phrases_or_not_and_prefix(client, world, frags) -> None:
    bus, buses, welcome, street, both = frags
    assert found(client, world, '"bus was late"') == [bus]
    assert found(client, world, '"late buses"') == [both]
    assert found(client, world, '"sunday buses"') == []  # the words, but not side by side
    assert found(client, world, "street OR hub") == [welcome, street]
    assert found(client, world, "late OR quiet night") == [street]  # (late or quiet) and night
    assert found(client, world, "bus -sunday") == [bus, both]
    assert found(client, world, 'bus -"two buses"') == [bus, both]
    assert found(client, world, "wel*") == [welcome, both]
    assert found(client, world, "lat* bus") == [bus, both]


@pytest.mark.parametrize("q", ["-bus", '-"bus stop"', "OR", "!!!", '""', "- -"])
def test_a_search_with_nothing_to_find_is_a_422(client, world, frags, q) -> None:
    r = client.get("/api/v1/fragments", params={"project_id": str(world.project.id), "q": q},
                   headers=world.headers("coordinator"))
    assert r.status_code == 422 and r.json()["code"] == "invalid_query", r.text


@pytest.mark.parametrize("q", ['bus"', 'NEAR(bus late)', "text:bus", "bus AND late", "bus NOT late", "bus^2",
                               "'bus' & !late", "bus:*", "bus <-> late", "(bus", "*", "bus OR OR -", "OR bus",
                               "bus OR", '"unclosed phrase', "Ω ß", "x" * 60 + " y" * 40, "_", "²*", "a_b*", "-_ bus"])
def test_query_syntax_of_the_databases_is_read_as_words(client, world, frags, q) -> None:
    r = client.get("/api/v1/fragments", params={"project_id": str(world.project.id), "q": q},
                   headers=world.headers("coordinator"))
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["code"] == "invalid_query"


def test_syntax_words_are_words(client, world, frags) -> None:
    bus, buses, welcome, street, both = frags
    assert found(client, world, "bus AND late") == [bus, both]  # AND is the space
    assert found(client, world, "bus NOT late") == [buses]  # NOT is -
    assert found(client, world, "text:bus") == []  # a phrase "text bus", not a column filter
    assert found(client, world, "bus:* | late") == [bus, both]  # tsquery syntax is words: bus, late


def test_a_simple_project_matches_exact_words_and_switching_rebuilds_the_index(client, world, frags) -> None:
    bus, buses, welcome, street, both = frags
    h = world.headers("coordinator")
    project = f"/api/v1/projects/{world.project.id}"
    assert client.get(project, headers=h).json()["search_language"] == "english"
    r = client.patch(project, json={"search_language": "simple"}, headers=h)
    assert r.status_code == 200 and r.json()["search_language"] == "simple", r.text
    assert found(client, world, "bus") == [bus]
    assert found(client, world, "buses") == [buses, both]
    assert found(client, world, "welcom") == []
    assert found(client, world, "welcom*") == [welcome, both]
    assert found(client, world, '"late buses"') == [both]
    # New and edited text goes to the project's index too.
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"])
    sync(client, world, [conv, consent, fragment_item(conv["id"], consent["id"], text="welcomes everyone")])
    assert len(found(client, world, "welcomes")) == 1
    assert client.patch(project, json={"search_language": "english"}, headers=h).status_code == 200
    assert found(client, world, "buses") == [bus, buses, both]
    assert len(found(client, world, "welcom")) == 3
    assert client.patch(project, json={"search_language": "klingon"}, headers=h).status_code == 422
    assert client.patch(project, json={"search_language": None}, headers=h).status_code == 422


def test_a_search_across_projects_uses_each_projects_language(client, world, frags, session) -> None:
    bus, buses, welcome, street, both = frags
    other = make_world(session)
    conv = conversation_item(other)
    consent = consent_item(other, conv["id"])
    sync(client, other, [conv, consent, fragment_item(conv["id"], consent["id"], text="bus")])
    client.patch(f"/api/v1/projects/{other.project.id}", json={"search_language": "simple"},
                 headers=other.headers("coordinator"))
    r = client.get("/api/v1/fragments", params={"q": "buses"}, headers=other.headers("admin"))
    assert [f["id"] for f in r.json()["items"]] == [bus, buses, both]  # the simple project's "bus" is not "buses"


@pytest.mark.parametrize("few", [0, 1000])
def test_totals_are_exact_up_to_the_cap_then_a_lower_bound(client, world, frags, monkeypatch, few) -> None:
    monkeypatch.setattr(service, "FEW_CANDIDATES", few)
    h = world.headers("coordinator")

    def total(**params: str) -> tuple[int, bool]:
        r = client.get("/api/v1/fragments", params={"project_id": str(world.project.id), "total": "true",
                                                    "limit": "1", **params}, headers=h).json()
        return r["total"], r["total_is_lower_bound"]

    assert total(q="bus") == (3, False)
    assert total(q="zebra") == (0, False)
    assert total() == (5, False)
    assert total(q="late", kind="quote") == (2, False)
    monkeypatch.setattr(service, "TOTAL_CAP", 2)
    assert total(q="bus") == (2, True)
    assert total(q="welcome") == (2, False)
    plain = client.get("/api/v1/fragments", params={"project_id": str(world.project.id)}, headers=h).json()
    assert "total" not in plain


def test_the_parser_keeps_or_tight_and_negation_apart() -> None:
    q = query_language.parse('bus OR "night bus" late -sunday lone*')
    assert [(tuple(t.words for t in c.terms), c.negated) for c in q.clauses] == [
        ((("bus",), ("night", "bus")), False), ((("late",),), False), ((("sunday",),), True),
        ((("lone",),), False)]
    assert q.clauses[-1].terms[0].prefix
    assert query_language.fts5_match(q, english=True) == \
        '(("bus" OR "buses" OR "night bus") AND ("late") AND ("lone"*)) NOT ("sunday")'


def _alembic(url: str) -> Config:
    cfg = Config(str(REPO / "alembic.ini"))
    cfg.attributes["url"] = url
    return cfg


SEARCH_MIGRATION_PARENT = "5ec0a07b1a10"  # migrations/versions/2026_11_29_2010-search.py's down_revision


def test_the_migration_rebuilds_existing_text_into_the_stemmed_index(client, world, frags, engine, session,
                                                                   database_url) -> None:
    bus, buses, welcome, street, both = frags
    session.close()
    engine.dispose()
    # Back to just before the search migration (SQLite's batch mode cannot rebuild tables that rows reference,
    # so older migrations are not downgraded with data in them), and forward again.
    downgrade(_alembic(database_url), SEARCH_MIGRATION_PARENT)
    upgrade(_alembic(database_url), "head")
    assert found(client, world, "buses") == [bus, buses, both]
    assert found(client, world, "welcom") == [welcome, both]
    client.patch(f"/api/v1/projects/{world.project.id}", json={"search_language": "simple"},
                 headers=world.headers("coordinator"))
    assert found(client, world, "welcom") == []
    assert found(client, world, "welcome") == [welcome]
