"""The container check reads the bytes, never the name or the type the phone claims."""

import pytest

from api.errors import RangeNotSatisfiable
from api.media.service import duration_ms, parse_range, sniff
from tests.media.helpers import ogg_bytes, wav_bytes, webm_bytes


@pytest.mark.parametrize("head, expected", [
    (wav_bytes(0.01), "audio/wav"),
    (ogg_bytes(100), "audio/ogg"),
    (webm_bytes(100), "audio/webm"),
    (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom", "audio/mp4"),
    (b"\x00\x00\x00\x1cftypiso5\x00\x00\x02\x00iso6mp41", "audio/mp4"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x23TSSE", "audio/mpeg"),
    (b"\xff\xfb\x90\x64" + b"\x00" * 100, "audio/mpeg"),
    (b"Dear diary, this is not audio.", None),
    (b"%PDF-1.7\n", None),
    (b"\x89PNG\r\n\x1a\n", None),
    (b"RIFF\x24\x00\x00\x00AVI LIST", None),
    (b"\xff\xff\xff\xff", None),
    (b"", None),
])
def test_sniff_knows_audio_containers_by_their_bytes(head: bytes, expected: str | None) -> None:
    assert sniff(head) == expected


def test_a_wav_tells_its_duration() -> None:
    assert duration_ms("audio/wav", wav_bytes(2.5)) == 2500
    assert duration_ms("audio/ogg", ogg_bytes(100)) is None


def test_parse_range() -> None:
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-0", 100) == (0, 0)
    assert parse_range("bytes=-1", 100) == (99, 99)
    assert parse_range("bytes=-1000", 100) == (0, 99)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=100-", 100)
