"""Roster upload: import a CSV or XLSX list of employees, then book everyone a slot.

Small files are imported during the request; larger ones by the RQ worker while
the page shows a progress bar. Both run the same ``roster_jobs.import_roster``
and end on the same result page, which a reload shows again. An XLSX is sized by
what it unpacks to, and one that unpacks to more than the roster reader takes is
refused at once, before anything is stored.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

from rq import Worker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.admin import audit
from portal.admin.access import actor_of, admin_render, page
from portal.admin.auth import Actor
from portal.admin.roster_jobs import (
    FAILED,
    QUEUED,
    UNREADABLE,
    RosterImport,
    enqueue_import,
    import_roster,
    new_import_id,
    report_key,
    save_state,
    state_key,
    store_upload,
    valid_import_id,
)
from portal.admin.xlsx import stream_xlsx
from portal.bodies import ROSTER_BODY_BYTES, ROSTER_FILE_BYTES, BodyTooLarge
from portal.browser import browser_of
from portal.errors import json_error
from portal.form.uploads import upload_store
from portal.i18n import N_, language_of, translations
from portal.notify.events import announce_assigned_job
from portal.state import state_of
from portal.web import MAX_PART_BYTES, Refused, checked_form
from scheduler.assign import AssignmentReport, assign_unbooked
from scheduler.roster import (
    REASON_LABELS,
    TEMPLATE_EXAMPLE,
    TEMPLATE_HEADER,
    RosterFormatError,
    check_xlsx_size,
)

MAX_UPLOAD_BYTES = ROSTER_FILE_BYTES
# Up to this size (a few thousand rows, well under a second) the request imports the
# file itself; anything larger goes to the worker and the page follows its progress.
INLINE_MAX_BYTES = 512 * 1024
# An XLSX is judged by what it unpacks to (a small zip can hold a sheet of many MB):
# up to this much XML (some 3,500 rows, half a second) the request imports it.
INLINE_MAX_XLSX_UNPACKED = 2 * 1024 * 1024
ACCEPTED = (".csv", ".xlsx")
NO_FILE = N_("Pilih berkas CSV atau XLSX.")
WRONG_KIND = N_("Hanya berkas .csv atau .xlsx yang dapat diimpor.")
TOO_LARGE = N_("Berkas terlalu besar: paling besar 20 MB.")
EXPIRED = N_("Laporan galat sudah kedaluwarsa. Unggah ulang berkasnya.")
UNKNOWN_IMPORT = N_("Impor ini tidak ditemukan atau sudah kedaluwarsa. Unggah ulang berkasnya.")


async def read_upload(request: Request) -> tuple[dict[str, str], UploadFile | None]:
    """Read a bounded multipart POST with one file and verify its CSRF token."""
    length = request.headers.get("content-length")
    if length is None:
        raise Refused(411, "length_required")
    if not length.isdigit() or int(length) > ROSTER_BODY_BYTES:
        raise Refused(413, "too_large")
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=MAX_PART_BYTES)
    except BodyTooLarge:
        raise  # portal.bodies answers it
    except Exception as exc:  # the multipart parser raises several kinds for bad bodies
        raise Refused(400, "bad_form") from exc
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = next((v for v in form.values() if isinstance(v, UploadFile)), None)
    browser = browser_of(request)
    expected = browser.csrf_token(state_of(request).signer)
    if browser.is_new or not hmac.compare_digest(values.get("csrf_token", ""), expected):
        if upload is not None:
            await upload.close()
        raise Refused(403, "csrf")
    return values, upload


async def _state(request: Request, import_id: str) -> RosterImport | None:
    state = state_of(request)
    if not valid_import_id(import_id):
        return None
    prefix = state.settings.redis_prefix
    raw = await state.redis.get(state_key(prefix, import_id))
    return None if raw is None else RosterImport.from_json(raw)


@page("operator")
async def upload_page(request: Request) -> Response:
    return _page(request, {})


def _page(request: Request, context: dict[str, Any], status: int = 200) -> Response:
    """The upload page; the import report names each reason in the page's language."""
    return admin_render(request, "admin/roster_upload.html",
                        {**context, "reason_labels": REASON_LABELS}, status=status)


