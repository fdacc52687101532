"""``python -m bench.eta``: how honest the wait shown at join is, phase by phase of a day.

A deterministic simulation (``bench.eta_sim``, seeded) runs a room with a cap of
7, sessions of 0.4-0.8 s and visitors polling as the portal tells them, through
each phase; every visitor who joins in the phase's window is shown three
estimates, each computed from the snapshot a portal process would hold:

- new: ``waitroom.eta`` (the estimator the portal uses);
- old: the estimator before it (a 5-minute outflow window, a 60 s floor on the
  span, ±25 % / ±50 %), kept here only as the baseline;
- naive: the people ahead over the admissions of the last 10 s (±25 %).

Per phase and estimator: visitors scored (walk-ins whose real wait, from join to
admission, is at least 5 s), the median and 90th percentile of
|estimate - real| / real, and the share of real waits inside the range shown.
Targets, for the new estimator in every phase: median <= 0.15, p90 <= 0.35,
inside >= 80 %, and no figure at all while the room is paused or not open.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bench.eta_sim import SNAPSHOT_MS, Clock, Crowd, Settings, SimRoom, Visitor
from waitroom.config import RoomConfig
from waitroom.eta import WaitEstimate, planned_rate, wait_model
from waitroom.snapshot import reading_of

MIN_WAIT_S = 5.0
TARGET_MEDIAN = 0.15
TARGET_P90 = 0.35
TARGET_INSIDE = 0.80
ESTIMATORS = ("new", "old", "naive")


# --- the baselines --------------------------------------------------------------

OLD_MIN_SAMPLES = 5
OLD_WINDOW_MS = 5 * 60 * 1000
NAIVE_WINDOW_MS = 10_000


def old_measured_rate(admission_times_ms: Sequence[int], now_ms: int) -> float | None:
    """The old estimator's rate: admissions per minute over 5 minutes, the span at least 60 s."""
    recent = [t for t in admission_times_ms if now_ms - OLD_WINDOW_MS <= t <= now_ms]
    if len(recent) < OLD_MIN_SAMPLES:
        return None
    span_ms = max(now_ms - min(recent), 60_000)
    return (len(recent) - 1) * 60_000 / span_ms


def old_estimate(position: int, measured: float | None, planned: float,
                 paused: bool) -> WaitEstimate | None:
    """The old estimator: the position over the measured (else planned) rate, ±25 % (±50 %)."""
    if position <= 0:
        return WaitEstimate(0, 0, 0.0, False)
    rate = measured if measured is not None else planned
    if rate <= 0 or paused:
        return None
    middle = position * 60.0 / rate
    spread = 0.25 if measured is not None else 0.5
    low = max(0, math.floor(middle * (1 - spread)))
    high = math.ceil(middle * (1 + spread))
    return WaitEstimate(low, max(high, low), round(rate, 2), measured is not None)


def naive_estimate(position: int, outflow: Sequence[int], now_ms: int) -> WaitEstimate | None:
    """The people ahead over the admissions of the last seconds, ±25 %."""
    recent = sum(1 for t in outflow if t > now_ms - NAIVE_WINDOW_MS)
    if recent == 0:
        return None
    middle = position * NAIVE_WINDOW_MS / 1000 / recent
    return WaitEstimate(math.floor(middle * 0.75), math.ceil(middle * 1.25),
                        recent * 60_000 / NAIVE_WINDOW_MS, True)


# --- one run -------------------------------------------------------------------------


