"""Exports of the submissions as CSV and XLSX, streamed in batches with flat memory.

XLSX is the file for people: every cell is a text cell formatted as text ("@"), so
Excel and LibreOffice keep a NIK's sixteen digits and a phone's "+" exactly, and a
cell can never be a formula (a formula is a different kind of cell), so nothing is
prefixed. CSV is the file for programs (UTF-8 with a BOM, RFC 4180, times in ISO 8601
with their offset): a spreadsheet that opens it guesses types and turns a NIK into
a rounded number, which no CSV can prevent. Its cells are defused only where a
formula could start: free text beginning with = + - @, never a plain number such as
an E.164 phone number, which a spreadsheet may show as a number but cannot run.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from portal.admin import audit
from portal.admin.access import actor_of, admin_render, page
from portal.admin.xlsx import stream_xlsx
from portal.form.fields import SECTIONS
from portal.form.models import Submission
from portal.state import state_of
from portal.times import zone_label

FORM_FIELDS = tuple(f.name for section in SECTIONS for f in section.fields
                    if f.name not in ("nik", "nama"))
HEADER = ("nomor_pendaftaran", "nik", "nama", "waktu_kirim", "nomor_antrean", *FORM_FIELDS)
TIME_COLUMN = HEADER.index("waktu_kirim")
BATCH = 2000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+")


def spreadsheet_safe(value: str) -> str:
    """Defuse text a spreadsheet would run as a formula (CSV injection).

    A plain number (``+6281234567890``, ``-5``) is left alone: it cannot call
    anything, and a guard would put an apostrophe into every phone number.
    """
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def submission_rows(db: sessionmaker[Session], tz: ZoneInfo,
                    batch: int = BATCH) -> Iterator[list[str]]:
    """Every submission as text cells, by id, read in short keyset-paged queries.

    The time is ISO 8601 in the registration's zone with its offset
    (``2026-12-02T01:59:00+07:00``): one reading for people and programs alike.
    """
    # Keyset pages instead of one long cursor: no transaction stays open for the
    # minutes a large export takes, and both databases behave the same.
    last_id = 0
    columns = (Submission.id, Submission.registration_number, Submission.nik, Submission.name,
               Submission.created_at, Submission.queue_number, Submission.data)
    while True:
        with db() as session:
            page_rows = session.execute(select(*columns).where(Submission.id > last_id)
                                        .order_by(Submission.id).limit(batch)).all()
        if not page_rows:
            return
        for row_id, number, nik, name, created, queue_number, data in page_rows:
            when = created.replace(tzinfo=created.tzinfo or dt.UTC).astimezone(tz)
            values = [number, nik, name, when.isoformat(timespec="seconds"),
                      "" if queue_number is None else str(queue_number)]
            values.extend(str((data or {}).get(field, "") or "") for field in FORM_FIELDS)
            yield values
            last_id = row_id


def xlsx_rows(rows: Iterator[list[str]], tz: ZoneInfo) -> Iterator[list[str]]:
    """Rows for people: the time as ``2026-12-02 01:59:00 WIB`` (sorts as text, labelled)."""
    label = zone_label(tz)
    for values in rows:
        when = dt.datetime.fromisoformat(values[TIME_COLUMN])
        values[TIME_COLUMN] = when.strftime("%Y-%m-%d %H:%M:%S ") + label
        yield values


def stream_csv(rows: Iterator[list[str]], batch: int = BATCH) -> Iterator[bytes]:
    """Yield a UTF-8 CSV (with a BOM, so spreadsheet programs read it right) in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(HEADER)
    pending = 0
    for row in rows:
        writer.writerow([spreadsheet_safe(value) for value in row])
        pending += 1
        if pending >= batch:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode()


def _audit(request: Request, kind: str) -> None:
    actor = actor_of(request)
    with state_of(request).db() as session:
        audit.record(session, actor.name, "export", target=f"submissions.{kind}",
                     user_id=actor.user_id)
        session.commit()


def _filename(request: Request, extension: str) -> str:
    stamp = dt.datetime.now(state_of(request).settings.tz).strftime("%Y%m%d-%H%M")
    return f"pendaftaran-{stamp}.{extension}"


@page("operator")
async def exports_page(request: Request) -> Response:
    return admin_render(request, "admin/exports.html", {})


@page("operator")
async def export_csv(request: Request) -> Response:
    state = state_of(request)
    await run_in_threadpool(_audit, request, "csv")
    rows = submission_rows(state.db, state.settings.tz)
    # A sync generator: Starlette runs each step in the thread pool, off the event loop.
    return StreamingResponse(stream_csv(rows), media_type="text/csv; charset=utf-8",
                             headers={"content-disposition":
                                      f'attachment; filename="{_filename(request, "csv")}"'})


@page("operator")
async def export_xlsx(request: Request) -> Response:
    state = state_of(request)
    await run_in_threadpool(_audit, request, "xlsx")
    rows = submission_rows(state.db, state.settings.tz)
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return StreamingResponse(stream_xlsx(HEADER, xlsx_rows(rows, state.settings.tz),
                                         sheet_name="Pendaftaran"),
                             media_type=media,
                             headers={"content-disposition":
                                      f'attachment; filename="{_filename(request, "xlsx")}"'})


routes = [
    Route("/admin/ekspor", exports_page, methods=["GET"]),
    Route("/admin/ekspor/pendaftaran.csv", export_csv, methods=["GET"]),
    Route("/admin/ekspor/pendaftaran.xlsx", export_xlsx, methods=["GET"]),
]
