"""Pre-printed receipt cards end to end: a coordinator prints them from the project settings (each card a new label,
its QR code and the withdrawal contact); a researcher scans a card on the phone (the browser's BarcodeDetector on
the camera) or types its label, which is checked and is the label stored; and the consent register finds that
label first when the participant asks to be taken out, however they read it out."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import segno
from pypdf import PdfReader

from tests.e2e.helpers import (
    COORDINATOR,
    RESEARCHER_PASSWORD,
    SCREENSHOTS,
    app_eval,
    login_ui,
    new_researcher_ui,
    open_app,
    shot,
    start_conversation_ui,
    wait_counts,
)
from tests.support.live_server import login_client, ok

pytestmark = pytest.mark.browser
LAPTOP = {"width": 1280, "height": 800}
CONTACT = "Ana at Belong, 01752 000 111"

# The browser's own QR reader and a camera, stood in for: headless Chromium on Linux has neither. The stand-in
# reader "sees" the card on its third look at the picture, as a real one does after the camera settles.
FAKE_CAMERA = """
window.__looks = 0;
window.BarcodeDetector = class {
  constructor(opts) { window.__formats = opts && opts.formats; }
  static async getSupportedFormats() { return ['qr_code']; }
  async detect(source) {
    window.__looks += 1;
    window.__sawVideo = source instanceof HTMLVideoElement && source.srcObject instanceof MediaStream;
    return window.__looks >= 3 ? [{ format: 'qr_code', rawValue: window.__card || '' }] : [];
  }
};
Object.defineProperty(navigator, 'mediaDevices', { configurable: true, value: { getUserMedia: async (want) => {
  window.__asked = want;
  window.__cameras = (window.__cameras || 0) + 1;
  const c = document.createElement('canvas');
  c.width = 64; c.height = 64;
  c.getContext('2d').fillRect(0, 0, 64, 64);
  window.__stream = c.captureStream(5);
  return window.__stream;
} } });
"""


@pytest.fixture
def desk(browser):
    context = browser.new_context(viewport=LAPTOP, device_scale_factor=1, accept_downloads=True)
    context.set_default_timeout(15_000)
    yield context
    context.close()


def _qr_modules(image, size: int) -> list[list[bool]]:
    """The dark/light modules of a QR code image drawn with a quiet zone of four modules."""
    gray = image.convert("L")
    scale = gray.size[0] / (size + 8)
    return [[gray.getpixel((int((4 + c + 0.5) * scale), int((4 + r + 0.5) * scale))) < 128 for c in range(size)]
            for r in range(size)]


def _labels_and_qr_codes(pdf: bytes) -> list[tuple[str, object]]:
    out = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        labels = [line for line in page.extract_text().splitlines() if line.startswith("P-") and len(line) == 8]
        out += list(zip(labels, [i.image for i in page.images], strict=True))
    return out


def test_a_coordinator_prints_receipt_cards_with_qr_codes_of_their_labels_and_the_contact(desk, world, server):
    ok(world.admin.patch(f"/projects/{world.project_id}", json={"withdrawal_contact": ""}))
    page = desk.new_page()
    open_app(page, server)
    login_ui(page, world.add_coordinator("cards-coord"), RESEARCHER_PASSWORD, lands_on=COORDINATOR)
    page.goto(f"{server.url}/app/#/co/{world.project_id}/project")
    page.wait_for_selector("#receipt-cards")
    assert page.locator("#cards-no-contact").is_visible()  # the cards would not say whom to contact
    page.fill("#project-details input[name=withdrawal_contact]", CONTACT)
    page.click("#project-details button[type=submit]")
    page.wait_for_function("() => document.querySelector('#project-details .status').textContent.includes('Saved')")
    page.reload()
    page.wait_for_selector("#receipt-cards")
    assert page.locator("#cards-no-contact").count() == 0
    page.fill("#receipt-cards input[name=count]", "10")
    page.locator("#receipt-cards").scroll_into_view_if_needed()
    with page.expect_download() as got:
        page.click("#receipt-cards button[type=submit]")
    pdf = Path(got.value.path()).read_bytes()
    assert got.value.suggested_filename == "receipt-cards.pdf"
    page.wait_for_function("() => document.querySelector('#cards-status').textContent.includes('receipt-cards.pdf')")
    shot(page, "coord-print-receipt-cards")
    if shutil.which("pdftoppm"):  # a picture of the printed sheet beside the page's (scripts/test installs it)
        (SCREENSHOTS / "receipt-cards.pdf").write_bytes(pdf)
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile",
                        str(SCREENSHOTS / "receipt-cards.pdf"), str(SCREENSHOTS / "receipt-cards-sheet")], check=True)
        (SCREENSHOTS / "receipt-cards.pdf").unlink()

    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2  # eight to a page
    text = " ".join("\n".join(p.extract_text() for p in reader.pages).split())  # (pypdf spaces TrueType words twice)
    cards = _labels_and_qr_codes(pdf)
    assert len(cards) == 10 and len({label for label, _ in cards}) == 10
    for label, image in cards:
        assert text.count(label) == 2  # on the card, and in "give your code …"
        # A full QR code (three finder patterns; phones and BarcodeDetector read no Micro QR) of the label itself.
        want = segno.make_qr(label, error="m")
        assert not want.is_micro
        assert _qr_modules(image, len(want.matrix)) == [[bool(v) for v in row] for row in want.matrix], label
    assert text.count(CONTACT.split(",")[0]) == 10


def _open_consent(page) -> str:
    conv = start_conversation_ui(page)
    page.click("#add-participant")
    page.wait_for_selector("#consent")
    return conv


def _answer_and_save(page) -> None:
    for scope in ("audio", "quote", "share", "publish"):
        page.check(f"[data-scope={scope}] input[value=yes]")
    page.click("#consent button[type=submit]")


def _stored_labels(page) -> list[str]:
    return app_eval(page, "return (await A.db.allRecords()).filter((r) => r.type === 'consent')"
                          ".map((r) => r.data.participant_label);")


def test_scanning_a_card_on_the_phone_stores_the_cards_label(phone, world, server):
    phone.add_init_script(FAKE_CAMERA)
    page, email, _ = new_researcher_ui(phone, world, "scan")
    _open_consent(page)
    page.evaluate("() => { window.__card = ' p-7hqx '; }")
    page.tap("#scan-card")
    page.evaluate("() => document.querySelector('#scan-card').click()")  # a second tap opens no second camera
    page.wait_for_selector("#scan-video")
    shot(page, "phone-scan-card")
    page.wait_for_function("() => document.querySelector('#scan-note').textContent.includes('P-7HQX')")
    assert page.input_value("#consent input[name=label]") == "P-7HQX"
    assert page.locator("#scan-video").count() == 0  # the camera is let go once the card is read
    assert page.evaluate("() => window.__stream.getTracks().every((t) => t.readyState === 'ended')")
    assert page.evaluate("() => [window.__formats, window.__sawVideo, window.__asked.video.facingMode, "
                         "window.__cameras]") == [["qr_code"], True, "environment", 1]
    shot(page, "phone-scan-card-read")
    _answer_and_save(page)
    page.wait_for_selector("#fragment")
    assert _stored_labels(page) == ["P-7HQX"]
    wait_counts(page, local=0, synced=2)
    with login_client(server, email, RESEARCHER_PASSWORD) as client:
        mine = ok(client.get("/consents", params={"project_id": world.project_id}))
    assert [c["participant_label"] for c in mine] == ["P-7HQX"]

    # The same card again in the project is refused with a reason, from the scan itself and at saving.
    page.goto(page.url.split("#")[0] + "#/")
    _open_consent(page)
    page.tap("#scan-card")
    page.wait_for_function("() => document.querySelector('#scan-note').textContent.includes('already used')")
    _answer_and_save(page)
    page.wait_for_function("() => document.querySelector('#consent .error').textContent.includes('already used')")
    assert _stored_labels(page) == ["P-7HQX"]


def test_without_a_qr_reader_the_researcher_types_the_cards_label_which_is_checked(phone, world, server):
    page, _, _ = new_researcher_ui(phone, world, "type")
    _open_consent(page)
    assert page.evaluate("() => 'BarcodeDetector' in window") is False  # as in headless Chromium on Linux
    page.tap("#scan-card")
    page.wait_for_function("() => document.querySelector('#scan-note').textContent.length > 0")
    assert page.inner_text("#scan-note") == "This phone cannot scan cards. Type the label printed on the card."
    assert page.evaluate("() => document.activeElement.name") == "label"
    assert page.input_value("#consent input[name=label]") == ""
    page.fill("#consent input[name=label]", "P-4K!7")
    _answer_and_save(page)
    page.wait_for_function("() => document.querySelector('#consent .error').textContent.includes('letters, digits')")
    assert _stored_labels(page) == []
    shot(page, "phone-card-label-refused")
    page.fill("#consent input[name=label]", " p-9 abc ")
    page.click("#consent button[type=submit]")
    page.wait_for_selector("#fragment")
    assert _stored_labels(page) == ["P-9ABC"]


def test_the_register_finds_the_code_on_a_receipt_first_however_it_is_read_out(desk, world, server):
    coord = world.add_coordinator("cards-coord")
    code = f"P-{uuid.uuid4().hex[:4].upper()}"
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    with world.researcher() as client:
        for n, label in enumerate((code, f"{code}B", f"X{code}")):  # the code itself is the oldest
            conv, consent = str(uuid.uuid4()), str(uuid.uuid4())
            at = (start + dt.timedelta(hours=n)).isoformat()
            ok(client.post("/sync", json={"device_id": "cards-seed", "items": [
                {"type": "conversation", "id": conv, "data": {"project_id": world.project_id,
                                                              "prompt_ids": [], "started_at": at}},
                {"type": "consent", "id": consent, "data": {
                    "conversation_id": conv, "participant_label": label, "consent_form_id": world.consent_form_id,
                    "scopes": ["quote"], "method": "verbal", "given_at": at}}]}))
    page = desk.new_page()
    open_app(page, server)
    login_ui(page, coord, RESEARCHER_PASSWORD, lands_on=COORDINATOR)
    page.goto(f"{server.url}/app/#/co/{world.project_id}/consents")
    page.wait_for_selector("#consent-filters")
    spoken = f" {code[0].lower()} {code[2:].lower()} "  # "p 4kq7": as a participant reads it out
    page.fill("#consent-filters input[name=participant_label]", spoken)
    page.click("#consent-filters button[type=submit]")
    page.wait_for_function("(c) => document.querySelectorAll('#consent-table tbody tr').length === 3", arg=code)
    rows = page.locator("#consent-table tbody tr")
    assert rows.nth(0).get_attribute("data-label") == code
    shot(page, "coord-register-finds-code-first")
    rows.nth(0).locator("a:has-text('Withdraw')").click()
    page.wait_for_selector("#withdraw-form")
    assert code in page.inner_text("h1")