class Run:
    """One phase's room, crowd and snapshots; ``visitors`` are scored after ``run``."""

    def __init__(self, settings: Settings, seed: int) -> None:
        self.clock = Clock()
        self.room = SimRoom(settings)
        self.rng = random.Random(seed)
        self.crowd = Crowd(self.room, self.clock, self.rng, self._estimate_at_join)
        self._snapshot: dict[str, Callable[[Visitor], WaitEstimate | None]] = {}
        self.clock.at(0, self._upkeep)

    def _upkeep(self) -> None:
        """What a portal process does every half second: read a snapshot, then tick."""
        room, now = self.room, self.clock.now
        cfg = room.cfg
        config = RoomConfig(max_active=cfg.max_active, admit_per_minute=cfg.admit_per_minute,
                            expected_session_minutes=cfg.session_minutes,
                            booked_share=cfg.booked_share, paused=cfg.paused,
                            claim_window_seconds=cfg.claim_s)
        stats = dict(room.stats, booked_expected=cfg.booked_expected)
        bucket = room.bucket
        outflow = tuple(room.outflow)
        reading = reading_of(
            config, stats, now, sealed=0, occupied=len(room.admitted) + len(room.sessions),
            since_ms=room.since_sample(self.rng), held=tuple(room.held), admitted_ms=outflow,
            tokens=None if bucket is None else bucket[0], bucket_ms=0 if bucket is None
            else bucket[1], booked_live=len(room.booked))
        model = wait_model(reading)
        measured = old_measured_rate(outflow, now)
        planned = planned_rate(cfg.max_active, cfg.admit_per_minute, cfg.session_minutes)
        paused, head = cfg.paused, room.head

        def new(visitor: Visitor) -> WaitEstimate | None:
            # as WaitingRoom.estimate_for: the position at the snapshot, less the time since
            if model is None:
                return None
            then = max(visitor.position, visitor.number - head + 1)
            return model.estimate(then, (self.clock.now - now) / 1000)

        self._snapshot = {
            "new": new,
            "old": lambda v: old_estimate(v.position, measured, planned, paused),
            "naive": lambda v: naive_estimate(v.position, outflow, now),
        }
        room.admit_next(now)
        self.clock.at(now + SNAPSHOT_MS, self._upkeep)

    def _estimate_at_join(self, visitor: Visitor) -> None:
        visitor.estimates = {name: shown(visitor) if visitor.position else None
                             for name, shown in self._snapshot.items()}
        visitor.estimates["paused"] = self.room.cfg.paused

    # --- what a phase schedules ---------------------------------------------

    def arrivals(self, start_s: float, end_s: float, per_s: float,
                 mix: Callable[[random.Random], dict[str, object]] | None = None) -> None:
        """Poisson arrivals between two times."""
        t = start_s
        while True:
            t += self.rng.expovariate(per_s)
            if t >= end_s:
                return
            kind = mix(self.rng) if mix else {}
            self.clock.at(int(t * 1000), lambda kind=kind: self.crowd.arrive(**kind))  # type: ignore[misc]

    def change(self, at_s: float, **settings: object) -> None:
        """Change live settings at a time (a console change, effective at once)."""
        def apply() -> None:
            self.room.cfg = replace(self.room.cfg, **settings)  # type: ignore[arg-type]
        self.clock.at(int(at_s * 1000), apply)

    def run(self, end_s: float) -> list[Visitor]:
        self.clock.run_until(int(end_s * 1000))
        return list(self.crowd.visitors.values())


# --- the phases -----------------------------------------------------------------------

WARM_S = 150.0  # the room serves a few hundred visitors before a phase's event
EVENT_S = WARM_S  # when the phase's event (a burst, a change) happens


@dataclass(frozen=True)
class Phase:
    """One phase of a day: how the run is set up, and whose joins are scored."""

    name: str
    describe: str
    settings: Settings
    events: Callable[[Run, float], None]  # (run, scale)
    window: tuple[float, float]  # scored joins, seconds after the event
    admitted_between: tuple[int, int] | None = None  # ... or by admissions made at join
    at_s: float = EVENT_S  # when the window's clock starts

    def span(self, scale: float) -> tuple[float, float]:
        return self.at_s + self.window[0] * scale, self.at_s + self.window[1] * scale


def _warm_up(run: Run, per_s: float = 2.0,
             mix: Callable[[random.Random], dict[str, object]] | None = None) -> None:
    run.arrivals(0, WARM_S, per_s, mix)


