"""``python -m bench.day``: a registration window replayed in simulated time through the real
room, for the Banten roster (17,000) and the national one (2.2 million), next to the
capacity planner's forecast for the same inputs.

    python -m bench.day                          # Banten, its checks, national at 1/20
    python -m bench.day --national-scale 1       # the national roster in full (long)
    python -m bench.day --roster 5000 --cap 40   # one window of your own

What runs: ``waitroom.room.WaitingRoom`` and its Lua scripts on a real Redis (a private
redis-server, or ``--redis-url``), its clock the simulation's (``bench.day_sim``); the
calendar is the scheduler's (``scheduler.calendar``: holidays and cuti bersama from
``holidays.ID``, public and government categories; slots sized from the planned cap);
bookings are spread by ``scheduler.spreading``; the forecast is
``portal.admin.planner.project``. Each run prints, per day, who came, who was served and
who gave up, the longest wait and the queue left at closing; then the summary: people
served per day, the longest wait, the share who booked, whether everyone was through
by the deadline, and the planner's finish day and people per day beside the simulated.

The model (every number a modelling choice, not a fact; ``bench.day_model.Behaviour``):

- Arrivals: a share of the roster books a slot beforehand, on the calendar's slots
  within the assignment hours, spread by the scheduler; booked visitors come in the
  first half of their slot and join the priority lane (``join(booked=True)``); some
  never come (no-shows). Everyone else walks in on a day drawn from a U-shaped
  profile (a rush on the first days, a bigger one before the deadline), in proportion
  to the day's opening hours, fewer on public holidays and cuti bersama; their hour
  has a peak at 08:00 and another after lunch (13:00), the rest even, inside the
  opening hours.
- The room is open in the calendar's hours and paused outside them (waiting places
  are kept; sessions under way run on). On a day of weight w the live cap is
  cap x w, as the slot sizes and the planner assume. After the deadline's closing
  nobody new joins, and the queue is served to its end.
- Waiting: every waiter asked to be told when their turn opens (no polling, never
  stale); each has a patience (lognormal) past which they give up, by leaving or by
  closing the page (their place then lapses when reached); who gives up, or claims
  too late, comes back on a later open day, perhaps, and takes a new place (joins
  give no identifiers, so nobody finds an old place again).
- Places are not held back for booked visitors due in the current slot: nothing in
  the portal sets the room's ``booked_expected``, so the simulation does not either.
- Sessions: claimed after a claim delay (lognormal; at once when admitted by their own
  join), lasting a lognormal time whose mean is the planned session length, shorter
  than the session's lifetime (the idle timeout is the lifetime: no heartbeats).

Scaling: the national roster runs at 1/20 by default (``--national-scale``). A run at
1/k takes every k-th registrant of each slot and of the walk-ins
(``draw_population(sample=1/k)``) in a room with cap/k and admissions/k per minute;
its counts are shown times k. Sessions, delays and patience are not scaled, so in
the fluid limit waits and finish days do not change; what changes is chance, which
weighs more the smaller the scaled cap. The default run puts this to the test by
running Banten (cap 40) in full, at 1/2 and at 1/4 (caps 20 and 10, far smaller than
the national run's 250) side by side; ``--national-scale 1`` runs the 2.2 million in
full.

Steps: events are handled on a grid of 5 simulated seconds (``--step``), ticks every
0.5 s while they can admit someone; the default run checks the grid by running
Banten again on a 0.5 s grid. With the 5 s grid the national run (1/20) took 3.5 to
4.5 minutes here (2 shared cores), the whole default run 5.5 to 6.5.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from bench.day_model import Behaviour, draw_population, open_days, window_spec
from bench.day_sim import DaySimulation, RoomPlan, SimResult, Stepping
from bench.day_tally import Outcome, percentile, tally
from bench.servers import PrivateRedis
from portal.admin.planner import PlanInput, Projection, project
from scheduler.calendar import CalendarSpec, DailyHours
from waitroom.keys import RoomKeys

BANTEN = 17_000
NATIONAL = 2_200_000
# About one place for every 430 registrants in both (the planner asks for one per ~1,100).
BANTEN_CAP = 40
NATIONAL_CAP = 5000
FIRST_DAY = dt.date(2026, 3, 2)
LAST_DAY = dt.date(2026, 3, 31)
# Admissions per minute per place of the cap: the room's defaults (600 for a cap of 100).
ADMIT_PER_PLACE = 6
MINUTE_MS = 60_000


@dataclass(frozen=True)
class Scenario:
    """One run: a roster in a room of ``cap`` places, sampled at ``sample``."""

    name: str
    roster: int
    cap: int
    sample: float = 1.0
    step_ms: int = 5000
    show_days: bool = True

    @property
    def factor(self) -> float:
        """What a simulated count stands for."""
        return 1 / self.sample


@dataclass(frozen=True)
class Run:
    """A scenario's result, its tally and the planner's forecast."""

    scenario: Scenario
    result: SimResult
    outcome: Outcome
    projection: Projection
    booked_persons: int
    persons: int
    wall_s: float


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.day", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roster", type=int, help="one run of this roster instead of the "
                        "default Banten and national runs")
    parser.add_argument("--cap", type=int, default=None,
                        help=f"planned and live cap of --roster (default {BANTEN_CAP})")
    parser.add_argument("--banten-cap", type=int, default=BANTEN_CAP)
    parser.add_argument("--national-cap", type=int, default=NATIONAL_CAP)
    parser.add_argument("--first-day", type=dt.date.fromisoformat, default=FIRST_DAY)
    parser.add_argument("--deadline", type=dt.date.fromisoformat, default=LAST_DAY,
                        help="the window's last day (default %(default)s)")
    parser.add_argument("--hours", type=DailyHours.parse, default=DailyHours(),
                        help="opening hours every day (default 07:00-21:00)")
    parser.add_argument("--tz", default="Asia/Jakarta")
    parser.add_argument("--holiday-weight", type=float, default=1.5)
    parser.add_argument("--session-minutes", type=float, default=20.0,
                        help="planned (mean) session length")
    parser.add_argument("--session-sigma", type=float, default=Behaviour.session_sigma,
                        help="spread of the lognormal session length")
    parser.add_argument("--booked-share", type=float, default=0.3,
                        help="the room's share of places for booked visitors")
    parser.add_argument("--booking", type=float, default=Behaviour.booking_share,
                        help="share of the roster booking a slot beforehand")
    parser.add_argument("--national-scale", type=int, default=20,
                        help="run the national roster at 1/N (default 20; 1: in full, long)")
    parser.add_argument("--check-scales", type=_scales, default=(2, 4),
                        help="Banten's scaling checks, at 1/N each (default 2,4)")
    parser.add_argument("--step", type=float, default=5.0,
                        help="event grid in simulated seconds (default 5; ticks run every "
                        "0.5 s while they can admit)")
    parser.add_argument("--no-checks", action="store_true",
                        help="skip the scaling and grid checks of the default run")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--redis-url", default=None,
                        help="a Redis to run on (default: a private redis-server)")
    args = parser.parse_args(argv)
    if args.deadline < args.first_day:
        parser.error("--deadline is before --first-day")
    if args.national_scale < 1:
        parser.error("--national-scale is a whole number of at least 1")
    if any(args.banten_cap % k for k in args.check_scales) or (
            args.national_cap % args.national_scale):
        parser.error("a scaled run needs a cap that divides by its scale")
    return args


def _scales(text: str) -> tuple[int, ...]:
    scales = tuple(int(part) for part in text.split(",") if part.strip())
    if any(k < 2 for k in scales):
        raise argparse.ArgumentTypeError("check scales are whole numbers of at least 2")
    return scales


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    """The runs asked for."""
    step = round(args.step * 1000)
    if args.roster is not None:
        return [Scenario(f"roster {args.roster:,}", args.roster, args.cap or BANTEN_CAP,
                         step_ms=step)]
    national_k = args.national_scale
    runs = [Scenario("Banten", BANTEN, args.banten_cap, step_ms=step)]
    if not args.no_checks:
        if step != 500:
            runs.append(Scenario("Banten, 0.5 s grid", BANTEN, args.banten_cap, step_ms=500,
                                 show_days=False))
        runs.extend(Scenario(f"Banten at 1/{k}", BANTEN, args.banten_cap, 1 / k, step,
                             show_days=False) for k in args.check_scales)
    label = "national" if national_k == 1 else f"national at 1/{national_k}"
    runs.append(Scenario(label, NATIONAL, args.national_cap, 1 / national_k, step))
    return runs


def plan_input(spec: CalendarSpec, first: dt.date, last: dt.date, roster: int, cap: int,
               session_minutes: float) -> PlanInput:
    """What the planner page would be given for the same window and room."""
    return PlanInput(roster_size=roster, through=0, start=first, deadline=last, cap=cap,
                     session_minutes=session_minutes, holidays=dict(spec.holidays),
                     holiday_weight=spec.holiday_weight,
                     weight_overrides=dict(spec.weight_overrides),
                     hours_by_weekday=spec.plan.open_hours())


async def run_scenario(client: Redis, scenario: Scenario, args: argparse.Namespace,
                       behaviour: Behaviour, spec: CalendarSpec) -> Run:
    """Draw the scenario's people and replay them through a fresh room."""
    rng = random.Random(args.seed)
    days = open_days(spec, behaviour)
    population = draw_population(scenario.roster, spec, days, planned_cap=scenario.cap,
                                 booked_share=args.booked_share,
                                 session_minutes=args.session_minutes, behaviour=behaviour,
                                 rng=rng, sample=scenario.sample)
    cap = max(1, round(scenario.cap * scenario.sample))
    plan = RoomPlan(cap=cap, admit_per_minute=ADMIT_PER_PLACE * cap,
                    booked_share=args.booked_share,
                    expected_session_minutes=args.session_minutes)
    keys = RoomKeys(f"bench-day-{secrets.token_hex(4)}", "day")
    simulation = DaySimulation(client, keys, days, population, behaviour, plan,
                               Stepping(event_ms=scenario.step_ms), rng)
    started = time.perf_counter()
    try:
        result = await simulation.run()
    finally:
        await _drop_keys(client, keys)
    wall = time.perf_counter() - started
    outcome = tally(result, days[0].day, {d.day: d.index for d in days}, ZoneInfo(spec.tz))
    projection = project(plan_input(spec, args.first_day, args.deadline, scenario.roster,
                                    scenario.cap, args.session_minutes))
    return Run(scenario, result, outcome, projection, population.booked, population.persons,
               wall)