TEMPLATE_GUIDE = (
    N_("Petunjuk mengisi daftar peserta"),
    N_("Isi satu baris per pegawai di lembar Peserta, mulai baris 3; baris contoh boleh "
       "dibiarkan (dilewati saat impor) atau dihapus."),
    N_("Semua kolom sudah berformat Teks: NIK tetap 16 digit dan nomor HP tetap diawali 0 "
       "atau +62. Jangan ubah formatnya menjadi Angka atau Umum."),
    N_("Kolom wajib: nik dan nama. Nomor HP atau e-mail dipakai untuk mengirim kode "
       "verifikasi dan jadwal; isi setidaknya salah satu."),
    N_("Simpan sebagai XLSX dan unggah di halaman Unggah daftar peserta. Jika menyalin dari "
       "berkas lain, tempel sebagai nilai (Tempel Spesial > Nilai)."),
)


@page("operator")
async def roster_template(request: Request) -> Response:
    """An XLSX to fill in: the columns the import reads, formatted as text, one example."""
    gettext = translations(language_of(request)).gettext
    guide = [[gettext(line)] for line in TEMPLATE_GUIDE]
    data = b"".join(stream_xlsx(TEMPLATE_HEADER, [list(TEMPLATE_EXAMPLE)],
                                sheet_name="Peserta", widths=(20, 32, 18, 28, 24, 30, 24),
                                extra_sheets=[(gettext("Petunjuk"), guide)]))
    return Response(data, media_type="application/vnd.openxmlformats-officedocument."
                    "spreadsheetml.sheet",
                    headers={"content-disposition":
                             'attachment; filename="templat-daftar-peserta.xlsx"'})


@page("operator")
async def upload(request: Request) -> Response:
    values, file = await read_upload(request)
    try:
        if file is None or not file.filename:
            return _page(request, {"error": NO_FILE}, status=422)
        filename = file.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        if not filename.lower().endswith(ACCEPTED):
            return _page(request, {"error": WRONG_KIND}, status=422)
        data = await file.read(MAX_UPLOAD_BYTES + 1)
    finally:
        if file is not None:
            await file.close()
    if len(data) > MAX_UPLOAD_BYTES:
        return _page(request, {"error": TOO_LARGE},
                            status=413)
    state = state_of(request)
    settings = state.settings
    actor = actor_of(request)
    suffix = ".xlsx" if filename.lower().endswith(".xlsx") else ".csv"
    inline = len(data) <= INLINE_MAX_BYTES
    if suffix == ".xlsx":
        try:  # the zip's directory only: nothing is unpacked here
            unpacked = await run_in_threadpool(check_xlsx_size, data)
            inline = inline and unpacked <= INLINE_MAX_XLSX_UNPACKED
        except RosterFormatError as exc:
            return _page(request, {"error": UNREADABLE, "error_args": {"reason": str(exc)}},
                         status=422)
    job = RosterImport(new_import_id(), filename[:200], suffix, actor.name, actor.user_id,
                       dt.datetime.now(settings.tz).date().isoformat())
    redis = state.sync_redis  # the room's Redis, synchronous, as the import job uses it
    store = upload_store(settings)
    await run_in_threadpool(store_upload, store, job.id, suffix, data)
    await run_in_threadpool(save_state, redis, settings.redis_prefix, job)
    if inline:
        ended = await run_in_threadpool(import_roster, redis, state.db, store,
                                        settings.redis_prefix, job.id)
        if ended is not None and ended.state == FAILED:
            # Nothing to follow: say what is wrong with the file right on the form.
            return _page(request, {"error": ended.error, "error_args": ended.error_args},
                                status=422)
    else:
        await run_in_threadpool(enqueue_import, state.queue, settings.redis_prefix, job.id)
    return RedirectResponse(f"/admin/peserta/unggah/{job.id}", status_code=303)