def _burst(run: Run, scale: float, count: int = 160, over_s: float = 8.0,
           after_per_s: float = 2.0, length_s: float = 80.0,
           mix: Callable[[random.Random], dict[str, object]] | None = None) -> None:
    """A burst of joins at the event, then arrivals go on."""
    run.arrivals(EVENT_S, EVENT_S + over_s * scale, count / over_s, mix)
    run.arrivals(EVENT_S + over_s * scale, EVENT_S + length_s * scale, after_per_s, mix)


def _leavers(rng: random.Random) -> dict[str, object]:
    if rng.random() < 0.3:
        return {"give_up_after_ms": int(rng.expovariate(1 / 10_000)), "silent": rng.random() < 0.5}
    return {}


def _bookers(rng: random.Random) -> dict[str, object]:
    return {"booked": rng.random() < 0.25}


def _steady(run: Run, scale: float) -> None:
    _warm_up(run)
    _burst(run, scale)


def _cold(run: Run, scale: float) -> None:
    run.arrivals(0, 8 * scale, 20.0)
    run.arrivals(8 * scale, 60 * scale, 2.0)


def _cap(to: int) -> Callable[[Run, float], None]:
    def events(run: Run, scale: float) -> None:
        _warm_up(run, 2.0 * run.room.cfg.max_active / 7)
        _burst(run, scale, after_per_s=2.0 * max(to, run.room.cfg.max_active) / 7)
        run.change(EVENT_S + 10 * scale, max_active=to)
    return events


def _pause(run: Run, scale: float) -> None:
    _warm_up(run)
    _burst(run, scale)
    run.change(EVENT_S + 10 * scale, paused=True)
    run.change(EVENT_S + 25 * scale, paused=False)


LEAVERS_AT_S = 300.0


def _left(run: Run, scale: float) -> None:
    # A queue stands from the start: by the window, whoever the room has seen give up
    # gave up in the same queue (the opening burst's own leavers are long served).
    run.arrivals(0, 10, 36.0, _leavers)
    run.arrivals(10, LEAVERS_AT_S + 80 * scale, 3.0, _leavers)


def _booked(run: Run, scale: float) -> None:
    _warm_up(run, 2.0, _bookers)
    _burst(run, scale, mix=_bookers)


def _rate(run: Run, scale: float) -> None:
    _warm_up(run, 1.2)
    _burst(run, scale, after_per_s=1.2)


PHASES: tuple[Phase, ...] = (
    Phase("cold start", "a fresh room opens into a burst; joins while the first 10-30 "
          "admissions are made", Settings(), _cold, (0, 60), admitted_between=(10, 30),
          at_s=0.0),
    Phase("steady", "a warm room (a few hundred served) meets a burst of 160",
          Settings(), _steady, (0, 60)),
    Phase("cap doubled", "7 -> 14 ten seconds into a burst", Settings(), _cap(14), (10, 50)),
    Phase("cap halved", "14 -> 7 ten seconds into a burst", Settings(max_active=14), _cap(7),
          (10, 50)),
    Phase("pause, resume", "15 s paused ten seconds into a burst; joins after the resume",
          Settings(), _pause, (25, 65)),
    Phase("leavers", "a standing queue where 30 % give up within seconds: half leave, half "
          "close the page (skipped once silent for 80 s)",
          Settings(stale_after_s=80), _left, (0, 60), at_s=LEAVERS_AT_S),
    Phase("bookings", "a quarter are booked visitors, served first within a share of 30 %",
          Settings(booked_share=0.3, booked_expected=3), _booked, (0, 60)),
    Phase("rate limit", "admit_per_minute 90, under what the cap would allow",
          Settings(admit_per_minute=90), _rate, (0, 60)),
)


# --- scoring --------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """One estimator over one phase."""

    visitors: int
    median: float
    p90: float
    inside: float
    width: float  # median half-width of the range shown, relative to the real wait

    def meets_targets(self) -> bool:
        return (self.visitors > 0 and self.median <= TARGET_MEDIAN and self.p90 <= TARGET_P90
                and self.inside >= TARGET_INSIDE)


