"""tus uploads: in chunks, resumed from HEAD's offset, checked (SHA-256, real audio, size) before anything is kept."""

import pytest
from sqlmodel import Session, select

from api.config import get_settings
from api.media.models import AudioUpload
from api.media.storage import partial_dir
from tests.factories import World, make_world
from tests.media.helpers import (
    TUS,
    audio_fragment,
    clip_row,
    create,
    head,
    ogg_bytes,
    patch,
    sha,
    upload,
    wav_bytes,
    webm_bytes,
)


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def test_options_tells_the_protocol_and_the_size_limit(client) -> None:
    r = client.options("/api/v1/uploads/")
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0" and r.headers["Tus-Resumable"] == "1.0.0"
    assert int(r.headers["Tus-Max-Size"]) == 50 * 1024 * 1024
    assert "creation" in r.headers["Tus-Extension"]


def test_a_clip_uploaded_in_chunks_is_attached_and_plays_back_byte_identical(client, world, session) -> None:
    data = wav_bytes(seconds=90)  # about 1.4 MB: three chunks
    fid = audio_fragment(client, world)[2]["id"]
    r = upload(client, world.headers("researcher"), fid, data)
    assert r.status_code == 204, r.text
    assert int(r.headers["Upload-Offset"]) == len(data)
    clip = clip_row(session, fid)
    assert (clip.size, clip.sha256, clip.content_type) == (len(data), sha(data), "audio/wav")
    assert clip.duration_ms == 90_000
    fragment = client.get(f"/api/v1/fragments/{fid}", headers=world.headers("coordinator")).json()
    assert fragment["audio"]["sha256"] == sha(data) and fragment["audio"]["content_type"] == "audio/wav"
    played = client.get(f"/api/v1/fragments/{fid}/audio", headers=world.headers("coordinator"))
    assert played.status_code == 200 and played.content == data
    assert played.headers["content-type"] == "audio/wav"
    assert list(partial_dir().glob("*.part")) == []


def test_an_interrupted_upload_resumes_from_the_offset_head_gives(client, world, session) -> None:
    data = ogg_bytes(1_300_000)
    fid = audio_fragment(client, world)[2]["id"]
    headers = world.headers("researcher")
    r = create(client, headers, fid, data, filename="clip.ogg", filetype="audio/ogg")
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    assert location.startswith("/api/v1/uploads/")
    assert patch(client, headers, location, 0, data[:512 * 1024]).status_code == 204
    # The phone went out of range; later it asks where to go on from.
    r = head(client, headers, location)
    assert r.status_code == 200 and r.headers["Upload-Offset"] == str(512 * 1024)
    assert r.headers["Upload-Length"] == str(len(data)) and r.headers["Cache-Control"] == "no-store"
    stale = patch(client, headers, location, 0, data[:1000])
    assert stale.status_code == 409 and stale.json()["code"] == "offset_mismatch"
    assert stale.headers["Upload-Offset"] == str(512 * 1024)
    offset = 512 * 1024
    while offset < len(data):
        r = patch(client, headers, location, offset, data[offset:offset + 512 * 1024])
        assert r.status_code == 204, r.text
        offset = int(r.headers["Upload-Offset"])
    assert clip_row(session, fid).content_type == "audio/ogg"
    assert head(client, headers, location).headers["Upload-Offset"] == str(len(data))


def test_a_new_creation_for_the_same_clip_finds_the_upload_under_way(client, world) -> None:
    data = webm_bytes(700_000)
    fid = audio_fragment(client, world)[2]["id"]
    headers = world.headers("researcher")
    first = create(client, headers, fid, data)
    patch(client, headers, first.headers["Location"], 0, data[:300_000])
    again = create(client, headers, fid, data)  # the app was closed and forgot the address
    assert again.status_code == 201
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Upload-Offset"] == "300000"


def test_uploading_an_attached_clip_again_is_a_harmless_success(client, world, session) -> None:
    data = wav_bytes(0.5)
    fid = audio_fragment(client, world)[2]["id"]
    assert upload(client, world.headers("researcher"), fid, data).status_code == 204
    again = create(client, world.headers("researcher"), fid, data)
    assert again.status_code == 200, again.text
    assert again.headers["Upload-Offset"] == str(len(data)) and again.json()["completed"] is True
    r = patch(client, world.headers("researcher"), again.headers["Location"], len(data), b"")
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(len(data))
    other = create(client, world.headers("researcher"), fid, wav_bytes(0.6))
    assert other.status_code == 409 and other.json()["code"] == "audio_exists"


def test_a_wrong_checksum_is_refused_and_nothing_is_kept(client, world, session) -> None:
    data = wav_bytes(1)
    fid = audio_fragment(client, world)[2]["id"]
    r = upload(client, world.headers("researcher"), fid, data, sha256=sha(b"other bytes"))
    assert r.status_code == 422 and r.json()["code"] == "checksum_mismatch", r.text
    assert clip_row(session, fid) is None
    assert session.exec(select(AudioUpload)).all() == []
    assert list(partial_dir().glob("*")) == []
    assert not (get_settings().data_dir / "media" / "clips").exists() or \
        list((get_settings().data_dir / "media" / "clips").rglob("*.*")) == []


