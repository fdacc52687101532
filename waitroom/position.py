"""Where a waiting visitor stands in line, from the room's standing (pure).

The admission walk serves, in turn: visitors who came back after being skipped
(``returning``), the pre-queue in its drawn order, then walk-ins in queue-number
order from ``head``. Booked visitors in the priority lane are served apart and
are not counted here.
"""

from __future__ import annotations


def in_prequeue(number: int, sealed: int) -> bool:
    """Whether a queue number joined before opening and is served in the drawn order."""
    return 0 < number <= sealed


def queue_position(number: int, *, head: int, returning: int, order_left: int, sealed: int,
                   rank: int = 0) -> int:
    """The 1-based place in line of a waiting visitor; never less than 1.

    ``sealed`` is the last pre-queue number once the order is drawn (0 without a
    pre-queue; not -1, before the draw nobody has a position). ``rank`` is the
    visitor's 1-based rank in the drawn order, needed only for pre-queue numbers.
    """
    if in_prequeue(number, sealed):
        served_from_order = sealed - order_left
        return returning + max(1, rank - served_from_order)
    return returning + order_left + max(1, number - head + 1)
