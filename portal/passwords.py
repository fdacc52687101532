"""Operator passwords: argon2id at a cost the settings choose."""

from __future__ import annotations

import secrets
from functools import cache, cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Hash and check passwords at one argon2id cost."""

    def __init__(self, time_cost: int, memory_kib: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)

    @cached_property
    def _dummy(self) -> str:
        # Checked when the account does not exist, so that a wrong name costs as much
        # time as a wrong password and does not reveal which accounts exist.
        return self._hasher.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        """The argon2id hash of ``password``."""
        return self._hasher.hash(password)

    def check(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored`` (None: no account; as slow, never true)."""
        try:
            self._hasher.verify(self._dummy if stored is None else stored, password)
        except (VerificationError, InvalidHashError):
            return False
        return stored is not None

    def outdated(self, stored: str) -> bool:
        """Whether ``stored`` was hashed at another cost than this one."""
        return self._hasher.check_needs_rehash(stored)


@cache
def passwords_at(time_cost: int, memory_kib: int) -> Passwords:
    """The shared hasher of one cost."""
    return Passwords(time_cost, memory_kib)
