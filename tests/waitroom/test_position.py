"""Queue positions against the line the admission walk actually serves, built by hand."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from waitroom.position import in_prequeue, queue_position
from waitroom.prequeue import SEED_PREFIX, Draw


@given(
    seed=st.text(min_size=1, max_size=12),
    sealed=st.integers(0, 40),
    served_fraction=st.floats(0, 1),
    returning=st.integers(0, 20),
    walked=st.integers(0, 20),
    walk_ins_left=st.integers(0, 20),
)
def test_position_is_the_place_in_the_line_served_next(
    seed: str, sealed: int, served_fraction: float, returning: int, walked: int,
    walk_ins_left: int,
) -> None:
    draw = Draw(SEED_PREFIX + seed, sealed)
    order = list(draw.order())
    served = int(served_fraction * sealed)
    head = sealed + 1 + walked  # sealing moves the walk past the pre-queue
    seq = head - 1 + walk_ins_left
    # Who comes in next, in turn: those who came back, what is left of the drawn
    # order, then walk-ins from the head on.
    line: list[int | None] = [None] * returning + order[served:] + list(range(head, seq + 1))
    for index, number in enumerate(line):
        if number is None:
            continue
        rank = draw.rank(number) if in_prequeue(number, sealed) else 0
        position = queue_position(number, head=head, returning=returning,
                                  order_left=sealed - served, sealed=sealed, rank=rank)
        assert position == index + 1


@given(
    number=st.integers(1, 10_000),
    head=st.integers(1, 10_000),
    returning=st.integers(0, 1000),
    order_left=st.integers(0, 1000),
    sealed=st.integers(0, 10_000),
    rank=st.integers(1, 10_000),
)
def test_position_is_never_before_the_front(
    number: int, head: int, returning: int, order_left: int, sealed: int, rank: int
) -> None:
    # Counters read a moment apart may disagree; a visitor still never sees 0 or less.
    position = queue_position(number, head=head, returning=returning,
                              order_left=min(order_left, sealed), sealed=sealed, rank=rank)
    assert position >= returning + 1
