"""A draft's recovery code goes to the person's verified contact, once the NIK is proved.

The code is shown in the browser that typed the draft; sending it as well to the
contact the agency holds (the roster's, or the one that proved a NIK off the
roster) means a person who never wrote it down can still continue elsewhere.
It is sent once per draft and NIK, and only for a NIK this browser proved, so
typing a stranger's NIK sends that stranger nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from portal.form.store import load_draft, save_draft
from portal.identity.contacts import route_for
from portal.identity.proof import proved
from portal.notify.dispatch import notify_recovery_code
from portal.state import state_of
from scheduler.nik import InvalidField, validate_nik

SENT_KEY = "_recovery_sent"


def _proved_nik(request: Request, data: dict[str, Any]) -> str | None:
    try:
        nik = validate_nik(str(data.get("nik") or ""))
    except InvalidField:
        return None
    return nik if proved(str(state_of(request).settings.secret_key), request, nik) else None


async def tell_recovery_code(request: Request, owner: str, data: dict[str, Any]) -> bool:
    """Send the draft's recovery code to the proved NIK's contacts unless done; True if sent."""
    nik = _proved_nik(request, data)
    if nik is None or data.get(SENT_KEY) == nik or "_recovery" not in data:
        return False
    state = state_of(request)

    def send() -> bool:
        with state.db() as session:
            draft = load_draft(session, owner)
            if draft is None or draft.data.get(SENT_KEY) == nik:
                return False
            contacts = route_for(session, nik, ())
            for contact in contacts:
                notify_recovery_code(session, state.queue, state.notify,
                                     channel=contact.channel, address=contact.address,
                                     code=str(draft.data["_recovery"]),
                                     reference=f"draft-{draft.id}")
            save_draft(session, owner, {SENT_KEY: nik})
            session.commit()
            return bool(contacts)

    return await run_in_threadpool(send)
