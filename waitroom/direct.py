"""The room's script calls on a connection of their own, their replies read as they arrive.

``waitroom.autopipe`` shares one write among the calls an event-loop turn makes,
but reads the replies back through redis-py: a connection taken from the pool
and given back per batch, and one ``read_response`` per reply, each a coroutine
with a timeout of its own. On a busy portal that reading cost more than the
calls' own work in Python. Here the pool (``ScriptPool``, the portal's pool for
a plain Redis) keeps one more connection, for the scripts alone: an asyncio
protocol that hands whatever arrives to hiredis and settles the calls' futures
in order, inside the callback that received the bytes.

What stays as redis-py does it:

- the connection is made lazily, on the first call, with the pool's settings
  (address or Unix socket, database, user and password, client name), and made
  again on the next call after it broke;
- replies are the same objects redis-py's hiredis parser gives (bytes, ints,
  lists), and error replies the same ``redis.exceptions`` classes, so
  ``NoScriptError`` still loads a script and ``ReadOnlyError`` is still a
  failover;
- a call with no reply for ``socket_timeout`` seconds fails with redis-py's
  ``TimeoutError``, a broken or refused connection with its ``ConnectionError``,
  and the connection is dropped.

A connection the server closed while it sat idle (a restart, a client timeout,
``CLIENT KILL``) is noticed only when the next write fails to be answered. As
``waitroom.autopipe`` and redis-py do, a batch none of whose calls was answered
is then sent once more on a new connection; a call is never sent a third time,
and a batch that was partly answered fails with ``ConnectionError`` (the portal
answers 503 with Retry-After). TLS, Sentinel and cluster clients keep
``waitroom.autopipe`` or redis-py's own script objects.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable
from typing import Any, cast

import hiredis
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    MasterDownError,
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from waitroom.autopipe import TurnBatches, pack_command, settle

# A packed call and its future; a Sent is one on the wire: also whether it opens its
# batch, and whether it was sent once already.
Call = tuple[bytes, "asyncio.Future[Any]"]
Sent = tuple[bytes, "asyncio.Future[Any]", bool, bool]

# The error replies that redis-py raises as classes of their own (the rest: ResponseError).
_ERRORS: dict[str, type[ResponseError] | type[RedisError]] = {
    "NOSCRIPT": NoScriptError,
    "READONLY": ReadOnlyError,
    "LOADING": BusyLoadingError,
    "MASTERDOWN": MasterDownError,
    "NOAUTH": AuthenticationError,
    "WRONGPASS": AuthenticationError,
    "NOPERM": NoPermissionError,
    "OOM": OutOfMemoryError,
}


def reply_error(message: str) -> RedisError:
    """The exception redis-py raises for an error reply (its code first, as in ``NOSCRIPT ...``):
    the codes it knows lose their code, as in redis-py; ``ERR max number of clients
    reached`` is a ConnectionError there too."""
    code, _, rest = message.partition(" ")
    if code == "ERR":
        return RedisConnectionError(rest) if rest == "max number of clients reached" \
            else ResponseError(rest)
    cls = _ERRORS.get(code)
    if cls is None:
        return ResponseError(message)
    return cls(rest)


class _Replies(asyncio.Protocol):
    """One connection: writes batches, settles their futures in order as replies arrive."""

    def __init__(self, timeout: float | None,
                 resend: Callable[[list[Sent]], None] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._resend = resend
        self._reader = hiredis.Reader(replyError=reply_error)
        self._waiting: collections.deque[Sent] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self._progress = 0.0  # when the oldest waiting call was sent, or a reply last came
        self._timer: asyncio.TimerHandle | None = None
        self.closed = asyncio.Event()
        self.usable = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.usable = True

    def send(self, batch: list[Sent]) -> None:
        """Write the calls of a batch in one write."""
        assert self._transport is not None
        if not self._waiting:
            self._progress = self._loop.time()
        self._waiting.extend(batch)
        self._transport.write(b"".join([sent[0] for sent in batch]))
        if self._timer is None and self._timeout is not None:
            self._timer = self._loop.call_at(self._progress + self._timeout, self._check)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        gets, waiting = self._reader.gets, self._waiting
        while True:
            try:
                reply = gets()
            except hiredis.ProtocolError as exc:
                self._drop(RedisConnectionError(f"Redis sent what is not its protocol: {exc}"))
                return
            if reply is False:
                break
            if not waiting:
                self._drop(RedisConnectionError("Redis sent a reply nobody asked for"))
                return
            settle(waiting.popleft()[1], reply)
        self._progress = self._loop.time()

    def _check(self) -> None:
        self._timer = None
        if not self._waiting or self._timeout is None:
            return
        left = self._progress + self._timeout - self._loop.time()
        if left <= 0:
            self._drop(RedisTimeoutError("Timeout reading from Redis"))
        else:
            self._timer = self._loop.call_later(left, self._check)

    def _drop(self, failure: RedisError) -> None:
        """Fail every waiting call and close the connection (nothing more can be read)."""
        self.usable = False
        self._fail(failure)
        if self._transport is not None:
            self._transport.abort()

    def _fail(self, failure: RedisError) -> None:
        while self._waiting:
            settle(self._waiting.popleft()[1], failure)

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # The batches none of whose calls was answered go once more (see the module);
        # the rest of a batch that was partly answered fails with the others.
        again: list[Sent] = []
        untouched = False
        for packed, future, first, resent in self._waiting:
            untouched = first or untouched
            if untouched and not resent and self._resend is not None and not future.done():
                again.append((packed, future, first, True))
        if again:
            retried = {id(sent[1]) for sent in again}
            self._waiting = collections.deque(
                sent for sent in self._waiting if id(sent[1]) not in retried)
        self._fail(RedisConnectionError(
            f"Connection to Redis lost: {exc}" if exc else "Connection closed by server."))
        self.closed.set()
        if again and self._resend is not None:
            self._resend(again)

    def close(self) -> None:
        """Close the connection; calls still waiting fail with ConnectionError."""
        self.usable = False
        self._resend = None  # closed on purpose: nothing goes again
        if self._transport is not None:
            self._transport.close()


class ScriptConnection(TurnBatches):
    """Writes the script calls of one event-loop turn in one write on the connection it
    keeps (see the module); the same ``submit`` as ``AutoPipeline``."""

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__()
        self._options = options
        self._replies: _Replies | None = None
        self._waiting_for_connection: list[list[Sent]] = []
        self._connecting: asyncio.Task[None] | None = None

    def write_batch(self, batch: list[Call]) -> None:
        """Write one batch as soon as the connection is there."""
        self._send([(packed, future, i == 0, False) for i, (packed, future) in enumerate(batch)])

    def _send(self, batch: list[Sent]) -> None:
        replies = self._replies
        if replies is not None and replies.usable:
            replies.send(batch)
            return
        self._waiting_for_connection.append(batch)
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())

    def _send_again(self, calls: list[Sent]) -> None:
        """The calls of a lost connection that go once more, as one batch of their own."""
        self._send([(packed, future, i == 0, True)
                    for i, (packed, future, _, _) in enumerate(calls)])

    async def _connect(self) -> None:
        try:
            replies = await self._open()
        except BaseException as exc:
            failure = exc if isinstance(exc, RedisError) else RedisConnectionError(
                f"Error connecting to Redis: {exc}")
            batches, self._waiting_for_connection = self._waiting_for_connection, []
            for batch in batches:
                for _, future, _, _ in batch:
                    settle(future, failure)
            if not isinstance(exc, Exception):
                raise
        else:
            self._replies = replies
            batches, self._waiting_for_connection = self._waiting_for_connection, []
            for batch in batches:
                replies.send(batch)
        finally:
            self._connecting = None

    async def _open(self) -> _Replies:
        options = self._options
        loop = asyncio.get_running_loop()
        replies = _Replies(options.get("socket_timeout"), self._send_again)
        where = options.get("path") or f"{options.get('host', 'localhost')}:" \
                                        f"{options.get('port', 6379)}"
        try:
            async with asyncio.timeout(options.get("socket_connect_timeout")):
                if options.get("path"):
                    await loop.create_unix_connection(lambda: replies, options["path"])
                else:
                    await loop.create_connection(lambda: replies,
                                                 options.get("host", "localhost"),
                                                 int(options.get("port", 6379)))
        except TimeoutError as exc:
            raise RedisTimeoutError(f"Timeout connecting to Redis at {where}") from exc
        except OSError as exc:
            raise RedisConnectionError(f"Error connecting to Redis at {where}: {exc}") from exc
        try:
            await self._hello(replies)
        except BaseException:
            replies.close()
            raise
        return replies

    async def _hello(self, replies: _Replies) -> None:
        """What redis-py sends on a new connection: AUTH, SELECT, CLIENT SETNAME."""
        options = self._options
        commands: list[bytes] = []
        if options.get("password") is not None:
            user = options.get("username")
            commands.append(pack_command("AUTH", *((user,) if user else ()),
                                         options["password"]))
        if options.get("db"):
            commands.append(pack_command("SELECT", int(options["db"])))
        if options.get("client_name"):
            commands.append(pack_command("CLIENT", "SETNAME", options["client_name"]))
        if not commands:
            return
        loop = asyncio.get_running_loop()
        batch: list[Sent] = [(command, loop.create_future(), i == 0, True)
                             for i, command in enumerate(commands)]
        replies.send(batch)
        for _, future, _, _ in batch:
            await future  # raises the error reply (a wrong password, a database out of range)

    async def aclose(self) -> None:
        """Close the connection (a later call opens a new one)."""
        replies, self._replies = self._replies, None
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(BaseException):
                await self._connecting
        if replies is not None:
            replies.close()
            await replies.closed.wait()


# The connection classes whose settings ScriptConnection knows how to repeat.
_PLAIN = (Connection, UnixDomainSocketConnection)


class ScriptPool(BlockingConnectionPool):
    """The portal's pool for a plain Redis: redis-py's blocking pool, plus the scripts'
    own connection (``script_connection``), closed when the pool disconnects."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._script_connection: ScriptConnection | None = None

    def script_connection(self) -> ScriptConnection | None:
        """The scripts' connection; None when this pool's connections are of a kind it does
        not repeat (TLS, a credential provider, RESP3), which keep ``waitroom.autopipe``."""
        if self.connection_class not in _PLAIN:
            return None
        options = self.connection_kwargs
        if options.get("credential_provider") is not None \
                or options.get("protocol") not in (None, 2, "2"):
            return None
        if self._script_connection is None:
            self._script_connection = ScriptConnection(dict(options))
        return self._script_connection

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if self._script_connection is not None:
            await self._script_connection.aclose()
