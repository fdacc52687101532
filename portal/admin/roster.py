"""Roster look-up by NIK (shown masked) and verification of arrival receipts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.admin import audit
from portal.admin.access import actor_of, admin_render, page
from portal.admin.auth import Actor
from portal.admin.masking import mask_email, mask_phone
from portal.admin.notifications import notification_rows
from portal.form.models import Registrant, Submission
from portal.i18n import N_
from portal.notify.dispatch import requeue
from portal.notify.models import FAILED, Notification
from portal.notify.records import recipient_key
from portal.state import state_of
from portal.web import checked_form
from scheduler.models import Booking, Slot
from scheduler.nik import clean_nik, mask_nik
from waitroom.tokens import TokenError, TokenSigner

BAD_NIK = N_("NIK terdiri dari 16 angka.")
NOT_FOUND = N_("Tidak ada peserta maupun pendaftaran dengan NIK ini.")
RESENT = N_("%(count)s pemberitahuan yang gagal dimasukkan lagi ke antrean kirim.")
NOTHING_FAILED = N_("Tidak ada pemberitahuan yang gagal. Setiap pesan dikirim sekali per tujuan "
                    "dan slot; pesan yang sudah terkirim tidak dikirim ulang.")


def look_up(request: Request, nik: str) -> dict[str, Any]:
    """Everything the console may show about one NIK, personal data masked."""
    state = state_of(request)
    secret = str(state.settings.secret_key)
    with state.db() as session:
        registrant = session.scalar(select(Registrant).where(Registrant.nik == nik))
        submission = session.scalar(select(Submission).where(Submission.nik == nik))
        booking = None
        notifications: list[Notification] = []
        if registrant is not None:
            booking = session.execute(
                select(Booking, Slot).join(Slot, Slot.id == Booking.slot_id)
                .where(Booking.registrant_id == registrant.id)
                .order_by(Booking.id.desc()).limit(1)).first()
            keys = [recipient_key(secret, channel, address) for channel, address in
                    (("email", registrant.email), ("sms", registrant.phone)) if address]
            if keys:
                notifications = list(session.scalars(
                    select(Notification).where(Notification.recipient_key.in_(keys))
                    .order_by(Notification.id.desc()).limit(50)))
    return {
        "masked_nik": mask_nik(nik),
        "registrant": registrant,
        "email": mask_email(registrant.email) if registrant else None,
        "phone": mask_phone(registrant.phone) if registrant else None,
        "submission": submission,
        "booking": booking,
        "notifications": notification_rows(notifications),
        "found": registrant is not None or submission is not None,
    }


@page("operator")
async def roster_page(request: Request) -> Response:
    return admin_render(request, "admin/roster.html", {"result": None, "receipt": None})


def _looks_like_nik(nik: str) -> bool:
    return len(nik) == 16 and nik.isdigit()


def _bad_nik(request: Request) -> Response:
    return admin_render(request, "admin/roster.html",
                        {"result": None, "receipt": None, "nik_error": BAD_NIK}, status=422)


@page("operator")
async def search(request: Request) -> Response:
    nik = clean_nik((await checked_form(request)).get("nik", ""))
    if not _looks_like_nik(nik):
        return _bad_nik(request)
    result = await run_in_threadpool(look_up, request, nik)
    return admin_render(request, "admin/roster.html", {
        "result": result, "receipt": None, "not_found": None if result["found"] else NOT_FOUND,
        "nik": nik})


def resend_failed(request: Request, actor: Actor, nik: str) -> int:
    """Re-queue the registrant's failed notifications, audited; how many were re-queued."""
    secret = str(state_of(request).settings.secret_key)
    state = state_of(request)
    with state.db() as session:
        registrant = session.scalar(select(Registrant).where(Registrant.nik == nik))
        if registrant is None:
            return 0
        keys = [recipient_key(secret, channel, address) for channel, address in
                (("email", registrant.email), ("sms", registrant.phone)) if address]
        failed = list(session.scalars(
            select(Notification.id).where(Notification.recipient_key.in_(keys),
                                          Notification.status == FAILED))) if keys else []
        count = sum(requeue(session, state.queue, state.notify, notification_id)
                    for notification_id in failed)
        if count:
            audit.record(session, actor.name, "notification.requeue",
                         target=f"registrant:{registrant.id}", after={"requeued": count},
                         user_id=actor.user_id)
        session.commit()
    return count


@page("operator")
async def resend(request: Request) -> Response:
    nik = clean_nik((await checked_form(request)).get("nik", ""))
    if not _looks_like_nik(nik):
        return _bad_nik(request)
    count = await run_in_threadpool(resend_failed, request, actor_of(request), nik)
    result = await run_in_threadpool(look_up, request, nik)
    return admin_render(request, "admin/roster.html", {
        "result": result, "receipt": None, "nik": nik,
        "resent": RESENT if count else NOTHING_FAILED, "resent_count": count})


def verify_receipt(signer: TokenSigner, room: str, code: str,
                   tz: dt.tzinfo) -> dict[str, Any]:
    """Whether an arrival code is ours and for this room, with its number and join time."""
    try:
        ticket = signer.read_arrival_code(code)
    except TokenError:
        return {"valid": False, "message": N_("Kode tidak sah: bukan buatan portal ini.")}
    if ticket.room != room:
        return {"valid": False, "message": N_("Kode sah, tetapi untuk antrean lain.")}
    joined = dt.datetime.fromtimestamp(ticket.issued_at, tz)
    return {"valid": True, "number": ticket.number, "joined": joined}


@page("operator")
async def verify(request: Request) -> Response:
    state = state_of(request)
    form = await checked_form(request)
    settings = state.settings
    receipt = verify_receipt(state.signer, settings.room,
                             form.get("code", "")[:300], settings.tz)
    return admin_render(request, "admin/roster.html", {"result": None, "receipt": receipt})


routes = [
    Route("/admin/peserta", roster_page, methods=["GET"]),
    Route("/admin/peserta", search, methods=["POST"]),
    Route("/admin/peserta/bukti", verify, methods=["POST"]),
    Route("/admin/peserta/kirim-ulang", resend, methods=["POST"]),
]
