"""Who may call what: every endpoint against every kind of caller, in one table.

Columns: admin, the project's coordinator, the project's researcher, a coordinator of another project.
Callers with no token, an expired token or a revoked token get 401 everywhere.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session

from api.people.models import TokenKind
from api.projects.models import Project, Role
from tests.factories import add_member, bearer, capture_batch, make_token, make_user, make_world, sync
from tests.support.snapshot import built_once


@dataclass
class Call:
    method: str
    path: str
    body: Any = None
    headers: dict[str, str] | None = None
    expect: tuple[int, int, int, int] = (200, 200, 200, 404)  # admin, coordinator, researcher, other coordinator


V1 = {"If-Match": '"1"'}
TUS = {"Tus-Resumable": "1.0.0"}
CALLS = [
    Call("GET", "/me", expect=(200, 200, 200, 200)),
    Call("GET", "/users", expect=(200, 200, 200, 200)),
    Call("POST", "/users", {"email": "new@example.org", "password": "long enough pw"}, expect=(201, 201, 403, 201)),
    Call("GET", "/users/{researcher}", expect=(200, 200, 200, 404)),
    Call("PATCH", "/users/{researcher}", {"display_name": "R"}, expect=(200, 403, 200, 404)),
    Call("POST", "/projects", {"name": "Another"}, expect=(201, 201, 403, 201)),
    Call("GET", "/projects", expect=(200, 200, 200, 200)),
    Call("GET", "/projects/{project}"),
    Call("PATCH", "/projects/{project}", {"description": "d"}, expect=(200, 200, 403, 404)),
    Call("GET", "/projects/{project}/members", expect=(200, 200, 403, 404)),
    Call("PUT", "/projects/{project}/members/{spare}", {"role": "researcher"}, expect=(200, 200, 403, 404)),
    Call("DELETE", "/projects/{project}/members/{researcher}", expect=(204, 204, 403, 404)),
    Call("POST", "/projects/{project}/members/{researcher}/training",
         {"completed_on": "2026-01-01", "expires_on": "2027-01-01"}, expect=(201, 201, 403, 404)),
    Call("GET", "/projects/{project}/members/{researcher}/training", expect=(200, 200, 403, 404)),
    Call("POST", "/projects/{project}/prompts", {"text": "What helps?"}, expect=(201, 201, 403, 404)),
    Call("GET", "/projects/{project}/prompts"),
    Call("POST", "/projects/{project}/places", {"name": "Keyham"}, expect=(201, 201, 403, 404)),
    Call("GET", "/projects/{project}/places"),
    Call("POST", "/projects/{project}/consent-forms", {"title": "v2", "body": "b", "scopes": ["quote"]},
         expect=(201, 201, 403, 404)),
    Call("GET", "/projects/{project}/consent-forms"),
    Call("PATCH", "/consent-forms/{form}", {"title": "t"}, expect=(409, 409, 403, 404)),  # in use: permission passed
    Call("POST", "/projects/{project}/enrolment-codes", {"user_id": "{researcher}"}, expect=(201, 201, 403, 404)),
    Call("GET", "/projects/{project}/capture-kit"),
    Call("GET", "/projects/{project}/devices", expect=(200, 200, 403, 404)),
    Call("DELETE", "/devices/{device}", expect=(204, 204, 204, 404)),
    Call("POST", "/sync", {"device_id": "d", "items": []}, expect=(200, 200, 200, 200)),
    Call("GET", "/conversations?project_id={project}"),
    Call("GET", "/conversations/{conversation}"),
    Call("PATCH", "/conversations/{conversation}", {"note": "n"}, V1),
    Call("GET", "/consents?project_id={project}"),
    Call("GET", "/consents/{consent}"),
    Call("PATCH", "/consents/{consent}", {"scopes": ["quote"]}, V1, expect=(200, 200, 403, 404)),
    Call("POST", "/consents/{consent}/withdraw", {}, expect=(200, 200, 403, 404)),
    # register: the consent register's filters, withdrawal preview, subject access, the project's audit log
    Call("GET", "/consents?project_id={project}&participant_label=p-4k&scope=quote&state=active&place={place0}"),
    Call("GET", "/consents/{consent}/withdrawal-preview", expect=(200, 200, 403, 404)),
    Call("GET", "/projects/{project}/subject-access?label=P-4KQ7", expect=(200, 200, 403, 404)),
    Call("GET", "/projects/{project}/audit?action=consent.*&limit=5", expect=(200, 200, 403, 404)),
    Call("GET", "/fragments?project_id={project}"),
    Call("GET", "/fragments", expect=(200, 200, 200, 200)),
    Call("GET", "/fragments/{fragment}"),
    Call("PATCH", "/fragments/{fragment}", {"sensitive": True}, V1),
    Call("POST", "/projects/{project}/tags", {"name": "hope"}, expect=(201, 201, 403, 404)),
    Call("GET", "/projects/{project}/tags"),
    Call("PATCH", "/tags/{tag}", {"description": "d"}, expect=(200, 200, 403, 404)),
    Call("PUT", "/fragments/{fragment}/tags/{tag}", expect=(204, 204, 403, 404)),
    Call("DELETE", "/fragments/{fragment}/tags/{tagged}", expect=(204, 204, 403, 404)),
    # tags: merge, bulk tagging, REFI-QDA codebook (an empty body is refused as a codebook once permission passed)
    Call("POST", "/tags/{tag}/merge", {"into": "{tagged}"}, expect=(200, 200, 403, 404)),
    Call("POST", "/tags/{tag}/fragments", {"add": ["{fragment}"], "remove": []}, expect=(200, 200, 403, 404)),
    Call("GET", "/projects/{project}/codebook.qdc"),
    Call("POST", "/projects/{project}/codebook.qdc?dry_run=true", headers={"Content-Type": "application/xml"},
         expect=(400, 400, 403, 404)),
    Call("POST", "/projects/{project}/clients", {"name": "tool", "scopes": ["fragments:read"]},
         expect=(201, 201, 403, 404)),
    Call("GET", "/projects/{project}/clients", expect=(200, 200, 403, 404)),
    Call("POST", "/clients/{client}/rotate", expect=(200, 200, 403, 404)),
    Call("DELETE", "/clients/{client}", expect=(204, 204, 403, 404)),
    Call("GET", "/changes", expect=(200, 200, 200, 200)),
    Call("GET", "/changes?project_id={project}"),
    Call("GET", "/projects/{project}/webhooks", expect=(200, 200, 403, 404)),
    Call("GET", "/projects/{project}/webhook-deliveries?state=dead", expect=(200, 200, 403, 404)),
    Call("POST", "/uploads/", headers={**TUS, "Upload-Length": "{clip_length}", "Upload-Metadata": "{clip_metadata}"},
         expect=(403, 403, 200, 404)),  # only the fragment's researcher uploads; 200: this clip is already there
    Call("PATCH", "/uploads/{upload}", headers={**TUS, "Upload-Offset": "{clip_length}",
                                               "Content-Type": "application/offset+octet-stream"},
         expect=(404, 404, 204, 404)),
    Call("HEAD", "/uploads/{upload}", headers=TUS, expect=(404, 404, 200, 404)),
    Call("GET", "/fragments/{fragment}/audio"),
    # review: the coordinator's review queue and saved searches
    Call("GET", "/projects/{project}/review-queue", expect=(200, 200, 403, 404)),
    Call("GET", "/projects/{project}/saved-searches", expect=(200, 200, 403, 404)),
    Call("POST", "/projects/{project}/saved-searches", {"name": "buses", "query": {"q": "bus"}},
         expect=(201, 201, 403, 404)),
    Call("DELETE", "/saved-searches/{saved_search}", expect=(204, 204, 403, 404)),
    # overview: prompt and place edits, the coordinator's overview
    Call("PATCH", "/prompts/{prompt}", {"text": "What helps now?", "position": 2}, expect=(200, 200, 403, 404)),
    Call("PATCH", "/places/{place}", {"name": "Keyham North", "active": False}, expect=(200, 200, 403, 404)),
    Call("GET", "/projects/{project}/overview?weeks=4", expect=(200, 200, 403, 404)),
    # coord: tag lifecycle (counts, co-occurrence, deletion)
    Call("GET", "/projects/{project}/tag-counts", expect=(200, 200, 403, 404)),
    Call("GET", "/projects/{project}/tag-cooccurrence?top=5", expect=(200, 200, 403, 404)),
    Call("GET", "/tags/{tag}/deletion-preview", expect=(200, 200, 403, 404)),
    Call("DELETE", "/tags/{tag}", expect=(200, 200, 403, 404)),
    # coord: the review queue's order and filters, a card's context
    Call("GET", "/projects/{project}/review-queue?order=newest&place={place0}&sensitive=false",
         expect=(200, 200, 403, 404)),
    Call("GET", "/projects/{project}/fragment-context?ids={fragment}", expect=(200, 200, 403, 404)),
    # coord: a consent's signature (none in the setup: 404 once permission passed)
    Call("GET", "/consents/{consent}/signature", expect=(404, 404, 403, 404)),
    # coord: memos
    Call("POST", "/projects/{project}/memos", {"text": "m", "fragment_ids": ["{fragment}"]},
         expect=(201, 201, 403, 404)),
    Call("GET", "/projects/{project}/memos?q=m", expect=(200, 200, 403, 404)),
    Call("GET", "/memos/{memo}", expect=(200, 200, 403, 404)),
    Call("PATCH", "/memos/{memo}", {"text": "n"}, expect=(200, 200, 403, 404)),
    Call("DELETE", "/memos/{memo}", expect=(204, 204, 403, 404)),
    # phone (issue 14): each caller learns about and confirms only their own records; receipt cards
    Call("GET", "/sync/erased", expect=(200, 200, 200, 200)),
    Call("POST", "/sync/erased", {"device_id": "d", "consent_ids": ["{consent}"]}, expect=(204, 204, 204, 204)),
    Call("GET", "/projects/{project}/receipt-cards?count=1", expect=(200, 200, 403, 404)),
    Call("POST", "/auth/logout", expect=(204, 204, 204, 204)),
    # workshops: {workshop} is ready (cards numbered) with a participant joined; {draft} still takes fragments
    Call("POST", "/projects/{project}/workshops", {"title": "W", "starts_at": "2026-12-01T18:00:00Z"},
         expect=(201, 201, 403, 404)),
    Call("GET", "/projects/{project}/workshops", expect=(200, 200, 403, 404)),
    Call("GET", "/workshops/{workshop}", expect=(200, 200, 403, 404)),
    Call("PATCH", "/workshops/{workshop}", {"venue": "The hall"}, expect=(200, 200, 403, 404)),
    Call("POST", "/workshops/{workshop}/state", {"state": "running"}, expect=(200, 200, 403, 404)),
    Call("GET", "/workshops/{workshop}/pack", expect=(200, 200, 403, 404)),
    Call("POST", "/workshops/{draft}/pack", {"fragment_ids": ["{fragment}"]}, expect=(200, 200, 403, 404)),
    Call("POST", "/workshops/{draft}/pack/remove", {"fragment_ids": ["{fragment}"]}, expect=(200, 200, 403, 404)),
    Call("PUT", "/workshops/{draft}/pack/{fragment}/sensitive", {"include": True}, expect=(204, 204, 403, 404)),
    Call("POST", "/workshops/{workshop}/withdrawn/1/confirm", expect=(404, 404, 403, 404)),  # none withdrawn
    Call("POST", "/workshops/{workshop}/paper", {"text": "Belonging: 1"}, expect=(200, 200, 403, 404)),
    Call("GET", "/workshops/{workshop}/report", expect=(200, 200, 403, 404)),
    Call("GET", "/workshops/{workshop}/cards.pdf", expect=(200, 200, 403, 404)),
    Call("GET", "/workshops/{workshop}/report.pdf", expect=(200, 200, 403, 404)),
    Call("GET", "/workshops/{workshop}/board", expect=(200, 200, 403, 404)),
    Call("GET", "/workshops/{workshop}/join", expect=(200, 200, 403, 404)),
    Call("POST", "/workshops/{workshop}/board/ops", {"ops": []}, expect=(200, 200, 403, 404)),
    Call("GET", "/workshops/{workshop}/board/events?wait=0", expect=(200, 200, 403, 404)),
    Call("DELETE", "/workshops/{workshop}/guests/{guest}", expect=(204, 204, 403, 404)),
]
# A participant's join token opens its own board and nothing else: every path of CALLS answers it 404.
GUEST_CALLS = [Call("GET", "/board"), Call("POST", "/board/ops", {"ops": []}), Call("GET", "/board/events?wait=0")]
ROLES = ("admin", "coordinator", "researcher", "other")


@built_once
def _setup(session: Session, client: Any) -> tuple[dict[str, str], dict[str, str]]:
    world = make_world(session)
    other = make_world(session)
    spare = make_user(session, created_by=world.coordinator.id)  # one the coordinator made, so may add
    items = capture_batch(world, 1)
    items[1]["data"]["scopes"] = ["audio", "quote", "share"]
    sync(client, world, items)
    from tests.media.helpers import metadata, upload, wav_bytes

    clip = wav_bytes(0.1)
    uploaded = upload(client, world.headers("researcher"), items[2]["id"], clip)
    from api.tags.models import Tag

    tagged = Tag(project_id=world.project.id, name="tagged")
    session.add(tagged)
    session.commit()
    client.put(f"/api/v1/fragments/{items[2]['id']}/tags/{tagged.id}", headers=world.headers("coordinator"))
    make_token(session, world.researcher, kind=TokenKind.device, project_id=world.project.id)
    from sqlmodel import select

    from api.people.models import AuthToken

    device = session.exec(select(AuthToken).where(AuthToken.kind == TokenKind.device)).one()
    tool = client.post(f"/api/v1/projects/{world.project.id}/clients", json={"name": "t", "scopes": ["export"]},
                       headers=world.headers("coordinator")).json()
    ids = {"client": tool["id"], "project": world.project.id, "researcher": world.researcher.id, "spare": spare.id, "form": world.form.id,
           "device": device.id, "conversation": items[0]["id"], "consent": items[1]["id"],
           "fragment": items[2]["id"], "tag": world.tag.id, "tagged": tagged.id,
           "upload": uploaded.url.path.rsplit("/", 1)[1], "clip_length": len(clip),
           "clip_metadata": metadata(items[2]["id"], clip)}
    ids["place0"] = world.places[0].id  # register: the place the setup's conversation was held in
    ids["saved_search"] = client.post(f"/api/v1/projects/{world.project.id}/saved-searches",  # review
                                      json={"name": "saved", "query": {"kind": "quote"}},
                                      headers=world.headers("coordinator")).json()["id"]
    ids.update(prompt=world.prompts[0].id, place=world.places[0].id)  # overview
    ids["memo"] = client.post(f"/api/v1/projects/{world.project.id}/memos", json={"text": "a memo"},  # coord
                              headers=world.headers("coordinator")).json()["id"]
    ids.update(_workshops(client, world, items[2]["id"]))  # workshops
    session.rollback()  # end the test's read, so its next write starts from what the app committed
    tokens = {"admin": world.tokens["admin"], "coordinator": world.tokens["coordinator"],
              "researcher": world.tokens["researcher"], "other": other.tokens["coordinator"]}
    return {k: str(v) for k, v in ids.items()}, tokens


def _workshops(client: Any, world: Any, fragment_id: str) -> dict[str, str]:
    made = []
    for _ in range(2):
        made.append(client.post(f"/api/v1/projects/{world.project.id}/workshops",
                                json={"title": "W", "starts_at": "2026-12-01T18:00:00Z", "audience": "mixed"},
                                headers=world.headers("coordinator")).json())
        client.post(f"/api/v1/workshops/{made[-1]['id']}/pack", json={"fragment_ids": [fragment_id]},
                    headers=world.headers("coordinator"))
    client.post(f"/api/v1/workshops/{made[0]['id']}/state", json={"state": "ready"},
                headers=world.headers("coordinator"))
    joined = client.post("/api/v1/join", json={"code": made[0]["short_code"]}).json()
    board = client.get(f"/api/v1/workshops/{made[0]['id']}/board", headers=world.headers("coordinator")).json()
    return {"workshop": made[0]["id"], "draft": made[1]["id"], "join_token": joined["token"],
            "guest": board["guests"][0]["id"]}


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.path}")
def test_permission_table(client, session, call: Call, role: str) -> None:
    ids, tokens = _setup(session, client)
    r = client.request(call.method, "/api/v1" + _fill(call.path, ids), json=_fill(call.body, ids),
                       headers={**bearer(tokens[role]), **(_fill(call.headers, ids) or {})})
    assert r.status_code == call.expect[ROLES.index(role)], r.text
    if r.status_code >= 400 and call.method != "HEAD":  # a HEAD answer never has a body
        assert set(r.json()) >= {"code", "detail"}


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.path}")
def test_no_token_an_expired_token_and_a_revoked_token_get_401(client, session, call: Call) -> None:
    ids, _ = _setup(session, client)
    user = make_user(session)
    add_member(session, session.get(Project, uuid.UUID(ids["project"])), user, Role.coordinator)
    expired = make_token(session, user, expires_in=timedelta(seconds=-1))
    revoked = make_token(session, user, revoked=True)
    for headers in ({}, bearer(expired), bearer(revoked), bearer("made-up-token")):
        r = client.request(call.method, "/api/v1" + _fill(call.path, ids), json=_fill(call.body, ids),
                           headers={**headers, **(_fill(call.headers, ids) or {})})
        assert r.status_code == 401, (headers, r.text)
        assert call.method == "HEAD" or r.json()["code"] in {"unauthorized", "token_expired", "token_revoked",
                                                             "invalid_token"}


# Device tokens (issue 10): a phone's token acts only as its researcher, in the projects where its user is a
# researcher — never as admin, never as coordinator, and it manages nothing. Columns: the device token of an
# admin who is also a researcher of the project; the device token of the project's researcher who coordinates
# another project ({elsewhere}).
DEVICE_CALLERS = ("device_of_admin", "device_of_coordinator_elsewhere")
DEVICE_CALLS: list[tuple[str, str, Any, tuple[int, int]]] = [
    ("GET", "/me", None, (200, 200)),
    ("GET", "/users", None, (200, 200)),
    ("POST", "/users", {"email": "boss@example.org", "password": "long enough pw", "is_admin": True}, (403, 403)),
    ("POST", "/users", {"email": "new@example.org", "password": "long enough pw"}, (403, 403)),
    ("PATCH", "/users/{researcher}", {"display_name": "R"}, (404, 403)),
    ("PATCH", "/users/{researcher}", {"password": "a new password", "current_password": "x" * 10}, (404, 403)),
    ("POST", "/projects", {"name": "Another"}, (403, 403)),
    ("GET", "/projects/{project}", None, (200, 200)),
    ("PATCH", "/projects/{project}", {"description": "d"}, (403, 403)),
    ("GET", "/projects/{project}/members", None, (403, 403)),
    ("PUT", "/projects/{project}/members/{spare}", {"role": "researcher"}, (403, 403)),
    ("POST", "/projects/{project}/enrolment-codes", {"user_id": "{researcher}"}, (403, 403)),
    ("GET", "/projects/{project}/devices", None, (403, 403)),
    ("POST", "/projects/{project}/clients", {"name": "tool", "scopes": ["fragments:read"]}, (403, 403)),
    ("GET", "/projects/{project}/audit", None, (403, 403)),
    ("POST", "/consents/{consent}/withdraw", {}, (404, 403)),  # a peer's consent is not even seen
    ("GET", "/projects/{elsewhere}", None, (404, 404)),
    ("GET", "/projects/{elsewhere}/members", None, (404, 404)),
    ("PUT", "/projects/{elsewhere}/members/{spare}", {"role": "researcher"}, (404, 404)),
    ("GET", "/fragments?project_id={elsewhere}", None, (404, 404)),
    ("GET", "/changes?project_id={elsewhere}", None, (404, 404)),
    ("POST", "/sync", {"device_id": "d", "items": []}, (200, 200)),
]


@built_once
def _device_setup(session: Session, client: Any) -> tuple[dict[str, str], dict[str, str]]:
    ids, _ = _setup(session, client)
    project = session.get(Project, uuid.UUID(ids["project"]))
    elsewhere = make_world(session)
    researcher = elsewhere.researcher.__class__  # the User model, without another import
    me = session.get(researcher, uuid.UUID(ids["researcher"]))
    add_member(session, elsewhere.project, me, Role.coordinator)
    boss = make_user(session, is_admin=True)
    add_member(session, project, boss, Role.researcher)
    add_member(session, elsewhere.project, boss, Role.coordinator)
    ids["elsewhere"] = str(elsewhere.project.id)
    tokens = {"device_of_admin": make_token(session, boss, kind=TokenKind.device, project_id=project.id),
              "device_of_coordinator_elsewhere": make_token(session, me, kind=TokenKind.device, project_id=project.id)}
    session.rollback()
    return ids, tokens


@pytest.mark.parametrize("caller", DEVICE_CALLERS)
@pytest.mark.parametrize("call", DEVICE_CALLS, ids=lambda c: f"{c[0]} {c[1]} {sorted(c[2] or {})}")
def test_device_token_table(client, session, call: tuple[str, str, Any, tuple[int, int]], caller: str) -> None:
    ids, tokens = _device_setup(session, client)
    method, path, body, expect = call
    r = client.request(method, "/api/v1" + _fill(path, ids), json=_fill(body, ids), headers=bearer(tokens[caller]))
    assert r.status_code == expect[DEVICE_CALLERS.index(caller)], r.text
    if r.status_code >= 400:
        assert set(r.json()) >= {"code", "detail"}


# A coordinator acting on a user outside their projects (issue 10 item 2): a real id of someone they have never
# seen (another project's researcher, an admin in no project) answers exactly like a made-up id, and reveals
# nothing (no email); nothing is changed.
OUTSIDER_CALLS: list[tuple[str, str, Any]] = [
    ("GET", "/users/{target}", None),
    ("PATCH", "/users/{target}", {"password": "taken over now"}),
    ("PATCH", "/users/{target}", {"display_name": "x"}),
    ("PUT", "/projects/{project}/members/{target}", {"role": "researcher"}),
    ("PUT", "/projects/{project}/members/{target}", {"role": "coordinator"}),
    ("DELETE", "/projects/{project}/members/{target}", None),
    ("POST", "/projects/{project}/enrolment-codes", {"user_id": "{target}"}),
    ("POST", "/projects/{project}/members/{target}/training", {"completed_on": "2026-01-01",
                                                                "expires_on": "2027-01-01"}),
]


@pytest.mark.parametrize("target", ["another_projects_researcher", "admin"])
@pytest.mark.parametrize("call", OUTSIDER_CALLS, ids=lambda c: f"{c[0]} {c[1]} {sorted(c[2] or {})}")
def test_a_coordinator_acting_on_a_user_outside_their_projects_learns_nothing(
        client, session, call: tuple[str, str, Any], target: str) -> None:
    world = make_world(session)
    outsider = make_world(session).researcher if target == "another_projects_researcher" else world.admin
    session.rollback()
    method, path, body = call
    answers = []
    for target_id in (outsider.id, uuid.uuid4()):
        ids = {"project": str(world.project.id), "target": str(target_id)}
        answers.append(client.request(method, "/api/v1" + _fill(path, ids), json=_fill(body, ids),
                                      headers=world.headers("coordinator")))
    real, made_up = answers
    assert real.status_code == made_up.status_code == 404, real.text
    assert real.json() == made_up.json() and outsider.email not in real.text
    session.rollback()
    after = session.get(type(outsider), outsider.id)
    assert after.password_hash == outsider.password_hash and after.display_name == outsider.display_name


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.path}")
def test_a_join_token_gets_404_everywhere_but_its_board(client, session, call: Call) -> None:
    ids, _ = _setup(session, client)
    r = client.request(call.method, "/api/v1" + _fill(call.path, ids), json=_fill(call.body, ids),
                       headers={**bearer(ids["join_token"]), **(_fill(call.headers, ids) or {})})
    assert r.status_code == 404, r.text


@pytest.mark.parametrize("call", GUEST_CALLS, ids=lambda c: f"{c.method} {c.path}")
def test_the_board_paths_take_a_join_token_and_nothing_else(client, session, call: Call) -> None:
    ids, tokens = _setup(session, client)
    r = client.request(call.method, "/api/v1" + call.path, json=call.body, headers=bearer(ids["join_token"]))
    assert r.status_code == 200, r.text
    for headers in [bearer(t) for t in tokens.values()] + [{}, bearer("hkj_made-up")]:
        r = client.request(call.method, "/api/v1" + call.path, json=call.body, headers=headers)
        assert r.status_code == 401 and set(r.json()) >= {"code", "detail"}, r.text