async def _drop_keys(client: Redis, keys: RoomKeys) -> None:
    batch = []
    async for key in client.scan_iter(match=f"{keys.prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await client.delete(*batch)
            batch = []
    if batch:
        await client.delete(*batch)


# --- printing --------------------------------------------------------------------


def duration(ms: int | None) -> str:
    """A wait as people say it: 40 s, 12 min, 3 h 05."""
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d}"


def header(args: argparse.Namespace, behaviour: Behaviour, spec: CalendarSpec) -> str:
    """The inputs and the model's assumptions, as printed above the tables."""
    room, stepping = RoomPlan(cap=1, admit_per_minute=1), Stepping()
    holidays = [f"{day:%d %b} {name}" for day, name in sorted(spec.holidays.items())
                if args.first_day <= day <= args.deadline]
    lines = [
        "bench.day: a registration window replayed through the real room (simulated time)",
        f"window {args.first_day} .. {args.deadline}, open {args.hours.label()} every day "
        f"({args.tz}), paused outside; holiday weight {spec.holiday_weight} "
        f"(live cap x weight on holidays)",
        "holidays and cuti bersama in the window: " + ("; ".join(holidays) or "none"),
        f"room: admissions/min = {ADMIT_PER_PLACE} x cap, booked share {args.booked_share}, "
        f"claim window {room.claim_window_seconds} s, session lifetime = idle timeout "
        f"{room.session_ttl_seconds / 3600:g} h (no heartbeats); planned session "
        f"{args.session_minutes:g} min; every waiter asked to be told (no polls)",
        "a run at 1/k: every k-th registrant, cap/k, admissions/k; its counts shown x k",
        f"event grid {args.step:g} s; ticks every {stepping.tick_ms / 1000:g} s while they "
        f"admit, backing off to {stepping.idle_tick_ms / 1000:g} s; seed {args.seed}",
        "assumptions (modelling choices, not facts):",
    ]
    for f in fields(Behaviour):
        lines.append(f"  {f.name} = {getattr(behaviour, f.name)}")
    return "\n".join(lines)


