"""A bookable window for tests: slots, and a person who books one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from portal.db import create_db_engine, session_factory
from scheduler.calendar import WorkingPlan
from scheduler.store import CapacityRule, list_slots, regenerate_slots, save_calendar

NIK = "3601284811855133"


OTHER_NIK = "3601021210672749"


RULE = CapacityRule(max_active=2, booked_share=0.5, expected_session_minutes=30)  # 1 a slot


@pytest.fixture
def slots(app) -> list[dict[str, Any]]:
    """Three days from tomorrow, open 08:00-10:00 in Jakarta: 4 one-place slots a day."""
    return make_window(app.state.portal.settings)


def make_window(settings: Any) -> list[dict[str, Any]]:
    """Three days from tomorrow, open 08:00-10:00 in the settings' zone; the slots."""
    engine = create_db_engine(settings.database_url)
    now = dt.datetime.now(dt.UTC)
    first = dt.datetime.combine(now.astimezone(settings.tz).date() + dt.timedelta(days=1),
                                dt.time(0), tzinfo=settings.tz)
    with session_factory(engine)() as session, session.begin():
        save_calendar(session, settings.room, window_start=first,
                      window_end=first + dt.timedelta(days=3),
                      plan=WorkingPlan(tuple(((dt.time(8), dt.time(10)),) for _ in range(7))),
                      capacity=RULE)
        regenerate_slots(session, settings.room, now)
        found = [{"id": slot.id, "day": slot.day.isoformat()}
                 for slot in list_slots(session, settings.room)]
    engine.dispose()
    return found


def person(**changes: Any) -> dict[str, Any]:
    return {"nik": NIK, "name": "Dian Suryana", "phone": "0895-7477-2415",
            "email": "Dian@Example.id", **changes}

