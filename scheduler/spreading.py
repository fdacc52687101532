"""Spreading registrants over the slots of the registration window.

Everything works on counts per slot, never on one registrant at a time, so
millions of registrants spread in milliseconds. The result says which
contiguous ranges of registrants (by position in the input) go to which slot:
exactly what a bulk ``INSERT ... SELECT ... WHERE rank BETWEEN :first AND :last``
needs, one statement parameter set per run.
"""

from __future__ import annotations

import datetime as dt
import math
from array import array
from collections import deque
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

# Local hours [start, end) of the times of day people name when they book.
TIME_OF_DAY: dict[str, tuple[int, int]] = {
    "pagi": (5, 11),
    "siang": (11, 15),
    "sore": (15, 18),
    "malam": (18, 24),
}


@dataclass(frozen=True, slots=True)
class SlotLoad:
    """A slot as the spreader sees it: when, how many places, how many already taken.

    ``start`` must be in the calendar's local zone: time-of-day preferences
    ("pagi", hours) are read from its wall-clock hour.
    """

    id: Hashable
    day: dt.date
    start: dt.datetime
    capacity: int
    booked: int = 0
    holiday: bool = False


@dataclass(frozen=True, slots=True)
class SlotPreference:
    """What one registrant asked for; every condition given must hold for a slot to fit."""

    weekdays: frozenset[int] | None = None
    dates: frozenset[dt.date] | None = None
    time_of_day: str | None = None
    # Local start hours [first, last); first > last wraps past midnight (22, 2).
    hours: tuple[int, int] | None = None
    avoid_holidays: bool = False

    def __post_init__(self) -> None:
        if self.time_of_day is not None and self.time_of_day not in TIME_OF_DAY:
            raise ValueError(f"unknown time of day {self.time_of_day!r}")
        if self.hours is not None:
            first, last = self.hours
            if not (0 <= first <= 23 and 0 <= last <= 24 and first != last):
                raise ValueError(f"hours must be two different hours in 0..24, got {self.hours}")

    def allows(self, slot: SlotLoad) -> bool:
        """Return whether the slot satisfies every condition of this preference."""
        if self.avoid_holidays and slot.holiday:
            return False
        if self.dates is not None and slot.day not in self.dates:
            return False
        if self.weekdays is not None and slot.day.weekday() not in self.weekdays:
            return False
        hour = slot.start.hour
        if self.time_of_day is not None:
            first, last = TIME_OF_DAY[self.time_of_day]
            if not first <= hour < last:
                return False
        if self.hours is not None:
            first, last = self.hours
            inside = first <= hour < last if first < last else (hour >= first or hour < last)
            if not inside:
                return False
        return True


@dataclass(frozen=True, slots=True)
class AssignmentRun:
    """Registrants at positions first .. first + count - 1 all go to one slot."""

    slot_id: Hashable
    first: int
    count: int


@dataclass(frozen=True, slots=True)
class Shortfall:
    """How far capacity falls short of fitting everyone, and what would fix it."""

    places: int
    average_daily_capacity: float
    extra_days: int | None
    suggested_last_day: dt.date | None
    capacity_factor: Fraction
    required_max_active: int | None


@dataclass(frozen=True, slots=True)
class SpreadResult:
    """The assignment of registrants to slots, as runs of consecutive positions."""

    registrants: int
    slot_ids: tuple[Hashable, ...]
    slot_counts: tuple[int, ...]
    runs: tuple[AssignmentRun, ...]
    unassigned: int
    preference_misses: tuple[int, ...]
    shortfall: Shortfall | None

    @property
    def assigned(self) -> int:
        """Number of registrants given a slot."""
        return self.registrants - self.unassigned

    def slot_positions(self) -> array[int]:
        """Return, per registrant position, the index of its slot in slot_ids or -1."""
        index_of = {slot_id: index for index, slot_id in enumerate(self.slot_ids)}
        positions = array("i", [-1]) * self.registrants
        for run in self.runs:
            positions[run.first : run.first + run.count] = array("i", [index_of[run.slot_id]]) * (
                run.count
            )
        return positions

    def unassigned_ranges(self) -> list[tuple[int, int]]:
        """Return the [first, end) position ranges of registrants left without a slot."""
        ranges: list[tuple[int, int]] = []
        cursor = 0
        for run in self.runs:
            if run.first > cursor:
                ranges.append((cursor, run.first))
            cursor = run.first + run.count
        if cursor < self.registrants:
            ranges.append((cursor, self.registrants))
        return ranges


