"""A fragment's edit meeting a workshop that shows it, at the worst moment, on PostgreSQL: every path takes the
fragment before the workshop (an edit's commit locks the open boards showing it, to tell their screens to load
again), so neither side waits for the other while holding what the other needs. Before, closing a workshop and a
quote-following edit each took the workshop first: PostgreSQL broke the cycle by killing one of them (a 503 for
the coordinator, an edit lost)."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api.db import utcnow
from api.fragments.models import Fragment, FragmentUpdate
from api.memos import service as memos
from api.sync import rules
from api.tags.models import FragmentTag
from api.workshops import service as workshops
from api.workshops.models import BoardOp, Theme
from tests.factories import World, make_world
from tests.support.locks import edit, held_at, purge_during_an_edit, wait_until_it_waits
from tests.workshops.helpers import add, capture, make_workshop, set_state

WORDS = "the bus never comes on time here"


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def running_board_with_a_theme(client: Any, world: World,
                               fragment_id: str | None = None) -> tuple[str, uuid.UUID, str]:
    """A running workshop showing one fragment (WORDS, or the one given), its card in a theme named with those
    words. Answers (workshop id, fragment id, theme id)."""
    fragment_id = fragment_id or capture(client, world, scopes=["quote", "share"], text=WORDS)[0]
    w = make_workshop(client, world)
    assert add(client, world, w["id"], [fragment_id]).status_code == 200
    for state in ("ready", "running"):
        assert set_state(client, world, w["id"], state).status_code == 200
    h = world.headers("coordinator")
    card = client.get(f"/api/v1/workshops/{w['id']}/board", headers=h).json()["cards"][0]["id"]
    theme = str(uuid.uuid4())
    r = client.post(f"/api/v1/workshops/{w['id']}/board/ops", headers=h, json={"ops": [
        op("theme", theme_id=theme, name=WORDS, x=0, y=0), op("move", card_id=card, x=5, y=5, theme_id=theme)]})
    assert [x["status"] for x in r.json()["results"]] == ["applied", "applied"], r.text
    return w["id"], uuid.UUID(fragment_id), theme


def op(kind: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "kind": kind, "data": data}


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite's one writer puts them one after the other
def test_closing_a_workshop_while_its_card_is_edited_never_deadlocks(client, world, session, monkeypatch) -> None:
    """The edit is held with its fragment locked; the close is let in. It used to lock the workshop, then wait for
    the fragment it tags, while the edit's commit waited for the workshop."""
    workshop_id, fragment_id, _ = running_board_with_a_theme(client, world)
    at_rules, go_on = held_at(monkeypatch, rules, "check_fragment_edit")
    with ThreadPoolExecutor(2) as pool:
        editing = pool.submit(edit, world, fragment_id, FragmentUpdate(kind="quote"))
        assert at_rules.wait(20)
        closing = pool.submit(set_state, client, world, workshop_id, "closed")
        wait_until_it_waits(closing, "the close (for the edit)")
        go_on.set()
        editing.result(timeout=30)
        closed = closing.result(timeout=30)
    assert closed.status_code == 200, closed.text
    session.rollback()
    assert session.get(Fragment, fragment_id).kind == "quote"
    assert session.exec(select(FragmentTag).where(FragmentTag.fragment_id == fragment_id)).all() != []


