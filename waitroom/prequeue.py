"""The pre-queue's order: a permutation anyone can recompute from the published seed (pure).

The numbers 1..last taken before opening are admitted in an order drawn at opening
from a seed nobody knows before then, published afterwards. The order is a keyed
permutation: number ``n`` has rank ``draw.rank(n)``, worked out alone, without
ordering everybody else. So a visitor's page can compute its own rank from the seed
on the board (``portal/static/draw.js`` does, with Web Crypto) instead of asking
the server, and a web process keeps no table of a million ranks.

The recipe, written so anyone can check a draw:

- ``k`` = the bit length of ``last - 1``, at least 8; a number ``n`` is ``x = n - 1``,
  a ``k``-bit value, split into a high part ``L`` of ``k // 2`` bits and a low part
  ``R`` of the rest.
- Six Feistel rounds ``i = 0..5``: ``L, R = R, L xor (F(i, R) mod 2**bits(L))``, where
  ``F(i, R)`` is the first four bytes (big-endian) of SHA-256 of the text
  ``"<seed>:<i>:<R>"`` (R in decimal); the parts swap sizes each round, and after six
  the value is ``L * 2**bits(R) + R`` again.
- While the result is ``last`` or more, apply the six rounds to it again (cycle
  walking: fewer than two passes on average from 128 numbers on). The rank is the
  result plus one.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator

ROUNDS = 6
# Small draws walk a domain of at least this many bits: Feistel rounds on halves of a
# bit or two mix poorly, and a walk through 256 values costs a page a few hundred hashes.
MIN_BITS = 8
# Seeds of this recipe say so, for anyone (or any process) reading a published seed.
SEED_PREFIX = "feistel-"


def new_seed() -> str:
    """Draw an unpredictable seed at opening time."""
    return SEED_PREFIX + secrets.token_hex(16)


def draws_by_rank(seed: str | None) -> bool:
    """Whether ``seed`` belongs to this recipe (a seed drawn by an earlier one does not)."""
    return seed is not None and seed.startswith(SEED_PREFIX)


class Draw:
    """The drawn order of the numbers ``1..last`` under ``seed`` (see the module)."""

    def __init__(self, seed: str, last: int) -> None:
        if last < 0:
            raise ValueError("last must be 0 or more")
        self.seed = seed
        self.last = last
        bits = max(MIN_BITS, (last - 1).bit_length())
        self._high = bits // 2
        self._low = bits - self._high
        self._prefix = seed.encode() + b":"
        # F(i, R) for every R a round can see, filled in as needed: round i reads a part
        # of the low part's size when i is even, of the high part's when odd (a few
        # thousand values in all for a million numbers).
        sizes = (1 << self._low, 1 << self._high)
        self._f: list[list[int]] = [[-1] * sizes[i % 2] for i in range(ROUNDS)]

    def _round(self, i: int, value: int) -> int:
        found = self._f[i][value]
        if found < 0:
            digest = hashlib.sha256(self._prefix + b"%d:%d" % (i, value)).digest()
            found = self._f[i][value] = int.from_bytes(digest[:4], "big")
        return found

    def _forward(self, x: int) -> int:
        s, t = self._high, self._low  # L has s bits, R has t bits
        left, right = x >> t, x & ((1 << t) - 1)
        for i in range(ROUNDS):
            left, right = right, left ^ (self._round(i, right) & ((1 << s) - 1))
            s, t = t, s
        return (left << t) | right

    def _backward(self, y: int) -> int:
        s, t = self._high, self._low
        left, right = y >> t, y & ((1 << t) - 1)
        for i in reversed(range(ROUNDS)):
            left, right = right ^ (self._round(i, left) & ((1 << t) - 1)), left
            s, t = t, s
        return (left << t) | right

    def rank(self, number: int) -> int:
        """The 1-based place of ``number`` (1..last) in the drawn order."""
        return self._walk(self._forward, number)

    def number_at(self, rank: int) -> int:
        """The number drawn at ``rank`` (1..last): the inverse of ``rank``."""
        return self._walk(self._backward, rank)

    def _walk(self, step: Callable[[int], int], value: int) -> int:
        if not 1 <= value <= self.last:
            raise ValueError("only 1..last are drawn")
        x = step(value - 1)
        while x >= self.last:  # cycle walking: back into 0..last-1
            x = step(x)
        return x + 1

    def order(self) -> Iterator[int]:
        """The numbers in the order they are admitted."""
        return (self.number_at(rank) for rank in range(1, self.last + 1))


class SortedDraw:
    """The order of seeds drawn before this recipe: the numbers sorted by
    SHA-256("<seed>:<number>"). Kept for a room sealed under it (an upgrade between the
    draw and the end of the pre-queue); its ranks need the whole order, so no page can
    work its own out."""

    def __init__(self, seed: str, last: int) -> None:
        self.seed = seed
        self.last = last
        self._order = sorted(range(1, last + 1),
                             key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).digest())
        self._ranks = {number: rank for rank, number in enumerate(self._order, start=1)}

    def rank(self, number: int) -> int:
        """The 1-based place of ``number`` in the order."""
        return self._ranks[number]

    def number_at(self, rank: int) -> int:
        """The number at ``rank``."""
        return self._order[rank - 1]

    def order(self) -> Iterator[int]:
        """The numbers in the order they are admitted."""
        return iter(self._order)


def draw_of(seed: str, last: int) -> Draw | SortedDraw:
    """The draw a published seed stands for."""
    return Draw(seed, last) if draws_by_rank(seed) else SortedDraw(seed, last)


def prequeue_order(seed: str, last: int) -> list[int]:
    """Queue numbers 1..last in the order they are admitted at opening."""
    return list(draw_of(seed, last).order())
