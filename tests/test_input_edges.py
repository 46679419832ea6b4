"""Issue 10's input items, one behaviour each: control characters, edge instants, non-ASCII digits, ids held by
others in /sync, codebook size caps, strict booleans, chunked bodies, expired clients and 405's Allow.
Each answered 500 (or the wrong 4xx) on one database or both before api/inputs.py."""

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from api.consent.models import Consent
from api.conversations.models import Conversation
from api.fragments.models import Fragment
from api.projects.models import Role
from api.tags.codebook import CODEBOOK_NS, MAX_BYTES, MAX_CODES
from api.tags.models import Tag
from tests.factories import (
    World,
    add_member,
    capture_batch,
    consent_item,
    conversation_item,
    fragment_item,
    make_token,
    make_user,
    make_world,
    now_iso,
    sync,
)
from tests.media.helpers import upload, wav_bytes
from tests.support.raw_http import raw_request

API = "/api/v1"
EDGES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1999-12-31T23:59:59+00:00",
         "2100-01-01T00:00:00+00:00"]
CONTROLS = ["\x00", "\x01", "\x1b", "\x7f", "\x85"]


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def problem(r, status: int | tuple[int, ...] = 422) -> str:  # type: ignore[no-untyped-def]
    assert r.status_code in ((status,) if isinstance(status, int) else status), r.text
    body = r.json()
    assert set(body) >= {"code", "detail"}, body
    return str(body["code"])


# --- item 4: control characters ----------------------------------------------------------------------------

def test_a_control_character_in_login_or_enrolment_is_422_not_500(client, world) -> None:
    for ch in CONTROLS:
        problem(client.post(f"{API}/auth/login", json={"email": f"a{ch}b@example.org", "password": "whatever pw"}))
        problem(client.post(f"{API}/auth/login", json={"email": "a@example.org", "password": f"pass{ch}word!!"}))
        problem(client.post(f"{API}/auth/enrol", json={"code": f"AB{ch}CD"}))


def test_tab_newline_and_carriage_return_stay_allowed_in_text(client, world) -> None:
    r = client.post(f"{API}/projects/{world.project.id}/prompts", json={"text": "Line one\r\n\tline two"},
                    headers=world.headers("coordinator"))
    assert r.status_code == 201 and r.json()["text"] == "Line one\r\n\tline two"


def test_a_control_character_in_a_query_is_422_before_it_reaches_sql(client, world) -> None:
    for path in ("/fragments?q=a%00b", "/fragments?project_id={p}&q=%1B", "/projects/{p}/audit?action=a%00",
                 "/consents?project_id={p}&participant_label=P%00", "/projects/{p}/subject-access?label=P-4%00",
                 "/projects/{p}/export/fragments.csv?q=%00", "/fragments?q=%C2%85"):
        r = client.get(API + path.format(p=world.project.id), headers=world.headers("coordinator"))
        assert problem(r) == "validation_error", path


def test_one_nul_in_a_batch_rejects_that_record_and_its_children_and_stores_the_rest(client, world, session) -> None:
    good = capture_batch(world, 2)
    bad_conv = conversation_item(world, note="a\x00b")
    orphan = consent_item(world, bad_conv["id"])
    bad_fragment = fragment_item(good[0]["id"], good[1]["id"], text="Nobody\x00knocks")
    r = sync(client, world, [*good, bad_conv, orphan, bad_fragment])
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["created"] * 4 + ["rejected"] * 3
    assert [x["code"] for x in results[4:]] == ["invalid", "parent_rejected", "invalid"]
    session.rollback()
    assert len(session.exec(select(Fragment)).all()) == 2
    assert session.get(Conversation, uuid.UUID(bad_conv["id"])) is None


# --- item 5: instants at the edges ---------------------------------------------------------------------------

def test_an_edge_instant_in_a_batch_rejects_that_record_alone(client, world, session) -> None:
    good = capture_batch(world, 1)
    bad = [item for edge in EDGES for item in (fragment_item(good[0]["id"], good[1]["id"], captured_at=edge),
                                               conversation_item(world, started_at=edge),
                                               consent_item(world, good[0]["id"], given_at=edge))]
    r = sync(client, world, [*good, *bad])
    assert r.status_code == 200, r.text
    assert [(x["status"], x["code"]) for x in r.json()["results"]] == \
        [("created", None)] * 3 + [("rejected", "invalid")] * len(bad)
    session.rollback()
    assert len(session.exec(select(Fragment)).all()) == 1