@pytest.mark.parametrize("backend", ["postgresql"])
def test_renaming_a_theme_while_an_edit_rewrites_its_quote_never_deadlocks(client, world, session,
                                                                           monkeypatch) -> None:
    """The theme's name quotes the fragment, so the edit rewrites it; the edit is held at its commit, just before
    it locks the boards showing the fragment, and the facilitator renames the theme. The rename used to take the
    workshop and wait for the theme the edit had rewritten, while the edit waited for the workshop."""
    workshop_id, fragment_id, theme_id = running_board_with_a_theme(client, world)
    at_commit, go_on = held_at(monkeypatch, workshops, "reload_boards_showing")
    rename = {"ops": [op("theme", theme_id=theme_id, name="Buses", x=0, y=0)]}
    with ThreadPoolExecutor(2) as pool:
        editing = pool.submit(edit, world, fragment_id, FragmentUpdate(text="the bus comes when it likes here"))
        assert at_commit.wait(20)
        renaming = pool.submit(client.post, f"/api/v1/workshops/{workshop_id}/board/ops", json=rename,
                               headers=world.headers("coordinator"))
        wait_until_it_waits(renaming, "the rename (for the edit)")
        go_on.set()
        editing.result(timeout=30)
        renamed = renaming.result(timeout=30)
    assert renamed.status_code == 200 and renamed.json()["results"][0]["status"] == "applied", renamed.text
    session.rollback()
    assert session.get(Theme, uuid.UUID(theme_id)).name == "Buses"  # the rename came last, and stays


@pytest.mark.parametrize("backend", ["postgresql"])
def test_closing_two_workshops_that_show_the_same_card_never_deadlocks(client, world, session, monkeypatch) -> None:
    """Each close tags the shared fragment, and its commit locks the other board to tell it to load again. The first
    is held at its commit; the second used to lock its own board, then wait at its commit for the first's."""
    first, fragment_id, _ = running_board_with_a_theme(client, world)
    second, _, _ = running_board_with_a_theme(client, world, str(fragment_id))
    at_commit, go_on = held_at(monkeypatch, workshops, "reload_boards_showing")
    with ThreadPoolExecutor(2) as pool:
        closing_first = pool.submit(set_state, client, world, first, "closed")
        assert at_commit.wait(20)
        closing_second = pool.submit(set_state, client, world, second, "closed")
        wait_until_it_waits(closing_second, "the second close (for the first)")
        go_on.set()
        answers = [closing_first.result(timeout=30), closing_second.result(timeout=30)]
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    session.rollback()
    assert len(session.exec(select(FragmentTag).where(FragmentTag.fragment_id == fragment_id)).all()) == 2


def consent_of(session: Session, fragment_id: uuid.UUID) -> uuid.UUID:
    fragment = session.get(Fragment, fragment_id)
    assert fragment is not None
    return fragment.consent_id


@pytest.mark.parametrize("backend", ["postgresql"])
def test_withdrawing_a_consent_while_its_card_is_tagged_never_deadlocks(client, world, session, monkeypatch) -> None:
    """The tagging holds the fragment (FOR SHARE) and is held at its commit, before it locks the board showing it.
    The withdrawal rewrites quotes of the words it erases, which locks the open boards: it did so before locking
    the fragment, so it held the board and waited for the fragment."""
    _, fragment_id, _ = running_board_with_a_theme(client, world)
    h = world.headers("coordinator")
    tag = client.post(f"/api/v1/projects/{world.project.id}/tags", json={"name": "Transport"}, headers=h)
    assert tag.status_code == 201, tag.text
    at_commit, go_on = held_at(monkeypatch, workshops, "reload_boards_showing")
    with ThreadPoolExecutor(2) as pool:
        tagging = pool.submit(client.put, f"/api/v1/fragments/{fragment_id}/tags/{tag.json()['id']}", headers=h)
        assert at_commit.wait(20)
        withdrawing = pool.submit(client.post, f"/api/v1/consents/{consent_of(session, fragment_id)}/withdraw",
                                  json={}, headers=h)
        wait_until_it_waits(withdrawing, "the withdrawal (for the tagging)")
        go_on.set()
        answers = [tagging.result(timeout=30), withdrawing.result(timeout=30)]
    assert [r.status_code for r in answers] == [204, 200], [(r.status_code, r.text) for r in answers]
    session.rollback()
    assert session.get(Fragment, fragment_id).text is None


