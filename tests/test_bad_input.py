"""Whatever a client sends, a write endpoint answers a clear 4xx `{code, detail}` and stores nothing."""

import functools
import json
import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from tests.factories import bearer
from tests.support.apps import shared_app
from tests.support.raw_http import raw_request
from tests.test_permissions import CALLS, Call, _fill, _setup

# input: write endpoints the permission table has no body for, or that take no user token
EXTRA_WRITES = [
    Call("POST", "/auth/login", {"email": "someone@example.org", "password": "long enough pw"}),
    Call("POST", "/auth/enrol", {"code": "ABCD2345", "device_label": "phone"}),
    Call("POST", "/consents/{consent}/withdraw", {"reason": "asked"}),
    Call("POST", "/projects", {"name": "Q", "questions": [
        {"id": "q1", "type": "slider", "label": "Belong?", "left": "no", "right": "yes"},
        {"id": "q2", "type": "choice", "label": "Mood?", "options": ["good", "hard"]}]}),
    Call("POST", "/webhooks", {"url": "https://example.org/hook", "events": ["fragment.upsert"]},
         {"Authorization": "Bearer {webhook_token}"}),
    # workshops: a participant joins by code and moves cards with the join token
    Call("POST", "/join", {"code": "ABCDEF", "name": "Sam"}),
    Call("POST", "/board/ops", {"ops": []}, {"Authorization": "Bearer {join_token}"}),
]
WRITES = [c for c in CALLS + EXTRA_WRITES if c.method in ("POST", "PUT", "PATCH") and c.body
          and c.path != "/auth/logout"]
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


def stored(engine) -> dict:  # type: ignore[no-untyped-def]
    """The database, less API clients' request counts: every request counts against its client's per-minute limit,
    a refused one too (a tool's bad requests are throttled like its reads); that count is no half-stored record."""
    tables = dump(engine)
    tables["login_throttle"] = [row for row in tables["login_throttle"] if not row[0].startswith("api-client:")]
    return tables


@pytest.mark.parametrize("call", WRITES, ids=lambda c: f"{c.method} {c.path}")
def test_malformed_bodies_get_4xx_and_change_nothing(client, session, engine, call: Call) -> None:
    ids, tokens = _setup(session, client)
    ids["webhook_token"] = _webhook_token(client, ids, tokens)
    headers = {**bearer(tokens["admin"]), **(_fill(call.headers, ids) or {})}
    path = "/api/v1" + _fill(call.path, ids)
    body = _fill(call.body, ids)
    before = stored(engine)
    for label, bad in bad_bodies(body):
        if isinstance(bad, bytes):
            r = client.request(call.method, path, content=bad, headers={**headers, "Content-Type": "application/json"})
        else:
            r = client.request(call.method, path, json=bad, headers=headers)
        assert 400 <= r.status_code < 500, (label, r.status_code, r.text[:300])
        assert set(r.json()) >= {"code", "detail"}, label
    # input: control characters in every text field, edge instants in every time, non-booleans in every flag,
    # non-ASCII digits in every numeric header: each a 422 (412 for If-Match) whatever the endpoint does next
    for label, bad, bad_headers, status in hostile_inputs(openapi(), call, body, headers):
        got, answer = send(client, call.method, path, bad_headers, json.dumps(bad).encode())
        assert got == status, (label, got, answer)
        assert set(answer) >= {"code", "detail"}, label
    assert stored(engine) == before


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


# --- input: control characters, edge instants, strict booleans, non-ASCII digits, oversized imports ---------

CONTROLS = ("\x00", "\x1b", "\x7f", "\x85")
EDGES = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z")
NOT_ASCII_DIGITS = ("²".encode("latin-1"), "¹²".encode(), "١".encode())  # latin-1's one byte, and UTF-8


@functools.cache
def openapi() -> dict[str, Any]:
    """The app's OpenAPI document, built once for the whole table (it takes a second or two)."""
    return shared_app().openapi()


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.split("?")[0].removeprefix("/api/v1"))


