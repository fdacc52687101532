"""The planner's answers, as properties: the cap it names is the smallest that finishes
by the deadline, it grows with the roster, and the extra hours it names are enough."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from portal.admin.planner import (
    PlanInput,
    extra_hours_needed,
    finish_day,
    project,
    through_by,
)
from portal.app import create_app
from portal.settings import Settings
from tests.support.admin import add_user, log_in

START = dt.date(2026, 8, 1)

plans = st.builds(
    PlanInput,
    roster_size=st.integers(0, 300_000), through=st.integers(0, 50_000),
    start=st.just(START), deadline=st.integers(0, 40).map(lambda d: START + dt.timedelta(d)),
    cap=st.integers(1, 500), session_minutes=st.floats(5, 60),
    hours_per_day=st.sampled_from([6.0, 8.0, 10.0, 14.0]),
    utilisation=st.floats(0.3, 1.0),
    holidays=st.just({dt.date(2026, 8, 17): "Hari Kemerdekaan"}),
    holiday_weight=st.floats(0, 2),
    hours_by_weekday=st.sampled_from([{}, {6: 0.0}, {5: 4.0, 6: 0.0}]))


@settings(max_examples=150, deadline=None)
@given(plan=plans)
def test_the_cap_named_is_the_smallest_that_finishes_in_time(plan: PlanInput) -> None:
    projection = project(plan)
    remaining = projection.remaining
    needed = projection.cap_needed
    if needed is None:
        assert through_by(replace(plan, cap=10**6)) == 0  # no opening time before the deadline
        return
    assert through_by(plan, needed) >= remaining
    if needed > 1:
        assert through_by(plan, needed - 1) < remaining
    assert project(replace(plan, cap=needed)).on_time
    assert projection.finish_with_cap is not None and projection.finish_with_cap <= plan.deadline
    assert projection.finish_with_cap == finish_day(plan, remaining, needed)
    assert projection.on_time == (needed <= plan.cap)


@settings(max_examples=100, deadline=None)
@given(plan=plans, more=st.integers(0, 100_000))
def test_the_cap_needed_grows_with_the_roster(plan: PlanInput, more: int) -> None:
    bigger = replace(plan, roster_size=plan.roster_size + more)
    small, large = project(plan).cap_needed, project(bigger).cap_needed
    assert (small is None) == (large is None)
    if small is not None and large is not None:
        assert small <= large


@settings(max_examples=100, deadline=None)
@given(plan=plans)
def test_the_extra_hours_named_are_enough_and_no_more(plan: PlanInput) -> None:
    remaining = max(0, plan.roster_size - plan.through)
    extra = extra_hours_needed(plan, remaining)
    if extra is None:
        assert through_by(replace(plan, extra_hours=24)) < remaining
        return
    assert through_by(replace(plan, extra_hours=extra)) >= remaining
    if extra > 0:
        assert through_by(replace(plan, extra_hours=extra - 0.5)) < remaining


def test_the_page_says_it_in_words_and_in_a_table(settings: Settings) -> None:
    add_user(settings, "budi", "operator")
    query = {"roster_size": "120000", "through": "20000", "start": "2026-08-01",
             "deadline": "2026-08-31", "cap": "100", "session_minutes": "20",
             "hours_per_day": "10", "utilisation": "1", "holiday_weight": "1"}
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        late = client.get("/admin/perencana", params=query).text
        english = client.get("/admin/perencana", params={**query, "lang": "en"}).text
        early = client.get("/admin/perencana", params={**query, "cap": "200", "lang": "id"}).text
    assert "baru selesai pada" in late and "sesudah tenggat 31 Agustus 2026" in late
    assert 'id="with-cap"' in late and 'id="with-hours"' in late
    assert "sesi serentak" in late and "jam buka" in late
    assert 'id="plan-days"' in late and "17 Agustus 2026" in late  # the table, no script needed
    assert "31 August 2026" in english and "Agustus" not in english
    assert "sebelum tenggat 31 Agustus 2026" in early and 'id="with-cap"' not in early