def day_table(run: Run) -> str:
    """The per-day table of a run, the planner's capacity beside it (scaled to the roster)."""
    k = run.scenario.factor
    capacity = {d.day: d.capacity for d in run.projection.days}
    holidays = {d.day: d.holiday for d in run.projection.days}
    lines = [f"{'day':<14} {'came':>9} {'served':>9} {'planner':>9} {'gave up':>8} "
             f"{'longest wait':>12} {'left at close':>13}"]
    for row in run.outcome.days:
        if not (row.arrived or row.served or row.gave_up or row.waiting_at_close):
            continue
        mark = "*" if holidays.get(row.day) else " "
        close = "-" if row.waiting_at_close is None else f"{row.waiting_at_close * k:,.0f}"
        lines.append(f"{row.day:%a %d %b}{mark:<4} {row.arrived * k:>9,.0f} "
                     f"{row.served * k:>9,.0f} {capacity.get(row.day, 0):>9,} "
                     f"{row.gave_up * k:>8,.0f} {duration(row.longest_wait_ms or None):>12} "
                     f"{close:>13}")
    lines.append("(* holiday or cuti bersama; planner: the day's capacity in its forecast)")
    return "\n".join(lines)


def summary(run: Run, first: dt.date, last: dt.date, zone: ZoneInfo) -> dict[str, str]:
    """The figures the runs are compared by: simulated, and the planner's beside them."""
    o, k, plan = run.outcome, run.scenario.factor, run.projection
    window = [row for row in o.days if first <= row.day <= last]
    peak = max(window, key=lambda row: row.served)
    capacity = {d.day: d.capacity for d in plan.days}
    planned = [d.capacity for d in plan.days if d.day <= last]
    last_served = (dt.datetime.fromtimestamp(o.last_served_ms / 1000, zone)
                   if o.last_served_ms is not None else None)
    every_wait = sorted(o.waits_ms + o.booked_waits_ms)
    return {
        "roster / cap": f"{run.scenario.roster:,} / {run.scenario.cap:,}",
        "served per day, window mean": f"{sum(r.served for r in window) / len(window) * k:,.0f}",
        "  planner's capacity per day": f"{sum(planned) / len(planned):,.0f}",
        "busiest day, served": f"{peak.served * k:,.0f} on {peak.day:%d %b}",
        "  planner's capacity that day": f"{capacity.get(peak.day, 0):,}",
        "last served": f"{last_served:%d %b %H:%M}" if last_served else "-",
        "  planner's finish day": f"{plan.finish:%d %b}" if plan.finish else "past a year",
        "everyone who came through by deadline": "yes" if o.through_by_deadline else "NO",
        "  planner: on time": "yes" if plan.on_time else "NO",
        "registered by deadline, of roster": f"{o.persons_served_by_deadline / run.persons:.1%}",
        "  of those who came": f"{o.persons_served_by_deadline / max(1, o.persons_arrived):.1%}",
        "at its closing: waiting / in form": "-" if o.at_deadline is None else
        f"{o.at_deadline[0] * k:,.0f} / {o.at_deadline[1] * k:,.0f}",
        "longest wait": duration(every_wait[-1] if every_wait else None),
        "wait p50 / p90 / p99": " / ".join(duration(percentile(every_wait, q))
                                           for q in (0.5, 0.9, 0.99)),
        "share who booked": f"{run.booked_persons / run.persons:.1%}",
        "served in the booked lane": f"{o.booked_served / max(1, o.served):.1%}",
        "booked wait p90 / max": " / ".join(duration(percentile(o.booked_waits_ms, q))
                                            for q in (0.9, 1.0)),
        "visits that gave up": f"{o.gave_up / max(1, o.visits):.1%}",
        "visits that were returns": f"{(o.visits - o.persons_arrived) / max(1, o.visits):.1%}",
        "  planner's cap for the deadline": "-" if plan.cap_needed is None
        else f"{plan.cap_needed:,}",
        "wall time": f"{run.wall_s:.0f} s",
        "steps / script calls": f"{run.result.steps:,} / {sum(run.result.calls.values()):,}",
    }


