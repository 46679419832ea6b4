"""A fragment flagged sensitive stays with the project's own team, as on workshop boards (where a mixed or public
room gets it only when a coordinator includes it by hand): a partner's or the public's tool neither reads nor
exports it, and one flagged after such a tool could see it reaches that tool as a tombstone (feed) or
`fragment.withdrawn` (webhooks): delete your copy. The team's own tools see it as before."""

import csv
import io
import json
from typing import Any

from tests.factories import bearer, consent_item, conversation_item, fragment_item, sync
from tests.webhooks.test_webhooks import deliveries, make_api_client, register


def _shared(client: Any, world: Any, text: str, sensitive: bool = False) -> dict[str, Any]:
    conv = conversation_item(world)
    consent = consent_item(world, conv["id"], scopes=["quote", "share", "publish"])
    fragment = fragment_item(conv["id"], consent["id"], kind="paraphrase", text=text, sensitive=sensitive)
    assert [r["status"] for r in sync(client, world, [conv, consent, fragment]).json()["results"]] == ["created"] * 3
    return fragment


def _flag(client: Any, world: Any, fragment_id: str) -> None:
    r = client.patch(f"/api/v1/fragments/{fragment_id}", json={"sensitive": True},
                     headers={**world.headers("coordinator"), "If-Match": '"1"'})
    assert r.status_code == 200, r.text


def test_partner_and_public_tools_neither_read_nor_export_a_sensitive_fragment(client, world) -> None:
    h = world.headers("coordinator")
    _shared(client, world, "The bus is late")
    secret = _shared(client, world, "SAFEGUARDING: her partner hits her", sensitive=True)
    base = f"/api/v1/projects/{world.project.id}"
    for audience in ("partner", "public"):
        token = client.post(f"{base}/clients", headers=h, json={
            "name": audience, "scopes": ["export", "fragments:read"], "audience": audience}).json()["token"]
        assert client.get(f"/api/v1/fragments/{secret['id']}", headers=bearer(token)).status_code == 404
        listed = client.get("/api/v1/fragments", params={"project_id": str(world.project.id)},
                            headers=bearer(token)).json()
        assert [f["text"] for f in listed["items"]] == ["The bus is late"]
        assert "SAFEGUARDING" not in client.get(f"{base}/export/fragments.csv", headers=bearer(token)).text
        # A coordinator's export for that audience leaves it out too; the team's own keeps it.
        assert "SAFEGUARDING" not in client.get(f"{base}/export/fragments.jsonl", params={"audience": audience},
                                                headers=h).text
    team = client.get(f"{base}/export/fragments.csv", headers=h).text.lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(team)))
    assert {r["text"] for r in rows} == {"The bus is late", "SAFEGUARDING: her partner hits her"}


def test_a_fragment_flagged_after_a_partner_saw_it_reaches_the_partner_as_a_deletion(client, world, session) -> None:
    partner = make_api_client(client, world, scopes=["webhooks", "changes:read", "fragments:read"],
                              audience="partner")
    register(client, partner, "http://127.0.0.1:9/unused", ["fragment.created", "fragment.updated",
                                                            "fragment.withdrawn"])
    deletions_only = make_api_client(client, world, audience="public")
    register(client, deletions_only, "http://127.0.0.1:9/unused", ["fragment.withdrawn"])
    fragment = _shared(client, world, "My neighbour drinks")
    page = client.get("/api/v1/changes", params={"after": 0}, headers=bearer(partner)).json()
    assert [(i["id"], i["op"]) for i in page["items"] if i["entity"] == "fragment"] == [(fragment["id"], "upsert")]
    _flag(client, world, fragment["id"])
    later = client.get("/api/v1/changes", params={"after": page["last_seq"]}, headers=bearer(partner)).json()
    assert [(i["id"], i["op"], i["record"]) for i in later["items"]] == [(fragment["id"], "tombstone", None)]
    # The public tool follows deletions only: it hears of this one too.
    assert sorted((d.event, str(d.entity_id)) for d in deliveries(session)) == [
        ("fragment.created", fragment["id"]), ("fragment.withdrawn", fragment["id"]),
        ("fragment.withdrawn", fragment["id"])]
    # The team's own tool still follows it as an upsert.
    team = make_api_client(client, world, scopes=["changes:read"])
    mine = client.get("/api/v1/changes", params={"after": 0}, headers=bearer(team)).json()["items"]
    assert [json.dumps(i["record"]) for i in mine if i["entity"] == "fragment"][-1].count('"sensitive": true') == 1


def test_a_withdrawal_does_not_show_a_partner_the_tombstone_of_a_sensitive_fragment(client, world) -> None:
    """Its words go, but its tombstone still says when, where and in which conversation: a tool never allowed to
    see the fragment does not get that either (the erasure once cleared the flag)."""
    h = world.headers("coordinator")
    secret = _shared(client, world, "SAFEGUARDING: her partner hits her", sensitive=True)
    token = client.post(f"/api/v1/projects/{world.project.id}/clients", headers=h, json={
        "name": "partner", "scopes": ["fragments:read"], "audience": "partner"}).json()["token"]
    r = client.post(f"/api/v1/consents/{secret['data']['consent_id']}/withdraw", json={"reason": "safeguarding"},
                    headers=h)
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/fragments/{secret['id']}", headers=bearer(token)).status_code == 404
    listed = client.get("/api/v1/fragments", params={"project_id": str(world.project.id), "status": "withdrawn"},
                        headers=bearer(token)).json()
    assert listed["items"] == []
    assert client.get(f"/api/v1/fragments/{secret['id']}", headers=h).json()["status"] == "withdrawn"
