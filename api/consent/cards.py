"""Pre-printed receipt cards: a PDF sheet of participant labels, each with a QR code of the label, the project's
name and how to withdraw. A researcher hands one over and types (or scans) its label into the consent form, so
the label the participant holds is the one stored; the register finds a withdrawal request by that label."""

import io
import secrets

import segno

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # as the phone's labels: no 0/O or 1/I to misread
COLUMNS, ROWS = 2, 4  # eight cards on an A4 sheet, big enough to cut out by hand


def new_labels(count: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        label = "P-" + "".join(secrets.choice(ALPHABET) for _ in range(4))
        if label not in taken and label not in out:
            out.append(label)
    return out


def _latin1(text: str) -> str:
    """The PDF core fonts speak Latin-1; anything else is shown as '?' rather than failing."""
    return text.encode("latin-1", "replace").decode("latin-1")


def sheet(project_name: str, contact: str, labels: list[str]) -> bytes:
    from fpdf import FPDF  # when a sheet is printed: its import is a quarter of a second of every start

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(False)
    pdf.set_title(_latin1(f"Receipt cards - {project_name}"))
    w, h = 210 / COLUMNS, 297 / ROWS
    for i, label in enumerate(labels):
        if i % (COLUMNS * ROWS) == 0:
            pdf.add_page()
        x, y = (i % COLUMNS) * w, ((i // COLUMNS) % ROWS) * h
        pdf.set_draw_color(170)
        pdf.set_line_width(0.2)
        pdf.rect(x + 3, y + 3, w - 6, h - 6)  # cut here
        png = io.BytesIO()
        # A full QR code, never a Micro QR (segno's choice for text this short): phone cameras and the browser's
        # BarcodeDetector read only full QR codes. The quiet zone is the standard four modules.
        segno.make_qr(label, error="m").save(png, kind="png", scale=5, border=4)
        pdf.image(png, x=x + 6, y=y + 8, w=34, h=34)
        pdf.set_xy(x + 43, y + 8)
        pdf.set_font("Helvetica", "B", 22)
        pdf.cell(w - 49, 12, label)
        pdf.set_xy(x + 43, y + 22)
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(w - 49, 4.5, _latin1(project_name))
        pdf.set_xy(x + 6, y + 46)
        pdf.set_font("Helvetica", "", 9)
        how = (f"To take your words out, contact {contact} and give your code {label}." if contact
               else f"To take your words out, tell the researcher or the project your code {label}.")
        pdf.multi_cell(w - 12, 4.5, _latin1(how + " No name is kept with what you say."))
    return bytes(pdf.output())
