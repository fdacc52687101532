"""The pre-queue order: a keyed permutation anyone can recompute from the seed."""

from __future__ import annotations

import hashlib
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from waitroom.prequeue import (
    SEED_PREFIX,
    Draw,
    SortedDraw,
    draw_of,
    draws_by_rank,
    new_seed,
    prequeue_order,
)

seeds = st.builds(lambda tail: SEED_PREFIX + tail, st.text(max_size=40))


def recipe_rank(seed: str, last: int, number: int) -> int:
    """The rank as the module's recipe states it, written again without its tables."""
    bits = max(8, (last - 1).bit_length())
    high, low = bits // 2, bits - bits // 2

    def one_pass(x: int) -> int:
        sizes = [high, low]  # bits of the high part, of the low part
        left, right = divmod(x, 2 ** sizes[1])
        for i in range(6):
            digest = hashlib.sha256(f"{seed}:{i}:{right}".encode()).digest()
            left, right = right, left ^ (int.from_bytes(digest[:4], "big") % 2 ** sizes[0])
            sizes.reverse()
        return left * 2 ** sizes[1] + right

    x = one_pass(number - 1)
    while x >= last:
        x = one_pass(x)
    return x + 1


@given(seed=seeds, last=st.integers(0, 600))
def test_the_draw_is_a_permutation_of_the_numbers(seed: str, last: int) -> None:
    draw = Draw(seed, last)
    order = list(draw.order())
    assert sorted(order) == list(range(1, last + 1))
    assert order == prequeue_order(seed, last)
    assert [draw.rank(number) for number in order] == list(range(1, last + 1))


@given(seed=seeds, last=st.integers(1, 5000), data=st.data())
def test_a_rank_is_worked_out_alone_by_the_published_recipe(seed: str, last: int,
                                                             data: st.DataObject) -> None:
    number = data.draw(st.integers(1, last))
    rank = Draw(seed, last).rank(number)
    assert rank == recipe_rank(seed, last, number)
    assert Draw(seed, last).number_at(rank) == number


def test_every_rank_is_as_likely_for_every_number() -> None:
    # 8 numbers drawn under 4,000 seeds: each (number, rank) pair is expected 500 times.
    # A chi-square over the 64 cells stays far below this bound for a fair draw (its
    # mean is 49); an order that kept numbers near their place would exceed it.
    counts = Counter((n, Draw(f"{SEED_PREFIX}{i}", 8).rank(n))
                     for i in range(4000) for n in range(1, 9))
    chi2 = sum((counts[(n, r)] - 500) ** 2 / 500 for n in range(1, 9) for r in range(1, 9))
    assert chi2 < 110, chi2


def test_different_seeds_give_different_orders() -> None:
    orders = {tuple(prequeue_order(new_seed(), 50)) for _ in range(20)}
    assert len(orders) == 20
    assert draws_by_rank(new_seed())


def test_a_seed_of_the_earlier_recipe_keeps_its_sorted_order() -> None:
    seed = "0123456789abcdef0123456789abcdef"  # as drawn before the keyed draw
    assert not draws_by_rank(seed) and isinstance(draw_of(seed, 30), SortedDraw)
    order = prequeue_order(seed, 30)
    assert order == sorted(range(1, 31),
                           key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).digest())
    draw = draw_of(seed, 30)
    assert all(draw.number_at(draw.rank(n)) == n for n in range(1, 31))


def test_a_million_numbers_need_only_a_few_thousand_hashes() -> None:
    draw = Draw(new_seed(), 1_000_000)
    for number in range(1, 1_000_001, 997):
        draw.rank(number)
    # The round values a million numbers can reach: six rounds of 2**10 parts.
    assert sum(value >= 0 for table in draw._f for value in table) <= 6 * 1024
