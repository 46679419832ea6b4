"""Fragments under chosen consents, and a workshop made through the API."""

from typing import Any

from tests.factories import World, consent_item, conversation_item, fragment_item, sync


def capture(client: Any, world: World, *, scopes: list[str], kind: str = "paraphrase", text: str = "words",
            sensitive: bool = False, label: str = "P-4KQ7", language: str = "en") -> tuple[str, str]:
    """One conversation, one consent with these scopes, one fragment. Answers (fragment id, consent id)."""
    conv = conversation_item(world, prompt_ids=[str(world.prompts[0].id)])
    consent = consent_item(world, conv["id"], scopes=scopes, participant_label=label)
    frag = fragment_item(conv["id"], consent["id"], kind=kind, text=text, sensitive=sensitive, language=language,
                         prompt_id=str(world.prompts[0].id), answers={"mood": "hard"})
    r = sync(client, world, [conv, consent, frag])
    assert all(x["status"] == "created" for x in r.json()["results"]), r.text
    return frag["id"], consent["id"]


def make_workshop(client: Any, world: World, audience: str = "project", title: str = "Belonging") -> dict[str, Any]:
    r = client.post(f"/api/v1/projects/{world.project.id}/workshops",
                    json={"title": title, "starts_at": "2026-12-03T18:30:00+00:00", "venue": "Stonehouse hall",
                          "question": "What makes people feel they belong?", "audience": audience},
                    headers=world.headers("coordinator"))
    assert r.status_code == 201, r.text
    return r.json()


def add(client: Any, world: World, workshop_id: str, ids: list[str], **more: Any) -> Any:
    return client.post(f"/api/v1/workshops/{workshop_id}/pack", json={"fragment_ids": ids, **more},
                       headers=world.headers("coordinator"))


def set_state(client: Any, world: World, workshop_id: str, state: str) -> Any:
    return client.post(f"/api/v1/workshops/{workshop_id}/state", json={"state": state},
                       headers=world.headers("coordinator"))


def pack(client: Any, world: World, workshop_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/workshops/{workshop_id}/pack", headers=world.headers("coordinator"))
    assert r.status_code == 200, r.text
    return r.json()
