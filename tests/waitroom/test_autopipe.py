"""Automatic pipelining of script calls: same answers as one by one, in order, errors apart."""

from __future__ import annotations

import asyncio

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tests.support.servers import free_port
from waitroom.autopipe import (
    MAX_BATCH,
    AutoPipeline,
    PipelinedScript,
    pack_command,
    pipelined_scripts,
)
from waitroom.scripts import register_scripts

ECHO = "return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}"
FAIL_ON_X = "if ARGV[1] == 'x' then return redis.error_reply('ERR no x') end return ARGV[1]"

pytestmark = pytest.mark.anyio

parts = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=40),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
)


@given(st.lists(parts, max_size=25))
@settings(max_examples=200)
def test_packing_matches_redis_py(args: list[bytes | str | int]) -> None:
    # (redis-py splits a command name with spaces in it; ours are single words)
    expected = b"".join(Connection().pack_command("EVALSHA", *args))
    assert pack_command("EVALSHA", *args) == expected


def test_floats_and_other_types() -> None:
    assert pack_command("SET", "k", 1.5) == b"".join(Connection().pack_command("SET", "k", 1.5))
    with pytest.raises(TypeError):
        pack_command("SET", "k", None)  # type: ignore[arg-type]


def _client(url: str) -> Redis:
    return Redis.from_url(url)


async def test_concurrent_calls_run_in_the_order_they_were_made(
    redis_client: redis.Redis, redis_url: str
) -> None:
    client = _client(redis_url)
    burst = 2 * MAX_BATCH + 10
    try:
        script = pipelined_scripts(client, {"echo": client.register_script(ECHO)})["echo"]
        assert isinstance(script, PipelinedScript)
        # On a server that has not seen the script yet, and in a burst larger than one
        # write carries, every call still gets its own answer...
        first = await asyncio.gather(*(script(keys=["{t}:a"], args=[i]) for i in range(burst)))
        # ...and once it is loaded, the calls that share a write run in the order made.
        replies = await asyncio.gather(*(script(keys=["{t}:n"], args=[i])
                                         for i in range(MAX_BATCH)))
    finally:
        await client.aclose()
    assert [int(arg) for _, arg, _ in first] == list(range(burst))
    assert sorted(count for _, _, count in first) == list(range(1, burst + 1))
    assert [int(arg) for _, arg, _ in replies] == list(range(MAX_BATCH))
    assert [count for _, _, count in replies] == list(range(1, MAX_BATCH + 1))
    assert redis_client.get("{t}:n") == str(MAX_BATCH).encode()


async def test_an_error_reply_fails_only_its_own_call(
    redis_client: redis.Redis, redis_url: str
) -> None:
    client = _client(redis_url)
    try:
        script = PipelinedScript(client.register_script(FAIL_ON_X),
                                 AutoPipeline(client.connection_pool))
        results = await asyncio.gather(*(script(args=[a]) for a in ["a", "x", "b"]),
                                       return_exceptions=True)
        assert results[0] == b"a" and results[2] == b"b"
        assert isinstance(results[1], ResponseError) and "no x" in str(results[1])
        # The connection is still in step: the next calls answer correctly.
        assert await script(args=["c"]) == b"c"
    finally:
        await client.aclose()


async def test_scripts_come_back_after_script_flush(
    redis_client: redis.Redis, redis_url: str
) -> None:
    client = _client(redis_url)
    try:
        echo = pipelined_scripts(client, {"echo": client.register_script(ECHO)})["echo"]
        await echo(keys=["{t}:m"], args=["first"])
        redis_client.script_flush()
        second = await asyncio.gather(echo(keys=["{t}:m"], args=["a"]),
                                      echo(keys=["{t}:m"], args=["b"]))
    finally:
        await client.aclose()
    assert sorted(count for _, _, count in second) == [2, 3]


async def test_a_killed_connection_is_replaced(redis_client: redis.Redis, redis_url: str) -> None:
    client = _client(redis_url)
    try:
        echo = pipelined_scripts(client, {"echo": client.register_script(ECHO)})["echo"]
        await echo(keys=["{t}:k"], args=["before"])
        redis_client.client_kill_filter(_type="normal", skipme=True)
        _, _, count = await echo(keys=["{t}:k"], args=["after"])
    finally:
        await client.aclose()
    assert count == 2


async def test_an_unreachable_server_raises_connection_error() -> None:
    client = _client(f"redis://127.0.0.1:{free_port()}/0")
    try:
        echo = pipelined_scripts(client, {"echo": client.register_script(ECHO)})["echo"]
        with pytest.raises(RedisConnectionError):
            await asyncio.gather(echo(keys=["k"], args=["a"]), echo(keys=["k"], args=["b"]))
    finally:
        await client.aclose()


def test_only_plain_asyncio_clients_are_pipelined(redis_url: str) -> None:
    sync_client = redis.Redis.from_url(redis_url)
    single = Redis.from_url(redis_url, single_connection_client=True)
    plain = Redis.from_url(redis_url)
    try:
        assert not isinstance(register_scripts(sync_client).join, PipelinedScript)
        assert not isinstance(register_scripts(single).join, PipelinedScript)
        assert isinstance(register_scripts(plain).join, PipelinedScript)
    finally:
        sync_client.close()
