"""A streaming XLSX writer: rows in, zip bytes out, memory flat however many rows.

openpyxl's write-only mode still needs a seekable file; this writes the few parts
an XLSX needs (inline strings, no shared-string table) into a zip stream whose
bytes are handed out as they are produced.
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


def _cell(value: str) -> str:
    text = escape(_ILLEGAL.sub("", value))
    return f'<c t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _row(number: int, values: Sequence[str]) -> str:
    return f'<row r="{number}">' + "".join(_cell(v) for v in values) + "</row>"


def stream_xlsx(header: Sequence[str], rows: Iterable[Sequence[str]], *,
                sheet_name: str = "Data", batch: int = 500) -> Iterator[bytes]:
    """Yield an XLSX file of text cells; a new sheet starts when one is full."""
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
            sheet.write((_HEAD + f'<worksheet xmlns="{_MAIN}"><sheetData>'
                         + _row(1, header)).encode())
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
        names = "".join(
            f'<sheet name="{escape(sheet_name)} {n}" sheetId="{n}" r:id="rId{n}"/>'
            for n in range(1, sheets + 1))
        archive.writestr("xl/workbook.xml", _HEAD + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
                         f"<sheets>{names}</sheets></workbook>")
        links = "".join(
            f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" '
            f'Target="worksheets/sheet{n}.xml"/>' for n in range(1, sheets + 1))
        archive.writestr("xl/_rels/workbook.xml.rels",
                         _HEAD + f'<Relationships xmlns="{_PKG_REL}">{links}</Relationships>')
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
            f"{overrides}</Types>"))
        yield drain.take()
    yield drain.take()
