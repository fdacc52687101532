"""The public /status page shows no personal data; /metrics is for operators only."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from starlette.datastructures import Secret
from starlette.testclient import TestClient

from portal.admin.planner import PlanInput, project
from portal.app import create_app
from portal.environment import Environment
from portal.settings import AdminSettings, Settings
from tests.support.admin import add_user, insert_submissions, log_in

NIK = "3601284811855133"


def test_status_has_only_aggregate_numbers(settings: Settings) -> None:
    insert_submissions(settings, 3)
    with TestClient(create_app(settings)) as client:
        joined = client.post("/api/v1/queue/join", json={
            "nik": NIK, "email": "dian.suryana@yahoo.co.id", "phone": "0895-7477-2415"})
        assert joined.status_code == 201
        page = client.get("/status")
        body = client.get("/api/v1/status").json()
    assert page.status_code == 200 and "Status antrean saat ini" in page.text
    assert set(body) == {"waiting", "active", "cap", "paused", "admitted_today",
                         "admitted_per_minute", "eta_new_s", "wait_median_s", "wait_p90_s",
                         "prequeue_seed"}
    assert body["active"] == 1 and body["cap"] == 2
    for private in (NIK, "5133", "suryana", "0895", "Pegawai", "3601000000000000", "REG-"):
        assert private not in page.text and private not in str(body)


def test_metrics_are_for_operators_and_the_allowed_addresses(settings: Settings) -> None:
    add_user(settings, "budi", "operator")
    add_user(settings, "citra", "viewer")
    settings = replace(settings, admin_token=Secret("env-token-0123456789abcdef-0123456789"))
    app = create_app(settings)
    with TestClient(app) as stranger:
        assert stranger.get("/metrics").status_code == 403
        token = stranger.get("/metrics", headers={
            "Authorization": "Bearer env-token-0123456789abcdef-0123456789"})
        assert token.status_code == 200
        assert "antrean_queue_waiting 0.0" in token.text
        assert "antrean_max_active_sessions 2.0" in token.text
        assert "antrean_admissions_total" in token.text
        log_in(stranger, "citra")
        assert stranger.get("/metrics").status_code == 403  # viewers are not operators
        log_in(stranger, "budi")
        assert stranger.get("/metrics").status_code == 200
    with TestClient(app, client=("127.0.0.1", 40000)) as local:
        assert local.get("/metrics").status_code == 200  # default range: loopback
    with TestClient(app, client=("10.20.30.40", 40000)) as monitor:
        assert monitor.get("/metrics").status_code == 403
        assert monitor.get("/metrics").status_code == 403
    monitored = replace(settings, admin=AdminSettings.read(Environment(
        {"ANTREAN_METRICS_ALLOW": "10.20.0.0/16, ::1/128"})))
    with TestClient(create_app(monitored), client=("10.20.30.40", 40000)) as monitor:
        assert monitor.get("/metrics").status_code == 200


def test_planner_finds_the_finish_and_the_cap_the_deadline_needs() -> None:
    start = dt.date(2022, 8, 1)
    plan = PlanInput(roster_size=120_000, through=20_000, start=start,
                     deadline=dt.date(2022, 8, 31), cap=100, session_minutes=20,
                     hours_per_day=10, utilisation=1.0,
                     holidays={dt.date(2022, 8, 17): "Hari Kemerdekaan"}, holiday_weight=2.0)
    projection = project(plan)
    # 100 places x 30 sessions a day = 3,000 a day; the holiday counts double
    assert projection.days[0].capacity == 3000 and projection.days[16].capacity == 6000
    assert projection.finish == start + dt.timedelta(days=32)  # 100,000 / 3,000, minus the holiday
    assert not projection.on_time
    assert projection.cap_needed == 105  # 100,000 / (32 day-weights x 30 sessions)
    faster = project(replace(plan, cap=projection.cap_needed))
    assert faster.on_time and faster.finish == projection.finish_with_cap
    assert not project(replace(plan, cap=projection.cap_needed - 1)).on_time
    # Or at cap 100: 10 h a day x 32/31.. needs 10.5 h (3,150 a day x 32 weights = 100,800).
    assert projection.extra_hours_needed == 0.5
    assert project(replace(plan, extra_hours=0.5)).on_time


def test_planner_page_draws_the_projection(settings: Settings) -> None:
    add_user(settings, "budi", "operator")
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        page = client.get("/admin/perencana", params={"roster_size": "5000", "cap": "10"})
        bad = client.get("/admin/perencana", params={"cap": "0"})
    assert page.status_code == 200 and 'id="chart-plan"' in page.text
    assert 'id="cap-needed"' in page.text
    assert bad.status_code == 422