def test_an_edge_instant_in_a_filter_is_422(client, world) -> None:
    paths = ["/fragments?project_id={p}&captured_after={q}", "/fragments?captured_before={q}",
             "/consents?project_id={p}&given_before={q}", "/consents?project_id={p}&given_after={q}",
             "/projects/{p}/audit?since={q}", "/projects/{p}/audit?until={q}"]
    for edge in EDGES:
        for path in paths:
            url = API + path.format(p=world.project.id, q=edge.replace("+", "%2B"))
            problem(client.get(url, headers=world.headers("coordinator")))


def test_a_streaming_export_with_an_edge_instant_fails_before_its_first_byte(client, world) -> None:
    sync(client, world, capture_batch(world, 2))
    for kind in ("fragments.csv", "fragments.jsonl", "project.qdpx"):
        r = client.get(f"{API}/projects/{world.project.id}/export/{kind}?captured_after=0001-01-01T00:00:00%2B01:00",
                       headers=world.headers("coordinator"))
        problem(r)


def test_a_client_cannot_be_made_expired_naive_or_out_of_range(client, world) -> None:
    for expires_at in [*EDGES, "2030-01-01T00:00:00", "2020-01-01T00:00:00+00:00"]:
        r = client.post(f"{API}/projects/{world.project.id}/clients",
                        json={"name": "t", "scopes": ["export"], "expires_at": expires_at},
                        headers=world.headers("coordinator"))
        problem(r)


# --- item 10: digits that are not ASCII ----------------------------------------------------------------------

def test_non_ascii_digits_in_numbers_are_4xx(client, world) -> None:
    items = capture_batch(world, 1)
    items[1]["data"]["scopes"] = ["audio", "quote"]
    sync(client, world, items)
    upload(client, world.headers("researcher"), items[2]["id"], wav_bytes(0.1))
    auth = [(k, v.encode()) for k, v in world.headers("researcher").items()]
    for digits in ("²", "¹²", "١", "٣٤", "𝟗"):
        problem(client.get(f"{API}/projects/{world.project.id}/audit", params={"cursor": digits},
                           headers=world.headers("coordinator")))
        for header in (digits.encode(), b"\xb2", b'"\xb2"'):  # UTF-8, and latin-1's one-byte ²
            status, _, answer = raw_request(client.app, "PATCH", f"{API}/fragments/{items[2]['id']}", [
                *auth, ("If-Match", header), ("Content-Type", b"application/json")], b'{"sensitive": true}')
            assert status == 412 and answer["code"] == "invalid_if_match", answer
    tus = [*auth, ("Tus-Resumable", b"1.0.0")]
    assert raw_request(client.app, "POST", f"{API}/uploads/", [*tus, ("Upload-Length", b"\xb2")])[0] == 422
    assert raw_request(client.app, "PATCH", f"{API}/uploads/{uuid.uuid4()}", [
        *tus, ("Upload-Offset", b"\xb9"), ("Content-Type", b"application/offset+octet-stream")], b"x")[0] == 422
    whole = raw_request(client.app, "GET", f"{API}/fragments/{items[2]['id']}/audio",
                        [*auth, ("Range", b"bytes=\xb2-")])
    assert whole[0] == 200  # a Range it cannot read: the whole clip, as RFC 9110 allows


# --- item 13: an id held by someone else -------------------------------------------------------------------

def test_sync_answers_an_id_held_elsewhere_exactly_as_an_id_nobody_may_use(client, world, session) -> None:
    other = make_world(session)
    theirs = capture_batch(other, 1)
    assert [x["status"] for x in sync(client, other, theirs).json()["results"]] == ["created"] * 3
    peer = make_user(session)
    add_member(session, world.project, peer, Role.researcher)
    world.tokens["peer"] = make_token(session, peer)
    mine = capture_batch(world, 1)
    sync(client, world, mine)

    def answer(who: str, items: list[dict]) -> list[tuple]:  # type: ignore[type-arg]
        return [(x["status"], x["code"], x["detail"]) for x in sync(client, world, items, who=who).json()["results"]]

    reserved = answer("researcher", [conversation_item(world, cid=uuid.UUID(int=0))])
    assert reserved[0][:2] == ("rejected", "id_unavailable")
    other_project = answer("researcher", [conversation_item(world, cid=uuid.UUID(theirs[0]["id"])),
                                          consent_item(world, mine[0]["id"], cid=uuid.UUID(theirs[1]["id"]))])
    same_project_peer = answer("peer", [conversation_item(world, cid=uuid.UUID(mine[0]["id"]))])
    assert other_project == reserved * 2 and same_project_peer == reserved
    own = answer("researcher", [conversation_item(world, cid=uuid.UUID(mine[0]["id"]), note="changed")])
    assert own[0][:2] == ("conflict", "id_in_use")  # one's own record: a real conflict, said so
    session.rollback()
    assert session.get(Consent, uuid.UUID(theirs[1]["id"])).project_id == other.project.id


