"""The scripts' own connection (waitroom.direct): redis-py's answers, settings and failures.

Against real Redis servers, and against small TCP servers of the test's own where a
Redis cannot be made to misbehave on cue (no reply, a reply then a hang-up).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.support.redis_servers import RedisProcess, redis_server_binary
from waitroom.autopipe import PipelinedScript, pipelined_scripts
from waitroom.direct import ScriptConnection, ScriptPool, reply_error

pytestmark = pytest.mark.anyio

ECHO = "return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}"
SHAPES = """
local n = tonumber(ARGV[2])
return {ARGV[1], n, {ARGV[1], {n}}, redis.status_reply('OK'), false,
        {redis.error_reply('ERR nested ' .. ARGV[1])}}
"""
needs_server = pytest.mark.skipif(redis_server_binary() is None,
                                  reason="needs redis-server (Debian: redis-server)")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _script_client(url: str, **options: object) -> Redis:
    return Redis.from_pool(ScriptPool.from_url(url, **options))


def _echo(client: Redis, source: str = ECHO) -> PipelinedScript:
    script = pipelined_scripts(client, {"s": client.register_script(source)})["s"]
    assert isinstance(script, PipelinedScript)
    assert isinstance(client.connection_pool, ScriptPool)
    assert isinstance(client.connection_pool.script_connection(), ScriptConnection)
    return script


@given(text=st.text(max_size=30), number=st.integers(-(2**53), 2**53))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_replies_are_the_ones_redis_py_gives(redis_client: redis.Redis, redis_url: str,
                                                   text: str, number: int) -> None:
    client = _script_client(redis_url)
    plain = Redis.from_url(redis_url)
    try:
        direct = await _echo(client, SHAPES)(keys=[], args=[text, number])
        expected = await plain.register_script(SHAPES)(keys=[], args=[text, number])
    finally:
        await client.aclose()
        await plain.aclose()
    nested_error, expected_error = direct[5][0], expected[5][0]
    assert direct[:5] == expected[:5]
    assert type(nested_error) is type(expected_error) is ResponseError
    assert str(nested_error) == str(expected_error)


def test_error_replies_are_redis_py_classes() -> None:
    from redis.exceptions import BusyLoadingError, NoScriptError, ReadOnlyError
    assert isinstance(reply_error("NOSCRIPT No matching script."), NoScriptError)
    assert isinstance(reply_error("READONLY You can't write against a read only replica."),
                      ReadOnlyError)
    assert isinstance(reply_error("LOADING Redis is loading"), BusyLoadingError)
    assert isinstance(reply_error("WRONGPASS invalid username-password pair"),
                      AuthenticationError)
    plain = reply_error("ERR unknown command")
    assert type(plain) is ResponseError and str(plain) == "unknown command"
    other = reply_error("WRONGTYPE Operation against a key holding the wrong kind of value")
    assert type(other) is ResponseError and str(other).startswith("WRONGTYPE ")
    assert type(reply_error("ERR max number of clients reached")) is RedisConnectionError


async def test_calls_of_one_turn_share_a_write_and_keep_their_order(
    redis_client: redis.Redis, redis_url: str
) -> None:
    client = _script_client(redis_url, client_name="antrean-direct-order")
    try:
        echo = _echo(client)
        first = await asyncio.gather(*(echo(keys=["{d}:a"], args=[i]) for i in range(600)))
        # a caller that gave up does not take anybody else's reply
        gone = asyncio.ensure_future(echo(keys=["{d}:b"], args=["gone"]))
        kept = asyncio.ensure_future(echo(keys=["{d}:b"], args=["kept"]))
        await asyncio.sleep(0)
        gone.cancel()
        assert (await kept)[1] == b"kept"
        assert (await echo(keys=["{d}:b"], args=["after"]))[1] == b"after"
        named = [entry for entry in redis_client.client_list()
                 if entry.get("name") == "antrean-direct-order"]
    finally:
        await client.aclose()
    assert [int(arg) for _, arg, _ in first] == list(range(600))
    assert [count for _, _, count in first] == list(range(1, 601))
    # one connection carried them all (the pool's would carry the same name)
    assert len(named) == 1


async def test_scripts_are_loaded_again_on_their_own_connection(
    redis_client: redis.Redis, redis_url: str
) -> None:
    client = _script_client(redis_url)
    try:
        echo = _echo(client)
        await echo(keys=["{d}:m"], args=["first"])
        redis_client.script_flush()
        again = await asyncio.gather(echo(keys=["{d}:m"], args=["a"]),
                                     echo(keys=["{d}:m"], args=["b"]))
    finally:
        await client.aclose()
    assert sorted(count for _, _, count in again) == [2, 3]


async def test_a_connection_the_server_closed_is_made_again(
    redis_client: redis.Redis, redis_url: str
) -> None:
    client = _script_client(redis_url)
    try:
        echo = _echo(client)
        await echo(keys=["{d}:k"], args=["before"])
        redis_client.client_kill_filter(_type="normal", skipme=True)
        _, _, count = await echo(keys=["{d}:k"], args=["after"])
    finally:
        await client.aclose()
    assert count == 2  # sent once more on a new connection, run once


async def test_closing_the_client_closes_the_scripts_connection(
    redis_client: redis.Redis, redis_url: str
) -> None:
    before = len(redis_client.client_list())
    client = _script_client(redis_url, client_name="antrean-direct-test")
    echo = _echo(client)
    await echo(keys=["{d}:c"], args=["x"])
    named = [entry for entry in redis_client.client_list()
             if entry.get("name") == "antrean-direct-test"]
    await client.aclose()
    for _ in range(50):
        if len(redis_client.client_list()) <= before:
            break
        await asyncio.sleep(0.02)
    assert len(named) == 1  # the client name is set, as redis-py sets it
    assert len(redis_client.client_list()) <= before


@needs_server
async def test_the_connection_selects_its_database_and_logs_in(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "acl", "--user", "portal", "on", ">s3cret", "~*", "&*",
                          "+@all")
    try:
        client = _script_client(f"redis://portal:s3cret@127.0.0.1:{server.port}/3")
        wrong = _script_client(f"redis://portal:wrong@127.0.0.1:{server.port}/3")
        try:
            await _echo(client)(keys=["{d}:db"], args=["x"])
            with pytest.raises(AuthenticationError):
                await _echo(wrong)(keys=["{d}:db"], args=["y"])
        finally:
            await client.aclose()
            await wrong.aclose()
        with redis.Redis(port=server.port, db=3) as db3, redis.Redis(port=server.port) as db0:
            assert db3.get("{d}:db") == b"1" and db0.get("{d}:db") is None
    finally:
        server.stop()


@needs_server
async def test_a_unix_socket_works_as_the_embedded_redis_uses_one(tmp_path: Path) -> None:
    socket_path = tmp_path / "redis.sock"
    server = RedisProcess(tmp_path / "unix", "--unixsocket", str(socket_path))
    try:
        client = _script_client(f"unix://{socket_path}?db=2")
        try:
            replies = await asyncio.gather(*(_echo(client)(keys=["{d}:u"], args=[i])
                                             for i in range(3)))
        finally:
            await client.aclose()
    finally:
        server.stop()
    assert [count for _, _, count in replies] == [1, 2, 3]


# A pretend Redis: it reads what is sent and does what the test says with each connection.
Behaviour = Callable[[int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Pretend = Callable[[Behaviour], Awaitable[tuple[str, list[int]]]]


@pytest.fixture
async def pretend() -> AsyncIterator[Pretend]:
    servers: list[asyncio.Server] = []

    async def start(behaviour: Behaviour) -> tuple[str, list[int]]:
        connections: list[int] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(len(connections))
            try:
                await behaviour(len(connections), reader, writer)
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0", connections

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def _read_calls(reader: asyncio.StreamReader, count: int) -> None:
    """Read ``count`` EVALSHA calls of ``ECHO`` (three arguments each, one key)."""
    for _ in range(count):
        header = await reader.readline()
        assert header.startswith(b"*")
        for _ in range(int(header[1:])):
            await reader.readline()
            await reader.readline()


async def test_a_call_no_reply_comes_for_times_out(pretend: Pretend) -> None:
    async def silent(_n: int, reader: asyncio.StreamReader, _w: asyncio.StreamWriter) -> None:
        await reader.read()  # reads, never answers

    url, _ = await pretend(silent)
    client = _script_client(url, socket_timeout=0.3)
    try:
        echo = _echo(client)
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await echo(keys=["k"], args=["a"])
        waited = time.monotonic() - started
    finally:
        await client.aclose()
    assert 0.3 <= waited < 3


async def test_a_batch_nobody_answered_goes_once_more_and_never_twice(
    pretend: Pretend
) -> None:
    async def hang_up(_n: int, reader: asyncio.StreamReader, _w: asyncio.StreamWriter) -> None:
        await _read_calls(reader, 2)  # takes the calls, then closes without a word

    url, connections = await pretend(hang_up)
    client = _script_client(url)
    try:
        echo = _echo(client)
        results = await asyncio.gather(echo(keys=["k"], args=["a"]),
                                       echo(keys=["k"], args=["b"]), return_exceptions=True)
    finally:
        await client.aclose()
    assert all(isinstance(result, RedisConnectionError) for result in results)
    assert len(connections) == 2  # the first try and one more


async def test_a_batch_answered_in_part_is_not_sent_again(
    pretend: Pretend
) -> None:
    reply = b"*3\r\n$1\r\nk\r\n$1\r\na\r\n:1\r\n"

    async def half(_n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_calls(reader, 2)
        writer.write(reply)  # answers the first call of the batch, then hangs up
        await writer.drain()

    url, connections = await pretend(half)
    client = _script_client(url)
    try:
        echo = _echo(client)
        results: list[object] = await asyncio.gather(echo(keys=["k"], args=["a"]),
                                                     echo(keys=["k"], args=["b"]),
                                                     return_exceptions=True)
        first, second = results
    finally:
        await client.aclose()
    assert first == [b"k", b"a", 1]
    assert isinstance(second, RedisConnectionError)  # it may have run: not sent again
    assert len(connections) == 1


async def test_an_unreachable_server_is_a_connection_error() -> None:
    from tests.support.servers import free_port
    client = _script_client(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    try:
        echo = _echo(client)
        with pytest.raises(RedisConnectionError):
            await asyncio.gather(echo(keys=["k"], args=["a"]), echo(keys=["k"], args=["b"]))
    finally:
        await client.aclose()


def test_pools_it_cannot_repeat_keep_the_shared_pipeline(redis_url: str) -> None:
    assert ScriptPool.from_url(redis_url).script_connection() is not None
    assert ScriptPool.from_url(redis_url.replace("redis://", "rediss://")).script_connection() \
        is None
    assert ScriptPool.from_url(redis_url, protocol=3).script_connection() is None