def spread_registrants(
    n_or_registrants: int | Sequence[Hashable],
    slots: Sequence[SlotLoad],
    # Any, not Hashable: Mapping is invariant in its key, and callers key these
    # by int positions, str ids or database ids alike.
    preferences: Mapping[Any, SlotPreference] | None = None,
    already_booked: Mapping[Any, int] | None = None,
    max_active: int | None = None,
) -> SpreadResult:
    """Assign registrants to slots without overfilling any, evenly by day and deterministically.

    Registrants are positions 0..n-1 (a count) or the positions of the ids given;
    ``preferences`` is keyed by position for a count and by id otherwise.
    ``already_booked`` (slot id -> places taken) replaces the slots' own ``booked``.
    Preferences are honoured whenever some assignment can honour them all; a
    registrant whose preference cannot be met is placed like everyone else and
    listed in ``preference_misses``.
    """
    n = n_or_registrants if isinstance(n_or_registrants, int) else len(n_or_registrants)
    if n < 0:
        raise ValueError("the number of registrants cannot be negative")
    wanted = _preferences_by_position(n_or_registrants, preferences or {})
    booked_counts = already_booked or {}

    # Chronological order, whatever order the caller's query returned.
    order = sorted(range(len(slots)), key=lambda i: (slots[i].day, slots[i].start, i))
    chrono = [slots[i] for i in order]
    caps = [slot.capacity for slot in chrono]
    loads = [booked_counts.get(slot.id, slot.booked) for slot in chrono]
    added = [0] * len(chrono)

    placed, misses = _place_preferences(wanted, chrono, caps, loads, added)
    # Misses fall back to the general spread: a slot they did not ask for beats none.
    rest = n - len(placed)
    _spread_by_day(rest, chrono, caps, loads, added)

    runs = _build_runs(n, placed, chrono, added)
    assigned = sum(added)
    unassigned = n - assigned
    slot_counts = [0] * len(slots)
    for position, original in enumerate(order):
        slot_counts[original] = added[position]
    shortfall = None
    if unassigned:
        shortfall = _shortfall(n, unassigned, chrono, caps, loads, added, max_active)
    return SpreadResult(
        registrants=n,
        slot_ids=tuple(slot.id for slot in slots),
        slot_counts=tuple(slot_counts),
        runs=tuple(runs),
        unassigned=unassigned,
        preference_misses=tuple(misses),
        shortfall=shortfall,
    )


def water_fill(loads: Sequence[int], caps: Sequence[int], amount: int) -> list[int]:
    """Return per-slot additions as if each place went to the least-loaded open slot, ties first.

    Only the final counts matter, so instead of ``amount`` steps this finds the
    level every slot is raised to and hands the remainder to the earliest
    slots sitting exactly at that level.
    """
    room = sum(max(0, cap - load) for load, cap in zip(loads, caps, strict=True))
    amount = min(amount, room)
    if amount <= 0:
        return [0] * len(loads)

    def fill(level: int) -> int:
        return sum(max(0, min(cap, level) - load) for load, cap in zip(loads, caps, strict=True))

    low = min(load for load, cap in zip(loads, caps, strict=True) if cap > load)
    high = max(caps)
    # Highest level whose fill fits in amount; fill(low) == 0 always fits.
    while low < high:
        middle = (low + high + 1) // 2
        if fill(middle) <= amount:
            low = middle
        else:
            high = middle - 1
    level = low
    additions = [max(0, min(cap, level) - load) for load, cap in zip(loads, caps, strict=True)]
    remainder = amount - sum(additions)
    for index, (load, cap) in enumerate(zip(loads, caps, strict=True)):
        if remainder == 0:
            break
        if max(load, level) == level and cap > level:
            additions[index] += 1
            remainder -= 1
    return additions