# --- item 15: codebook caps --------------------------------------------------------------------------------

def _codebook(n: int, pad: int = 0) -> bytes:
    codes = "".join(f'<Code guid="{uuid.uuid4()}" name="code {i}" isCodable="true">'
                    f"<Description>{'d' * pad}</Description></Code>" for i in range(n))
    return f'<?xml version="1.0"?><CodeBook xmlns="{CODEBOOK_NS}"><Codes>{codes}</Codes></CodeBook>'.encode()


def _chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i:i + size]


def test_a_codebook_over_its_limits_is_refused_and_nothing_is_stored(client, world, session) -> None:
    url = f"{API}/projects/{world.project.id}/codebook.qdc"
    headers = {**world.headers("coordinator"), "Content-Type": "application/xml"}
    assert problem(client.post(url, content=_codebook(MAX_CODES + 1), headers=headers)) == "too_many_codes"
    big = _codebook(200, pad=(MAX_BYTES // 200) + 10)
    assert len(big) < 1024 * 1024  # under the app's general body limit: this is the codebook's own cap
    assert problem(client.post(url, content=big, headers=headers), 413) == "codebook_too_large"
    assert problem(client.post(url, content=_chunks(big), headers=headers), 413) == "codebook_too_large"
    session.rollback()
    assert [t.name for t in session.exec(select(Tag).where(Tag.project_id == world.project.id))] == ["isolation"]
    r = client.post(url, content=_codebook(MAX_CODES), headers=headers)
    assert r.status_code == 200 and r.json()["created"] == MAX_CODES


# --- item 16: strict booleans, chunked bodies, 405 -----------------------------------------------------------

def test_booleans_in_bodies_are_true_or_false_only(client, world, session) -> None:
    admin = world.headers("admin")
    items = capture_batch(world, 0)
    for value in (0, 1, "yes", "true", "1", 0.0):
        problem(client.patch(f"{API}/places/{world.places[0].id}", json={"active": value}, headers=admin))
        problem(client.patch(f"{API}/users/{world.researcher.id}", json={"is_admin": value}, headers=admin))
        problem(client.post(f"{API}/users", json={"email": "x@example.org", "password": "long enough pw",
                                                  "is_admin": value}, headers=admin))
        items.append(fragment_item(items[0]["id"], items[1]["id"], sensitive=value))
    assert [x["status"] for x in sync(client, world, items).json()["results"]] == ["created"] * 2 + ["rejected"] * 6
    session.rollback()
    session.refresh(world.researcher)
    assert world.researcher.is_admin is False and session.get(type(world.places[0]), world.places[0].id).active


def test_a_chunked_body_over_the_limit_is_413(client, world) -> None:
    body = b'{"name": "' + b"x" * (1100 * 1024) + b'"}'
    r = client.post(f"{API}/projects", content=_chunks(body), headers={**world.headers("admin"),
                                                                        "Content-Type": "application/json"})
    assert problem(r, 413) == "body_too_large"


def test_a_405_lists_every_method_the_path_answers(client, world) -> None:
    r = client.put(f"{API}/projects/{world.project.id}", json={}, headers=world.headers("admin"))
    assert problem(r, 405) == "method_not_allowed"
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "PATCH"}
    r = client.delete(f"{API}/sync", headers=world.headers("admin"))
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_an_expiry_in_range_and_in_the_future_is_kept(client, world) -> None:
    when = now_iso(timedelta(days=30))
    r = client.post(f"{API}/projects/{world.project.id}/clients",
                    json={"name": "t", "scopes": ["export"], "expires_at": when}, headers=world.headers("coordinator"))
    assert r.status_code == 201, r.text
    assert r.json()["expires_at"][:16] == when[:16]
