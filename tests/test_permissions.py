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
    # phone (issue 14): each caller learns about and confirms only their own records; receipt cards
    Call("GET", "/sync/erased", expect=(200, 200, 200, 200)),
    Call("POST", "/sync/erased", {"device_id": "d", "consent_ids": ["{consent}"]}, expect=(204, 204, 204, 204)),
    Call("GET", "/projects/{project}/receipt-cards?count=1", expect=(200, 200, 403, 404)),
    Call("POST", "/auth/logout", expect=(204, 204, 204, 204)),
]
ROLES = ("admin", "coordinator", "researcher", "other")


def _setup(session: Session, client: Any) -> tuple[dict[str, str], dict[str, str]]:
    world = make_world(session)
    other = make_world(session)
    spare = make_user(session)
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
    session.rollback()  # end the test's read, so its next write starts from what the app committed
    tokens = {"admin": world.tokens["admin"], "coordinator": world.tokens["coordinator"],
              "researcher": world.tokens["researcher"], "other": other.tokens["coordinator"]}
    return {k: str(v) for k, v in ids.items()}, tokens


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
