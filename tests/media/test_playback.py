"""GET /fragments/{id}/audio: HTTP Range for seeking, the right Content-Type, only for those who may hear it."""

import pytest
from sqlmodel import Session

from tests.factories import World, make_world
from tests.media.helpers import audio_fragment, upload, wav_bytes


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


@pytest.fixture
def clip(client, world) -> tuple[str, bytes]:
    data = wav_bytes(2)
    fid = audio_fragment(client, world)[2]["id"]
    assert upload(client, world.headers("researcher"), fid, data).status_code == 204
    return fid, data


def get(client, world: World, fid: str, rng: str | None = None, who: str = "coordinator"):  # type: ignore[no-untyped-def]
    headers = world.headers(who)
    if rng:
        headers["Range"] = rng
    return client.get(f"/api/v1/fragments/{fid}/audio", headers=headers)


def test_the_whole_clip_says_it_accepts_ranges(client, world, clip) -> None:
    fid, data = clip
    r = get(client, world, fid)
    assert r.status_code == 200 and r.content == data
    assert r.headers["Accept-Ranges"] == "bytes" and r.headers["Content-Length"] == str(len(data))
    assert r.headers["Content-Type"] == "audio/wav"


@pytest.mark.parametrize("rng, start, end", [
    ("bytes=0-99", 0, 99),
    ("bytes=1000-2999", 1000, 2999),
    ("bytes=-500", None, None),
    ("bytes=30000-", 30000, None),
    ("bytes=31000-99999999", 31000, None),
])
def test_a_range_answers_206_with_exactly_those_bytes(client, world, clip, rng, start, end) -> None:
    fid, data = clip
    size = len(data)
    start = size - 500 if start is None else start
    end = size - 1 if end is None else end
    r = get(client, world, fid, rng)
    assert r.status_code == 206, r.text
    assert r.content == data[start:end + 1]
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert r.headers["Content-Length"] == str(end - start + 1)
    assert r.headers["Content-Type"] == "audio/wav"


@pytest.mark.parametrize("rng", ["bytes=99999999-", "bytes=500-100", "bytes=-0"])
def test_an_unsatisfiable_range_answers_416(client, world, clip, rng) -> None:
    fid, data = clip
    r = get(client, world, fid, rng)
    assert r.status_code == 416 and r.json()["code"] == "range_not_satisfiable"
    assert r.headers["Content-Range"] == f"bytes */{len(data)}"


def test_a_range_it_cannot_read_gets_the_whole_clip(client, world, clip) -> None:
    fid, data = clip
    for rng in ("bytes=0-1,5-9", "lines=1-2", "bytes=abc"):
        r = get(client, world, fid, rng)
        assert r.status_code == 200 and r.content == data, rng


def test_who_may_hear_a_clip(client, world, clip, session) -> None:
    fid, data = clip
    other = make_world(session)
    assert get(client, world, fid, who="coordinator").content == data
    assert get(client, world, fid, who="researcher").content == data
    assert get(client, world, fid, who="admin").status_code == 200
    r = client.get(f"/api/v1/fragments/{fid}/audio", headers=other.headers("researcher"))
    assert r.status_code == 404
    r = client.get(f"/api/v1/fragments/{fid}/audio", headers=other.headers("coordinator"))
    assert r.status_code == 404
    assert client.get(f"/api/v1/fragments/{fid}/audio").status_code == 401


def test_a_fragment_without_audio_answers_404_no_audio(client, world) -> None:
    fid = audio_fragment(client, world)[2]["id"]
    r = get(client, world, fid)
    assert r.status_code == 404 and r.json()["code"] == "no_audio"


def test_api_clients_hear_a_clip_only_with_audio_read_and_their_audience(client, world, clip, session) -> None:
    from sqlmodel import select

    from api.audit.models import AuditEntry

    fid, data = clip  # its consent has `share` but not `publish`

    def tool(scopes: list[str], audience: str = "internal") -> dict[str, str]:
        r = client.post(f"/api/v1/projects/{world.project.id}/clients", headers=world.headers("coordinator"),
                        json={"name": "t", "scopes": scopes, "audience": audience})
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    url = f"/api/v1/fragments/{fid}/audio"
    assert client.get(url, headers=tool(["fragments:read", "audio:read"])).content == data
    assert client.get(url, headers=tool(["fragments:read", "audio:read"], "partner")).content == data
    assert client.get(url, headers=tool(["fragments:read", "audio:read"], "public")).status_code == 404
    r = client.get(url, headers=tool(["fragments:read"]))
    assert r.status_code == 403 and r.json()["code"] == "scope_missing"
    session.rollback()
    assert len(session.exec(select(AuditEntry).where(AuditEntry.action == "audio.get")).all()) == 2
