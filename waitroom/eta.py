"""Position, wait estimates and poll intervals (pure).

The wait is not read off a rate averaged over the last minutes: that lags behind
every change of the room (the opening, a new cap, a pause) by as long as its
window. It is worked out from what the room is now and what its visitors do:

- the places: the cap in force, less those held back for booked visitors, and
  how long each place taken now is likely to stay taken;
- how long a place stays taken once given: the session (``waitroom.holding``,
  measured from the sessions ended lately, with those still running as censored
  data), the claim delay (an admitted visitor sees the turn at their next poll,
  so the delay grows with the poll interval, which grows with how fast the
  queue moves: predicted from ``poll_after_ms``, scaled by the delays measured),
  and the admissions that lapse unclaimed;
- the places booked visitors hold or have held back for them, which walk-ins
  do not get, and the share of the numbers ahead that will not take a place
  (they left, went stale, or were booked visitors served apart);
- the admission rate limit and the tokens it has left.

Every place frees, goes to the next visitor and frees again one holding time
later, so the j-th admission from now comes at the first freeing of its place
plus whole rounds of one holding time: a table of one round, made once per
snapshot, and per visitor an index and a multiplication. The range is wide when
the data is thin (few sessions ended, the plan guessed) and narrow when it is
good; a paused or not yet open room has no estimate at all.
"""

from __future__ import annotations

import math
import random
from functools import lru_cache
from typing import NamedTuple

from waitroom.holding import Holding, kaplan_meier

# Freed places the room keeps (the Lua scripts trim the list to this many).
HELD_KEEP = 200
# Freed places older than this say little about today's visitors.
HELD_MAX_AGE_MS = 3 * 3600 * 1000
# Entries of one round's table; a larger room's round is sampled evenly.
TABLE_SIZE = 256
# How wide the range is: this many standard deviations either side, plus a second
# for the granularity of the room's ticks, snapshots and polls.
SPREAD_Z = 1.3
ABSOLUTE_SLACK_S = 1.0
# Relative uncertainty that no amount of data removes (visitors change over a day).
MODEL_FLOOR = 0.06
# How far the plan (expected_session_minutes) is trusted before any session ended,
# and how far the claim delay predicted from the poll policy.
PLAN_SPREAD = 0.5
POLICY_SPREAD = 0.15
# Weight, in samples, of the priors: "visitors poll as told", "nobody lapses".
PRIOR_SAMPLES = 4
# Claim delays measured within this factor of what the poll policy predicts are taken
# as visitors polling as told (the policy then predicts them as the queue speeds up).
POLICY_TOLERANCE = 2.0
# The poll policy (poll_after_ms): floor, growth per sqrt(position), ceiling, jitter.
POLL_FLOOR_MS = 2000
POLL_GROWTH_MS = 2000
POLL_CEILING_MS = 46000  # with its jitter at most 55.2 s: a page never shows a minute-old wait
POLL_JITTER = 0.2


class WaitEstimate(NamedTuple):
    """An honest wait: a range in seconds and the rate it was computed from.

    (A named tuple: one is made for every status poll, and it is the cheapest
    immutable record to make.)
    """

    low_seconds: int
    high_seconds: int
    admits_per_minute: float
    measured: bool

    @property
    def seconds(self) -> int:
        """The middle of the range, for a single figure."""
        return (self.low_seconds + self.high_seconds) // 2


ADMITTED_NOW = WaitEstimate(0, 0, 0.0, False)


class Reading(NamedTuple):
    """What one snapshot of the room tells the estimator: plain values and the clock."""

    now_ms: int
    max_active: int
    admit_per_minute: int
    session_minutes: float  # the plan, trusted until sessions have ended
    claim_window_s: int = 180
    paused: bool = False
    opens_at_s: int = 0  # 0: open
    sealed: int = 0  # -1: the pre-queue's order is not drawn yet (nothing is admitted)
    occupied: int = 0  # places taken now (admitted or in a session)
    # admission times (ms) of the places taken now, or of a random sample of them;
    # negative for a visitor admitted by their own join (who enters at once)
    since_ms: tuple[int, ...] = ()
    # places freed lately, newest first: (freed at, held for, session ms or -1 when the
    # admission lapsed, admitted by their own join)
    held: tuple[tuple[int, int, int, bool], ...] = ()
    admitted_ms: tuple[int, ...] = ()  # recent admission times, newest first
    tokens: float | None = None  # the admission bucket at bucket_ms (None: full)
    bucket_ms: int = 0
    booked_live: int = 0
    booked_expected: int = 0
    booked_share: float = 0.0
    # recent numbers the admission lanes passed, and how many of those took a place
    walk_seen: int = 0
    walk_taken: int = 0


