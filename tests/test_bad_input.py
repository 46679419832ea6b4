"""Whatever a client sends, a write endpoint answers a clear 4xx `{code, detail}` and stores nothing."""

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from tests.factories import bearer
from tests.test_permissions import CALLS, Call, _fill, _setup

WRITES = [c for c in CALLS if c.method in ("POST", "PUT", "PATCH") and c.body and c.path != "/auth/logout"]
HUGE = "x" * 100_000


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {t.name: sorted(map(tuple, conn.execute(sa.select(t)).all()), key=repr)
                for t in SQLModel.metadata.sorted_tables}


def bad_bodies(body: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [("malformed json", b'{"unterminated": '), ("a list", b"[]"), ("a string", b'"x"'),
                                  ("unknown field", {**body, "surprise": 1})]
    for key, value in body.items():
        out += [(f"{key}: wrong type", {**body, key: {"nested": [1]}}),
                (f"{key}: number", {**body, key: 12345}) if not isinstance(value, int | bool) else None,
                (f"{key}: huge", {**body, key: HUGE}) if isinstance(value, str) else None,
                (f"{key}: unknown enum", {**body, key: ["overlord"]}) if isinstance(value, list) else None,
                (f"{key}: bad uuid", {**body, key: "not-a-uuid"}) if key.endswith("_id") and key != "device_id" else None]
    return [b for b in out if b is not None]


@pytest.mark.parametrize("call", WRITES, ids=lambda c: f"{c.method} {c.path}")
def test_malformed_bodies_get_4xx_and_change_nothing(client, session, engine, call: Call) -> None:
    ids, tokens = _setup(session, client)
    headers = {**bearer(tokens["admin"]), **(_fill(call.headers, ids) or {})}
    path = "/api/v1" + _fill(call.path, ids)
    before = dump(engine)
    for label, body in bad_bodies(_fill(call.body, ids)):
        if isinstance(body, bytes):
            r = client.request(call.method, path, content=body, headers={**headers, "Content-Type": "application/json"})
        else:
            r = client.request(call.method, path, json=body, headers=headers)
        assert 400 <= r.status_code < 500, (label, r.status_code, r.text[:300])
        assert set(r.json()) >= {"code", "detail"}, label
    assert dump(engine) == before


@pytest.mark.parametrize("call", [c for c in CALLS if "{" in c.path], ids=lambda c: f"{c.method} {c.path}")
def test_bad_ids_in_the_path_get_4xx(client, session, engine, call: Call) -> None:
    ids, tokens = _setup(session, client)
    before = dump(engine)
    broken = {k: "not-a-uuid" for k in ids}
    r = client.request(call.method, "/api/v1" + _fill(call.path, broken), json=_fill(call.body, ids),
                       headers={**bearer(tokens["admin"]), **(_fill(call.headers, ids) or {})})
    assert r.status_code in (404, 422), r.text
    assert call.method == "HEAD" or set(r.json()) >= {"code", "detail"}
    assert dump(engine) == before


@pytest.mark.parametrize("payload", [
    {"device_id": "d", "items": "not a list"},
    {"device_id": "d" * 65, "items": []},
    {"items": []},
    {"device_id": "d", "items": [{"type": "conversation"}] * 501},
])
def test_sync_refuses_malformed_batches_whole(client, session, engine, payload) -> None:
    _, tokens = _setup(session, client)
    before = dump(engine)
    r = client.post("/api/v1/sync", json=payload, headers=bearer(tokens["researcher"]))
    assert r.status_code in (413, 422), r.text
    assert dump(engine) == before


def test_a_body_over_a_megabyte_is_refused_before_it_is_read(client, session) -> None:
    _, tokens = _setup(session, client)
    r = client.post("/api/v1/projects", content=b'{"name": "' + b"x" * 1_100_000 + b'"}',
                    headers={**bearer(tokens["admin"]), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"


def test_unknown_routes_and_methods_answer_in_the_same_shape(client) -> None:
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.delete("/api/v1/me")
    assert r.status_code in (401, 405) and "code" in r.json()
