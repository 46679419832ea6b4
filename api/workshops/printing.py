"""Printable cards: a PDF of a pack's cards, cut marks, the number large, text that never gets cut short.

fpdf2 draws the pages; with uharfbuzz it shapes text (Arabic joins and runs right to left, marks sit where they
belong), which plain PDF text drawing does not. The fonts come from Python packages (Noto Sans, Noto Sans Arabic,
Noto Sans CJK), so a clean install prints every script without anything from the system. The CJK font is large:
it is read only when a card needs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from api.workshops.models import Card

if TYPE_CHECKING:  # fpdf2 takes a quarter of a second to import: every server and CLI start paid it
    from fpdf import FPDF

PT = 0.3528  # mm per point


class Paper(StrEnum):
    a4 = "a4"
    letter = "letter"


PAPER_MM = {Paper.a4: (210.0, 297.0), Paper.letter: (215.9, 279.4)}


@dataclass(frozen=True)
class Layout:
    cols: int
    rows: int
    body_pt: float
    number_pt: float
    meta_pt: float


NORMAL = Layout(cols=2, rows=4, body_pt=14, number_pt=30, meta_pt=9)
LARGE = Layout(cols=2, rows=2, body_pt=24, number_pt=44, meta_pt=14)
MARGIN, PAD = 10.0, 5.0
RTL_LANGUAGES = {"ar", "he", "fa", "ur", "ps", "yi", "ckb", "sd"}
RTL_SCRIPT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
# Scripts whose letters change shape or order with their neighbours: these lines go through HarfBuzz. Latin,
# Cyrillic, Greek and CJK lay out right without it, and shaping every line of a 500-card pack costs seconds.
COMPLEX_SCRIPT = re.compile("[\u0300-\u036f\u0590-\u08ff\u0900-\u0dff\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f"
                            "\u1780-\u17ff\ufb1d-\ufdff\ufe70-\ufeff]")
CJK_SCRIPT = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


@cache
def _font_files() -> dict[str, Path]:
    import cvttf_NotoSansCJK_Regular
    import fontpkg_noto_sans
    import fontpkg_noto_sans_arabic

    cjk = Path(cvttf_NotoSansCJK_Regular.__file__).parent
    return {"sans": fontpkg_noto_sans.ROOT / "files" / "NotoSans[wdth,wght].ttf",
            "arabic": fontpkg_noto_sans_arabic.ROOT / "files" / "NotoSansArabic[wdth,wght].ttf",
            "cjk": next(p for p in sorted(cjk.iterdir()) if p.suffix == ".otf")}


def new_pdf(paper: Paper, texts: list[str], title: str) -> FPDF:
    """A PDF with the fonts these texts need, shaping on."""
    from fpdf import FPDF

    width, height = PAPER_MM[paper]
    pdf = FPDF(unit="mm", format=(width, height))
    pdf.set_auto_page_break(False)
    pdf.set_title(title)
    pdf.set_creator("Hearken")
    fonts = _font_files()
    pdf.add_font("sans", fname=str(fonts["sans"]))
    pdf.add_font("arabic", fname=str(fonts["arabic"]))
    fallbacks = ["arabic"]
    if any(CJK_SCRIPT.search(t) for t in texts):
        pdf.add_font("cjk", fname=str(fonts["cjk"]))
        fallbacks.append("cjk")
    pdf.set_fallback_fonts(fallbacks)
    return pdf


def shaping_for(pdf: FPDF, text: str) -> None:
    pdf.set_text_shaping(bool(COMPLEX_SCRIPT.search(text)))


def is_rtl(card: Card) -> bool:
    return card.language.split("-")[0].lower() in RTL_LANGUAGES or bool(RTL_SCRIPT.search(card.text[:200]))


TOKEN = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]|[^\s\u2e80-\u9fff\uac00-\ud7af"
                   r"\uf900-\ufaff\uff00-\uffef]+\s*|\s+")


class Wrapper:
    """Breaks text into lines that fit a width, measuring each word once (shaped) and adding the widths up.
    fpdf2's own multi_cell shapes the growing line again for every character it adds, which made a 500-card pack
    take tens of seconds; this is linear in the text."""

    def __init__(self, pdf: FPDF):
        self.pdf = pdf
        self.widths: dict[tuple[float, str], float] = {}

    def width(self, size: float, token: str) -> float:
        key = (size, token)
        if key not in self.widths:
            shaping_for(self.pdf, token)
            self.widths[key] = self.pdf.get_string_width(token)
        return self.widths[key]

    def lines(self, text: str, size: float, width: float) -> list[str]:
        self.pdf.set_font("sans", size=size)
        out: list[str] = []
        for para in text.split("\n"):
            line, used = "", 0.0
            for token in TOKEN.findall(para):
                w = self.width(size, token)
                if line and used + self.width(size, token.rstrip()) > width:
                    out.append(line.rstrip())
                    line, used = "", 0.0
                    if token.isspace():
                        continue
                if len(token) > 1 and self.width(size, token.rstrip()) > width:
                    # A word wider than a card is cut by its characters' widths, each measured once: measuring
                    # ever shorter prefixes took 2.4 s a card for a 5,000-character word (12.7 s in Arabic).
                    piece, run = "", 0.0
                    for ch in token:
                        step = self.width(size, ch)
                        if piece and run + step > width:
                            out.append(piece)
                            piece, run = "", 0.0
                        piece, run = piece + ch, run + step
                    token, w = piece, run
                line += token
                used += w
            out.append(line.rstrip())
        return out


@dataclass
class Piece:
    card: Card
    lines: list[str]
    part: int
    parts: int
    meta: list[str]


def _meta(card: Card) -> str:
    return " · ".join(x for x in (card.kind, card.prompt, card.place, card.month, card.language) if x)


def _pieces(pdf: FPDF, wrap: Wrapper, cards: list[Card], layout: Layout, card_w: float,
            card_h: float) -> list[Piece]:
    """Each card's text broken into lines, and into as many printed cards as it needs."""
    inner_w = card_w - 2 * PAD
    number_h = layout.number_pt * PT * 1.1
    line_h = layout.body_pt * PT * 1.35
    meta_h = layout.meta_pt * PT * 1.3
    out: list[Piece] = []
    for card in cards:
        meta = wrap.lines(_meta(card), layout.meta_pt, inner_w)[:3]
        lines = wrap.lines(card.text, layout.body_pt, inner_w)
        room = max(1, int((card_h - 2 * PAD - number_h - 2 - len(meta) * meta_h - 2) // line_h))
        chunks = [lines[i:i + room] for i in range(0, len(lines), room)] or [[""]]
        out += [Piece(card, chunk, n, len(chunks), meta) for n, chunk in enumerate(chunks, start=1)]
    return out


def _cut_marks(pdf: FPDF, layout: Layout, card_w: float, card_h: float) -> None:
    width, height = pdf.w, pdf.h
    pdf.set_draw_color(120, 120, 120)
    pdf.set_line_width(0.2)
    xs = [MARGIN + i * card_w for i in range(layout.cols + 1)]
    ys = [MARGIN + j * card_h for j in range(layout.rows + 1)]
    for x in xs:  # ticks in the margins, where a guillotine lines up
        pdf.line(x, 1.5, x, MARGIN - 2)
        pdf.line(x, height - MARGIN + 2, x, height - 1.5)
    for y in ys:
        pdf.line(1.5, y, MARGIN - 2, y)
        pdf.line(width - MARGIN + 2, y, width - 1.5, y)
    for x in xs[1:-1]:  # small crosses where cards meet inside the page
        for y in ys:
            pdf.line(x - 2.5, y, x + 2.5, y)
            pdf.line(x, y - 2.5, x, y + 2.5)
    for y in ys[1:-1]:
        for x in xs:
            pdf.line(x - 2.5, y, x + 2.5, y)
            pdf.line(x, y - 2.5, x, y + 2.5)


def _draw(pdf: FPDF, piece: Piece, layout: Layout, x: float, y: float, w: float, h: float, code: str) -> None:
    card, inner_w = piece.card, w - 2 * PAD
    number = str(card.number) if card.number is not None else "·"
    pdf.set_text_shaping(False)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("sans", size=layout.number_pt)
    pdf.set_xy(x + PAD, y + PAD)
    pdf.cell(inner_w / 2, layout.number_pt * PT * 1.1, number)
    pdf.set_font("sans", size=layout.meta_pt)
    right = code if piece.parts == 1 else f"{code}  ·  part {piece.part} of {piece.parts}" + \
        (" →" if piece.part < piece.parts else "")
    pdf.set_xy(x + PAD + inner_w / 2, y + PAD)
    pdf.cell(inner_w / 2, layout.meta_pt * PT * 1.3, right, align="R")
    if piece.part > 1:
        pdf.set_xy(x + PAD + inner_w / 2, y + PAD + layout.meta_pt * PT * 1.4)
        pdf.cell(inner_w / 2, layout.meta_pt * PT * 1.3, f"continued from card {number}", align="R")
    line_h = layout.body_pt * PT * 1.35
    pdf.set_font("sans", size=layout.body_pt)
    top = y + PAD + layout.number_pt * PT * 1.1 + 2
    for n, line in enumerate(piece.lines):
        pdf.set_xy(x + PAD, top + n * line_h)
        shaping_for(pdf, line)
        pdf.cell(inner_w, line_h, line, align="R" if is_rtl(card) else "L")
    meta_h = layout.meta_pt * PT * 1.3
    pdf.set_font("sans", size=layout.meta_pt)
    pdf.set_text_color(70, 70, 70)
    for n, line in enumerate(piece.meta):
        pdf.set_xy(x + PAD, y + h - PAD - (len(piece.meta) - n) * meta_h)
        shaping_for(pdf, line)
        pdf.cell(inner_w, meta_h, line)


def cards_pdf(cards: list[Card], *, code: str, title: str, paper: Paper = Paper.a4, large: bool = False) -> bytes:
    """The cards laid out for cutting: 8 a page (4 in large print), in card number order."""
    layout = LARGE if large else NORMAL
    pdf = new_pdf(paper, [c.text + " " + _meta(c) for c in cards], title)
    width, height = PAPER_MM[paper]
    card_w = (width - 2 * MARGIN) / layout.cols
    card_h = (height - 2 * MARGIN) / layout.rows
    pdf.add_page()  # measuring text needs a page
    in_order = sorted(cards, key=lambda c: (c.number is None, c.number or 0))
    pieces = _pieces(pdf, Wrapper(pdf), in_order, layout, card_w, card_h)
    per_page = layout.cols * layout.rows
    for start in range(0, max(len(pieces), 1), per_page):
        if start:
            pdf.add_page()
        _cut_marks(pdf, layout, card_w, card_h)
        for i, piece in enumerate(pieces[start:start + per_page]):
            col, row = i % layout.cols, i // layout.cols
            _draw(pdf, piece, layout, MARGIN + col * card_w, MARGIN + row * card_h, card_w, card_h, code)
    return bytes(pdf.output())


def report_pdf(report: dict, title: str, paper: Paper = Paper.a4) -> bytes:
    """The workshop's report as pages: the question, the date, each theme with its notes, its spread over places
    and prompts, and its cards (only those the audience may see: `report` comes from service.report)."""
    texts = [report["question"], *report["notes"]]
    for t in report["themes"]:
        texts += [t["name"], *t["notes"], *(c["text"] for c in t["cards"]), *t["places"], *t["prompts"]]
    pdf = new_pdf(paper, texts, title)
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_margins(18, 18, 18)
    pdf.add_page()
    width = pdf.w - 36

    def para(text: str, size: float, gap: float = 2, rtl: bool = False) -> None:
        pdf.set_font("sans", size=size)
        shaping_for(pdf, text)
        pdf.multi_cell(width, size * PT * 1.35, text, align="R" if rtl else "L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    para(title, 22)
    para(f"{report['date']} · {report['workshop']['audience']}", 11)
    if report["question"]:
        para(report["question"], 15, 5)
    for theme in report["themes"]:
        para(f"{theme['name'] or '—'} ({theme['card_count']})", 17, 1)
        spread = "; ".join(f"{k} {n}" for k, n in {**theme["places"], **theme["prompts"]}.items())
        if spread:
            para(spread, 10)
        for note in theme["notes"]:
            para(f"Note: {note}", 11)
        for c in theme["cards"]:
            card = Card.model_validate(c)
            para(f"{card.number}. {card.text}", 12, 0, rtl=is_rtl(card))
            para(_meta(card), 9)
        pdf.ln(3)
    if report["notes"]:
        para("Notes", 17, 1)
        for note in report["notes"]:
            para(note, 11)
    return bytes(pdf.output())