def test_a_renamed_text_file_posing_as_audio_is_refused(client, world, session) -> None:
    data = b"Dear diary, this is not a recording at all.\n" * 200
    fid = audio_fragment(client, world)[2]["id"]
    r = upload(client, world.headers("researcher"), fid, data, filename="clip.m4a", filetype="audio/mp4")
    assert r.status_code == 415 and r.json()["code"] == "not_audio", r.text
    assert clip_row(session, fid) is None
    assert list(partial_dir().glob("*")) == []


def test_a_clip_over_the_size_limit_is_refused_at_creation(client, world, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "media_max_bytes", 100_000)
    fid = audio_fragment(client, world)[2]["id"]
    r = create(client, world.headers("researcher"), fid, wav_bytes(7))  # 112 KB
    assert r.status_code == 413 and r.json()["code"] == "clip_too_large"


def test_more_bytes_than_announced_are_refused_and_not_kept(client, world) -> None:
    data = wav_bytes(0.5)
    fid = audio_fragment(client, world)[2]["id"]
    headers = world.headers("researcher")
    location = create(client, headers, fid, data).headers["Location"]
    r = patch(client, headers, location, 0, data + b"extra")
    assert r.status_code == 422 and r.json()["code"] == "beyond_length"
    assert head(client, headers, location).headers["Upload-Offset"] == "0"


def test_audio_needs_the_audio_scope_and_a_live_consent(client, world) -> None:
    items = audio_fragment(client, world, scopes=("quote", "share"))
    r = create(client, world.headers("researcher"), items[2]["id"], wav_bytes(0.2))
    assert r.status_code == 409 and r.json()["code"] == "audio_not_consented"


@pytest.mark.parametrize("headers, code", [
    ({"Tus-Resumable": "0.2.2"}, "tus_version"),
    ({"Content-Type": "application/json"}, "wrong_content_type"),
    ({"Upload-Offset": "minus one"}, "invalid_header"),
])
def test_protocol_mistakes_get_clear_4xx(client, world, headers, code) -> None:
    data = wav_bytes(0.2)
    fid = audio_fragment(client, world)[2]["id"]
    location = create(client, world.headers("researcher"), fid, data).headers["Location"]
    base = {**world.headers("researcher"), **TUS, "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream"}
    r = client.patch(location, content=data, headers={**base, **headers})
    assert 400 <= r.status_code < 500 and r.json()["code"] == code


def test_bad_creation_headers_get_4xx(client, world) -> None:
    fid = audio_fragment(client, world)[2]["id"]
    h = {**world.headers("researcher"), **TUS}
    for extra in ({"Upload-Length": "ten"}, {"Upload-Length": "10", "Upload-Metadata": "fragment_id !!!"},
                  {"Upload-Length": "10", "Upload-Metadata": f"sha256 {'YQ=='}"}, {"Upload-Length": "0"}):
        r = client.post("/api/v1/uploads/", headers={**h, **extra})
        assert 400 <= r.status_code < 500 and set(r.json()) >= {"code", "detail"}, (extra, r.text)
    r = create(client, world.headers("researcher"), fid, b"x" * 10, sha256="not hex")
    assert r.status_code == 422 and r.json()["code"] == "invalid_metadata"


def test_uploads_belong_to_the_fragments_researcher(client, world, session) -> None:
    data = wav_bytes(0.2)
    fid = audio_fragment(client, world)[2]["id"]
    other = make_world(session)
    assert create(client, world.headers("coordinator"), fid, data).json()["code"] == "not_your_fragment"
    assert create(client, other.headers("researcher"), fid, data).status_code == 404
    location = create(client, world.headers("researcher"), fid, data).headers["Location"]
    assert head(client, world.headers("coordinator"), location).status_code == 404
    assert patch(client, other.headers("coordinator"), location, 0, data).status_code == 404
    assert client.head(location, headers=TUS).status_code == 401
    assert patch(client, {}, location, 0, data).status_code == 401


def test_a_crash_between_storing_and_attaching_is_finished_by_the_next_patch(client, world, session,
                                                                              monkeypatch) -> None:
    from api.media import service as media

    data = wav_bytes(1)
    fid = audio_fragment(client, world)[2]["id"]
    headers = world.headers("researcher")
    location = create(client, headers, fid, data).headers["Location"]

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the process died here")

    with monkeypatch.context() as m:
        m.setattr(media.feed, "record", crash)  # inside the attaching transaction, after the bytes were stored
        assert patch(client, headers, location, 0, data).status_code == 500
    assert clip_row(session, fid) is None
    assert head(client, headers, location).headers["Upload-Offset"] == str(len(data))
    r = patch(client, headers, location, len(data), b"")  # the phone sends its last chunk again, empty
    assert r.status_code == 204, r.text
    assert clip_row(session, fid).sha256 == sha(data)
    assert client.get(f"/api/v1/fragments/{fid}/audio", headers=world.headers("coordinator")).content == data


@pytest.mark.parametrize(("sent", "stored"), [("83500", 83_500), ("-5", None), ("soon", None), ("99999999999", None)])
def test_a_webm_clip_keeps_the_length_the_phone_measured(client, world, session, sent, stored) -> None:
    """WebM headers from a browser's recorder rarely say how long the clip is; the phone measured it."""
    data = webm_bytes()
    fid = audio_fragment(client, world)[2]["id"]
    r = upload(client, world.headers("researcher"), fid, data, filename="clip.webm", filetype="audio/webm",
               duration_ms=sent)
    assert r.status_code == 204, r.text
    assert clip_row(session, fid).duration_ms == stored
