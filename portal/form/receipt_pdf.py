"""The receipt as an A4 PDF, for people who must attach it to a letter or an appeal.

It carries what the page carries (the agency, the person, the registration number,
the time with its zone, the documents and the seal with its QR code), laid out by
fpdf2. The built-in PDF fonts cover Latin-1; other characters are written as their
closest Latin letters, so a name never breaks the document.
"""

from __future__ import annotations

import io
import unicodedata
from typing import TYPE_CHECKING

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from portal.agency import Agency
from portal.i18n import translations

if TYPE_CHECKING:
    from portal.form.receipts import ReceiptView

FONT = "helvetica"
NEXT_X, NEXT_Y = XPos.LMARGIN, YPos.NEXT  # each cell starts a new line
_PLAIN = {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "✓": "v"}


def latin(text: str) -> str:
    """``text`` in the characters the built-in fonts have."""
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for char in text:
        char = _PLAIN.get(char, char)
        try:
            char.encode("latin-1")
            out.append(char)
        except UnicodeEncodeError:
            decomposed = unicodedata.normalize("NFKD", char)
            plain = decomposed.encode("latin-1", "ignore").decode("latin-1")
            out.append(plain or "?")
    return "".join(out)


def receipt_document(view: ReceiptView, agency: Agency, lang: str) -> bytes:
    """The receipt as PDF bytes."""
    _ = translations(lang).gettext
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_title(latin(_("Bukti Pendaftaran") + " " + view.number))
    pdf.set_author(latin(agency.name))
    pdf.set_creator("Antrean")
    pdf.add_page()
    width = pdf.epw

    # Letterhead: logo, agency, registration.
    top = pdf.get_y()
    pdf.image(str(agency.logo), x=pdf.l_margin, y=top, w=18, h=18)
    pdf.set_xy(pdf.l_margin + 22, top)
    pdf.set_font(FONT, "B", 14)
    pdf.cell(width - 22, 7, latin(agency.name), new_x=NEXT_X, new_y=NEXT_Y)
    pdf.set_x(pdf.l_margin + 22)
    pdf.set_font(FONT, "", 11)
    pdf.cell(width - 22, 6, latin(agency.registration), new_x=NEXT_X, new_y=NEXT_Y)
    if agency.address:
        pdf.set_x(pdf.l_margin + 22)
        pdf.set_font(FONT, "", 9)
        pdf.cell(width - 22, 5, latin(agency.address), new_x=NEXT_X, new_y=NEXT_Y)
    pdf.set_y(max(pdf.get_y(), top + 20))
    pdf.set_draw_color(11, 79, 138)
    pdf.set_line_width(0.6)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.ln(5)

    pdf.set_font(FONT, "B", 16)
    pdf.cell(width, 9, latin(_("Bukti Pendaftaran")), align="C", new_x=NEXT_X, new_y=NEXT_Y)
    pdf.set_font(FONT, "", 10)
    pdf.cell(width, 6, latin(_("Nomor pendaftaran")), align="C", new_x=NEXT_X, new_y=NEXT_Y)
    pdf.set_font("courier", "B", 20)
    pdf.cell(width, 10, view.number, align="C", new_x=NEXT_X, new_y=NEXT_Y)
    pdf.set_font(FONT, "", 10)
    pdf.cell(width, 6, latin(_("Diterima") + ": " + view.received), align="C",
             new_x=NEXT_X, new_y=NEXT_Y)
    pdf.ln(4)

    pdf.set_font(FONT, "", 10)
    rows = [(_("Nama"), view.name), (_("NIK"), view.nik)]
    rows += view.details
    pdf.set_font(FONT, "", 9)
    with pdf.table(col_widths=(38, 62), first_row_as_headings=False, line_height=5,
                   borders_layout="HORIZONTAL_LINES") as table:
        for label, value in rows:
            row = table.row()
            row.cell(latin(label))
            row.cell(latin(value))
    pdf.ln(4)

    pdf.set_font(FONT, "B", 11)
    pdf.cell(width, 7, latin(_("Dokumen yang diunggah")), new_x=NEXT_X, new_y=NEXT_Y)
    pdf.set_font(FONT, "", 9)
    if view.documents:
        for doc in view.documents:
            pdf.multi_cell(width, 5, latin(f"{doc.label}: {doc.file_name} ({doc.size_kb} KB)"
                                           f"\nSHA-256 {doc.sha256}"), new_x=NEXT_X, new_y=NEXT_Y)
            pdf.ln(1)
    else:
        pdf.cell(width, 5, latin(_("Tidak ada dokumen.")), new_x=NEXT_X, new_y=NEXT_Y)
    pdf.ln(3)

    # The seal: QR code beside the code and where to check it.
    if pdf.get_y() > pdf.h - 70:
        pdf.add_page()
    seal_top = pdf.get_y()
    pdf.image(io.BytesIO(view.seal.qr_png()), x=pdf.l_margin, y=seal_top, w=34, h=34)
    pdf.set_xy(pdf.l_margin + 38, seal_top + 2)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(width - 38, 6, latin(_("Kode verifikasi")), new_x=NEXT_X, new_y=NEXT_Y)
    pdf.set_x(pdf.l_margin + 38)
    pdf.set_font("courier", "B", 14)
    pdf.cell(width - 38, 8, view.seal.code, new_x=NEXT_X, new_y=NEXT_Y)
    pdf.set_x(pdf.l_margin + 38)
    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(width - 38, 5, latin(
        _("Keaslian bukti ini dapat diperiksa siapa saja dengan memindai kode QR atau "
          "membuka %(url)s dan memasukkan nomor pendaftaran serta kode verifikasi.")
        % {"url": view.seal.url.split("?", 1)[0]}), new_x=NEXT_X, new_y=NEXT_Y)
    pdf.set_y(max(pdf.get_y(), seal_top + 36))
    if agency.has_helpdesk:
        contact = " · ".join(v for v in (agency.helpdesk_phone, agency.helpdesk_email,
                                           agency.helpdesk_hours) if v)
        pdf.ln(2)
        pdf.set_font(FONT, "", 9)
        pdf.multi_cell(width, 5, latin(_("Bantuan") + ": " + contact), new_x=NEXT_X, new_y=NEXT_Y)
    return bytes(pdf.output())
