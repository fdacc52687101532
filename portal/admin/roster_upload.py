"""Roster upload: import a CSV or XLSX list of employees, then book everyone a slot."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.admin import audit
from portal.admin.access import actor_of, admin_render, page
from portal.admin.auth import Actor
from portal.browser import browser_of
from portal.forms import N_
from portal.queueing import room_of
from portal.web import Refused, checked_form
from scheduler.assign import AssignmentReport, assign_unbooked
from scheduler.roster import RosterFormatError, RosterReport, parse_roster
from scheduler.store import ImportCounts, import_registrants

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# The error report names people (NIK masked): kept only long enough to download it.
REPORT_TTL_SECONDS = 3600
ACCEPTED = (".csv", ".xlsx")
NO_FILE = N_("Pilih berkas CSV atau XLSX.")
WRONG_KIND = N_("Hanya berkas .csv atau .xlsx yang dapat diimpor.")
TOO_LARGE = N_("Berkas terlalu besar: paling besar 20 MB.")
EXPIRED = N_("Laporan galat sudah kedaluwarsa. Unggah ulang berkasnya.")
UNREADABLE = N_("Berkas tidak dapat dibaca sebagai daftar peserta: %(reason)s")


async def read_upload(request: Request) -> tuple[dict[str, str], UploadFile | None]:
    """Read a bounded multipart POST with one file and verify its CSRF token."""
    length = request.headers.get("content-length")
    if length is None:
        raise Refused(411, "length_required")
    if not length.isdigit() or int(length) > MAX_UPLOAD_BYTES + 64 * 1024:
        raise Refused(413, "too_large")
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024)
    except Exception as exc:  # the multipart parser raises several kinds for bad bodies
        raise Refused(400, "bad_form") from exc
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = next((v for v in form.values() if isinstance(v, UploadFile)), None)
    browser = browser_of(request)
    expected = browser.csrf_token(request.app.state.signer)
    if browser.is_new or not hmac.compare_digest(values.get("csrf_token", ""), expected):
        if upload is not None:
            await upload.close()
        raise Refused(403, "csrf")
    return values, upload


def _report_key(request: Request, report_id: str) -> str:
    return f"{request.app.state.settings.redis_prefix}:admin:roster-report:{report_id}"


def _import(request: Request, actor: Actor, report: RosterReport,
            filename: str) -> tuple[ImportCounts, float]:
    started = time.perf_counter()
    with request.app.state.db() as session:
        counts = import_registrants(session, report)
        audit.record(session, actor.name, "roster.import", target=filename[:120],
                     after={"rows": report.total_rows, "inserted": counts.inserted,
                            "updated": counts.updated, "unchanged": counts.unchanged,
                            "bad": len(report.bad_rows)}, user_id=actor.user_id)
        session.commit()
    return counts, time.perf_counter() - started


@page("operator")
async def upload_page(request: Request) -> Response:
    return admin_render(request, "admin/roster_upload.html", {})


@page("operator")
async def upload(request: Request) -> Response:
    values, file = await read_upload(request)
    try:
        if file is None or not file.filename:
            return admin_render(request, "admin/roster_upload.html",
                                {"error": NO_FILE}, status=422)
        filename = file.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        if not filename.lower().endswith(ACCEPTED):
            return admin_render(request, "admin/roster_upload.html",
                                {"error": WRONG_KIND}, status=422)
        data = await file.read(MAX_UPLOAD_BYTES + 1)
    finally:
        if file is not None:
            await file.close()
    if len(data) > MAX_UPLOAD_BYTES:
        return admin_render(request, "admin/roster_upload.html", {"error": TOO_LARGE},
                            status=413)
    today = dt.datetime.now(request.app.state.settings.tz).date()
    started = time.perf_counter()
    try:
        report = await run_in_threadpool(parse_roster, data, filename, today)
    except RosterFormatError as exc:
        return admin_render(request, "admin/roster_upload.html",
                            {"error": UNREADABLE, "error_args": {"reason": str(exc)}},
                            status=422)
    parsed_in = time.perf_counter() - started
    counts, imported_in = await run_in_threadpool(_import, request, actor_of(request), report,
                                                  filename)
    report_id = None
    if report.bad_rows:
        report_id = secrets.token_urlsafe(16)
        await request.app.state.redis.set(_report_key(request, report_id),
                                          report.bad_rows_csv(), ex=REPORT_TTL_SECONDS)
    reasons: dict[str, tuple[int, str]] = {}
    for bad in report.bad_rows:
        count, example = reasons.get(bad.reason, (0, bad.message))
        reasons[bad.reason] = (count + 1, example)
    return admin_render(request, "admin/roster_upload.html", {"imported": {
        "filename": filename, "rows": report.total_rows, "counts": counts,
        "bad": len(report.bad_rows), "reasons": sorted(reasons.items()),
        "report_id": report_id, "seconds": round(parsed_in + imported_in, 1)}})


@page("operator")
async def error_report(request: Request) -> Response:
    report_id = request.path_params["report_id"]
    text = await request.app.state.redis.get(_report_key(request, report_id))
    if text is None:
        return admin_render(request, "admin/roster_upload.html",
                            {"error": EXPIRED}, status=404)
    body = "\ufeff" + (text.decode() if isinstance(text, bytes) else text)
    return Response(body.encode(), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": 'attachment; filename="laporan-galat-peserta.csv"',
        "cache-control": "no-store"})


def _schedule(request: Request, actor: Actor, max_active: int) -> AssignmentReport:
    now = dt.datetime.now(dt.UTC)
    settings = request.app.state.settings
    with request.app.state.db() as session:
        result = assign_unbooked(session, settings.room, now, max_active=max_active)
        after: dict[str, Any] = {"registrants": result.registrants, "assigned": result.assigned,
                                 "unassigned": result.unassigned}
        if result.shortfall is not None:
            after["shortfall_places"] = result.shortfall.places
        audit.record(session, actor.name, "roster.schedule", target=settings.room,
                     after=after, user_id=actor.user_id)
        session.commit()
    return result


@page("operator")
async def schedule_all(request: Request) -> Response:
    await checked_form(request)
    config = await room_of(request).config(max_age=0)
    result = await run_in_threadpool(_schedule, request, actor_of(request), config.max_active)
    return admin_render(request, "admin/roster_upload.html", {"scheduled": result})


routes = [
    Route("/admin/peserta/unggah", upload_page, methods=["GET"]),
    Route("/admin/peserta/unggah", upload, methods=["POST"]),
    Route("/admin/peserta/laporan/{report_id:str}", error_report, methods=["GET"]),
    Route("/admin/peserta/jadwalkan", schedule_all, methods=["POST"]),
]