def day_quotas(amount: int, day_free: Sequence[int]) -> list[int]:
    """Split amount over days in proportion to their free places (largest remainder, ties first)."""
    total = sum(day_free)
    amount = min(amount, total)
    if amount <= 0:
        return [0] * len(day_free)
    quotas = [amount * free // total for free in day_free]
    remainders = [amount * free % total for free in day_free]
    leftover = amount - sum(quotas)
    by_remainder = sorted(range(len(day_free)), key=lambda d: (-remainders[d], d))
    for day in by_remainder[:leftover]:
        quotas[day] += 1
    # No cap or overflow pass is needed: with amount <= total each exact share
    # amount * free / total is at most free, and a share is rounded up only when
    # it has a fraction, i.e. when it is below free.
    return quotas


def _preferences_by_position(
    registrants: int | Sequence[Hashable], preferences: Mapping[Any, SlotPreference]
) -> dict[int, SlotPreference]:
    if not preferences:
        return {}
    if isinstance(registrants, int):
        wanted: dict[int, SlotPreference] = {}
        for key, preference in preferences.items():
            if not isinstance(key, int) or not 0 <= key < registrants:
                raise KeyError(f"preference for unknown registrant position {key!r}")
            wanted[key] = preference
        return wanted
    positions = {rid: i for i, rid in enumerate(registrants) if rid in preferences}
    unknown = [key for key in preferences if key not in positions]
    if unknown:
        raise KeyError(f"preferences for unknown registrants {unknown[:5]!r}")
    return {positions[key]: preference for key, preference in preferences.items()}


def _place_preferences(
    wanted: dict[int, SlotPreference],
    chrono: list[SlotLoad],
    caps: list[int],
    loads: list[int],
    added: list[int],
) -> tuple[dict[int, int], list[int]]:
    """Place registrants with preferences; return position -> slot index, and the misses.

    Registrants with the same preference are one group. Slots allowed by the
    same set of groups form one class. A maximum flow from groups to classes
    then places as many registrants as any assignment could, which a greedy
    most-constrained-first pass does not guarantee when preferences overlap.
    """
    if not wanted:
        return {}, []
    members: dict[SlotPreference, list[int]] = {}
    for position in sorted(wanted):
        members.setdefault(wanted[position], []).append(position)
    open_slots = [i for i in range(len(chrono)) if caps[i] > loads[i]]
    preferences = list(members)
    allowed = [[i for i in open_slots if pref.allows(chrono[i])] for pref in preferences]
    # Most constrained first, so the flow's search order favours them too.
    rank = sorted(
        range(len(preferences)),
        key=lambda g: (sum(caps[i] - loads[i] for i in allowed[g]), members[preferences[g]][0]),
    )
    signature: dict[int, list[int]] = {}
    for group in rank:
        for i in allowed[group]:
            signature.setdefault(i, []).append(group)
    classes: dict[tuple[int, ...], list[int]] = {}
    for i in open_slots:
        if i in signature:
            classes.setdefault(tuple(signature[i]), []).append(i)
    class_keys = list(classes)
    flow = _max_flow_groups_to_classes(
        demand=[len(members[preferences[g]]) for g in range(len(preferences))],
        group_order=rank,
        class_groups=class_keys,
        class_room=[sum(caps[i] - loads[i] for i in classes[key]) for key in class_keys],
    )

    placed: dict[int, int] = {}
    next_member = [0] * len(preferences)
    for c, key in enumerate(class_keys):
        chosen: list[int] = []
        for group in key:
            amount = flow.get((group, c), 0)
            group_members = members[preferences[group]]
            chosen.extend(group_members[next_member[group] : next_member[group] + amount])
            next_member[group] += amount
        if not chosen:
            continue
        slot_indexes = classes[key]
        additions = water_fill(
            [loads[i] + added[i] for i in slot_indexes],
            [caps[i] for i in slot_indexes],
            len(chosen),
        )
        chosen.sort()
        cursor = 0
        for i, extra in zip(slot_indexes, additions, strict=True):
            for position in chosen[cursor : cursor + extra]:
                placed[position] = i
            cursor += extra
            added[i] += extra
    misses = [
        position
        for group, preference in enumerate(preferences)
        for position in members[preference][next_member[group] :]
    ]
    return placed, sorted(misses)


def _max_flow_groups_to_classes(
    demand: list[int],
    group_order: list[int],
    class_groups: list[tuple[int, ...]],
    class_room: list[int],
) -> dict[tuple[int, int], int]:
    """Edmonds-Karp on source -> groups -> slot classes -> sink; returns (group, class) flows."""
    groups, classes = len(demand), len(class_groups)
    source, sink = groups + classes, groups + classes + 1
    residual: dict[int, dict[int, int]] = {node: {} for node in range(groups + classes + 2)}

    def add_edge(tail: int, head: int, capacity: int) -> None:
        residual[tail][head] = residual[tail].get(head, 0) + capacity
        residual[head].setdefault(tail, 0)

    unbounded = sum(demand)
    for group in group_order:
        add_edge(source, group, demand[group])
    for c, member_groups in enumerate(class_groups):
        for group in member_groups:
            add_edge(group, groups + c, unbounded)
        add_edge(groups + c, sink, class_room[c])

    while True:
        parent: dict[int, int] = {source: source}
        queue = deque([source])
        while queue and sink not in parent:
            node = queue.popleft()
            for head, capacity in residual[node].items():
                if capacity > 0 and head not in parent:
                    parent[head] = node
                    queue.append(head)
        if sink not in parent:
            break
        bottleneck = unbounded
        node = sink
        while node != source:
            bottleneck = min(bottleneck, residual[parent[node]][node])
            node = parent[node]
        node = sink
        while node != source:
            residual[parent[node]][node] -= bottleneck
            residual[node][parent[node]] += bottleneck
            node = parent[node]

    flows: dict[tuple[int, int], int] = {}
    for c, member_groups in enumerate(class_groups):
        for group in member_groups:
            # What went forward shows up as capacity on the reverse edge.
            sent = residual[groups + c][group]
            if sent:
                flows[(group, c)] = sent
    return flows


def _spread_by_day(
    amount: int, chrono: list[SlotLoad], caps: list[int], loads: list[int], added: list[int]
) -> None:
    day_slots: list[list[int]] = []
    previous_day: dt.date | None = None
    for i, slot in enumerate(chrono):
        if slot.day != previous_day:
            day_slots.append([])
            previous_day = slot.day
        day_slots[-1].append(i)
    day_free = [
        sum(max(0, caps[i] - loads[i] - added[i]) for i in indexes) for indexes in day_slots
    ]
    for indexes, quota in zip(day_slots, day_quotas(amount, day_free), strict=True):
        if quota:
            additions = water_fill(
                [loads[i] + added[i] for i in indexes], [caps[i] for i in indexes], quota
            )
            for i, extra in zip(indexes, additions, strict=True):
                added[i] += extra


def _build_runs(
    n: int, placed: dict[int, int], chrono: list[SlotLoad], added: list[int]
) -> list[AssignmentRun]:
    """Turn per-slot counts into runs of consecutive positions, preferences kept in place."""
    general = list(added)
    for i in placed.values():
        general[i] -= 1
    runs: list[AssignmentRun] = []

    def emit(slot_index: int, first: int, count: int) -> None:
        slot_id = chrono[slot_index].id
        if runs and runs[-1].slot_id == slot_id and runs[-1].first + runs[-1].count == first:
            last = runs.pop()
            runs.append(AssignmentRun(slot_id, last.first, last.count + count))
        else:
            runs.append(AssignmentRun(slot_id, first, count))

    # The general pool is every position not placed by preference, in order;
    # it fills slots chronologically, between the fixed preference positions.
    slot_cursor = 0
    fixed = sorted(placed)
    fixed.append(n)
    start = 0
    for stop in fixed:
        position = start
        while position < stop:
            while slot_cursor < len(general) and general[slot_cursor] == 0:
                slot_cursor += 1
            if slot_cursor == len(general):
                break
            take = min(general[slot_cursor], stop - position)
            emit(slot_cursor, position, take)
            general[slot_cursor] -= take
            position += take
        if stop < n:
            emit(placed[stop], stop, 1)
        start = stop + 1
    return runs


def _shortfall(
    n: int,
    unassigned: int,
    chrono: list[SlotLoad],
    caps: list[int],
    loads: list[int],
    added: list[int],
    max_active: int | None,
) -> Shortfall:
    total_capacity = sum(caps)
    days = sorted({slot.day for slot in chrono})
    average = total_capacity / len(days) if days else 0.0
    extra_days = math.ceil(unassigned / average) if average > 0 else None
    suggested_last_day = None
    if extra_days is not None:
        # Extra days follow the window's own pattern: if it only opens on
        # weekdays, so will the days added after it.
        open_weekdays = {day.weekday() for day in days}
        suggested_last_day = days[-1]
        remaining = extra_days
        while remaining:
            suggested_last_day += dt.timedelta(days=1)
            if suggested_last_day.weekday() in open_weekdays:
                remaining -= 1
    needed = sum(loads) + n
    factor = Fraction(needed, total_capacity) if total_capacity else Fraction(0)
    required = None
    if max_active is not None and total_capacity:
        # Capacity grows linearly with max_active, up to per-slot rounding.
        required = math.ceil(max_active * factor)
    return Shortfall(
        places=unassigned,
        average_daily_capacity=average,
        extra_days=extra_days,
        suggested_last_day=suggested_last_day,
        capacity_factor=factor,
        required_max_active=required,
    )
