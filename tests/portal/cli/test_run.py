"""The background loop of ``antrean run`` while its Redis goes away and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

import pytest

from portal.cli.run import keep_stepping, migrate, tick_loop
from portal.outage import Outage
from tests.support.apps import make_settings
from tests.support.redis_servers import RedisProcess


def test_the_loop_says_once_that_redis_went_away_and_once_that_it_came_back(
        tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="antrean.run")
    server = RedisProcess(tmp_path / "redis")
    settings = make_settings(server.url, f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    migrate(settings)
    server.stop()

    async def outage() -> None:
        loop = asyncio.create_task(tick_loop(settings, interval=0.02))
        await asyncio.sleep(0.5)  # some twenty failed steps
        await asyncio.to_thread(server.start)
        await asyncio.sleep(0.5)
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop

    try:
        asyncio.run(outage())
    finally:
        server.stop()
    said = [record.getMessage() for record in caplog.records if record.name == "antrean.run"]
    assert len(said) == 2, said
    assert said[0].startswith(f"loop: Redis unreachable: ConnectionError: Error 111 connecting "
                              f"to 127.0.0.1:{server.port}.")
    assert re.fullmatch(r"loop: back after \d+ s", said[1])


async def _turned_into_an_error() -> None:
    # What Python 3.11's asyncio.timeout does when a cancellation meets its own expiry:
    # the step ends with TimeoutError, the cancellation is still counted on the task.
    try:
        await asyncio.sleep(1)
    except asyncio.CancelledError:
        raise TimeoutError from None


async def _swallowed_whole() -> None:
    # What Python 3.11's asyncio.wait_for does when the call it awaits completes as the
    # cancellation arrives: the step ends normally, the cancellation still counted.
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(1)


@pytest.mark.parametrize("lost", [_turned_into_an_error, _swallowed_whole],
                         ids=["as-an-error", "swallowed"])
def test_a_stop_a_step_lost_still_stops_the_loop(lost) -> None:
    steps = 0

    async def step() -> None:
        nonlocal steps
        steps += 1
        if steps == 3:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # the stop arrives while this step runs
            await lost()

    async def main() -> None:
        task = asyncio.create_task(
            keep_stepping(step, 0.001, Outage(logging.getLogger("test"), "loop")))
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done, f"the loop went on after the stop ({steps} steps)"
        assert task.cancelled()

    asyncio.run(main())
    assert steps == 3
