"""Property: any replay of any batches, in any order, any number of times, leaves the database exactly
as one delivery of the whole capture would."""

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from tests.factories import World, consent_item, conversation_item, fragment_item, make_world, sync

AT = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat()
SYNCED_TABLES = {"conversations", "participants", "consents", "fragments", "fragment_tags", "changes", "audit_log"}
# Columns that differ between the two runs for the same content: the server's clock and counters, and the
# content hash (it covers the project's ids, which each run makes anew).
VOLATILE = {"received_at", "updated_at", "at", "seq", "sync_hash"}


def capture(world: World, seed: int) -> list[dict[str, Any]]:
    """A researcher's morning: conversations, consents, fragments — and a few records the server must refuse."""
    rnd = random.Random(seed)

    def uid() -> uuid.UUID:  # the phone's ids: the same for the same seed, run after run
        return uuid.UUID(int=rnd.getrandbits(128), version=4)

    items: list[dict[str, Any]] = []
    for _ in range(3):
        conv = conversation_item(world, uid(), started_at=AT)
        items.append(conv)
        for label in ("P-AAAA", "P-BBBB"):
            scopes = rnd.choice([["quote", "share"], ["share"], ["quote"]])
            consent = consent_item(world, conv["id"], uid(), participant_label=label, scopes=scopes, given_at=AT)
            items.append(consent)
            for i in range(rnd.randint(1, 3)):
                kind = rnd.choice(["quote", "paraphrase", "observation"])
                items.append(fragment_item(conv["id"], consent["id"], uid(), kind=kind, text=f"{label} said {i}",
                                           captured_at=AT))
    bad_conv = conversation_item(world, uid(), place_id=str(uid()), started_at=AT)  # refused: not a place of ours
    bad_consent = consent_item(world, bad_conv["id"], uid(), given_at=AT)  # and so are its children
    items += [bad_conv, bad_consent, fragment_item(bad_conv["id"], bad_consent["id"], uid(), **{"captured_at": AT})]
    return items


def dump(engine: Engine) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in SYNCED_TABLES:
                continue
            cols = [c for c in table.columns if c.name not in VOLATILE and not (table.name == "audit_log" and c.name == "id")]
            out[table.name] = sorted((tuple(str(v) for v in row) for row in conn.execute(sa.select(*cols))), key=repr)
    return out


def reset(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(sa.delete(table))


deliveries = st.lists(
    st.tuples(st.lists(st.integers(0, 10_000), max_size=20), st.booleans()),  # which items, shuffled or not
    min_size=0, max_size=4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 1000), before=deliveries, after=deliveries, data=st.data())
def test_any_replay_leaves_the_database_as_one_delivery_would(client, engine, seed, before, after, data) -> None:
    def world_with_capture() -> tuple[World, list[dict[str, Any]]]:
        reset(engine)
        with Session(engine, expire_on_commit=False) as s:
            world = make_world(s)
        return world, capture(world, seed)

    def deliver(world: World, items: list[dict[str, Any]], plan: list[tuple[list[int], bool]]) -> None:
        for picks, shuffle in plan:
            batch = [items[i % len(items)] for i in picks]
            if shuffle:
                random.Random(len(picks)).shuffle(batch)
            assert sync(client, world, batch).status_code == 200

    # One clean delivery: the reference.
    world, items = world_with_capture()
    ids_to_world = _stable_ids(world)
    assert sync(client, world, items).status_code == 200
    expected = _normalise(dump(engine), ids_to_world)

    # The same capture, with random partial, repeated and shuffled deliveries around the real one.
    world, items = world_with_capture()
    ids_to_world = _stable_ids(world)
    deliver(world, items, before)
    assert sync(client, world, items).status_code == 200
    deliver(world, items, after)
    assert sync(client, world, data.draw(st.permutations(items))).status_code == 200
    assert _normalise(dump(engine), ids_to_world) == expected


def _stable_ids(world: World) -> dict[str, str]:
    """The two runs make different server-side ids (users, project, form…); name them by role instead."""
    names = {world.project.id: "project", world.admin.id: "admin", world.coordinator.id: "coordinator",
             world.researcher.id: "researcher", world.form.id: "form", world.tag.id: "tag",
             **{p.id: f"place{i}" for i, p in enumerate(world.places)},
             **{p.id: f"prompt{i}" for i, p in enumerate(world.prompts)}}
    out: dict[str, str] = {}
    for key, name in names.items():
        out[str(key)] = name
        out[key.hex] = name
    return out


def _normalise(d: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    def fix(v: str) -> str:
        for raw, name in names.items():
            v = v.replace(raw, name)
        return v

    return {t: sorted((tuple(fix(v) for v in row) for row in rows), key=repr) for t, rows in d.items()}


pytestmark = pytest.mark.slow
