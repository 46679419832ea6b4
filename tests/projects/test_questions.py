"""Self-signification questions: their ids key every fragment's answers, so only tidy ids are stored."""

import pytest
from sqlmodel import Session

from tests.factories import World, make_world


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


@pytest.mark.parametrize("question_id", ["Bad Id!", "x" * 41, "", "ünïcode"])
def test_a_question_id_must_be_a_tidy_key(client, world, question_id: str) -> None:
    question = {"id": question_id, "type": "slider", "label": "Belong?", "left": "No", "right": "Yes"}
    r = client.patch(f"/api/v1/projects/{world.project.id}", json={"questions": [question]},
                     headers=world.headers("coordinator"))
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    kit = client.get(f"/api/v1/projects/{world.project.id}", headers=world.headers("coordinator")).json()
    assert all(q["id"] != question_id for q in kit["questions"])


def test_a_tidy_question_id_is_kept(client, world) -> None:
    question = {"id": "belong-2", "type": "choice", "label": "Who?", "options": ["Me", "Others"]}
    r = client.patch(f"/api/v1/projects/{world.project.id}", json={"questions": [question]},
                     headers=world.headers("coordinator"))
    assert r.status_code == 200 and r.json()["questions"][0]["id"] == "belong-2"