def side_by_side(rows: list[tuple[str, dict[str, str]]]) -> str:
    """The summaries of several runs as columns."""
    names = [name for name, _ in rows]
    width = max(14, *(len(name) for name in names))
    label_width = max(len(label) for label in rows[0][1])
    lines = [" " * label_width + "  " + "  ".join(f"{name:>{width}}" for name in names)]
    for label in rows[0][1]:
        lines.append(f"{label:<{label_width}}  "
                     + "  ".join(f"{figures[label]:>{width}}" for _, figures in rows))
    return "\n".join(lines)


@contextmanager
def redis_url(given: str | None) -> Iterator[str]:
    """The URL to run on: the one given, or a private redis-server's for the run."""
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory() as directory:
        server = PrivateRedis(Path(directory))
        try:
            yield server.url
        finally:
            server.stop()


async def run_all(url: str, args: argparse.Namespace, behaviour: Behaviour,
                  spec: CalendarSpec) -> list[Run]:
    """Every scenario, one after the other, on one client."""
    client = Redis.from_url(url)
    runs = []
    try:
        for scenario in scenarios(args):
            print(f"running {scenario.name} ...", file=sys.stderr, flush=True)
            runs.append(await run_scenario(client, scenario, args, behaviour, spec))
    finally:
        await client.aclose()
    return runs


