"""The background loop of ``antrean run`` while its Redis goes away and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from portal.cli.run import migrate, stop_if_cancelled, tick_loop
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


def test_a_stop_that_a_step_turned_into_an_error_still_stops_the_loop() -> None:
    # What Python 3.11's asyncio.timeout does when a cancellation meets its own expiry:
    # the step ends with TimeoutError, the cancellation is still counted on the task.
    async def step_swallowing_the_stop() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            raise TimeoutError from None

    async def loop() -> int:
        steps = 0
        while steps < 100:
            steps += 1
            try:
                await step_swallowing_the_stop()
            except Exception as exc:
                stop_if_cancelled(exc)
        return steps

    async def main() -> None:
        task = asyncio.create_task(loop())
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled()

    asyncio.run(main())
