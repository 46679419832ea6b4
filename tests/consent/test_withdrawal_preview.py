"""The withdrawal preview says exactly what a withdrawal then erases."""

import uuid
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from api.consent.models import Consent
from api.fragments.models import Fragment
from api.media.models import AudioClip
from api.tags.models import FragmentTag
from tests.factories import World, capture_batch, consent_item, fragment_item, make_world, sync
from tests.media.helpers import upload, wav_bytes

SIGNATURE = "data:image/png;base64,iVBORw0KGgo="


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def held(session: Session, consent_id: str) -> dict[str, Any]:
    """What the database holds under a consent, counted independently of the code under test."""
    session.rollback()
    ids = select(Fragment.id).where(Fragment.consent_id == uuid.UUID(consent_id), col(Fragment.text).is_not(None))
    return {
        "fragments": session.exec(select(func.count()).select_from(Fragment)
                                  .where(col(Fragment.id).in_(ids))).one(),
        "clips": session.exec(select(func.count()).select_from(AudioClip)
                              .where(col(AudioClip.fragment_id).in_(ids))).one(),
        "tagged": session.exec(select(func.count(func.distinct(FragmentTag.fragment_id)))
                               .where(col(FragmentTag.fragment_id).in_(ids))).one(),
        "signature": session.get(Consent, uuid.UUID(consent_id)).signature is not None,
    }


def setup_consent(client: Any, world: World, session: Session) -> tuple[str, list[str], str]:
    """A signed consent with five fragments: one quote erased by narrowing, clips on two, tags on two (one of
    them with a clip too); and a neighbour consent in the same conversation with a clip and a tag of its own."""
    conv, consent, *_ = capture_batch(world, 0)
    consent["data"].update(scopes=["audio", "quote", "share"], method="signed", signature=SIGNATURE)
    frags = [fragment_item(conv["id"], consent["id"], kind="paraphrase", text=f"my words {i}") for i in range(4)]
    quote = fragment_item(conv["id"], consent["id"], kind="quote", text="a quote to lose")
    neighbour = consent_item(world, conv["id"], participant_label="P-NEXT", scopes=["audio", "quote"])
    theirs = fragment_item(conv["id"], neighbour["id"], text="not mine")
    r = sync(client, world, [conv, consent, *frags, quote, neighbour, theirs])
    assert all(x["status"] == "created" for x in r.json()["results"]), r.text
    researcher, coordinator = world.headers("researcher"), world.headers("coordinator")
    for fid in (frags[0]["id"], frags[1]["id"], quote["id"], theirs["id"]):
        assert upload(client, researcher, fid, wav_bytes(0.05)).status_code == 204
    for fid in (frags[1]["id"], frags[2]["id"], quote["id"], theirs["id"]):
        assert client.put(f"/api/v1/fragments/{fid}/tags/{world.tag.id}", headers=coordinator).status_code == 204
    r = client.patch(f"/api/v1/consents/{consent['id']}", json={"scopes": ["audio", "share"]},
                     headers={**coordinator, "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    return consent["id"], [f["id"] for f in frags], neighbour["id"]


def preview(client: Any, world: World, consent_id: str, who: str = "coordinator") -> Any:
    return client.get(f"/api/v1/consents/{consent_id}/withdrawal-preview", headers=world.headers(who))


def test_the_preview_counts_what_is_held_and_the_withdrawal_erases_exactly_that(client, world, session) -> None:
    consent_id, _, neighbour = setup_consent(client, world, session)
    before = held(session, consent_id)
    neighbour_before = held(session, neighbour)
    r = preview(client, world, consent_id)
    assert r.status_code == 200, r.text
    p = r.json()
    assert p == {"consent_id": consent_id, "participant_label": "P-4KQ7", "already_withdrawn": False,
                 "fragments": 4, "clips": 2, "workshop_cards": 0, "signature": True, "tagged_fragments": 2,
                 "workshops": [], "phones_holding": 1, "phone_erasures": []}
    assert (p["fragments"], p["clips"], p["tagged_fragments"], p["signature"]) == \
        (before["fragments"], before["clips"], before["tagged"], before["signature"])

    done = client.post(f"/api/v1/consents/{consent_id}/withdraw", json={}, headers=world.headers("coordinator"))
    assert done.status_code == 200, done.text
    w = done.json()
    assert (w["fragments_erased"], w["clips_erased"], w["tagged_fragments_erased"], w["signature_erased"],
            w["workshop_cards_erased"]) == (p["fragments"], p["clips"], p["tagged_fragments"], p["signature"],
                                            p["workshop_cards"])
    assert held(session, consent_id) == {"fragments": 0, "clips": 0, "tagged": 0, "signature": False}
    assert session.exec(select(func.count()).select_from(AudioClip)).one() == neighbour_before["clips"]
    assert held(session, neighbour) == neighbour_before  # the other participant keeps everything


def test_the_preview_only_counts_and_changes_nothing(client, world, session) -> None:
    consent_id, _, _ = setup_consent(client, world, session)
    before = held(session, consent_id)
    assert preview(client, world, consent_id).status_code == 200
    assert preview(client, world, consent_id).json()["fragments"] == 4
    assert held(session, consent_id) == before
    assert session.get(Consent, uuid.UUID(consent_id)).withdrawn_at is None


def test_after_withdrawal_the_preview_says_so_and_that_nothing_is_left(client, world, session) -> None:
    consent_id, _, _ = setup_consent(client, world, session)
    client.post(f"/api/v1/consents/{consent_id}/withdraw", json={}, headers=world.headers("coordinator"))
    assert preview(client, world, consent_id).json() == {
        "consent_id": consent_id, "participant_label": "P-4KQ7", "already_withdrawn": True,
        "fragments": 0, "clips": 0, "workshop_cards": 0, "signature": False, "tagged_fragments": 0,
        "workshops": [], "phones_holding": 1, "phone_erasures": []}  # the phone that sent it has not confirmed


def test_a_consent_with_nothing_under_it_previews_zeroes(client, world) -> None:
    conv, consent, *_ = capture_batch(world, 0)
    sync(client, world, [conv, consent])
    p = preview(client, world, consent["id"]).json()
    assert (p["fragments"], p["clips"], p["tagged_fragments"], p["signature"]) == (0, 0, 0, False)
    w = client.post(f"/api/v1/consents/{consent['id']}/withdraw", json={}, headers=world.headers("coordinator"))
    assert w.json()["fragments_erased"] == w.json()["clips_erased"] == 0


def test_only_managers_preview_and_other_projects_get_404(client, world, session) -> None:
    items = capture_batch(world, 1)
    sync(client, world, items)
    assert preview(client, world, items[1]["id"], who="researcher").status_code == 403
    assert preview(client, world, items[1]["id"], who="admin").status_code == 200
    other = make_world(session)
    r = client.get(f"/api/v1/consents/{items[1]['id']}/withdrawal-preview", headers=other.headers("coordinator"))
    assert r.status_code == 404
    assert preview(client, world, str(uuid.uuid4())).status_code == 404