class WaitModel(NamedTuple):
    """A room's wait, worked out once per snapshot; ``estimate`` is the cheap part."""

    per_position: float  # admissions needed per position ahead
    base: float  # ... and for the visitor's own turn
    places: int  # places that cycle
    table: tuple[float, ...]  # seconds to each place's first freeing, ascending
    round_s: float  # one holding time
    tokens: float
    per_token_s: float  # seconds per admission the rate limit allows
    fixed_var: float  # relative variance of the slope (estimation, shares)
    noise_var: float  # relative variance that averages out over admissions (x 1/j)
    rate_var: float  # relative variance when the rate limit binds
    rate: float  # admissions per minute when the room is full
    measured: bool

    def estimate(self, position: int, elapsed_s: float = 0.0) -> WaitEstimate:
        """The wait of the visitor at ``position`` (1 = next) when the snapshot was read,
        ``elapsed_s`` seconds ago."""
        if position <= 0:
            return ADMITTED_NOW
        j = position * self.per_position + self.base
        rounds, rem = divmod(math.ceil(j) - 1, self.places)
        table = self.table
        at = rounds * self.round_s + table[rem * len(table) // self.places]
        by_rate = (j - self.tokens) * self.per_token_s
        if by_rate > at:
            at, var = by_rate, self.rate_var
        else:
            var = self.fixed_var + self.noise_var / j
        if elapsed_s:
            at = max(0.0, at - elapsed_s)
        middle = round(at)
        half = min(middle, math.ceil(SPREAD_Z * math.sqrt(var) * at + ABSOLUTE_SLACK_S))
        return WaitEstimate(middle - half, middle + half, self.rate, self.measured)


def planned_rate(max_active: int, admit_per_minute: int, session_minutes: float) -> float:
    """Admissions per minute the settings allow once the room is full."""
    if max_active <= 0 or admit_per_minute <= 0:
        return 0.0
    return min(float(admit_per_minute), max_active / max(session_minutes, 0.1))


def poll_interval_s(position: int) -> float:
    """The mean interval ``poll_after_ms`` gives a visitor at ``position``, in seconds."""
    base = POLL_FLOOR_MS + POLL_GROWTH_MS * math.sqrt(max(position - 1, 0))
    return min(float(POLL_CEILING_MS), base) / 1000


@lru_cache(maxsize=1024)
def _claim_delay(speed: float) -> float:
    top = 0.0
    weight = 0.0
    longest = (1 + POLL_JITTER) * POLL_CEILING_MS / 1000
    steps = 240
    step = longest / steps
    for k in range(steps):
        to_go = (k + 0.5) * step  # seconds until the admission, at a poll
        interval = poll_interval_s(max(1, math.ceil(speed * to_go)))
        low, high = interval * (1 - POLL_JITTER), interval * (1 + POLL_JITTER)
        if to_go >= high:
            continue
        # the interval is uniform on [low, high]: P(next poll after the admission)
        # and the mean time from the admission to that poll
        if to_go <= low:
            last, after = 1.0, interval - to_go
        else:
            last = (high - to_go) / (high - low)
            after = (high - to_go) ** 2 / (2 * (high - low))
        density = 1 / interval  # polls per second at that distance from the turn
        weight += density * last
        top += density * after
    return top / weight if weight > 0 else POLL_FLOOR_MS / 2000


def claim_delay_s(speed: float) -> float:
    """Mean seconds from an admission to the poll that shows it, for visitors polling as
    ``poll_after_ms`` says in a queue moving ``speed`` positions a second."""
    # two significant digits are plenty, and keep the cache small
    key = float(f"{max(speed, 1e-3):.2g}")
    return _claim_delay(key)


class _Holding(NamedTuple):
    """How long a place given from the queue stays taken, and what that rests on."""

    sessions: Holding | None
    session_s: float
    session_var: float  # relative variance of session_s
    own_pace: float | None  # the claim delay measured, when visitors do not poll as told
    pace_var: float  # relative variance of the claim delay
    lapse: float  # share of admissions from the queue that lapse unclaimed
    lapses_seen: float


def _holding(reading: Reading, per_position: float) -> _Holding:
    """Sessions (censored by those still running), claim delays and lapses, from the
    places freed lately."""
    now = reading.now_ms
    held = [h for h in reading.held if now - h[0] <= HELD_MAX_AGE_MS]
    # A full list holds every place freed since its oldest entry, but not those given
    # before then and freed earlier: keep the places given after it (a cohort).
    cut = held[-1][0] if len(reading.held) >= HELD_KEEP and held else -math.inf
    ended = [session / 1000 for freed, ms, session, _own in held
             if session >= 0 and freed - ms >= cut]
    weight = reading.occupied / len(reading.since_ms) if reading.since_ms else 0.0
    running = [(max(0, now + since) / 1000, weight) for since in reading.since_ms
               if since < 0 and -since >= cut]
    sessions = kaplan_meier(ended, running)
    if sessions is None:
        session_s, session_var = max(reading.session_minutes, 0.1) * 60, PLAN_SPREAD ** 2
    else:
        session_s = sessions.mean
        session_var = (max(sessions.cv, 0.25) ** 2 / sessions.events
                       + (sessions.tail * PLAN_SPREAD) ** 2)
    # Claim delays depend on how long the queue is; only those since the queue last
    # stood empty (someone was admitted by their own join) speak for the queue now.
    emptied = max([freed - ms for freed, ms, _s, own in held if own]
                  + [-since for since in reading.since_ms if since < 0], default=-1)
    claims = [(freed - ms, ms - session) for freed, ms, session, own in held
              if not own and session >= 0 and freed - ms > emptied]
    lapsed = sum(1 for _f, _m, session, own in held if not own and session < 0)
    own_pace, pace_var = None, POLICY_SPREAD ** 2
    if len(claims) >= PRIOR_SAMPLES:
        first = min(at for at, _ in claims)
        last = max(at for at, _ in claims)
        given = sum(1 for at in reading.admitted_ms if first <= at <= last)
        if last - first >= 1000 and given >= 3:
            speed = given * 1000 / (last - first) / per_position
            measured = sum(delay for _, delay in claims) / len(claims) / 1000
            ratio = measured / claim_delay_s(speed)
            if not 1 / POLICY_TOLERANCE <= ratio <= POLICY_TOLERANCE:
                # these visitors do not poll as told: their own pace, whatever the queue's
                own_pace, pace_var = measured, 1 / len(claims)
    # An admission is known to have lapsed only a claim window after it was made: set
    # the lapses against the claims that had as long to lapse.
    window_ms = reading.claim_window_s * 1000
    could_lapse = sum(1 for freed, ms, session, own in held
                      if not own and session >= 0 and freed - ms <= now - window_ms)
    out_of = could_lapse + lapsed + PRIOR_SAMPLES
    return _Holding(sessions, session_s, session_var, own_pace, pace_var, lapsed / out_of,
                    out_of)


def _first_round(reading: Reading, places: int, round_s: float, holding: _Holding,
                 claim_s: float) -> tuple[float, ...]:
    """Seconds until each of ``places`` admissions, in order, if every place were held
    for ``round_s`` once given: the places taken now free first (the surplus over the
    places that cycle gives nobody a turn), free places give one at once."""
    now = reading.now_ms
    occupied = reading.occupied
    sessions, session_s, lapse = holding.sessions, holding.session_s, holding.lapse
    window = reading.claim_window_s
    residuals: list[float] = []
    for since in reading.since_ms:
        elapsed = max(0, now - abs(since)) / 1000
        if since >= 0:  # given from the queue: the claim delay first, then the session
            if elapsed < claim_s:
                left = claim_s - elapsed + session_s
            else:
                left = sessions.residual(elapsed - claim_s) if sessions else session_s / 2
            left = (1 - lapse) * left + lapse * max(0.0, window - elapsed)
        else:
            left = (sessions.residual(elapsed) if sessions
                    else max(session_s - elapsed, session_s / 2))
        residuals.append(min(left, round_s))
    residuals.sort()
    if not residuals and occupied:
        # taken places of unknown age: spread evenly over one round
        residuals = [round_s * (k + 1) / occupied for k in range(occupied)]
    size = min(places, TABLE_SIZE)
    shift = occupied - places
    table: list[float] = []
    for i in range(size):
        k = i * places // size + shift  # the freeing (0-based) that gives this turn
        table.append(0.0 if k < 0 else residuals[min(len(residuals) - 1,
                                                     k * len(residuals) // occupied)])
    return tuple(table)


def wait_model(reading: Reading) -> WaitModel | None:
    """The room's wait model, or None while no estimate can be honest (paused, not open)."""
    if reading.paused or reading.sealed == -1:
        return None
    if reading.opens_at_s and reading.now_ms < reading.opens_at_s * 1000:
        return None
    if reading.max_active <= 0 or reading.admit_per_minute <= 0:
        return None
    # Booked visitors present go first, within their share of the places, and places
    # are held back for those expected: walk-ins cycle through the rest.
    reserve = math.ceil(reading.booked_share * reading.max_active)
    booked = min(reserve, max(reading.booked_live, min(reserve, reading.booked_expected)))
    places = max(1, reading.max_active - booked)
    # The share of numbers that take a place, with a small prior of "all of them".
    seen = reading.walk_seen + PRIOR_SAMPLES
    per_position = (min(reading.walk_taken, reading.walk_seen) + PRIOR_SAMPLES) / seen
    share_var = ((1 - per_position) / (per_position * seen)
                 + (0.25 * reserve / places) ** 2)  # booked visitors come and go
    holding = _holding(reading, per_position)
    rate = reading.admit_per_minute
    # The claim delay depends on how fast the queue moves, which depends on it.
    claim_s = round_s = 0.0
    session_s, lapse, window = holding.session_s, holding.lapse, reading.claim_window_s
    per_second = rate / 60
    for _ in range(6):
        claim_s = (holding.own_pace if holding.own_pace is not None
                   else claim_delay_s(per_second / per_position))
        round_s = (1 - lapse) * (session_s + claim_s) + lapse * window
        per_second = min(rate / 60, places / round_s)
    claim_part = (1 - lapse) * claim_s / round_s
    session_part = (1 - lapse) * session_s / round_s
    lapse_var = lapse * (1 - lapse) / holding.lapses_seen * (window / round_s) ** 2
    round_var = (session_part ** 2 * holding.session_var
                 + claim_part ** 2 * holding.pace_var
                 + lapse_var)
    cv_sessions = holding.sessions.cv if holding.sessions else 0.5
    cv2 = ((session_part * cv_sessions) ** 2 + (0.6 * claim_part) ** 2
           + lapse * (1 - lapse) * ((window - session_s - claim_s) / round_s) ** 2)
    burst = max(1, math.ceil(rate / 6))
    if reading.tokens is None:
        tokens = float(burst)
    else:
        refill = max(0, reading.now_ms - reading.bucket_ms) * rate / 60_000
        tokens = min(float(burst), reading.tokens + refill)
    return WaitModel(
        per_position=per_position,
        base=1 - per_position,
        places=places,
        table=_first_round(reading, places, round_s, holding, claim_s),
        round_s=round_s,
        tokens=tokens,
        per_token_s=60 / rate,
        fixed_var=round_var + share_var + MODEL_FLOOR ** 2,
        noise_var=cv2 + (1 - per_position),
        rate_var=share_var + MODEL_FLOOR ** 2,
        rate=round(per_second * 60, 2),
        measured=holding.sessions is not None,
    )


def estimate_wait(position: int, reading: Reading) -> WaitEstimate | None:
    """Estimate the wait of the visitor at ``position`` (1 = next); None if unknowable."""
    if position <= 0:
        return ADMITTED_NOW
    model = wait_model(reading)
    return None if model is None else model.estimate(position)


def poll_after_ms(
    position: int,
    *,
    rng: random.Random | None = None,
    floor_ms: int = POLL_FLOOR_MS,
    ceiling_ms: int = POLL_CEILING_MS,
) -> int:
    """Return how long a visitor should wait before asking again, with ±20 % jitter.

    Near the front visitors ask every couple of seconds; further back, every 37 to
    55 seconds; far back their pages follow the shared board (``waitroom.board``).
    """
    base = floor_ms + POLL_GROWTH_MS * math.sqrt(max(position - 1, 0))
    base = min(float(ceiling_ms), base)
    jitter = (rng or random).uniform(-POLL_JITTER, POLL_JITTER)
    return int(max(floor_ms * 0.8, base * (1 + jitter)))
