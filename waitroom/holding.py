"""How long a place stays taken, from the places freed lately and those still taken (pure).

A place is taken from the admission until the session ends, expires, or the
admission lapses unclaimed: the claim delay (the visitor has to notice the
turn) plus the session. The room records each freed place as ``(ended at,
held for)``; the places still taken are known by their admission times. Both
together are censored survival data: a place taken for 40 s so far is known to
be held for at least 40 s. The Kaplan-Meier estimate uses both, so the first
minutes after opening, when only the shortest sessions have ended, do not
promise a short wait.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Holding:
    """A distribution of holding times (seconds), with what it was estimated from."""

    mean: float
    cv: float  # coefficient of variation
    events: float  # freed places it was estimated from (weighted)
    tail: float  # the share of the mass beyond the longest observation (guessed)
    _times: tuple[float, ...]  # jump times, ascending
    _mass_after: tuple[float, ...]  # mass at or after each jump (suffix sums), then the tail
    _moment_after: tuple[float, ...]  # sum of mass * time at or after each jump, then the tail
    _tail_at: float  # where the tail's mass sits

    def residual(self, elapsed: float) -> float:
        """The mean time still to go for a place taken ``elapsed`` seconds ago."""
        i = bisect.bisect_right(self._times, elapsed)
        mass = self._mass_after[i]
        moment = self._moment_after[i]
        if self._tail_at <= elapsed:
            # past the tail's point too: only the tail's (memoryless) guess is left
            mass -= self.tail
            moment -= self.tail * self._tail_at
            if mass <= 1e-12:
                return 0.5 * self.mean
            return moment / mass - elapsed
        if mass <= 1e-12:
            return 0.5 * self.mean
        return max(0.0, moment / mass - elapsed)


def kaplan_meier(ended: Iterable[float], taken: Iterable[tuple[float, float]]) -> Holding | None:
    """The holding distribution from freed places (held seconds) and places still taken
    (``(seconds so far, weight)``); None when no place has been freed yet.

    Beyond the longest observation the curve is unknown; when it ends on places
    still taken, their remaining mass is put one mean exponential holding time
    (total time at risk over places freed) further on.
    """
    obs = [(t, 0, 1.0) for t in ended] + [(t, 1, w) for t, w in taken]
    events = sum(1 for _, censored, _w in obs if censored == 0)
    if events == 0:
        return None
    obs.sort()
    at_risk = sum(w for _, _, w in obs)
    exposure = sum(t * w for t, _, w in obs)
    survival = 1.0
    times: list[float] = []
    masses: list[float] = []
    i = 0
    while i < len(obs):
        t = obs[i][0]
        died = censored = 0.0
        while i < len(obs) and obs[i][0] == t:
            if obs[i][1] == 0:
                died += obs[i][2]
            else:
                censored += obs[i][2]
            i += 1
        if died > 0 and at_risk > 0:
            drop = survival * died / at_risk
            times.append(t)
            masses.append(drop)
            survival -= drop
        at_risk -= died + censored
    tail = max(0.0, survival)
    longest = obs[-1][0]
    tail_at = longest + exposure / events
    mass_after = [0.0] * (len(times) + 1)
    moment_after = [0.0] * (len(times) + 1)
    mass_after[-1], moment_after[-1] = tail, tail * tail_at
    for k in range(len(times) - 1, -1, -1):
        mass_after[k] = mass_after[k + 1] + masses[k]
        moment_after[k] = moment_after[k + 1] + masses[k] * times[k]
    total = mass_after[0]
    mean = moment_after[0] / total
    second = (sum(m * t * t for m, t in zip(masses, times, strict=True))
              + tail * (tail_at * tail_at + (exposure / events) ** 2)) / total
    variance = max(0.0, second - mean * mean)
    return Holding(mean=mean, cv=variance ** 0.5 / mean if mean > 0 else 0.0,
                   events=float(events), tail=tail / total,
                   _times=tuple(times), _mass_after=tuple(mass_after),
                   _moment_after=tuple(moment_after), _tail_at=tail_at)
