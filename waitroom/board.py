"""The board: what every far-back visitor's page needs, the same for all of them (pure).

A visitor further back than ``near`` positions learns nothing from a poll of their
own that the room as a whole does not say: where the admission walk stands, how
long the lists served first are, and how long the places ahead will take. The board
says that once for everybody in a small document that a load balancer or the
browser may cache for a second. The page works out its own position from its queue
number (and its rank in the pre-queue's draw), exactly as
``waitroom.position.queue_position`` does, and its wait from the board's knots.

Near the front - and whenever the board cannot tell, before the draw or when the
walk has passed the number - the page asks for its own place again, which also
marks it present. A follower is not marked present while it follows, so the walk
may skip one that the queue reached faster than its page looked; the return grace
counts from that skip, and the page, seeing its position gone, asks at once and is
served from the returning list first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

from waitroom.position import in_prequeue, queue_position

# Far back means beyond the places the cap holds, beyond this many positions, and
# beyond what the room admits at its top speed in NEAR_LEAD_S: a page that looked at
# the board just before stays clear of the front until its next look.
NEAR_MIN = 2000
NEAR_LEAD_S = 120
# Estimates on the board: at positions this factor apart, from ``near`` to the back.
KNOT_RATIO = 1.08
# A follower looks again after a time drawn from this range (ms): with the board at
# most a second old in a cache and a snapshot at most a second old, what a page
# shows is never more than a minute old.
BOARD_POLL_MS = (45_000, 56_000)
# Seconds a shared cache or the browser may keep the board.
BOARD_MAX_AGE_S = 1

Estimate = Callable[[int], "tuple[int, int] | None"]


def near_positions(max_active: int, admit_per_minute: float) -> int:
    """Positions at or before which a page asks for its own place."""
    return max(NEAR_MIN, max_active, math.ceil(admit_per_minute / 60 * NEAR_LEAD_S))


def knot_positions(near: int, last: int) -> list[int]:
    """Positions the board gives estimates at: ``near``, then ``KNOT_RATIO`` apart,
    the first at or past ``last`` included."""
    positions = [near]
    while positions[-1] < last:
        positions.append(max(positions[-1] + 1, math.ceil(positions[-1] * KNOT_RATIO)))
    return positions


@dataclass(frozen=True)
class Board:
    """The room's standing for pages that work out their own place."""

    as_of_ms: int  # when the room was read
    head: int
    returning: int
    order_left: int
    sealed: int  # -1 before the draw (nobody following can tell their place)
    near: int
    knots: tuple[tuple[int, int, int], ...] | None  # (position, low s, high s); None: no estimate
    # The draw's published seed when a page may work out its rank itself
    # (``waitroom.prequeue.Draw``); None before the draw or for an older recipe's seed.
    seed: str | None = None

    def position(self, number: int, rank: int = 0) -> int | None:
        """The place of a follower with queue ``number`` (``rank`` in the draw), or None
        when the board cannot tell and the page must ask for its own place."""
        if self.sealed < 0:
            return None
        if in_prequeue(number, self.sealed):
            if rank <= 0 or rank <= self.sealed - self.order_left:
                return None  # taken from the drawn order already: its own poll says how
        elif number < self.head:
            return None  # the walk has passed it
        return queue_position(number, head=self.head, returning=self.returning,
                              order_left=self.order_left, sealed=self.sealed, rank=rank)

    def estimate(self, position: int) -> tuple[int, int] | None:
        """The wait range (seconds) at ``position``: linear between knots, along the last
        stretch past the back (visitors who joined after the board was made)."""
        knots = self.knots
        if not knots:
            return None
        if len(knots) == 1 or position <= knots[0][0]:
            return knots[0][1], knots[0][2]
        # knots are few (a hundred for a million); a bisection would gain nothing here
        for index in range(1, len(knots)):
            if knots[index][0] >= position or index == len(knots) - 1:
                break
        (p0, low0, high0), (p1, low1, high1) = knots[index - 1], knots[index]
        share = (position - p0) / (p1 - p0)
        # halves round up, as the page's Math.round does
        return (max(0, math.floor(low0 + share * (low1 - low0) + 0.5)),
                max(0, math.floor(high0 + share * (high1 - high0) + 0.5)))

    def as_json(self) -> bytes:
        """The board as the API sends it."""
        return json.dumps({
            "as_of_ms": self.as_of_ms,
            "head": self.head,
            "returning": self.returning,
            "order_left": self.order_left,
            "sealed": self.sealed,
            "near": self.near,
            "poll_after_ms": list(BOARD_POLL_MS),
            "knots": None if self.knots is None else [list(k) for k in self.knots],
            "seed": self.seed,
        }, separators=(",", ":")).encode()


def make_board(*, as_of_ms: int, head: int, seq: int, returning: int, order_left: int,
               sealed: int, max_active: int, admit_per_minute: float,
               estimate: Estimate, seed: str | None = None) -> Board:
    """The board of a room read at ``as_of_ms``; ``estimate(position)`` gives the wait
    range there (None: paused or not open, no estimate); ``seed`` the draw's, for pages
    to work out their ranks (given only for a seed of ``waitroom.prequeue.Draw``)."""
    near = near_positions(max_active, admit_per_minute)
    last = returning + order_left + max(0, seq - head + 1) + 1
    knots: list[tuple[int, int, int]] = []
    for position in knot_positions(near, last):
        wait = estimate(position)
        if wait is None:  # paused or not open: nobody's wait can be told
            return Board(as_of_ms=as_of_ms, head=head, returning=returning,
                         order_left=order_left, sealed=sealed, near=near, knots=None,
                         seed=seed)
        knots.append((position, wait[0], wait[1]))
    return Board(as_of_ms=as_of_ms, head=head, returning=returning, order_left=order_left,
                 sealed=sealed, near=near, knots=tuple(knots), seed=seed)
