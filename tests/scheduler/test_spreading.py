import datetime as dt
from collections import Counter
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.calendar import CalendarSpec, generate_slots, holiday_calendar
from scheduler.spreading import (
    TIME_OF_DAY,
    SlotLoad,
    SlotPreference,
    SpreadResult,
    day_quotas,
    spread_registrants,
    water_fill,
)
from tests.support import examples

JAKARTA = ZoneInfo("Asia/Jakarta")
FIRST_DAY = dt.date(2025, 3, 27)  # Thursday; 2025-03-31 is Idul Fitri


def make_slots(
    capacities: list[list[int]], booked: list[list[int]] | None = None, hours: int = 3
) -> list[SlotLoad]:
    """Days of slots starting at 08:00, `hours` apart, holidays on 2025-03-31 and later."""
    slots = []
    for d, day_caps in enumerate(capacities):
        day = FIRST_DAY + dt.timedelta(days=d)
        for k, capacity in enumerate(day_caps):
            start = dt.datetime.combine(day, dt.time(), tzinfo=JAKARTA) + dt.timedelta(
                hours=(8 + k * hours) % 24
            )
            taken = booked[d][k] if booked else 0
            slots.append(
                SlotLoad(f"s{d}-{k}", day, start, capacity, taken, day >= dt.date(2025, 3, 31))
            )
    return slots


def check_consistent(result: SpreadResult, slots: list[SlotLoad], n: int) -> list[int]:
    """The runs, counts and positions all describe the same assignment; return positions."""
    positions = result.slot_positions()
    assert len(positions) == n
    per_slot = Counter(p for p in positions if p >= 0)
    assert [per_slot.get(i, 0) for i in range(len(slots))] == list(result.slot_counts)
    assert sum(result.slot_counts) == result.assigned == n - result.unassigned
    covered = sum(run.count for run in result.runs)
    assert covered == result.assigned
    assert sum(end - first for first, end in result.unassigned_ranges()) == result.unassigned
    firsts = [run.first for run in result.runs]
    assert firsts == sorted(firsts)
    for slot, added in zip(slots, result.slot_counts, strict=True):
        assert added == 0 or slot.booked + added <= slot.capacity
    return list(positions)


def test_even_spread_over_days_and_slots() -> None:
    slots = make_slots([[10, 10, 10], [20, 20, 20], [10, 10, 10]])
    result = spread_registrants(60, slots)
    check_consistent(result, slots, 60)
    assert result.slot_counts == (5, 5, 5, 10, 10, 10, 5, 5, 5)
    # Chronological runs over consecutive positions: one per slot.
    assert [(run.slot_id, run.first, run.count) for run in result.runs][:2] == [
        ("s0-0", 0, 5),
        ("s0-1", 5, 5),
    ]
    assert result.shortfall is None and result.unassigned == 0


def test_least_loaded_slot_first_ties_to_earliest() -> None:
    slots = make_slots([[10, 10, 10]], booked=[[4, 0, 2]])
    result = spread_registrants(5, slots)
    # Loads 4,0,2 -> 4,3,3 after four, then the earliest of the two at 3.
    assert result.slot_counts == (0, 4, 1)


def test_already_booked_replaces_slot_counts() -> None:
    slots = make_slots([[10, 10]])
    result = spread_registrants(12, slots, already_booked={"s0-0": 10})
    assert result.slot_counts == (0, 10)
    assert result.unassigned == 2


def test_shortfall_reports_places_days_and_cap() -> None:
    slots = make_slots([[10, 10], [10, 10], [10, 10]])
    result = spread_registrants(100, slots, max_active=50)
    assert result.unassigned == 40
    shortfall = result.shortfall
    assert shortfall is not None
    assert shortfall.places == 40
    assert shortfall.average_daily_capacity == 20
    assert shortfall.extra_days == 2
    # Only Thursday to Saturday are open, so the two extra days are the next Thu and Fri.
    assert shortfall.suggested_last_day == dt.date(2025, 4, 4)
    assert shortfall.capacity_factor == Fraction(100, 60)
    assert shortfall.required_max_active == 84
    # The tail of the order waits; everyone before it has a slot.
    assert result.unassigned_ranges() == [(60, 100)]


def test_suggested_last_day_follows_open_weekdays() -> None:
    # Thursday and Friday only: two more days means next Thursday and Friday.
    slots = make_slots([[10], [10]])
    shortfall = spread_registrants(40, slots).shortfall
    assert shortfall is not None and shortfall.extra_days == 2
    assert shortfall.suggested_last_day == dt.date(2025, 4, 4)
    assert shortfall.required_max_active is None


