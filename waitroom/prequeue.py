"""The pre-queue's order: a permutation anyone can recompute from the published seed (pure)."""

from __future__ import annotations

import hashlib
import secrets


def new_seed() -> str:
    """Draw an unpredictable seed at opening time."""
    return secrets.token_hex(16)


def draw_key(seed: str, number: int) -> bytes:
    """The sort key of one queue number under a seed: SHA-256 of ``seed:number``."""
    return hashlib.sha256(f"{seed}:{number}".encode()).digest()


def prequeue_order(seed: str, last: int) -> list[int]:
    """Queue numbers 1..last in the order they are admitted at opening.

    Anyone with the seed can check it: sort the numbers by SHA-256("<seed>:<number>").
    """
    return sorted(range(1, last + 1), key=lambda n: draw_key(seed, n))


def rank_of(order: list[int]) -> dict[int, int]:
    """Map each number to its 1-based rank in an order."""
    return {number: index for index, number in enumerate(order, start=1)}
