"""One-time codes in Redis: issued with send limits, checked with a guess limit, used once."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from importlib import resources

from portal.attempts import Limit, allow_attempt, failed_attempt
from portal.identity.codes import code_digest, new_code, nik_digest
from portal.identity.contacts import Contact
from portal.keys import PortalKeys
from portal.redis_clients import AsyncRedisClient

CODE_SECONDS = 10 * 60
GUESSES_PER_CODE = 5
# SMS costs money and is a spam vector: few codes per NIK, a few more per contact and
# per address (an office shares one).
SENDS_PER_NIK = Limit("code-send-nik", 3, 60 * 60)
SENDS_PER_CONTACT = Limit("code-send-contact", 5, 60 * 60)
# One address asks for codes for everybody behind it: an office's staff, a carrier's
# NAT. Its bound is the cost of one machine asking for messages all day, not a person's.
SENDS_PER_ADDRESS = Limit("code-send-address", 600, 60 * 60)
CODE_GUESS = Limit("one-time-code", 20, 15 * 60, per_address=600)

_VERIFY = resources.files("portal.identity").joinpath("verify_code.lua").read_text()


class Checked(enum.Enum):
    """How a guessed code turned out."""

    RIGHT = "right"
    WRONG = "wrong"
    USED_UP = "used_up"  # too many guesses: the code is gone, ask for a new one
    LIMITED = "limited"  # too many guesses from this address or at this NIK


@dataclass(frozen=True)
class CheckResult:
    """A checked code, with the contact it was sent to when it was right."""

    outcome: Checked
    contact: Contact | None = None


class OneTimeCodes:
    """The codes of one portal, kept as keyed digests (a Redis dump reveals none)."""

    def __init__(self, redis: AsyncRedisClient, keys: PortalKeys, secret: str) -> None:
        self.redis = redis
        self.keys = keys
        self.secret = secret
        self._verify = redis.register_script(_VERIFY)

    def _who(self, nik: str) -> str:
        # Keyed: the NIK space is small enough that a plain hash in a key name is a NIK.
        return nik_digest(self.secret, nik)

    async def may_send(self, nik: str, contacts: tuple[Contact, ...], address: str) -> bool:
        """Count a send for the NIK, each contact and the asking address; False past a limit."""
        checks = [await allow_attempt(self.redis, self.keys, SENDS_PER_NIK, None,
                                      self._who(nik)),
                  await allow_attempt(self.redis, self.keys, SENDS_PER_ADDRESS, address)]
        for contact in contacts:
            checks.append(await allow_attempt(self.redis, self.keys, SENDS_PER_CONTACT, None,
                                              f"{contact.channel}:{contact.address}"))
        return all(checks)

    async def issue(self, nik: str, contact: Contact) -> str:
        """A fresh code for the NIK (an older one stops working); return it to be sent."""
        code = new_code()
        key = self.keys.identity_code(self._who(nik))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"digest": code_digest(self.secret, nik, code),
                                    "attempts": 0, "channel": contact.channel,
                                    "address": contact.address})
            pipe.expire(key, CODE_SECONDS)
            await pipe.execute()
        return code

    async def check(self, nik: str, typed: str, address: str) -> CheckResult:
        """Check a guess; each guess counts before it is compared, however many arrive at once."""
        if not await allow_attempt(self.redis, self.keys, CODE_GUESS, address,
                                   self._who(nik)):
            return CheckResult(Checked.LIMITED)
        status, channel, contact_address = await self._verify(
            keys=[self.keys.identity_code(self._who(nik))],
            args=[code_digest(self.secret, nik, typed), GUESSES_PER_CODE])
        if int(status) == 1:
            return CheckResult(Checked.RIGHT, Contact(_text(channel), _text(contact_address)))
        failed_attempt(CODE_GUESS)
        return CheckResult(Checked.USED_UP if int(status) == -1 else Checked.WRONG)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