@pytest.mark.parametrize("backend", ["postgresql"])
def test_closing_a_workshop_while_its_cards_consent_is_withdrawn_never_deadlocks(client, world, session,
                                                                                monkeypatch) -> None:
    """The withdrawal is held while it rewrites quotes (the open boards locked); the close locks the card's
    fragment, then waits for its board, while the withdrawal's erasure waited for the fragment."""
    workshop_id, fragment_id, _ = running_board_with_a_theme(client, world)
    in_rewrite, go_on = held_at(monkeypatch, memos, "_substitution")
    with ThreadPoolExecutor(2) as pool:
        withdrawing = pool.submit(client.post, f"/api/v1/consents/{consent_of(session, fragment_id)}/withdraw",
                                  json={}, headers=world.headers("coordinator"))
        assert in_rewrite.wait(20)
        closing = pool.submit(set_state, client, world, workshop_id, "closed")
        wait_until_it_waits(closing, "the close (for the withdrawal)")
        go_on.set()
        answers = [withdrawing.result(timeout=30), closing.result(timeout=30)]
    assert [r.status_code for r in answers] == [200, 200], [(r.status_code, r.text) for r in answers]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_purge_and_an_edit_of_a_card_on_an_open_board_never_deadlock(client, world, session,
                                                                        monkeypatch) -> None:
    """The edit holds the fragment (held at its rules check) and at its commit locks the board showing it; the
    purge (an unsigned consent: no consent to lock) locked the project's open boards, then waited for the
    fragment."""
    _, fragment_id, _ = running_board_with_a_theme(client, world)
    session.execute(sa.update(Fragment).where(Fragment.id == fragment_id)
                    .values(captured_at=utcnow() - timedelta(days=40)))
    world.project.retention_days = 30
    session.add(world.project)
    session.commit()
    report = purge_during_an_edit(monkeypatch, world, fragment_id, FragmentUpdate(kind="quote"))
    assert report.fragments_erased == 1


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_guests_operation_after_the_facilitators_takes_the_next_seq(client, world, session, monkeypatch) -> None:
    """The guest's request had read its board (to check its token) before it locked it, and the lock did not read
    the row again: after the facilitator's operation committed, the guest's took the same seq (a 500, the note
    lost), and a board locked meanwhile would have taken it."""
    fragment_id = capture(client, world, scopes=["quote", "share"], text=WORDS)[0]
    w = make_workshop(client, world, audience="mixed")
    assert add(client, world, w["id"], [fragment_id]).status_code == 200
    for state in ("ready", "running"):
        assert set_state(client, world, w["id"], state).status_code == 200
    code = client.get(f"/api/v1/workshops/{w['id']}", headers=world.headers("coordinator")).json()["short_code"]
    joined = client.post("/api/v1/join", json={"code": code, "name": "Ann"})
    assert joined.status_code == 201, joined.text
    guest = {"Authorization": f"Bearer {joined.json()['token']}"}
    at_apply, go_on = held_at(monkeypatch, workshops, "apply_ops")
    with ThreadPoolExecutor(2) as pool:
        facilitating = pool.submit(client.post, f"/api/v1/workshops/{w['id']}/board/ops",
                                   json={"ops": [op("theme", theme_id=str(uuid.uuid4()), name="Transport", x=0, y=0)]},
                                   headers=world.headers("coordinator"))
        assert at_apply.wait(20)
        guesting = pool.submit(client.post, "/api/v1/board/ops", headers=guest,
                               json={"ops": [op("note", note_id=str(uuid.uuid4()), text="buses", x=1, y=1)]})
        wait_until_it_waits(guesting, "the guest's operation (for the facilitator's)")
        go_on.set()
        answers = [facilitating.result(timeout=30), guesting.result(timeout=30)]
    assert [r.status_code for r in answers] == [200, 200], [(r.status_code, r.text) for r in answers]
    session.rollback()
    seqs = session.exec(select(BoardOp.seq).where(BoardOp.workshop_id == uuid.UUID(w["id"]))).all()
    assert sorted(seqs) == list(range(1, len(seqs) + 1))