def _body_schema(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """The JSON body's schema of an operation, its $ref and optional-body anyOf resolved."""
    for candidate, operations in spec["paths"].items():
        if _template(candidate) == _template(path) and method.lower() in operations:
            content = operations[method.lower()].get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema", {})
            schema = next((s for s in schema.get("anyOf", [schema]) if "$ref" in s), schema)
            if "$ref" in schema:
                return spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            return schema
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


def _kinds(prop: dict[str, Any]) -> set[str]:
    return {f"{s.get('type')}:{s.get('format', '')}" for s in prop.get("anyOf", [prop])}


def _leaves(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*at, k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*at, i))]
    return [(at, value)] if isinstance(value, str) else []


def _put(body: Any, at: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(body))
    target = copy
    for step in at[:-1]:
        target = target[step]
    target[at[-1]] = value
    return copy


def hostile_inputs(spec: dict[str, Any], call: Call, body: dict[str, Any], headers: dict[str, str]
                   ) -> list[tuple[str, Any, dict[str, Any], int]]:
    """Each text field (of the body as sent, and the schema's others) with a control character, each time at an
    edge, each flag as 0 or "yes", and each numeric header in digits that are not ASCII."""
    props = _body_schema(spec, call.method, call.path).get("properties", {})
    out: list[tuple[str, Any, dict[str, Any], int]] = []
    texts = [(at, value) for at, value in _leaves(body)] + \
        [((key,), "text") for key, prop in props.items() if key not in body and "string:" in _kinds(prop)]
    for at, value in texts:
        out += [(f"{at}: U+{ord(ch):04X}", _put(body, at, f"{value[:1]}{ch}{value[1:]}"), headers, 422)
                for ch in CONTROLS]
    for key, prop in props.items():
        if "string:date-time" in _kinds(prop):
            out += [(f"{key}: {edge}", {**body, key: edge}, headers, 422) for edge in EDGES]
        if "boolean:" in _kinds(prop):
            out += [(f"{key}: {flag!r}", {**body, key: flag}, headers, 422) for flag in (0, 1, "yes")]
    for name in ("If-Match", "Upload-Length", "Upload-Offset"):
        if name in headers:
            out += [(f"{name}: {d!r}", body, {**headers, name: d}, 412 if name == "If-Match" else 422)
                    for d in NOT_ASCII_DIGITS]
    return out


def send(client: Any, method: str, path: str, headers: dict[str, Any], body: bytes) -> tuple[int, Any]:
    """The request with its header bytes as they are (TestClient would re-encode a lone 0xB2 as UTF-8)."""
    raw = [(k, v if isinstance(v, bytes) else v.encode()) for k, v in headers.items()]
    if not any(k.lower() == "content-type" for k, _ in raw):
        raw.append(("Content-Type", b"application/json"))
    status, _, answer = raw_request(client.app, method, path, raw, body)
    return status, answer


def _webhook_token(client: Any, ids: dict[str, str], tokens: dict[str, str]) -> str:
    r = client.post(f"/api/v1/projects/{ids['project']}/clients", json={"name": "hooks", "scopes": ["webhooks"]},
                    headers=bearer(tokens["coordinator"]))
    return str(r.json()["token"])


def test_every_write_endpoint_with_a_json_body_is_in_the_table() -> None:
    spec = openapi()
    writes = {(m.upper(), _template(p)) for p, ops in spec["paths"].items() for m, op in ops.items()
              if m in ("post", "put", "patch") and "application/json" in op.get("requestBody", {}).get("content", {})}
    assert writes - {(c.method, _template(c.path)) for c in WRITES} == set()


@pytest.mark.parametrize("call", [c for c in CALLS if c.method in ("POST", "PATCH") and "/uploads/" in c.path],
                         ids=lambda c: f"{c.method} {c.path}")
