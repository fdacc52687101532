"""A streaming XLSX writer: rows in, zip bytes out, memory flat however many rows.

openpyxl's write-only mode still needs a seekable file; this writes the few parts
an XLSX needs (inline strings, no shared-string table) into a zip stream whose
bytes are handed out as they are produced.

Every cell is an inline string with the text number format ("@", built-in format
49), and so is every column: a NIK or a phone number stays exactly the text it is,
also when an operator edits the cell or types a new row, and no cell is a formula.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from xml.sax.saxutils import escape

MAX_SHEET_ROWS = 1_048_576  # Excel's limit, header included
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


class _Drain:
    """A write-only file whose bytes are taken out by the generator as they come."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: the generator takes the bytes."""

    def close(self) -> None:
        """Nothing to close: the bytes are already handed out."""

    def take(self) -> bytes:
        """Return and forget everything written so far."""
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


TEXT_STYLE = 1  # the cellXfs entry of styles.xml below with the "@" format
_STYLES = (
    f'<styleSheet xmlns="{_MAIN}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="49" fontId="1" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" '
    'applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>")
HEADER_STYLE = 2


def _cell(value: str, style: int = TEXT_STYLE) -> str:
    text = escape(_ILLEGAL.sub("", value))
    return f'<c t="inlineStr" s="{style}"><is><t xml:space="preserve">{text}</t></is></c>'


def _row(number: int, values: Sequence[str], style: int = TEXT_STYLE) -> str:
    return f'<row r="{number}">' + "".join(_cell(v, style) for v in values) + "</row>"


def _columns(count: int, widths: Sequence[int] | None = None) -> str:
    """Every column formatted as text, so a value typed in later stays text too."""
    if not widths:
        return f'<cols><col min="1" max="{max(count, 1)}" width="18" style="{TEXT_STYLE}"/></cols>'
    return "<cols>" + "".join(
        f'<col min="{n}" max="{n}" width="{w}" customWidth="1" style="{TEXT_STYLE}"/>'
        for n, w in enumerate(widths, start=1)) + "</cols>"


def stream_xlsx(header: Sequence[str], rows: Iterable[Sequence[str]], *,
                sheet_name: str = "Data", batch: int = 500,
                widths: Sequence[int] | None = None,
                extra_sheets: Sequence[tuple[str, Sequence[Sequence[str]]]] = ()
                ) -> Iterator[bytes]:
    """Yield an XLSX file of text cells; a new sheet starts when one is full.

    ``extra_sheets`` (name, rows) follow the data, e.g. instructions for a template.
    """
    drain = _Drain()
    sheets = 0
    with zipfile.ZipFile(drain, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=5) as archive:
        sheet = None
        written = 0
        pending: list[str] = []

        def open_sheet() -> None:
            nonlocal sheet, sheets, written
            sheets += 1
            sheet = archive.open(f"xl/worksheets/sheet{sheets}.xml", "w", force_zip64=True)
            sheet.write((_HEAD + f'<worksheet xmlns="{_MAIN}">'
                         + _columns(len(header), widths) + "<sheetData>"
                         + _row(1, header, HEADER_STYLE)).encode())
            written = 1

        def close_sheet() -> None:
            assert sheet is not None
            sheet.write(("".join(pending) + "</sheetData></worksheet>").encode())
            pending.clear()
            sheet.close()

        open_sheet()
        for values in rows:
            if written == MAX_SHEET_ROWS:
                close_sheet()
                open_sheet()
            written += 1
            pending.append(_row(written, values))
            if len(pending) >= batch:
                assert sheet is not None
                sheet.write("".join(pending).encode())
                pending.clear()
                yield drain.take()
        close_sheet()
        data_sheets = sheets
        for _name, extra_rows in extra_sheets:
            sheets += 1
            archive.writestr(f"xl/worksheets/sheet{sheets}.xml", _HEAD + (
                f'<worksheet xmlns="{_MAIN}"><cols><col min="1" max="1" width="100" '
                f'customWidth="1" style="{TEXT_STYLE}"/></cols><sheetData>'
                + "".join(_row(n, values) for n, values in enumerate(extra_rows, start=1))
                + "</sheetData></worksheet>"))
        titles = [f"{sheet_name} {n}" if data_sheets > 1 else sheet_name
                  for n in range(1, data_sheets + 1)] + [name for name, _ in extra_sheets]
        names = "".join(
            f'<sheet name="{escape(title)}" sheetId="{n}" r:id="rId{n}"/>'
            for n, title in enumerate(titles, start=1))
        archive.writestr("xl/workbook.xml", _HEAD + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
                         f"<sheets>{names}</sheets></workbook>")
        links = "".join(
            f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" '
            f'Target="worksheets/sheet{n}.xml"/>' for n in range(1, sheets + 1))
        links += (f'<Relationship Id="rId{sheets + 1}" Type="{_REL}/styles" '
                  'Target="styles.xml"/>')
        archive.writestr("xl/_rels/workbook.xml.rels",
                         _HEAD + f'<Relationships xmlns="{_PKG_REL}">{links}</Relationships>')
        archive.writestr("xl/styles.xml", _HEAD + _STYLES)
        archive.writestr("_rels/.rels", _HEAD + f'<Relationships xmlns="{_PKG_REL}">'
                         f'<Relationship Id="rId1" Type="{_REL}/officeDocument" '
                         'Target="xl/workbook.xml"/></Relationships>')
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for n in range(1, sheets + 1))
        archive.writestr("[Content_Types].xml", _HEAD + (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            f"{overrides}</Types>"))
        yield drain.take()
    yield drain.take()