def test_preferences_keyed_by_id_and_honoured() -> None:
    slots = make_slots([[5, 5, 5, 5], [5, 5, 5, 5], [5, 5, 5, 5], [5, 5, 5, 5], [5, 5, 5, 5]])
    ids = [f"r{i}" for i in range(50)]
    prefs = {
        "r3": SlotPreference(avoid_holidays=True, time_of_day="siang"),
        "r7": SlotPreference(dates=frozenset({dt.date(2025, 3, 31)})),
        "r9": SlotPreference(weekdays=frozenset({4}), hours=(14, 18)),
    }
    result = spread_registrants(ids, slots, preferences=prefs)
    positions = check_consistent(result, slots, 50)
    assert result.preference_misses == ()
    for rid, pref in prefs.items():
        assert pref.allows(slots[positions[ids.index(rid)]])


def test_unsatisfiable_preference_is_reported_and_still_placed() -> None:
    slots = make_slots([[1, 5]])
    prefs = {0: SlotPreference(time_of_day="pagi"), 1: SlotPreference(time_of_day="pagi")}
    result = spread_registrants(3, slots, preferences=prefs)
    positions = check_consistent(result, slots, 3)
    assert result.preference_misses == (1,)
    assert positions == [0, 1, 1]


def test_unknown_preference_key_is_refused() -> None:
    with pytest.raises(KeyError):
        spread_registrants(3, make_slots([[5]]), preferences={7: SlotPreference()})
    with pytest.raises(ValueError):
        SlotPreference(time_of_day="subuh")


def test_overlapping_preferences_need_more_than_greedy() -> None:
    # A wide group processed first would take the only slot the narrow one allows.
    slots = make_slots([[1, 1]], hours=4)  # 08:00 and 12:00
    prefs = {
        0: SlotPreference(hours=(8, 13)),  # either slot
        1: SlotPreference(hours=(8, 13)),  # either slot
        2: SlotPreference(time_of_day="pagi"),  # only 08:00
    }
    result = spread_registrants(3, slots, preferences=prefs)
    assert result.preference_misses == (1,)
    positions = check_consistent(result, slots, 3)
    assert positions[2] == 0


def test_a_national_roster_is_spread_whole() -> None:
    spec = CalendarSpec(
        dt.datetime(2025, 3, 1, tzinfo=JAKARTA),
        dt.datetime(2025, 4, 12, tzinfo=JAKARTA),
        holidays=holiday_calendar([2025]),
    )
    slots = [
        SlotLoad(i, s.day, s.start, s.capacity, 0, s.holiday is not None)
        for i, s in enumerate(generate_slots(spec, 1400, 0.5, 20))
    ]
    assert len(slots) == 2016
    prefs = {i * 100: SlotPreference(time_of_day="pagi") for i in range(5000)}
    result = spread_registrants(2_200_000, slots, preferences=prefs, max_active=1400)
    positions = result.slot_positions()
    assert result.unassigned == 0 and result.preference_misses == ()
    assert len(positions) == 2_200_000


@pytest.mark.parametrize("seed_loads", [[0, 0, 0], [3, 1, 2], [9, 0, 9]])
def test_water_fill_matches_one_by_one(seed_loads: list[int]) -> None:
    caps = [9, 9, 5]
    for amount in range(30):
        assert water_fill(seed_loads, caps, amount) == greedy_fill(seed_loads, caps, amount)


def greedy_fill(loads: list[int], caps: list[int], amount: int) -> list[int]:
    current = list(loads)
    for _ in range(amount):
        open_slots = [i for i in range(len(caps)) if current[i] < caps[i]]
        if not open_slots:
            break
        best = min(open_slots, key=lambda i: (current[i], i))
        current[best] += 1
    return [now - before for now, before in zip(current, loads, strict=True)]


@settings(max_examples=examples(2000), deadline=None)
@given(
    loads=st.lists(st.integers(0, 12), min_size=1, max_size=8),
    caps=st.lists(st.integers(0, 12), min_size=8, max_size=8),
    amount=st.integers(0, 80),
)
def test_water_fill_property(loads: list[int], caps: list[int], amount: int) -> None:
    caps = caps[: len(loads)]
    assert water_fill(loads, caps, amount) == greedy_fill(loads, caps, amount)