def test_tus_numbers_in_digits_that_are_not_ascii_get_4xx_and_change_nothing(client, session, engine, call) -> None:
    ids, tokens = _setup(session, client)
    headers = {**bearer(tokens["researcher"]), **(_fill(call.headers, ids) or {})}
    before = dump(engine)
    for label, _, bad_headers, status in hostile_inputs(openapi(), call, {}, headers):
        got, answer = send(client, call.method, "/api/v1" + _fill(call.path, ids), bad_headers, b"x")
        assert got == status and "code" in answer, (label, got, answer)
    assert dump(engine) == before


def test_hostile_sync_records_are_rejected_one_by_one_and_store_nothing(client, session, engine) -> None:
    ids, tokens = _setup(session, client)
    world_items = {"conversation": {"project_id": ids["project"], "started_at": "2026-11-20T10:00:00+00:00",
                                    "note": "a note"},
                   "consent": {"conversation_id": ids["conversation"], "participant_label": "P-1", "method": "signed",
                               "consent_form_id": ids["form"], "scopes": ["quote"], "given_at": "2026-11-20T10:00:00Z",
                               "signature": "data:image/png;base64,AAAA"},
                   "fragment": {"conversation_id": ids["conversation"], "consent_id": ids["consent"], "kind": "quote",
                                "text": "words", "captured_at": "2026-11-20T10:00:00Z", "sensitive": False,
                                "answers": {"q": "x"}}}
    items = []
    for kind, data in world_items.items():
        for at, value in _leaves(data):
            items += [{"type": kind, "id": str(uuid.uuid4()), "data": _put(data, at, f"{value[:1]}{ch}{value[1:]}")}
                      for ch in CONTROLS]
            if str(at[-1]).endswith("_at"):
                items += [{"type": kind, "id": str(uuid.uuid4()), "data": _put(data, at, edge)} for edge in EDGES]
        items += [{"type": kind, "id": str(uuid.uuid4()), "data": {**data, "sensitive": flag}} for flag in (0, "yes")
                  if kind == "fragment"]
    before = dump(engine)
    r = client.post("/api/v1/sync", json={"device_id": "d", "items": items}, headers=bearer(tokens["researcher"]))
    assert r.status_code == 200, r.text
    assert {(x["status"], x["code"]) for x in r.json()["results"]} == {("rejected", "invalid")}
    after = dump(engine)
    assert {k: v for k, v in after.items() if k != "auth_tokens"} == \
        {k: v for k, v in before.items() if k != "auth_tokens"}  # the device's last sync time moves, nothing else


def test_an_oversized_codebook_import_is_refused_before_parsing_and_changes_nothing(client, session, engine) -> None:
    from api.tags.codebook import CODEBOOK_NS, MAX_BYTES, MAX_CODES

    ids, tokens = _setup(session, client)
    url = f"/api/v1/projects/{ids['project']}/codebook.qdc"
    headers = {**bearer(tokens["coordinator"]), "Content-Type": "application/xml"}
    before = dump(engine)
    head, tail = f'<?xml version="1.0"?><CodeBook xmlns="{CODEBOOK_NS}"><Codes>', "</Codes></CodeBook>"
    many = head + "".join(f'<Code name="c{i}" isCodable="true"/>' for i in range(MAX_CODES + 1)) + tail
    huge = head + f'<Code name="c" isCodable="true"><Description>{"d" * MAX_BYTES}</Description></Code>' + tail
    for body, status, code in ((many, 422, "too_many_codes"), (huge, 413, "codebook_too_large"),
                               (head + '<Code name="a\x7fb" isCodable="true"/>' + tail, 400, "invalid_codebook")):
        r = client.post(url, content=body.encode(), headers=headers)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert dump(engine) == before


def test_a_yes_no_query_parameter_is_true_or_false_only(client, session, engine) -> None:
    from tests.factories import make_world

    world = make_world(session)
    h, base = world.headers("coordinator"), f"/api/v1/fragments?project_id={world.project.id}"
    for good in ("sensitive=true", "sensitive=false", "total=true"):
        assert client.get(f"{base}&{good}", headers=h).status_code == 200, good
    for bad in ("sensitive=yes", "sensitive=on", "sensitive=1", "total=1"):
        r = client.get(f"{base}&{bad}", headers=h)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", bad
