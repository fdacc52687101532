"""Console access pages: log in and out, accounts, API tokens, the audit log."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.admin import audit
from portal.admin.access import (
    actor_of,
    admin_render,
    sessions_of,
    throttle_of,
)
from portal.admin.access import (
    page as guarded_page,
)
from portal.admin.apitokens import create_token, list_tokens, revoke_token
from portal.admin.auth import (
    SESSION_COOKIE,
    AccountError,
    Actor,
    authenticate,
    clean_username,
    count_admins,
    create_user,
    generate_password,
    list_users,
)
from portal.admin.labels.audit import ACTION_LABELS
from portal.admin.models import ROLES, AdminUser
from portal.attempts import ATTEMPTS_FAILED, ATTEMPTS_REFUSED
from portal.browser import client_address
from portal.i18n import N_
from portal.state import PortalState, state_of
from portal.web import Refused, checked_form, refusal_page, render

LOCKED = N_("Terlalu banyak percobaan gagal. Coba lagi dalam %(minutes)s menit.")
WRONG = N_("Nama pengguna atau kata sandi salah.")


def _next_path(raw: str | None) -> str:
    # Only our own console: an open redirect after login would help phishing.
    if raw and raw.startswith("/admin") and not raw.startswith("//"):
        return raw
    return "/admin"


async def login_page(request: Request) -> Response:
    return render(request, "admin/login.html",
                  {"next": _next_path(request.query_params.get("next")), "error": None})


def _audit_login(state: PortalState, username: str, action: str) -> None:
    # The name tried is an operator's (or a guess), never a visitor's data.
    with state.db() as session:
        audit.record(session, clean_username(username) or "-", action, target="login")
        session.commit()


def _login(request: Request, username: str, password: str) -> AdminUser | None:
    with state_of(request).db() as session:
        user = authenticate(session, username, password,
                            state_of(request).settings.admin.passwords)
        if user is not None:
            audit.record(session, user.username, "login", user_id=user.id)
            session.commit()
        return user


async def login(request: Request) -> Response:
    state = state_of(request)
    try:
        form = await checked_form(request)
    except Refused as exc:
        return refusal_page(request, exc)
    username, password = form.get("username", "")[:64], form.get("password", "")[:200]
    target = _next_path(form.get("next"))
    throttle = throttle_of(state)
    wait = await throttle.attempt(username, client_address(request))
    if wait:
        await run_in_threadpool(_audit_login, state, username, "login.locked")
        ATTEMPTS_REFUSED.labels(kind="login").inc()
        minutes = max(1, (wait + 59) // 60)
        return render(request, "admin/login.html", {
            "next": target, "error": LOCKED, "error_args": {"minutes": minutes},
            "username": username}, status=429)
    user = await run_in_threadpool(_login, request, username, password)
    if user is None:
        await run_in_threadpool(_audit_login, state, username, "login.failed")
        ATTEMPTS_FAILED.labels(kind="login").inc()
        return render(request, "admin/login.html",
                      {"next": target, "error": WRONG, "username": username}, status=401)
    await throttle.succeeded(username, client_address(request))
    session_id = await sessions_of(state).start(user)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="lax",
                        secure=state.settings.cookie_secure, path="/",
                        max_age=state.admin.session_max_seconds)
    return response


def _audit(request: Request, action: str, **values: Any) -> None:
    actor = actor_of(request)
    with state_of(request).db() as session:
        audit.record(session, actor.name, action, user_id=actor.user_id, **values)
        session.commit()


@guarded_page("viewer")
async def logout(request: Request) -> Response:
    await checked_form(request)
    await run_in_threadpool(_audit, request, "logout")
    await sessions_of(state_of(request)).end(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/admin/masuk", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- accounts ----------------------------------------------------------------


def _users_context(request: Request, **extra: Any) -> dict[str, Any]:
    with state_of(request).db() as session:
        users = list_users(session)
    return {"users": users, "roles": ROLES, "errors": {}, "values": {}, **extra}


@guarded_page("admin")
async def users_page(request: Request) -> Response:
    context = await run_in_threadpool(_users_context, request)
    return admin_render(request, "admin/users.html", context)


def _create_user(request: Request, actor: Actor, form: dict[str, str]) -> tuple[str, str]:
    password = form.get("password") or generate_password()
    with state_of(request).db() as session:
        user = create_user(session, form.get("username", ""), form.get("role", ""), password,
                           state_of(request).settings.admin.passwords)
        audit.record(session, actor.name, "user.create", target=user.username,
                     after={"role": user.role, "active": True}, user_id=actor.user_id)
        session.commit()
        return user.username, password


@guarded_page("admin")
async def create_user_endpoint(request: Request) -> Response:
    form = await checked_form(request)
    try:
        username, password = await run_in_threadpool(_create_user, request, actor_of(request),
                                                      form)
    except AccountError as exc:
        context = await run_in_threadpool(_users_context, request, errors=exc.fields,
                                          values={k: form.get(k, "") for k in ("username",
                                                                               "role")})
        return admin_render(request, "admin/users.html", context, status=422)
    generated = None if form.get("password") else password
    context = await run_in_threadpool(_users_context, request, created=username,
                                      generated=generated)
    return admin_render(request, "admin/users.html", context)


def _change_user(request: Request, actor: Actor, user_id: int,
                 form: dict[str, str]) -> tuple[str | None, str | None]:
    """Apply one change to an account; return (error, new password shown once)."""
    with state_of(request).db() as session:
        user = session.get(AdminUser, user_id)
        if user is None:
            return N_("Pengguna tidak ditemukan."), None
        before = {"role": user.role, "active": user.active}
        action = form.get("action", "")
        password = None
        if action == "role" and form.get("role") in ROLES:
            user.role = form["role"]
        elif action == "deactivate":
            user.active = False
        elif action == "activate":
            user.active = True
        elif action == "reset":
            password = generate_password()
            user.password_hash = state_of(request).settings.admin.passwords.hash(password)
        else:
            return N_("Perubahan tidak dikenal."), None
        session.flush()
        if before["role"] == "admin" and (user.role != "admin" or not user.active) \
                and count_admins(session) == 0:
            session.rollback()
            return N_("Admin terakhir tidak boleh diturunkan atau dinonaktifkan."), None
        after = {"role": user.role, "active": user.active}
        old, new = audit.changed_values(before, after)
        if password:
            old, new = {"password": "***"}, {"password": "(baru)"}
        audit.record(session, actor.name, f"user.{action}", target=user.username,
                     before=old, after=new, user_id=actor.user_id)
        session.commit()
        return None, password


@guarded_page("admin")
async def change_user_endpoint(request: Request) -> Response:
    form = await checked_form(request)
    user_id = int(request.path_params["user_id"])
    error, password = await run_in_threadpool(_change_user, request, actor_of(request),
                                               user_id, form)
    if error is None:
        # A changed role or a disabled account takes effect now, not at the next login.
        await sessions_of(state_of(request)).end_all(user_id)
    context = await run_in_threadpool(_users_context, request, change_error=error,
                                      reset_password=password)
    return admin_render(request, "admin/users.html", context, status=422 if error else 200)


# --- API tokens ----------------------------------------------------------------


def _tokens_context(request: Request, **extra: Any) -> dict[str, Any]:
    with state_of(request).db() as session:
        return {"tokens": list_tokens(session), **extra}


@guarded_page("admin")
async def tokens_page(request: Request) -> Response:
    return admin_render(request, "admin/tokens.html",
                        await run_in_threadpool(_tokens_context, request))


def _create_token(request: Request, actor: Actor, name: str) -> str:
    with state_of(request).db() as session:
        row, token = create_token(session, name, actor.user_id)
        audit.record(session, actor.name, "token.create", target=row.name,
                     after={"id": row.id}, user_id=actor.user_id)
        session.commit()
        return token


@guarded_page("admin")
async def create_token_endpoint(request: Request) -> Response:
    form = await checked_form(request)
    token = await run_in_threadpool(_create_token, request, actor_of(request),
                                    form.get("name", ""))
    return admin_render(request, "admin/tokens.html",
                        await run_in_threadpool(_tokens_context, request, new_token=token))


def _revoke(request: Request, actor: Actor, token_id: int) -> bool:
    with state_of(request).db() as session:
        row = revoke_token(session, token_id)
        if row is None:
            return False
        audit.record(session, actor.name, "token.revoke", target=row.name,
                     before={"revoked": False}, after={"revoked": True}, user_id=actor.user_id)
        session.commit()
        return True


@guarded_page("admin")
async def revoke_token_endpoint(request: Request) -> Response:
    await checked_form(request)
    await run_in_threadpool(_revoke, request, actor_of(request),
                            int(request.path_params["token_id"]))
    return RedirectResponse("/admin/token", status_code=303)


# --- audit log ----------------------------------------------------------------


def _audit_context(request: Request) -> dict[str, Any]:
    action = request.query_params.get("aksi") or None
    raw_before = request.query_params.get("sebelum", "")
    before_id = int(raw_before) if raw_before.isdigit() else None
    with state_of(request).db() as session:
        entries = audit.recent(session, limit=100, action=action, before_id=before_id)
    return {"entries": entries, "action": action or "", "actions": list(ACTION_LABELS),
            "older": entries[-1].id if len(entries) == 100 else None}


@guarded_page("admin")
async def audit_page(request: Request) -> Response:
    return admin_render(request, "admin/audit.html",
                        await run_in_threadpool(_audit_context, request))


routes = [
    Route("/admin/masuk", login_page, methods=["GET"]),
    Route("/admin/masuk", login, methods=["POST"]),
    Route("/admin/keluar", logout, methods=["POST"]),
    Route("/admin/pengguna", users_page, methods=["GET"]),
    Route("/admin/pengguna", create_user_endpoint, methods=["POST"]),
    Route("/admin/pengguna/{user_id:int}", change_user_endpoint, methods=["POST"]),
    Route("/admin/token", tokens_page, methods=["GET"]),
    Route("/admin/token", create_token_endpoint, methods=["POST"]),
    Route("/admin/token/{token_id:int}/cabut", revoke_token_endpoint, methods=["POST"]),
    Route("/admin/audit", audit_page, methods=["GET"]),
]
