"""scripts/mirror.py, the example consumer, against a real server: mirrors, deletes on tombstones, resumes."""

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.factories import capture_batch, make_world
from tests.support.live_server import REPO, LiveServer


def mirror_of(server: LiveServer, token: str, mirror: Path) -> Callable[[], set[str]]:
    """Runs scripts/mirror.py once (it catches up and stops); answers the fragment ids its file then holds."""
    def run() -> set[str]:
        subprocess.run([sys.executable, str(REPO / "scripts" / "mirror.py"), str(mirror), "--url", server.url,
                        "--token", token], check=True, capture_output=True, timeout=60)
        return {r[0] for r in sqlite3.connect(mirror).execute("SELECT id FROM fragments")}
    return run


def test_the_mirror_follows_the_feed_and_deletes_withdrawn_fragments(engine: Engine, session: Session,
                                                                      database_url: str, tmp_path: Path) -> None:
    world = make_world(session)
    with LiveServer(tmp_path / "server", env={"HEARKEN_DATABASE_URL": database_url}) as server:
        http = httpx.Client(base_url=server.api, headers=world.headers("coordinator"))
        token = http.post(f"/projects/{world.project.id}/clients",
                          json={"name": "mirror", "scopes": ["changes:read"]}).json()["token"]
        phone = httpx.Client(base_url=server.api, headers=world.headers("researcher"))
        keep, withdraw = capture_batch(world, 3), capture_batch(world, 2)
        phone.post("/sync", json={"device_id": "p", "items": keep + withdraw}).raise_for_status()
        run = mirror_of(server, token, tmp_path / "mirror.db")
        assert run() == {i["id"] for i in keep + withdraw if i["type"] == "fragment"}
        http.post(f"/consents/{withdraw[1]['id']}/withdraw").raise_for_status()
        more = capture_batch(world, 1)
        phone.post("/sync", json={"device_id": "p", "items": more}).raise_for_status()
        assert run() == {keep[2]["id"], keep[3]["id"], keep[4]["id"], more[2]["id"]}


def test_a_partners_mirror_lets_go_of_a_consent_that_no_longer_allows_sharing(engine: Engine, session: Session,
                                                                             database_url: str, tmp_path: Path) -> None:
    world = make_world(session)
    with LiveServer(tmp_path / "server", env={"HEARKEN_DATABASE_URL": database_url}) as server:
        http = httpx.Client(base_url=server.api, headers=world.headers("coordinator"))
        token = http.post(f"/projects/{world.project.id}/clients", json={
            "name": "partner mirror", "scopes": ["changes:read"], "audience": "partner"}).json()["token"]
        phone = httpx.Client(base_url=server.api, headers=world.headers("researcher"))
        keep, narrow = capture_batch(world, 2), capture_batch(world, 2)
        phone.post("/sync", json={"device_id": "p", "items": keep + narrow}).raise_for_status()
        run = mirror_of(server, token, tmp_path / "mirror.db")
        assert run() == {i["id"] for i in keep + narrow if i["type"] == "fragment"}
        http.patch(f"/consents/{narrow[1]['id']}", json={"scopes": ["quote"]},
                   headers={"If-Match": '"1"'}).raise_for_status()
        assert run() == {keep[2]["id"], keep[3]["id"]}