def run_loop(work: Coroutine[Any, Any, list[Run]]) -> list[Run]:
    """Run on uvloop where it is installed (the event loop is most of a step's cost)."""
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        return uvloop.run(work)
    return asyncio.run(work)


def main(argv: list[str] | None = None) -> None:
    """Run the scenarios and print their tables."""
    args = parse_args(argv)
    behaviour = Behaviour(booking_share=args.booking, session_sigma=args.session_sigma)
    spec = window_spec(args.first_day, args.deadline, args.hours, args.tz, args.holiday_weight)
    zone = ZoneInfo(args.tz)
    print(header(args, behaviour, spec), flush=True)
    with redis_url(args.redis_url) as url:
        runs = run_loop(run_all(url, args, behaviour, spec))
    for run in runs:
        if run.scenario.show_days:
            print(f"\n== {run.scenario.name}: roster {run.scenario.roster:,}, cap "
                  f"{run.scenario.cap:,}" + (f" (run at 1/{run.scenario.factor:.0f}: cap "
                                             f"{round(run.scenario.cap * run.scenario.sample)}"
                                             f", counts x {run.scenario.factor:.0f})"
                                             if run.scenario.sample < 1 else ""))
            print(day_table(run))
    print("\n== simulated (the room) and forecast (the planner), side by side")
    print(side_by_side([(run.scenario.name, summary(run, args.first_day, args.deadline, zone))
                        for run in runs]))


if __name__ == "__main__":
    main()
