"""XLSX files the way attackers and odd writers make them, built in the test."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator

from portal.admin.xlsx import stream_xlsx

SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
              b'openxmlformats.org/spreadsheetml/2006/main">')
HEADER_ROW = (b'<row r="1"><c t="inlineStr"><is><t>nik</t></is></c>'
              b'<c t="inlineStr"><is><t>nama</t></is></c></row>')


def xlsx_with_sheet(sheet_xml: Iterable[bytes]) -> bytes:
    """A workbook (the portal's own template parts) whose first sheet is ``sheet_xml``.

    The sheet is written piece by piece, so a sheet of many MB (a zip bomb) never
    sits in memory whole; only its compressed bytes do.
    """
    template = b"".join(stream_xlsx(["nik", "nama"], []))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(template)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            if name != "xl/worksheets/sheet1.xml":
                target.writestr(name, source.read(name))
                continue
            with target.open(name, "w", force_zip64=True) as sheet:
                for part in sheet_xml:
                    sheet.write(part)
    return out.getvalue()


def sheet(body: Iterable[bytes], dimension: str | None = None) -> Iterator[bytes]:
    """A sheet's XML: the roster header row, then ``body`` (more rows)."""
    yield SHEET_HEAD
    if dimension is not None:
        yield f'<dimension ref="{dimension}"/>'.encode()
    yield b"<sheetData>" + HEADER_ROW
    yield from body
    yield b"</sheetData></worksheet>"


def repeated(piece: bytes, total_bytes: int) -> Iterator[bytes]:
    """``piece`` again and again, ``total_bytes`` of it (rounded up), in 256 KiB writes."""
    block = piece * max(1, (256 * 1024) // len(piece))
    for _ in range(-(-total_bytes // len(block))):
        yield block
