"""A participant's subject access request: one JSON file with everything held under their label."""

import json
from datetime import date
from typing import Any

import pytest
from sqlmodel import Session, select

from api.audit.models import AuditEntry
from tests.factories import World, consent_item, conversation_item, fragment_item, make_world, sync
from tests.media.helpers import upload, wav_bytes

SIGNATURE = "data:image/png;base64,iVBORw0KGgo="


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def subject_access(client: Any, world: World, label: str, who: str = "coordinator", project: Any = None) -> Any:
    return client.get(f"/api/v1/projects/{project or world.project.id}/subject-access", params={"label": label},
                      headers=world.headers(who))


def two_conversations(client: Any, world: World) -> dict[str, Any]:
    """P3 in two conversations (once withdrawn), and P9 beside them in the first."""
    first = conversation_item(world, place_id=str(world.places[1].id))
    second = conversation_item(world)
    p3_first = consent_item(world, first["id"], participant_label="P3", scopes=["audio", "quote"], method="signed",
                            signature=SIGNATURE)
    p3_second = consent_item(world, second["id"], participant_label="P3", scopes=["quote"], method="signed",
                             signature=SIGNATURE)  # erased by the withdrawal below
    p9 = consent_item(world, first["id"], participant_label="P9", scopes=["quote"])
    kept = fragment_item(first["id"], p3_first["id"], text="the bus stopped coming", prompt_id=str(world.prompts[1].id),
                         answers={"mood": "hard"})
    gone = fragment_item(second["id"], p3_second["id"], text="what I said in the second one")
    other = fragment_item(first["id"], p9["id"], text="P9 talking about the allotment")
    r = sync(client, world, [first, second, p3_first, p3_second, p9, kept, gone, other])
    assert all(x["status"] == "created" for x in r.json()["results"]), r.text
    assert upload(client, world.headers("researcher"), kept["id"], wav_bytes(0.05)).status_code == 204
    assert client.put(f"/api/v1/fragments/{kept['id']}/tags/{world.tag.id}",
                      headers=world.headers("coordinator")).status_code == 204
    r = client.post(f"/api/v1/consents/{p3_second['id']}/withdraw", json={}, headers=world.headers("coordinator"))
    assert r.status_code == 200
    return {"first": first, "second": second, "p3_first": p3_first, "p3_second": p3_second, "p9": p9,
            "kept": kept, "gone": gone, "other": other}


def test_the_file_holds_the_participants_data_from_every_conversation(client, world) -> None:
    made = two_conversations(client, world)
    r = subject_access(client, world, "P3")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Disposition"] == f'attachment; filename="hearken-P3-{date.today().isoformat()}.json"'
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert body["label"] == "P3" and body["project"]["name"] == world.project.name
    assert {p["conversation_id"] for p in body["participants"]} == {made["first"]["id"], made["second"]["id"]}
    assert {p["place"] for p in body["participants"]} == {"Devonport", "Stonehouse"}
    consents = {c["id"]: c for c in body["consents"]}
    assert set(consents) == {made["p3_first"]["id"], made["p3_second"]["id"]}
    first = consents[made["p3_first"]["id"]]
    assert first["form"] == {"title": "Consent", "body": "You can stop at any time.", "version": 1}
    assert (first["scopes"], first["method"], first["withdrawn_at"]) == (["audio", "quote"], "signed", None)
    assert first["signature"] == SIGNATURE  # their own signature is their data too
    withdrawn = consents[made["p3_second"]["id"]]
    assert withdrawn["withdrawn_at"] is not None
    assert (withdrawn["has_signature"], withdrawn["signature"]) == (False, None)

    fragments = {f["id"]: f for f in body["fragments"]}
    assert set(fragments) == {made["kept"]["id"], made["gone"]["id"]}
    kept = fragments[made["kept"]["id"]]
    assert (kept["text"], kept["kind"], kept["language"], kept["status"]) == ("the bus stopped coming", "quote",
                                                                              "en", "active")
    assert (kept["place"], kept["prompt"], kept["answers"]) == ("Devonport", "Who do you turn to?", {"mood": "hard"})
    assert (kept["tags"], kept["audio_held"], kept["erased_at"]) == (["isolation"], True, None)
    assert kept["captured_at"]


def test_erased_fragments_are_listed_as_erased_with_the_date_and_no_content(client, world) -> None:
    made = two_conversations(client, world)
    r = subject_access(client, world, "P3")
    gone = next(f for f in r.json()["fragments"] if f["id"] == made["gone"]["id"])
    assert gone["status"] == "withdrawn" and gone["erased_at"]
    assert (gone["text"], gone["kind"], gone["language"], gone["answers"], gone["tags"], gone["audio_held"]) == \
        (None, None, None, None, [], False)
    assert "what I said in the second one" not in r.text


def test_another_participants_data_is_not_in_the_file(client, world) -> None:
    made = two_conversations(client, world)
    r = subject_access(client, world, "P3")
    assert "allotment" not in r.text
    for key in ("p9", "other"):
        assert made[key]["id"] not in r.text
    assert "P9" not in r.text
    # The label matches exactly: a near label is another person.
    assert subject_access(client, world, "p3").status_code == 404
    assert subject_access(client, world, "P").status_code == 404


def test_the_request_is_audited_with_counts_only(client, world, session) -> None:
    two_conversations(client, world)
    subject_access(client, world, "P3")
    session.rollback()
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "subject_access.export")).one()
    assert (entry.actor_id, entry.project_id, entry.entity) == (world.coordinator.id, world.project.id, "project")
    assert entry.detail == {"participants": 2, "consents": 2, "fragments": 1, "erased_fragments": 1}
    assert "bus" not in json.dumps(entry.detail)


def test_an_unknown_label_is_404_and_not_audited(client, world, session) -> None:
    two_conversations(client, world)
    r = subject_access(client, world, "P-NOBODY")
    assert r.status_code == 404 and r.json()["code"] == "participant_not_found"
    session.rollback()
    assert session.exec(select(AuditEntry).where(AuditEntry.action == "subject_access.export")).first() is None


@pytest.mark.parametrize("label", ["P\x00", "P 3", "", "x" * 41, '"; filename=evil'])
def test_a_label_no_phone_could_send_is_422(client, world, label) -> None:
    r = subject_access(client, world, label)
    assert r.status_code == 422 and r.json()["code"] == "validation_error", r.text


def test_researchers_get_403_and_another_projects_coordinator_404(client, world, session) -> None:
    two_conversations(client, world)
    assert subject_access(client, world, "P3", who="researcher").status_code == 403
    other = make_world(session)
    assert subject_access(client, other, "P3", project=world.project.id).status_code == 404
    # Nor does their own project answer for a label that lives in ours.
    assert subject_access(client, other, "P3").status_code == 404
    assert subject_access(client, world, "P3", who="admin").status_code == 200
