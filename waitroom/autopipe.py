"""Automatic pipelining of the room's script calls.

Every request of a busy portal makes one script call. Sent one by one through
redis-py, each call pays for taking a connection from the pool, encoding its
arguments argument by argument, a write, a read and giving the connection back,
and those costs are most of what a join or an admission poll spends. Here the
calls that coroutines make in the same turn of the event loop are written to one
connection in a single write and their replies read back in order. Each script
still runs atomically on its own; only the transport is shared, so a visitor
still gets their answer in one round trip, usually sooner than alone.

Used for plain ``redis.asyncio.Redis`` clients; a cluster client keeps redis-py's
own script objects (the calls of one room hash to one slot, but the client picks
the node).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

Arg = bytes | str | int | float

# One write carries at most this many calls; a larger burst goes out in several.
MAX_BATCH = 256
# Encoded key lists kept per script (a room's keys, plus one per address and minute
# for joins); the cache starts over when full.
KEY_SETS_KEPT = 1024


def _bulk(value: Arg) -> bytes:
    # ints first by exact type (most arguments; bool is an int subclass, and refused)
    if type(value) is int:
        raw = b"%d" % value
    elif isinstance(value, str):
        raw = value.encode()
    elif isinstance(value, bytes):
        raw = value
    elif isinstance(value, int) and not isinstance(value, bool):
        raw = b"%d" % value
    elif isinstance(value, float):
        raw = repr(value).encode()
    else:
        raise TypeError(f"cannot send {type(value).__name__} to Redis")
    return b"$%d\r\n%s\r\n" % (len(raw), raw)


def pack_command(*parts: Arg) -> bytes:
    """Encode one command in the Redis protocol (RESP2 array of bulk strings)."""
    return b"*%d\r\n%s" % (len(parts), b"".join(_bulk(part) for part in parts))


class Submits(Protocol):
    """What a script call is written through: AutoPipeline, or waitroom.direct's own
    connection."""

    def submit(self, packed: bytes) -> asyncio.Future[Any]:
        """Queue one packed command; the future gets its reply (or its error)."""


class TurnBatches(ABC):
    """Collects the calls made in one event-loop turn and writes them in batches of at
    most MAX_BATCH (``write_batch``)."""

    def __init__(self) -> None:
        self._pending: list[tuple[bytes, asyncio.Future[Any]]] = []
        self._flush_scheduled = False

    def submit(self, packed: bytes) -> asyncio.Future[Any]:
        """Queue one packed command; the future gets its reply (or its error)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((packed, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), MAX_BATCH):
            self.write_batch(pending[start:start + MAX_BATCH])

    @abstractmethod
    def write_batch(self, batch: list[tuple[bytes, asyncio.Future[Any]]]) -> None:
        """Send one batch of calls; their futures get the replies."""


class AutoPipeline(TurnBatches):
    """Sends the calls of one event-loop turn in one write on a connection of the pool."""

    def __init__(self, pool: ConnectionPool) -> None:
        super().__init__()
        self._pool = pool
        self._flushes: set[asyncio.Task[None]] = set()

    def write_batch(self, batch: list[tuple[bytes, asyncio.Future[Any]]]) -> None:
        """Send one batch in a task of its own."""
        task = asyncio.ensure_future(self._send(batch))
        self._flushes.add(task)  # keep a reference until it is done
        task.add_done_callback(self._flushes.discard)

    async def _send(self, batch: list[tuple[bytes, asyncio.Future[Any]]]) -> None:
        # A pooled connection the server has closed meanwhile (a Redis restart, an
        # idle timeout) fails on its first read; as redis-py itself would, the calls
        # go once more on a new connection - only when no reply has been read, so a
        # call is never answered twice.
        if await self._attempt(batch, may_retry=True):
            await self._attempt(batch, may_retry=False)

    async def _attempt(self, batch: list[tuple[bytes, asyncio.Future[Any]]], *,
                       may_retry: bool) -> bool:
        """Send the batch on one connection; True if it should be sent again."""
        connection: AbstractConnection | None = None
        replies = 0
        try:
            connection = await self._pool.get_connection()
            await connection.send_packed_command(b"".join(packed for packed, _ in batch))
            for _, future in batch:
                try:
                    reply: Any = await connection.read_response()
                except ResponseError as exc:
                    # An error reply, read completely: this call failed, the
                    # connection is still in step with the server.
                    reply = exc
                replies += 1
                settle(future, reply)
            return False
        except BaseException as exc:
            # The connection broke (or this task was cancelled): nothing more can
            # be read from it.
            if connection is not None:
                await connection.disconnect(nowait=True)
            if may_retry and replies == 0 and isinstance(exc, RedisConnectionError):
                return True
            failure = exc if isinstance(exc, Exception) else RedisConnectionError("cancelled")
            for _, future in batch:
                settle(future, failure)
            if not isinstance(exc, Exception):
                raise
            return False
        finally:
            if connection is not None:
                await self._pool.release(connection)


def settle(future: asyncio.Future[Any], outcome: Any) -> None:
    """Give a call's future its reply or error, unless its caller gave up."""
    if future.done():
        return  # the caller gave up (its request was cancelled)
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class PipelinedScript:
    """A Lua script called like redis-py's ``AsyncScript`` (keys=, args=), pipelined."""

    def __init__(self, script: AsyncScript, pipeline: Submits) -> None:
        self._script = script
        self._pipeline = pipeline
        self._evalsha = _bulk("EVALSHA") + _bulk(script.sha)
        self._loading: asyncio.Future[Any] | None = None
        # The same keys come with almost every call (a room's); their encoding is kept.
        self._keys_packed: dict[tuple[Arg, ...], bytes] = {}

    @property
    def sha(self) -> str:
        """The script's SHA-1, as redis-py computed it."""
        return str(self._script.sha)

    async def __call__(self, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> Any:
        head = self._keys_packed.get(tuple(keys))
        if head is None:
            head = b"".join(_bulk(part) for part in (len(keys), *keys))
            if len(self._keys_packed) >= KEY_SETS_KEPT:
                self._keys_packed.clear()
            self._keys_packed[tuple(keys)] = head
        packed = b"*%d\r\n%s%s%s" % (3 + len(keys) + len(args), self._evalsha, head,
                                     b"".join([_bulk(arg) for arg in args]))
        try:
            return await self._pipeline.submit(packed)
        except NoScriptError:
            # First call on a fresh server, or after SCRIPT FLUSH: load the script
            # once for all the calls that found it missing, then send again.
            await self._load()
            return await self._pipeline.submit(packed)

    async def _load(self) -> None:
        if self._loading is None or self._loading.done():
            # On the calls' own transport: after a Redis restart a pooled connection may
            # still be the old server's, and this load is what the calls are waiting for.
            source = self._script.script
            self._loading = self._pipeline.submit(pack_command(
                "SCRIPT", "LOAD", source if isinstance(source, str | bytes) else bytes(source)))
        await asyncio.shield(self._loading)


def pipelined_scripts(client: Any, scripts: dict[str, Any]) -> dict[str, Any]:
    """Wrap redis-py script objects of a plain asyncio client; leave others as they are."""
    if type(client) is not Redis or client.single_connection_client:
        return scripts
    # The portal's pool for a plain Redis keeps a connection for the scripts alone
    # (waitroom.direct); any other pool shares its connections.
    own = getattr(client.connection_pool, "script_connection", None)
    pipeline: Submits = (own() if own is not None else None) \
        or AutoPipeline(client.connection_pool)
    return {name: PipelinedScript(script, pipeline) for name, script in scripts.items()}
