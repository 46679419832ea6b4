"""The enrolment code comes with its absolute link and a QR code of that link, drawn as SVG."""

import re
import xml.etree.ElementTree as ET

import pytest
import segno
from sqlmodel import Session

from tests.factories import World, make_world

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def dark_modules(svg: ET.Element) -> set[tuple[int, int]]:
    """Read the QR modules back out of segno's SVG path: 'M x y' starts a row, 'hN' draws N dark modules,
    'm dx dy' moves; the path sits at y + 0.5 (a stroke one module thick), drawn at scale(4)."""
    (path,) = [p for p in svg.iter(f"{SVG}path") if p.get("class") == "qrline"]
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path.get("d", "")):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            dark |= {(int(x) + i, int(y - 0.5)) for i in range(int(a))}
            x += float(a)
    return dark


def test_the_qr_code_is_an_accessible_svg_of_the_absolute_enrol_link(client, world) -> None:
    r = client.post(f"/api/v1/projects/{world.project.id}/enrolment-codes", json={"user_id": str(world.researcher.id)},
                    headers=world.headers("coordinator"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["enrol_link"] == "http://testserver" + body["enrol_url"]
    assert body["enrol_url"].endswith(body["code"])
    svg = ET.fromstring(body["qr_svg"])  # well-formed XML, standalone (it has its namespace)
    assert svg.tag == f"{SVG}svg" and svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text
    assert svg.get("viewBox") == f"0 0 {svg.get('width')} {svg.get('height')}"

    expected = segno.make_qr(body["enrol_link"], error="m", boost_error=False)  # level M is in the format bits
    size = expected.symbol_size(scale=1, border=4)[0]
    assert int(svg.get("width")) == 4 * size  # 4 px a module: small on screen, still scannable
    want = {(c + 4, r + 4) for r, row in enumerate(expected.matrix) for c, v in enumerate(row) if v}
    assert dark_modules(svg) == want


def test_the_link_follows_the_address_the_server_was_reached_at(client, world) -> None:
    r = client.post(f"/api/v1/projects/{world.project.id}/enrolment-codes", json={"user_id": str(world.researcher.id)},
                    headers={**world.headers("coordinator"), "Host": "hearken.example.org"})
    assert r.json()["enrol_link"].startswith("http://hearken.example.org/app/?enrol=")
