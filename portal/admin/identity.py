"""Contested identities: a NIK off the roster claimed by another contact, judged by an admin.

The first contact that proves a NIK not on the roster is bound to it. When someone
later asks for that NIK's code with another contact, the code still goes to the bound
one and the request is listed here. An admin who has checked the person (at the
helpdesk, with their KTP) moves the binding to the new contact, or dismisses the
claim; either way the audit log keeps it.
"""

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
from portal.admin.masking import mask_address
from portal.i18n import N_
from portal.identity.models import IdentityBinding, IdentityContest
from portal.state import PortalState, state_of
from portal.web import checked_form
from scheduler.nik import mask_nik

REBOUND = N_("NIK kini terikat pada kontak baru.")
DISMISSED = N_("Klaim diabaikan; NIK tetap pada kontaknya.")
GONE = N_("Klaim ini sudah diputuskan atau tidak ada.")


def _context(state: PortalState, **extra: Any) -> dict[str, Any]:
    with state.db() as session:
        open_contests = list(session.scalars(
            select(IdentityContest).where(IdentityContest.resolved_at.is_(None))
            .order_by(IdentityContest.asked_at.desc()).limit(200)))
        bound = {b.nik: b for b in session.scalars(select(IdentityBinding).where(
            IdentityBinding.nik.in_([c.nik for c in open_contests])))}
    rows = [{"id": c.id, "nik": mask_nik(c.nik), "times": c.times,
             "asked_at": c.asked_at,
             "claimed": mask_address(c.channel, c.address),
             "bound": mask_address(bound[c.nik].channel, bound[c.nik].address)
             if c.nik in bound else "–"} for c in open_contests]
    return {"rows": rows, "message": None, **extra}


def decide(state: PortalState, actor: Actor, contest_id: int, rebind: bool) -> bool:
    """Move the binding to the claimed contact, or dismiss the claim; audited."""
    with state.db() as session:
        contest = session.get(IdentityContest, contest_id)
        if contest is None or contest.resolved_at is not None:
            return False
        binding = session.scalars(
            select(IdentityBinding).where(IdentityBinding.nik == contest.nik)).one_or_none()
        before = {"contact": mask_address(binding.channel, binding.address)} if binding else {}
        if rebind:
            if binding is None:
                binding = IdentityBinding(nik=contest.nik, channel=contest.channel,
                                          address=contest.address)
                session.add(binding)
            else:
                binding.channel, binding.address = contest.channel, contest.address
        contest.resolved_at = dt.datetime.now(dt.UTC)
        contest.resolution = "rebound" if rebind else "dismissed"
        audit.record(session, actor.name, "identity.rebind" if rebind else "identity.dismiss",
                     target=f"nik {mask_nik(contest.nik)}", before=before,
                     after={"contact": mask_address(contest.channel, contest.address)}
                     if rebind else before, user_id=actor.user_id)
        session.commit()
        return True


@page("admin")
async def contests_page(request: Request) -> Response:
    return admin_render(request, "admin/identity.html",
                        await run_in_threadpool(_context, state_of(request)))


@page("admin")
async def decide_endpoint(request: Request) -> Response:
    state = state_of(request)
    form = await checked_form(request)
    rebind = form.get("decision") == "rebind"
    done = await run_in_threadpool(decide, state, actor_of(request),
                                   int(request.path_params["contest_id"]), rebind)
    message = (REBOUND if rebind else DISMISSED) if done else GONE
    context = await run_in_threadpool(_context, state, message=message)
    return admin_render(request, "admin/identity.html", context, status=200 if done else 409)


routes = [
    Route("/admin/identitas", contests_page, methods=["GET"]),
    Route("/admin/identitas/{contest_id:int}", decide_endpoint, methods=["POST"]),
]
