"""The visitor's pages as a new user meets them: the doors, a second tap, the banner, English."""

from __future__ import annotations

import re
from dataclasses import replace

import redis
from starlette.testclient import TestClient

from portal.app import create_app
from portal.keys import PortalKeys
from tests.support.form import VALID, csrf, enter_form, hidden, join


def test_the_landing_page_opens_every_door(app) -> None:
    with TestClient(app) as client:
        landing = client.get("/").text
    for path in ("/booking", "/booking/cek", "/antre/pindah", "/kwitansi", "/status"):
        assert f'href="{path}"' in landing, path
    assert 'id="join"' in landing and 'id="own-place"' not in landing


def test_a_second_visit_says_you_already_have_a_number(settings) -> None:
    settings = replace(settings, room_defaults=replace(settings.room_defaults, max_active=1))
    with TestClient(create_app(settings)) as holder, TestClient(create_app(settings)) as client:
        holder.post("/api/v1/queue/join", json={})
        waiting = join(client)
        number = re.search(r'id="queue-number">[^<]*<strong>(\d+)</strong>', waiting)
        assert number
        back = client.get("/").text
        assert 'id="own-place"' in back and f"<strong>{number.group(1)}</strong>" in back
        # The button on it leads to the same place, never a second number.
        again = client.post("/antre", data={"csrf_token": csrf(back)})
        assert f"<strong>{number.group(1)}</strong>" in again.text


def test_notify_me_without_javascript_lands_on_a_page_that_reloads(settings) -> None:
    settings = replace(settings, room_defaults=replace(settings.room_defaults, max_active=1))
    with TestClient(create_app(settings)) as holder, TestClient(create_app(settings)) as client:
        holder.post("/api/v1/queue/join", json={})
        waiting = join(client)
        saved = client.post("/antre/kabari", data={"csrf_token": csrf(waiting),
                                                   "email": "siti@example.id"},
                            follow_redirects=False)
        assert saved.status_code == 303 and saved.headers["location"] == "/antre?kabari=1"
        # What the meta refresh reloads is a GET page, not the POST-only address.
        reloaded = client.get(saved.headers["location"])
    assert reloaded.status_code == 200 and 'id="notice-saved"' in reloaded.text
    assert '<meta http-equiv="refresh"' in reloaded.text


def test_the_operators_banner_reaches_the_waiting_page_and_the_form(
        app, redis_client: redis.Redis) -> None:
    settings = app.state.portal.settings
    keys = PortalKeys(settings.redis_prefix, settings.room)
    redis_client.hset(keys.of_room("admin"), "banner", "Server dirawat 22.00 WIB.")
    with TestClient(app) as client:
        form = enter_form(client)
        waiting = client.get("/antre").text
    assert 'id="banner"' in form and "Server dirawat 22.00 WIB." in form
    assert "Server dirawat 22.00 WIB." in waiting


def test_english_pages_say_what_is_wrong_in_english(app) -> None:
    with TestClient(app) as client:
        form = enter_form(client)
        client.get("/?lang=en")  # the language is remembered from here on
        answer = client.post("/formulir", data={
            **VALID, "nama": "", "telepon": "12", "email": "bukan-email", "nik": "3601",
            "csrf_token": csrf(form), "submit_key": hidden(form, "submit_key")})
    text = answer.text
    assert answer.status_code == 422
    assert "wajib diisi" not in text and "is required" in text
    assert "A NIK has 16 digits (4 characters were typed)." in text
    assert "Not a valid e-mail address: bukan-email." in text
    assert "Not a valid phone number: 12." in text or "cannot be read: 12." in text