@settings(max_examples=examples(2000), deadline=None)
@given(
    day_free=st.lists(st.integers(0, 1000), min_size=1, max_size=40),
    amount=st.integers(0, 50_000),
)
def test_day_quotas_largest_remainder(day_free: list[int], amount: int) -> None:
    quotas = day_quotas(amount, day_free)
    total = sum(day_free)
    assert sum(quotas) == min(amount, total)
    for quota, free in zip(quotas, day_free, strict=True):
        assert 0 <= quota <= free
        if total:
            exact = Fraction(min(amount, total) * free, total)
            assert abs(quota - exact) < 1


capacity_grids = st.lists(
    st.lists(st.integers(0, 8), min_size=1, max_size=6), min_size=1, max_size=8
)


@settings(max_examples=examples(1000), deadline=None)
@given(data=st.data(), capacities=capacity_grids, n=st.integers(0, 300))
def test_spread_without_preferences(
    data: st.DataObject, capacities: list[list[int]], n: int
) -> None:
    booked = [[data.draw(st.integers(0, cap + 2)) for cap in day] for day in capacities]
    slots = make_slots(capacities, booked)
    result = spread_registrants(n, slots)
    check_consistent(result, slots, n)
    free = [max(0, s.capacity - s.booked) for s in slots]
    total_free = sum(free)
    assert result.assigned == min(n, total_free)
    assert (result.shortfall is None) == (n <= total_free)
    # Each day's count is within 1 of its share of the free places.
    by_day: Counter[dt.date] = Counter()
    free_by_day: Counter[dt.date] = Counter()
    for slot, added, room in zip(slots, result.slot_counts, free, strict=True):
        by_day[slot.day] += added
        free_by_day[slot.day] += room
    if total_free:
        for day, room in free_by_day.items():
            assert abs(by_day[day] - Fraction(result.assigned * room, total_free)) < 1
    # Deterministic, and independent of the order slots are listed in.
    assert spread_registrants(n, slots) == result
    shuffled = data.draw(st.permutations(slots))
    again = spread_registrants(n, shuffled)
    assert dict(zip(again.slot_ids, again.slot_counts, strict=True)) == dict(
        zip(result.slot_ids, result.slot_counts, strict=True)
    )


preferences = st.builds(
    SlotPreference,
    weekdays=st.none() | st.frozensets(st.integers(0, 6), min_size=1),
    time_of_day=st.none() | st.sampled_from(sorted(TIME_OF_DAY)),
    hours=st.none()
    | st.tuples(st.integers(0, 23), st.integers(0, 24)).filter(lambda h: h[0] != h[1]),
    avoid_holidays=st.booleans(),
)


def max_satisfiable(slots: list[SlotLoad], wanted: dict[int, SlotPreference]) -> int:
    """Most preferences any assignment honours: bipartite matching, places as copies."""
    places = [i for i, slot in enumerate(slots) for _ in range(max(0, slot.capacity - slot.booked))]
    owner: dict[int, int] = {}

    def augment(person: int, seen: set[int]) -> bool:
        for place, slot_index in enumerate(places):
            if place in seen or not wanted[person].allows(slots[slot_index]):
                continue
            seen.add(place)
            if place not in owner or augment(owner[place], seen):
                owner[place] = person
                return True
        return False

    return sum(augment(person, set()) for person in wanted)


@settings(max_examples=examples(1000), deadline=None)
@given(
    data=st.data(),
    capacities=st.lists(
        st.lists(st.integers(0, 3), min_size=1, max_size=6), min_size=1, max_size=7
    ),
    n=st.integers(0, 40),
)
def test_spread_with_preferences(data: st.DataObject, capacities: list[list[int]], n: int) -> None:
    slots = make_slots(capacities)
    chosen = data.draw(st.sets(st.integers(0, max(0, n - 1)), max_size=n)) if n else set()
    wanted = {i: data.draw(preferences) for i in sorted(chosen)}
    result = spread_registrants(n, slots, preferences=wanted)
    positions = check_consistent(result, slots, n)
    assert result.assigned == min(n, sum(s.capacity for s in slots))
    honoured = [i for i in wanted if positions[i] >= 0 and wanted[i].allows(slots[positions[i]])]
    assert len(honoured) == len(wanted) - len(result.preference_misses)
    assert set(result.preference_misses) == set(wanted) - set(honoured)
    # As many preferences honoured as any assignment could manage.
    assert len(honoured) == max_satisfiable(slots, wanted)
    assert spread_registrants(n, slots, preferences=wanted) == result
