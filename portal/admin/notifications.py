"""The notification log: recent messages, failed ones re-queued, batch progress, the outbox."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.admin import audit
from portal.admin.access import actor_of, admin_render, page
from portal.admin.auth import Actor
from portal.admin.masking import mask_address
from portal.i18n import N_
from portal.notify.channels import OutboxEntry, list_outbox
from portal.notify.dispatch import requeue
from portal.notify.models import STATUSES, Notification
from portal.notify.records import batch_progress
from portal.state import state_of
from portal.web import checked_form

LIMIT = 200
MAX_BATCH_ID = 64
REQUEUED = N_("Pesan dimasukkan lagi ke antrean kirim.")
NOT_FAILED = N_("Pesan ini tidak berstatus gagal; tidak ada yang dikirim ulang.")
NO_MESSAGE = N_("Pesan tidak ditemukan di kotak keluar.")


def notification_rows(notifications: list[Notification]) -> list[dict[str, Any]]:
    """What the console shows of each message: no address in clear."""
    return [{"id": n.id, "channel": n.channel, "recipient": mask_address(n.channel, n.address),
             "purpose": n.purpose, "status": n.status, "attempts": n.attempts,
             "last_error": n.last_error, "created_at": n.created_at, "updated_at": n.updated_at,
             "sent_at": n.sent_at} for n in notifications]


def _context(request: Request, **extra: Any) -> dict[str, Any]:
    status = request.query_params.get("status", "")
    status = status if status in STATUSES else ""
    batch_id = request.query_params.get("batch", "").strip()[:MAX_BATCH_ID]
    with state_of(request).db() as session:
        query = select(Notification).order_by(Notification.id.desc()).limit(LIMIT)
        if status:
            query = query.where(Notification.status == status)
        rows = notification_rows(list(session.scalars(query)))
        progress = batch_progress(session, batch_id) if batch_id else None
    return {"rows": rows, "status": status, "statuses": STATUSES, "batch_id": batch_id,
            "progress": progress, "message": None, **extra}


@page("operator")
async def notifications_page(request: Request) -> Response:
    return admin_render(request, "admin/notifications.html",
                        await run_in_threadpool(_context, request))


def resend(request: Request, actor: Actor, notification_id: int) -> bool:
    """Re-queue one failed message, audited; False when it was not failed."""
    state = state_of(request)
    with state.db() as session:
        queued = requeue(session, state.queue, state.notify,
                         notification_id)
        if queued:
            audit.record(session, actor.name, "notification.requeue",
                         target=f"notification:{notification_id}",
                         before={"status": "failed"}, after={"status": "queued"},
                         user_id=actor.user_id)
        session.commit()
    return queued


@page("operator")
async def resend_endpoint(request: Request) -> Response:
    await checked_form(request)
    queued = await run_in_threadpool(resend, request, actor_of(request),
                                     int(request.path_params["notification_id"]))
    context = await run_in_threadpool(_context, request,
                                      message=REQUEUED if queued else NOT_FAILED)
    return admin_render(request, "admin/notifications.html", context,
                        status=200 if queued else 409)


def plain_text(entry: OutboxEntry) -> str:
    """The readable text of an outbox message: the plain-text part of an e-mail."""
    if entry.channel != "email":
        return entry.path.read_text().partition("\n\n")[2].strip()
    with open(entry.path, "rb") as handle:
        message = BytesParser(policy=email.policy.default).parse(handle)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    return body.get_content().strip() if body is not None else ""


def _outbox(request: Request, name: str | None) -> dict[str, Any]:
    entries = list_outbox(state_of(request).notify.outbox_dir)
    rows = [{"name": e.name, "channel": e.channel, "created": e.created, "subject": e.subject,
             "recipient": mask_address(e.channel, e.recipient)} for e in entries]
    chosen = None
    if name is not None:
        # Only names the listing itself produced: nothing outside the outbox is read.
        entry = next((e for e in entries if e.name == name), None)
        if entry is not None:
            chosen = {"row": rows[entries.index(entry)], "text": plain_text(entry)}
    return {"entries": rows, "chosen": chosen}


@page("operator")
async def outbox_page(request: Request) -> Response:
    name = request.path_params.get("name")
    context = await run_in_threadpool(_outbox, request, name)
    if name is not None and context["chosen"] is None:
        context["message"] = NO_MESSAGE
        return admin_render(request, "admin/outbox.html", context, status=404)
    return admin_render(request, "admin/outbox.html", context)


routes = [
    Route("/admin/notifikasi", notifications_page, methods=["GET"]),
    Route("/admin/notifikasi/{notification_id:int}/kirim-ulang", resend_endpoint,
          methods=["POST"]),
    Route("/admin/notifikasi/kotak-keluar", outbox_page, methods=["GET"]),
    Route("/admin/notifikasi/kotak-keluar/{name:str}", outbox_page, methods=["GET"]),
]