@page("operator")
async def import_page(request: Request) -> Response:
    job = await _state(request, request.path_params["import_id"])
    if job is None:
        return _page(request, {"error": UNKNOWN_IMPORT},
                            status=404)
    return _page(request, {"job": job,
                         "workers": await _workers(request) if job.state == QUEUED else None})


@page("operator")
async def import_progress(request: Request) -> Response:
    job = await _state(request, request.path_params["import_id"])
    if job is None:
        return json_error(404, "not_found", "Impor tidak ditemukan atau sudah kedaluwarsa.")
    body = job.progress()
    if job.state == QUEUED:
        body["workers"] = await _workers(request)
    return JSONResponse(body, headers={"cache-control": "no-store"})


async def _workers(request: Request) -> int:
    """Background workers listening on the jobs queue (asked while an import waits).

    An import queued with no worker running would wait for ever; the page says so.
    """
    return int(await run_in_threadpool(Worker.count, queue=state_of(request).queue))


@page("operator")
async def error_report(request: Request) -> Response:
    state = state_of(request)
    report_id = request.path_params["report_id"]
    prefix = state.settings.redis_prefix
    text = None
    if valid_import_id(report_id):
        text = await state.redis.get(report_key(prefix, report_id))
    if text is None:
        return _page(request, {"error": EXPIRED}, status=404)
    body = "\ufeff" + (text.decode() if isinstance(text, bytes) else text)
    return Response(body.encode(), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": 'attachment; filename="laporan-galat-peserta.csv"',
        "cache-control": "no-store"})


CHOOSE_NOTIFY = N_("Pilih apakah peserta diberi tahu jadwalnya.")
NOTIFY_CHOICES = {"ya": True, "tidak": False}


def _schedule(request: Request, actor: Actor,
              notify: bool) -> tuple[AssignmentReport, str | None]:
    state = state_of(request)
    now = dt.datetime.now(dt.UTC)
    settings = state.settings
    batch_id = None
    with state.db() as session:
        # The calendar's planned cap and assignment hours, never the live emergency cap.
        result = assign_unbooked(session, settings.room, now)
        after: dict[str, Any] = {"registrants": result.registrants, "assigned": result.assigned,
                                 "unassigned": result.unassigned, "notify": notify}
        if result.shortfall is not None:
            after["shortfall_places"] = result.shortfall.places
        if notify and result.assigned:
            batch_id = f"roster-{now:%Y%m%d%H%M%S}"
            after["batch"] = batch_id
        audit.record(session, actor.name, "roster.schedule", target=settings.room,
                     after=after, user_id=actor.user_id)
        session.commit()
    if batch_id is not None:
        # Two million messages are recorded by the worker, not in this request.
        state.queue.enqueue(announce_assigned_job, now.isoformat(), batch_id,
                            job_id=f"announce-{batch_id}", job_timeout=3600,
                            description=f"announce slots {batch_id}")
    return result, batch_id


@page("operator")
async def schedule_all(request: Request) -> Response:
    form = await checked_form(request)
    notify = NOTIFY_CHOICES.get(form.get("beritahu", ""))
    if notify is None:
        return _page(request, {"schedule_error": CHOOSE_NOTIFY}, status=422)
    result, batch_id = await run_in_threadpool(_schedule, request, actor_of(request), notify)
    return _page(request, {"scheduled": result, "notified": notify, "batch_id": batch_id})


routes = [
    Route("/admin/peserta/unggah", upload_page, methods=["GET"]),
    Route("/admin/peserta/templat.xlsx", roster_template, methods=["GET"]),
    Route("/admin/peserta/unggah", upload, methods=["POST"]),
    Route("/admin/peserta/unggah/{import_id:str}", import_page, methods=["GET"]),
    Route("/admin/api/peserta/unggah/{import_id:str}", import_progress, methods=["GET"]),
    Route("/admin/peserta/laporan/{report_id:str}", error_report, methods=["GET"]),
    Route("/admin/peserta/jadwalkan", schedule_all, methods=["POST"]),
]
