"""The printable cards: page counts, every number as text, no participant label, scripts that shape, text that
continues instead of being cut, a screenshot of a page."""

import io
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from pypdf import PdfReader

from api.workshops.models import Card
from api.workshops.printing import Paper, cards_pdf
from tests.factories import make_world
from tests.workshops.helpers import add, capture, make_workshop, set_state

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def card(number: int, text: str = "We used to know everyone on this street.", language: str = "en") -> Card:
    return Card(id=uuid.uuid4(), number=number, text=text, kind="quote", language=language,
                prompt="Where do you feel you belong?", place="Stonehouse", month="2026-11")


def pages(pdf: bytes) -> list[str]:
    return [p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages]


def test_500_cards_make_63_pages_of_8_and_125_pages_of_4_in_large_print() -> None:
    cards = [card(n) for n in range(1, 501)]
    assert len(pages(cards_pdf(cards, code="K7QX2M", title="t"))) == 63
    assert len(PdfReader(io.BytesIO(cards_pdf(cards, code="K7QX2M", title="t", large=True,
                                              paper=Paper.letter))).pages) == 125


def test_every_card_number_and_the_short_code_come_out_as_text() -> None:
    text = pages(cards_pdf([card(n) for n in range(1, 41)], code="K7QX2M", title="t"))
    numbers = set()
    for page in text:
        assert "K7QX2M" in page
        numbers |= {int(x) for x in re.findall(r"(?m)^\s*(\d{1,3})\s*$", page)} | \
            {int(x) for x in re.findall(r"\b(\d{1,3})\b", page)}
    assert set(range(1, 41)) <= numbers


def test_text_too_long_for_a_card_continues_on_a_second_card_marked_as_such() -> None:
    long_text = " ".join(f"word{i}" for i in range(400))
    text = "\n".join(pages(cards_pdf([card(1, long_text), card(2)], code="K7QX2M", title="t")))
    assert "part 1 of" in text and "continued from card 1" in text
    flat = re.sub(r"\s+", " ", text)
    assert all(f"word{i} " in flat + " " for i in range(0, 400, 37))  # nothing silently cut
    assert "word399" in flat


@pytest.mark.parametrize("letter", ["x", "ب"])
def test_a_word_wider_than_a_card_is_cut_by_its_characters_each_measured_once(letter: str) -> None:
    """A researcher's 5,000-character word (no spaces) took seconds a card to print, measuring ever shorter
    prefixes; every line it is cut into fits, nothing is lost, and the measuring is linear in the word."""
    from api.workshops.printing import Wrapper, new_pdf

    pdf = new_pdf(Paper.a4, [letter], "t")
    measured: list[str] = []
    real = pdf.get_string_width
    pdf.get_string_width = lambda s, *a, **k: measured.append(s) or real(s, *a, **k)  # type: ignore[method-assign]
    word = letter * 5000
    lines = Wrapper(pdf).lines(word, 10, 60)
    assert "".join(lines) == word and len(lines) > 20
    pdf.set_font("sans", size=10)
    assert max(real(line) for line in lines) <= 60 * 1.02  # (shaped together, a few joined letters differ)
    assert sum(len(s) for s in measured) <= 3 * len(word)


def test_arabic_polish_and_chinese_come_out_as_text_not_boxes() -> None:
    cards = [card(1, "Zażółć gęślą jaźń — nikt tu nie puka do drzwi.", "pl"),
             card(2, "مرحبا بكم في المكتبة", "ar"), card(3, "我们在这里住了二十年", "zh")]
    text = "".join(pages(cards_pdf(cards, code="K7QX2M", title="t")))
    assert "Zażółć gęślą jaźń" in text
    # Shaped Arabic comes back a word at a time (in visual order, with joining glyphs' stray control codes):
    # every word's letters are there as text, in their order.
    letters = re.sub(r"[\x00-\x1f\s]", "", text)
    for word in ("مرحبا", "بكم", "في", "المكتبة"):
        assert word in letters
    assert "我们在这里住了二十年" in letters
    assert "\ufffd" not in text


def test_a_page_renders_to_an_image(tmp_path: Path) -> None:
    pdf = cards_pdf([card(n) for n in range(1, 9)] + [card(9, "مرحبا بكم في المكتبة", "ar"),
                                                       card(10, "我们在这里住了二十年", "zh")],
                    code="K7QX2M", title="t")
    (tmp_path / "cards.pdf").write_bytes(pdf)
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI") == "true":  # scripts/test installs poppler-utils; on CI its absence is a failure
            pytest.fail("pdftoppm (poppler-utils) is not installed: no screenshot of the printed page")
        pytest.skip("pdftoppm (poppler-utils) not installed: no screenshot of the printed page")
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", str(tmp_path / "cards.pdf"),
                    str(ARTIFACTS / "workshop-cards-page")], check=True)
    assert (ARTIFACTS / "workshop-cards-page-1.png").stat().st_size > 5000


def test_the_pdf_from_the_api_has_every_card_and_no_participant_label(client, session) -> None:
    world = make_world(session)
    ids = [capture(client, world, scopes=["quote", "share"], text=f"printed words {i}", label=f"P-LBL{i}")[0]
           for i in range(10)]
    held_back, _ = capture(client, world, scopes=["quote"], kind="quote", text="not for outsiders", label="P-LBLX")
    w = make_workshop(client, world, "mixed")
    add(client, world, w["id"], [*ids, held_back])
    set_state(client, world, w["id"], "ready")
    r = client.get(f"/api/v1/workshops/{w['id']}/cards.pdf?paper=letter", headers=world.headers("coordinator"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "\n".join(pages(r.content))
    assert all(f"printed words {i}" in text for i in range(10))
    assert "P-LBL" not in text and "not for outsiders" not in text and "hard" not in text
    assert len(PdfReader(io.BytesIO(r.content)).pages) == 2


def test_the_report_pdf_has_the_themes_cards_and_notes_and_no_participant_label(client, session) -> None:
    world = make_world(session)
    ids = [capture(client, world, scopes=["quote", "share"], text=f"reported words {i}", label=f"P-REP{i}")[0]
           for i in range(3)]
    w = make_workshop(client, world, "mixed")
    add(client, world, w["id"], ids)
    set_state(client, world, w["id"], "ready")
    client.post(f"/api/v1/workshops/{w['id']}/paper", json={"text": "Feeling invisible: 1 3\n- nobody asks us"},
                headers=world.headers("coordinator"))
    r = client.get(f"/api/v1/workshops/{w['id']}/report.pdf", headers=world.headers("coordinator"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "\n".join(pages(r.content))
    for expected in ("Feeling invisible", "nobody asks us", "reported words 0", "reported words 2", "Stonehouse",
                     "What makes people feel they belong?"):
        assert expected in text, expected
    assert "reported words 1" not in text and "P-REP" not in text
