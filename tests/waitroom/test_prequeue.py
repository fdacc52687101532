"""The pre-queue order: a permutation anyone can recompute from the seed."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from waitroom.prequeue import new_seed, prequeue_order, rank_of


@given(seed=st.text(min_size=1, max_size=40), last=st.integers(0, 300))
def test_order_is_a_permutation_recomputable_from_the_seed(seed: str, last: int) -> None:
    order = prequeue_order(seed, last)
    assert sorted(order) == list(range(1, last + 1))
    assert order == prequeue_order(seed, last)
    # the published recipe, written independently
    recipe = sorted(range(1, last + 1),
                    key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).hexdigest())
    assert order == recipe
    ranks = rank_of(order)
    assert all(order[ranks[n] - 1] == n for n in order)


def test_different_seeds_give_different_orders() -> None:
    orders = {tuple(prequeue_order(new_seed(), 50)) for _ in range(20)}
    assert len(orders) == 20
