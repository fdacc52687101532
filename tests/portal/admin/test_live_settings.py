"""The settings page: validated, audited, in every process within a second; the banner."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from redis.asyncio import Redis
from starlette.testclient import TestClient

from portal.admin.banner import public_banner
from portal.admin.live_settings import local_input, parse_local
from portal.app import create_app
from portal.settings import Settings
from tests.support.admin import add_user, audit_entries, log_in, post_form
from tests.support.live_settings import SETTINGS_FORM
from waitroom.keys import RoomKeys
from waitroom.room import WaitingRoom

FORM = SETTINGS_FORM


@pytest.fixture
def admin(settings: Settings) -> Settings:
    add_user(settings, "ani", "admin")
    return settings


def banner_of(settings: Settings) -> str | None:
    async def read() -> str | None:
        client = Redis.from_url(str(settings.redis_url))
        try:
            return await public_banner(WaitingRoom(client, RoomKeys(settings.redis_prefix,
                                                                    settings.room)))
        finally:
            await client.aclose()
    return asyncio.run(read())


def test_saved_settings_reach_another_process_within_a_second(
    admin: Settings, live_server_factory, database_url: str
) -> None:
    # a second process (uvicorn) on the same Redis
    other = live_server_factory(database_url, ANTREAN_MAX_ACTIVE="2")
    assert httpx.get(f"{other.url}/api/v1/queue/stats").json()["max_active"] == 2
    with TestClient(create_app(admin)) as client:
        log_in(client, "ani")
        saved = post_form(client, "/admin/pengaturan", "/admin/pengaturan", {
            **FORM, "max_active": "37", "paused": "1", "opens_at": "2030-08-01T08:00",
            "closes_at": "2030-08-31T16:00", "banner": "Server dirawat pukul 22.00 WIB."})
        changed_at = time.monotonic()
        assert saved.status_code == 200 and 'id="saved"' in saved.text
        while httpx.get(f"{other.url}/api/v1/queue/stats").json()["max_active"] != 37:
            assert time.monotonic() - changed_at < 1.0
            time.sleep(0.05)
        stats = httpx.get(f"{other.url}/api/v1/queue/stats").json()
        assert stats["paused"] is True
        page = client.get("/admin/pengaturan").text
        assert 'value="2030-08-01T08:00"' in page and "Server dirawat" in page
    assert banner_of(admin) == "Server dirawat pukul 22.00 WIB."
    [entry] = [e for e in audit_entries(admin) if e.action == "settings.update"]
    assert entry.actor == "ani" and entry.before is not None and entry.after is not None
    assert entry.before["max_active"] == 2 and entry.after["max_active"] == 37
    assert entry.after["paused"] is True and entry.after["banner"].startswith("Server")
    assert entry.after["opens_at"] == parse_local("2030-08-01T08:00", admin.tz)
    assert "admit_per_minute" not in entry.after  # only what changed


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"max_active": "0"}, "max_active", "Batas pengguna aktif antara 1 dan 100000."),
    ({"admit_per_minute": "-5"}, "admit_per_minute",
     "Laju masuk antara 1 dan 1000000 orang per menit."),
    ({"session_ttl_seconds": "3407324"}, "session_ttl_seconds",
     "Umur sesi antara 60 dan 86400 detik."),
    ({"claim_window_seconds": "3601"}, "claim_window_seconds",
     "Waktu untuk masuk antara 10 dan 3600 detik."),
    ({"opens_at": "2035-01-02T08:00"}, "opens_at",
     "Waktu tidak valid: paling lambat 2035-01-01 00:00 UTC."),
    ({"autocap_max_cap": "100001"}, "autocap_max_cap", "Batas atas paling banyak 100000."),
    ({"booked_share": "banyak"}, "booked_share", "Isi dengan angka."),
    ({"opens_at": "2030-08-02T08:00", "closes_at": "2030-08-01T08:00"}, "closes_at",
     "Waktu tutup harus sesudah waktu buka."),
    ({"autocap_max_cap": "5"}, "autocap_max_cap", "Batas atas tidak boleh di bawah batas bawah."),
])
def test_bad_values_are_refused_next_to_their_field(admin: Settings, changes: dict[str, str],
                                                    field: str, message: str) -> None:
    with TestClient(create_app(admin)) as client:
        log_in(client, "ani")
        refused = post_form(client, "/admin/pengaturan", "/admin/pengaturan",
                            {**FORM, "max_active": "9", **changes})
        after = client.get("/admin/pengaturan").text
    assert refused.status_code == 422
    assert f'<p class="error" id="e-{field}">{message}</p>' in refused.text
    assert 'id="f-max_active" name="max_active" type="number" step="1" value="2"' in after
    assert [e for e in audit_entries(admin) if e.action == "settings.update"] == []


def test_an_out_of_range_value_is_refused_in_english_too_and_one_inside_is_saved(
    admin: Settings
) -> None:
    with TestClient(create_app(admin)) as client:
        log_in(client, "ani")
        refused = post_form(client, "/admin/pengaturan?lang=en", "/admin/pengaturan?lang=en",
                            {**FORM, "session_ttl_seconds": "86401"})
        saved = post_form(client, "/admin/pengaturan", "/admin/pengaturan",
                          {**FORM, "session_ttl_seconds": "86400"})
    assert refused.status_code == 422
    assert ('<p class="error" id="e-session_ttl_seconds">Session lifetime must be between 60 '
            'and 86400 seconds.</p>') in refused.text
    assert 'name="session_ttl_seconds" type="number" step="1" value="86401"' in refused.text
    assert saved.status_code == 200 and 'id="saved"' in saved.text
    assert 'name="session_ttl_seconds" type="number" step="1" value="86400"' in saved.text


def test_local_times_round_trip(admin: Settings) -> None:
    epoch = parse_local("2030-08-01T08:00", admin.tz)
    assert epoch == 1911776400  # 08:00 WIB is 01:00 UTC
    assert local_input(epoch, admin.tz) == "2030-08-01T08:00"
    assert parse_local("", admin.tz) == 0 and local_input(0, admin.tz) == ""
