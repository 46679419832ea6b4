"""The phone drops a record from its outbox on the server's `created` receipt, so a receipt must mean the
record is committed: a server killed right after answering must still hold everything it acknowledged."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.support.live_server import ok


def batch(world, n: int) -> list[dict]:
    now = dt.datetime.now(dt.UTC).isoformat()
    conv, consent = str(uuid.uuid4()), str(uuid.uuid4())
    items = [
        {"type": "conversation", "id": conv, "data": {"project_id": world.project_id, "prompt_ids": [],
                                                      "started_at": now}},
        {"type": "consent", "id": consent, "data": {
            "conversation_id": conv, "participant_label": "P-DURA", "consent_form_id": world.consent_form_id,
            "scopes": ["share"], "method": "verbal", "given_at": now}},
    ]
    items += [{"type": "fragment", "id": str(uuid.uuid4()), "data": {
        "conversation_id": conv, "consent_id": consent, "kind": "observation", "text": f"durable {i}",
        "language": "en", "captured_at": now, "sensitive": False}} for i in range(n)]
    return items


@pytest.mark.slow
def test_a_server_killed_right_after_answering_keeps_what_it_acknowledged(private_world, private_server):
    world, server = private_world, private_server
    acknowledged = 0
    for _ in range(3):
        client = world.researcher()
        items = batch(world, 400)
        response = client.post("/sync", json={"device_id": "durability", "items": items})
        server.kill()  # the moment the answer is in
        client.close()
        answer = ok(response)
        acknowledged += sum(1 for r in answer["results"] if r["type"] == "fragment" and r["status"] == "created")
        server.start()
    assert len(world.fragments_on_server()) == acknowledged == 1200
