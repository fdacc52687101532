"""Console access: roles, the login throttle, sessions that end, CSRF, API tokens."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import select
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from portal.admin.models import AdminUser
from portal.app import create_app
from portal.db import create_db_engine, session_factory
from portal.environment import Environment, SettingsError
from portal.settings import AdminSettings, Settings
from tests.support.admin import PASSWORD, add_user, audit_entries, csrf_of, log_in, post_form

ENV_TOKEN = "env-token-0123456789abcdef-0123456789"


@pytest.fixture
def accounts(settings: Settings) -> Settings:
    for name, role in (("ani", "admin"), ("budi", "operator"), ("citra", "viewer")):
        add_user(settings, name, role)
    return settings


@pytest.mark.parametrize(("user", "allowed", "refused"), [
    ("citra", ["/admin"], ["/admin/ekspor", "/admin/perencana", "/admin/pengaturan",
                           "/admin/audit"]),
    ("budi", ["/admin", "/admin/ekspor", "/admin/perencana", "/admin/peserta"],
     ["/admin/pengaturan", "/admin/pengguna", "/admin/token", "/admin/audit"]),
    ("ani", ["/admin", "/admin/ekspor", "/admin/pengaturan", "/admin/pengguna", "/admin/token",
             "/admin/audit", "/admin/perencana", "/admin/peserta"], []),
])
def test_each_role_sees_only_its_pages(accounts: Settings, user: str, allowed: list[str],
                                       refused: list[str]) -> None:
    with TestClient(create_app(accounts)) as client:
        log_in(client, user)
        for path in allowed:
            assert client.get(path).status_code == 200, path
        for path in refused:
            assert client.get(path).status_code == 403, path


def test_pages_need_a_login_and_logout_ends_the_session(accounts: Settings) -> None:
    with TestClient(create_app(accounts)) as client:
        first = client.get("/admin/pengaturan", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/admin/masuk?next=/admin/pengaturan"
        assert client.get("/admin/api/dasbor").status_code == 401
        log_in(client, "ani")
        assert client.get("/admin").status_code == 200
        out = post_form(client, "/admin", "/admin/keluar", {})
        assert out.status_code == 303
        assert client.get("/admin", follow_redirects=False).status_code == 303
    assert [e.action for e in audit_entries(accounts)] == ["login", "logout"]


def test_wrong_passwords_lock_the_account_then_the_address(accounts: Settings) -> None:
    app = create_app(replace(accounts, admin=replace(accounts.admin, account_failures=3,
                                                     address_failures=5, lock_seconds=4)))
    with TestClient(app) as client:
        for _ in range(3):
            log_in(client, "ani", "salah-salah-salah", expect=401)
        # locked now, even with the right password
        log_in(client, "ani", PASSWORD, expect=429)
        # another account from the same address still works until the address limit;
        # every attempt counts, the refused one above too
        log_in(client, "budi", "salah-juga-ya", expect=401)
        log_in(client, "budi", PASSWORD, expect=429)  # the address made its 6th attempt
        time.sleep(4.2)  # the lock is temporary
        log_in(client, "ani", PASSWORD)


def test_a_session_times_out_when_idle(accounts: Settings) -> None:
    app = create_app(replace(accounts, admin=replace(accounts.admin, session_idle_seconds=1)))
    with TestClient(app) as client:
        log_in(client, "citra")
        assert client.get("/admin").status_code == 200
        time.sleep(2.1)
        assert client.get("/admin", follow_redirects=False).status_code == 303


def test_forms_need_the_csrf_token(accounts: Settings) -> None:
    with TestClient(create_app(accounts)) as client:
        log_in(client, "ani")
        forged = client.post("/admin/pengguna", data={"username": "eve", "role": "admin"},
                             follow_redirects=False)
        assert forged.status_code == 403
        login_forged = client.post("/admin/masuk", data={"username": "ani",
                                                         "password": PASSWORD})
        assert login_forged.status_code == 403


def test_admins_manage_users_and_every_change_is_audited(accounts: Settings) -> None:
    with TestClient(create_app(accounts)) as admin, TestClient(create_app(accounts)) as budi:
        log_in(admin, "ani")
        log_in(budi, "budi")
        created = post_form(admin, "/admin/pengguna", "/admin/pengguna",
                            {"username": "dewi", "role": "viewer", "password": ""})
        password = re.search(r'id="new-password">([^<]+)<', created.text)
        assert created.status_code == 200 and password
        bad = post_form(admin, "/admin/pengguna", "/admin/pengguna",
                        {"username": "X", "role": "boss", "password": "short"})
        assert bad.status_code == 422 and "Peran tidak dikenal." in bad.text
        # accounts were made in order: ani is 1, budi 2
        changed = post_form(admin, "/admin/pengguna", "/admin/pengguna/2",
                            {"action": "role", "role": "viewer"})
        assert changed.status_code == 200
        # budi's session ended with the role change
        assert budi.get("/admin/ekspor", follow_redirects=False).status_code == 303
        log_in(budi, "budi")
        assert budi.get("/admin/ekspor").status_code == 403
        with TestClient(create_app(accounts)) as dewi:
            log_in(dewi, "dewi", password.group(1))
        last_admin = post_form(admin, "/admin/pengguna", "/admin/pengguna/1",
                               {"action": "deactivate"})
        assert last_admin.status_code == 422
        audit_page = admin.get("/admin/audit").text
    actions = [(e.action, e.target, e.before, e.after) for e in audit_entries(accounts)
               if e.action.startswith("user.")]
    assert ("user.create", "dewi", None, {"role": "viewer", "active": True}) in actions
    assert ("user.role", "budi", {"role": "operator"}, {"role": "viewer"}) in actions
    assert "user.role" in audit_page and "budi" in audit_page


def test_console_tokens_work_for_the_settings_api_until_revoked(accounts: Settings) -> None:
    settings = replace(accounts, admin_token=Secret(ENV_TOKEN))
    with TestClient(create_app(settings)) as client:
        log_in(client, "ani")
        made = post_form(client, "/admin/token", "/admin/token", {"name": "skrip-ops"})
        token = re.search(r'id="new-token">([^<]+)<', made.text)
        assert token
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        assert client.get("/api/v1/admin/settings", headers=auth).status_code == 200
        patched = client.patch("/api/v1/admin/settings", headers=auth, json={"max_active": 9})
        assert patched.status_code == 200 and patched.json()["max_active"] == 9
        env = client.patch("/api/v1/admin/settings", json={"admit_per_minute": 77},
                           headers={"Authorization": f"Bearer {ENV_TOKEN}"})
        assert env.status_code == 200
        tokens_page = client.get("/admin/token").text
        assert token.group(1) not in tokens_page  # shown once only
        token_id = re.search(r'action="/admin/token/(\d+)/cabut"', tokens_page)
        assert token_id
        client.post(f"/admin/token/{token_id.group(1)}/cabut",
                    data={"csrf_token": csrf_of(tokens_page)})
        assert client.get("/api/v1/admin/settings", headers=auth).status_code == 403
    entries = [(e.actor, e.action, e.before, e.after) for e in audit_entries(settings)]
    assert ("token:skrip-ops", "settings.update", {"max_active": 2}, {"max_active": 9}) in entries
    assert ("api-token", "settings.update", {"admit_per_minute": 600},
            {"admit_per_minute": 77}) in entries
    assert [a for _, a, _, _ in entries if a.startswith("token.")] == ["token.create",
                                                                       "token.revoke"]


def test_thirty_simultaneous_wrong_passwords_check_only_five(
        accounts: Settings, live_server_factory, database_url: str) -> None:
    """The attempt is counted before the password is checked, atomically."""
    server = live_server_factory(database_url, ANTREAN_ADMIN_ADDRESS_FAILURES="1000")

    async def storm() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            page = await client.get("/admin/masuk")
            form = {"csrf_token": csrf_of(page.text), "username": "ani",
                    "password": "salah-salah-salah", "next": "/admin"}
            answers = await asyncio.gather(*(client.post("/admin/masuk", data=form)
                                             for _ in range(30)))
            return [answer.status_code for answer in answers]

    statuses = asyncio.run(storm())
    assert sorted(statuses) == [401] * 5 + [429] * 25
    actions = [entry.action for entry in audit_entries(accounts)]
    assert actions.count("login.failed") == 5 and actions.count("login.locked") == 25


def stored_hash(settings: Settings, username: str) -> str:
    engine = create_db_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            user = session.scalar(select(AdminUser).where(AdminUser.username == username))
            assert user is not None
            return user.password_hash
    finally:
        engine.dispose()


def test_passwords_are_argon2id_at_the_cost_set_and_rehashed_when_it_changes(
        settings: Settings) -> None:
    assert AdminSettings.read(Environment({})).passwords is AdminSettings().passwords
    assert (AdminSettings().password_time_cost, AdminSettings().password_memory_kib) == (3, 65536)
    cheap = AdminSettings.read(Environment({"ANTREAN_ADMIN_PASSWORD_TIME_COST": "1",
                                            "ANTREAN_ADMIN_PASSWORD_MEMORY_KIB": "64"}))
    add_user(replace(settings, admin=cheap), "ani", "admin")
    assert stored_hash(settings, "ani").startswith("$argon2id$v=19$m=64,t=1,")
    # The operators raise the cost: the stored hash follows at the next login.
    dearer = replace(cheap, password_time_cost=2, password_memory_kib=128)
    with TestClient(create_app(replace(settings, admin=dearer))) as client:
        log_in(client, "ani")
        assert stored_hash(settings, "ani").startswith("$argon2id$v=19$m=128,t=2,")
        client.cookies.clear()
        log_in(client, "ani", "bukan-kata-sandinya", expect=401)
    with pytest.raises(SettingsError, match="ADMIN_PASSWORD_TIME_COST"):
        AdminSettings.read(Environment({"ANTREAN_ADMIN_PASSWORD_TIME_COST": "0"}))