@dataclass
class PhaseResult:
    """The scores of every estimator in one phase, and figures shown while paused."""

    phase: Phase
    scores: dict[str, Score] = field(default_factory=dict)
    shown_while_paused: int = 0
    paused_joins: int = 0


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile by linear interpolation (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    at = q * (len(ordered) - 1)
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def score(visitors: Sequence[Visitor], name: str) -> Score:
    """Errors of one estimator over scored visitors; a missing figure counts as 100 % off."""
    errors: list[float] = []
    widths: list[float] = []
    inside = 0
    for visitor in visitors:
        assert visitor.admitted_ms is not None
        real = (visitor.admitted_ms - visitor.joined_ms) / 1000
        shown = visitor.estimates.get(name)
        if not isinstance(shown, WaitEstimate):
            errors.append(1.0)
            continue
        errors.append(abs(shown.seconds - real) / real)
        widths.append((shown.high_seconds - shown.low_seconds) / 2 / real)
        inside += shown.low_seconds <= real <= shown.high_seconds
    n = len(errors)
    return Score(n, quantile(errors, 0.5), quantile(errors, 0.9), inside / n if n else 0.0,
                 quantile(widths, 0.5))


def run_phase(phase: Phase, *, seed: int = 1, scale: float = 1.0) -> PhaseResult:
    """Simulate one phase and score the joins in its window."""
    run = Run(phase.settings, seed)
    phase.events(run, scale)
    start, end = phase.span(scale)
    everyone = run.run(end + 600)
    result = PhaseResult(phase)
    scored: list[Visitor] = []
    for visitor in everyone:
        if visitor.estimates.get("paused"):
            result.paused_joins += 1
            result.shown_while_paused += visitor.estimates.get("new") is not None
        if not start <= visitor.joined_ms / 1000 < end or visitor.booked:
            continue
        if phase.admitted_between is not None:
            low, high = phase.admitted_between
            if not low <= visitor.admitted_at_join <= high:
                continue
        if visitor.admitted_ms is None or visitor.estimates.get("paused"):
            continue
        if (visitor.admitted_ms - visitor.joined_ms) / 1000 >= MIN_WAIT_S:
            scored.append(visitor)
    result.scores = {name: score(scored, name) for name in ESTIMATORS}
    return result


def run_all(*, seed: int = 1, scale: float = 1.0) -> list[PhaseResult]:
    """Every phase, in order."""
    return [run_phase(phase, seed=seed, scale=scale) for phase in PHASES]


def table(results: Sequence[PhaseResult]) -> str:
    """The results as a plain-text table."""
    head = (f"{'phase':<15} {'estimator':<9} {'visitors':>8} {'median':>7} {'p90':>7} "
            f"{'inside':>7} {'±width':>7}")
    lines = [head, "-" * len(head)]
    for result in results:
        for name in ESTIMATORS:
            s = result.scores[name]
            mark = ("PASS" if s.meets_targets() else "MISS") if name == "new" else ""
            label = result.phase.name if name == "new" else ""
            lines.append(f"{label:<15} {name:<9} {s.visitors:>8} {s.median:>7.2f} "
                         f"{s.p90:>7.2f} {s.inside:>7.0%} {s.width:>7.2f} {mark}".rstrip())
        if result.paused_joins:
            lines.append(f"{'':<15} joins while paused: {result.paused_joins}, "
                         f"figures shown: {result.shown_while_paused}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eta", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1, help="the simulation's seed (default 1)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="bursts and windows scaled by this (default 1)")
    args = parser.parse_args(argv)
    results = run_all(seed=args.seed, scale=args.scale)
    print(f"Wait shown at join vs real wait (waits >= {MIN_WAIT_S:.0f} s; targets for 'new': "
          f"median <= {TARGET_MEDIAN}, p90 <= {TARGET_P90}, inside >= {TARGET_INSIDE:.0%})")
    for phase in PHASES:
        print(f"  {phase.name}: {phase.describe}")
    print()
    print(table(results))
    ok = all(r.scores["new"].meets_targets() and r.shown_while_paused == 0 for r in results)
    print()
    print("all phases meet the targets" if ok else "some phase misses a target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
