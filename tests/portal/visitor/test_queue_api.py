"""The JSON API: the queue path, and clear errors for every bad request."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from portal.app import create_app
from tests.support.apps import make_settings


def test_join_status_enter_heartbeat_finish(app) -> None:
    with TestClient(app) as client:
        joined = client.post("/api/v1/queue/join", json={})
        assert joined.status_code == 201
        body = joined.json()
        assert body["state"] == "admitted" and body["position"] == 0
        assert body["offer"] is None and body["poll_after_ms"] > 0
        token = body["token"]
        status = client.get(f"/api/v1/queue/{token}").json()
        assert status["state"] == "admitted"
        assert status["enter_url"] == f"/api/v1/queue/{token}/enter"
        entered = client.post(status["enter_url"])
        assert entered.status_code == 200 and entered.json()["expires_at"].endswith("Z")
        assert client.get(f"/api/v1/queue/{token}").json()["state"] == "active"
        assert client.post("/api/v1/session/heartbeat").status_code == 200
        assert client.post("/api/v1/session/finish").json() == {"finished": True}
        assert client.get(f"/api/v1/queue/{token}").json()["state"] == "finished"


def test_waiting_visitor_sees_position_and_eta(app) -> None:
    with TestClient(app) as a, TestClient(create_app(app.state.portal.settings)) as b, \
            TestClient(create_app(app.state.portal.settings)) as c:
        a.post("/api/v1/queue/join", json={})
        b.post("/api/v1/queue/join", json={})
        third = c.post("/api/v1/queue/join", json={}).json()
        assert third["state"] == "waiting" and third["position"] == 1
        low, high = third["eta_range_seconds"]
        assert 0 <= low <= third["eta_seconds"] <= high
        # stats come from a snapshot at most half a second old
        deadline = time.monotonic() + 1.5
        while True:
            stats = c.get("/api/v1/queue/stats").json()
            expected = {**stats, "waiting": 1, "active": 2, "max_active": 2, "paused": False}
            if stats == expected or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert stats == expected


def test_same_nik_gets_the_same_place(app) -> None:
    with TestClient(app) as client:
        first = client.post("/api/v1/queue/join", json={"nik": "3601284811855133"}).json()
        second = client.post("/api/v1/queue/join",
                             json={"nik": "3601 2848 1185 5133", "email": "a@b.id"})
        assert second.status_code == 200
        assert second.json()["token"].split(".")[1] == first["token"].split(".")[1]


def test_knowing_a_nik_or_phone_takes_nobodys_place(app) -> None:
    """The victim waits; a stranger joins with her NIK, or her phone spelled otherwise."""
    settings = app.state.portal.settings
    with TestClient(app) as victim, TestClient(create_app(settings)) as by_nik, \
            TestClient(create_app(settings)) as by_phone:
        victim.get("/")
        theirs = victim.post("/api/v1/queue/join", json={
            "nik": "3601284811855133", "phone": "0895-7477-2415"}).json()
        for thief, body in ((by_nik, {"nik": "3601 2848 1185 5133"}),
                            (by_phone, {"phone": "+62 895 7477 2415"})):
            taken = thief.post("/api/v1/queue/join", json=body)
            assert taken.status_code == 201  # a new place of its own
            assert taken.json()["token"].split(".")[1] != theirs["token"].split(".")[1]
        # The victim still holds her place, and her own browser finds it again.
        again = victim.post("/api/v1/queue/join", json={"nik": "3601284811855133"})
        assert again.status_code == 200
        assert again.json()["token"].split(".")[1] == theirs["token"].split(".")[1]


def test_a_second_tap_gives_the_same_place_back(app) -> None:
    with TestClient(app) as client:
        client.get("/")  # the landing page gives the browser its secret
        first = client.post("/api/v1/queue/join", json={}).json()
        second = client.post("/api/v1/queue/join", json={})
    assert second.status_code == 200
    assert second.json()["token"].split(".")[1] == first["token"].split(".")[1]


def test_token_from_another_browser_is_refused(app) -> None:
    with TestClient(app) as owner, TestClient(create_app(app.state.portal.settings)) as thief:
        token = owner.post("/api/v1/queue/join", json={}).json()["token"]
        refused = thief.get(f"/api/v1/queue/{token}")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "foreign_browser"
        assert thief.post(f"/api/v1/queue/{token}/enter").status_code == 403


@pytest.mark.parametrize("token", ["garbage", "main.1.1.x.y", "a" * 600, "main.1.9999999999.x.y"])
def test_bad_tokens_get_401_with_a_json_error(app, token: str) -> None:
    with TestClient(app) as client:
        client.post("/api/v1/queue/join", json={})
        response = client.get(f"/api/v1/queue/{token}")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "fields"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "bad_json"),
        (b"[1, 2]", 400, "bad_json"),
        (b'{"nik": "12AB"}', 422, "invalid_fields"),
        (b'{"email": "nope", "phone": 12}', 422, "invalid_fields"),
        (b"x" * 20000, 413, "too_large"),
    ],
)
def test_bad_join_bodies_are_clear_4xx(app, body: bytes, status: int, code: str) -> None:
    with TestClient(app) as client:
        response = client.post("/api/v1/queue/join", content=body,
                               headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    if status == 422:
        assert response.json()["error"]["fields"]


def test_session_calls_without_a_session_are_401(app) -> None:
    with TestClient(app) as client:
        assert client.post("/api/v1/session/heartbeat").status_code == 401
        assert client.post("/api/v1/session/finish").json()["error"]["code"] == "no_session"


def test_a_join_past_the_bucket_answers_429_with_a_challenge(redis_client, redis_url,
                                                              tmp_path) -> None:
    from dataclasses import replace

    settings = replace(make_settings(redis_url, f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path),
                       join_burst=2, join_rate_per_minute=2)
    with TestClient(create_app(settings)) as client:
        for _ in range(2):
            client.cookies.clear()
            assert client.post("/api/v1/queue/join", json={}).status_code == 201
        client.cookies.clear()
        refused = client.post("/api/v1/queue/join", json={})
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 30
    error = refused.json()["error"]
    assert error["code"] == "proof_required" and error["fields"] == {}
    assert error["challenge"]["bits"] == 14 and error["challenge"]["challenge"]
    # the challenge is bound to this browser: a new one keeps its secret to answer it
    assert "antrean_b=" in refused.headers["set-cookie"]


def test_unknown_paths_and_methods_answer_json_for_the_api(app) -> None:
    with TestClient(app) as client:
        missing = client.get("/api/v1/nothing")
        wrong = client.delete("/api/v1/queue/stats")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_redis_down_fails_closed_with_503(redis_client, tmp_path) -> None:
    from tests.support.servers import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(dead, f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    with TestClient(create_app(settings)) as client:
        api = client.post("/api/v1/queue/join", json={})
        page = client.get("/")
        ready = client.get("/readyz")
    assert api.status_code == 503 and api.headers["retry-after"]
    assert api.json()["error"]["code"] == "unavailable"
    assert page.status_code == 503 and "tidak tersedia" in page.text
    assert "Traceback" not in page.text
    assert ready.status_code == 503 and ready.json()["checks"]["database"] == "ok"


def test_closed_queue_refuses_new_joins_clearly(redis_client, redis_url, tmp_path) -> None:
    import time as time_

    settings = make_settings(redis_url, f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path,
                             closes_at=int(time_.time()) - 1)
    with TestClient(create_app(settings)) as client:
        api = client.post("/api/v1/queue/join", json={})
        landing = client.get("/")
        # The landing page says so and offers no join button, only the other doors.
        assert 'id="closes"' in landing.text and 'id="join"' not in landing.text
        assert 'href="/booking/cek"' in landing.text and "WIB" in landing.text
        # A join posted anyway (an old tab) gets the same clear answer.
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/antre/pindah").text)
        assert token
        page = client.post("/antre", data={"csrf_token": token.group(1)})
    assert api.status_code == 409 and api.json()["error"]["code"] == "queue_closed"
    assert page.status_code == 409 and "sudah ditutup" in page.text


def test_prequeue_visitors_see_that_the_order_is_drawn_at_opening(
    redis_client, redis_url, tmp_path
) -> None:
    import time as time_

    settings = make_settings(redis_url, f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path,
                             opens_at=int(time_.time()) + 3600)
    with TestClient(create_app(settings)) as client:
        landing = client.get("/")
        body = client.post("/api/v1/queue/join", json={}).json()
        page = client.get("/antre")
    # Before opening: when it opens, and no estimate for a room that is still closed.
    assert 'id="opens"' in landing.text and 'id="eta"' not in landing.text
    assert body["state"] == "waiting" and body["awaiting_draw"] is True
    assert body["position"] is None
    # Every pre-queue page would be told the same until the draw: it follows the board.
    assert body["follow"] == {"number": 1, "rank": 0}
    assert "diundi" in page.text


def test_fail_open_lets_visitors_fill_the_form_while_redis_is_down(tmp_path) -> None:

    from sqlalchemy import text

    from portal.db import create_db_engine, upgrade
    from tests.support.form import FILES, VALID, csrf, hidden
    from tests.support.servers import free_port

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(dead, url, tmp_path, fail_open=True)
    with TestClient(create_app(settings)) as client:
        landing = client.get("/")
        assert landing.status_code == 200 and "gangguan" in landing.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', landing.text)
        assert token
        form = client.post("/antre", data={"csrf_token": token.group(1)})
        assert form.status_code == 200 and 'action="/formulir"' in form.text
        done = client.post("/formulir", data={**VALID, "csrf_token": csrf(form.text),
                                              "submit_key": hidden(form.text, "submit_key")},
                           files=FILES)
    # The form is open and what was typed is kept; but no code can be sent while Redis is
    # away, so a NIK this browser never proved is not registered (no squatting in an outage).
    assert done.status_code == 403 and "Verifikasi NIK Anda dulu" in done.text
    assert f'value="{VALID["nama"]}"' in done.text
    engine = create_db_engine(url)
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT data FROM drafts")).scalars().all()
        registered = connection.execute(text("SELECT count(*) FROM submissions")).scalar()
    engine.dispose()
    assert len(kept) == 1 and VALID["nama"] in str(kept[0]) and registered == 0


def test_a_join_answer_is_encoded_as_json_response_encodes_it(app) -> None:
    # A plain waiting place's answer is written directly (portal.visitor.queue_api.Joined):
    # byte for byte what the dictionary encodes to, for the admitted and the waiting.
    import json

    with TestClient(app) as client:
        answers = []
        for _ in range(4):
            client.cookies.clear()  # a new browser each time
            answers.append(client.post("/api/v1/queue/join", json={}))
        client.cookies.clear()
        answers.append(client.post("/api/v1/queue/join", json={"phone": "081234567890"}))
    states = [answer.json()["state"] for answer in answers]
    assert "admitted" in states and "waiting" in states
    for answer in answers:
        parsed = answer.json()
        assert answer.content == json.dumps(parsed, ensure_ascii=False, allow_nan=False,
                                            separators=(",", ":")).encode()
        assert list(parsed) == ["token", "state", "position", "awaiting_draw", "eta_seconds",
                                "eta_range_seconds", "poll_after_ms", "claim_deadline_ms",
                                "offer"]


@given(st.one_of(st.text(), st.from_regex(r"[A-Za-z0-9._-]{1,80}", fullmatch=True)))
def test_a_token_is_written_as_the_json_encoder_writes_it(text: str) -> None:
    from portal.visitor.queue_api import _encode, _json_string

    assert _json_string(text) == _encode(text).encode()
