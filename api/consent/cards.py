"""Pre-printed receipt cards: a PDF sheet of participant labels, each with a QR code of the label, the project's
name and how to withdraw. A researcher hands one over and types (or scans) its label into the consent form, so
the label the participant holds is the one stored; the register finds a withdrawal request by that label."""

import io
import secrets

import segno

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # as the phone's labels: no 0/O or 1/I to misread
COLUMNS, ROWS = 2, 4  # eight cards on an A4 sheet, big enough to cut out by hand


# Six characters (a billion labels), as the phone makes them: with four (a million), two sheets of 400 printed
# before either was used shared a label one time in seven, and phones' own labels met within a few thousand
# participants; one person's subject-access file then held another's words.
LABEL_CHARACTERS = 6


def new_labels(count: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        label = "P-" + "".join(secrets.choice(ALPHABET) for _ in range(LABEL_CHARACTERS))
        if label not in taken and label not in out:
            out.append(label)
    return out


def sheet(project_name: str, contact: str, labels: list[str]) -> bytes:
    """Eight cards to an A4 page, in the fonts the workshop cards use (any script: a contact in Polish or a name in
    Arabic printed as question marks in the core fonts, and a participant could not read how to withdraw)."""
    from api.workshops import printing  # when a sheet is printed: fpdf's import is a quarter of a second

    pdf = printing.new_pdf(printing.Paper.a4, [project_name, contact], f"Receipt cards - {project_name}")
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
        pdf.set_font("sans", size=20)
        pdf.cell(w - 49, 12, label)
        pdf.set_xy(x + 43, y + 22)
        pdf.set_font("sans", size=9)
        printing.shaping_for(pdf, project_name)
        # At most five lines, so a long name never runs into how to withdraw below it.
        lines = pdf.multi_cell(w - 49, 4.5, project_name, dry_run=True, output="LINES")
        if len(lines) > 5:
            lines = lines[:4] + [lines[4].rstrip()[:-1] + "…"]
        pdf.multi_cell(w - 49, 4.5, "\n".join(lines))
        pdf.set_xy(x + 6, y + 46)
        how = (f"To take your words out, contact {contact} and give your code {label}." if contact
               else f"To take your words out, tell the researcher or the project your code {label}.")
        printing.shaping_for(pdf, how)
        pdf.multi_cell(w - 12, 4.5, how + " No name is kept with what you say.")
    return bytes(pdf.output())
