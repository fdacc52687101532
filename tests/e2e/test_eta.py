"""The wait shown at join against the real wait: a live server, real clients, real Redis.

A burst of visitors makes a queue stand; then more join while it stands (the
steady phase). Every client polls as the page does (``poll_after_ms``), enters
at the poll that shows its turn and finishes a short session. The real wait is
from the join to the admission, which the server tells as the claim deadline
less the claim window.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time

import httpx
import pytest

MAX_ACTIVE = 6
CLAIM_WINDOW_S = 30
WARM = 30  # join at once: the queue that stands
MEASURED = 30  # join one by one while it stands
MEASURED_FROM_S = 4.0  # after the burst: some sessions have ended
MEASURED_OVER_S = 8.0
MIN_WAIT_S = 3.0


async def _visit(url: str, join_at: float, hold: float) -> tuple[float, float, int | None]:
    """Join at ``join_at``, wait as told, take the turn; (joined, admitted, eta shown)."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await asyncio.sleep(max(0.0, join_at - time.time()))
        joined = time.time()
        response = await client.post("/api/v1/queue/join")
        assert response.status_code == 201, response.text
        body = response.json()
        token, shown = body["token"], body["eta_seconds"]
        while body["state"] == "waiting":
            await asyncio.sleep(body["poll_after_ms"] / 1000)  # as waiting.js does
            response = await client.get(f"/api/v1/queue/{token}")
            assert response.status_code == 200, response.text
            body = response.json()
        assert body["state"] == "admitted", body
        admitted = body["claim_deadline_ms"] / 1000 - CLAIM_WINDOW_S
        entered = await client.post(f"/api/v1/queue/{token}/enter")
        assert entered.status_code == 200, entered.text
        await asyncio.sleep(hold)
        finished = await client.post("/api/v1/session/finish")
        assert finished.status_code == 200, finished.text
        return joined, admitted, shown


async def _crowd(url: str) -> list[tuple[float, float, int | None]]:
    rng = random.Random(7)
    start = time.time() + 1
    joins = [start] * WARM + sorted(start + MEASURED_FROM_S + rng.uniform(0, MEASURED_OVER_S)
                                    for _ in range(MEASURED))
    visits = [_visit(url, at, rng.uniform(0.3, 0.6)) for at in joins]
    return list(await asyncio.gather(*visits))[WARM:]


@pytest.mark.slow
def test_the_wait_shown_at_join_in_a_standing_queue(live_server_factory, sqlite_url: str) -> None:
    server = live_server_factory(
        sqlite_url, ANTREAN_MAX_ACTIVE=str(MAX_ACTIVE), ANTREAN_ADMIT_PER_MINUTE="100000",
        ANTREAN_CLAIM_WINDOW_SECONDS=str(CLAIM_WINDOW_S))
    started = time.monotonic()
    measured = asyncio.run(_crowd(server.url))
    errors = [abs(shown - (admitted - joined)) / (admitted - joined)
              for joined, admitted, shown in measured
              if admitted - joined >= MIN_WAIT_S and shown is not None]
    assert all(shown is not None for _, _, shown in measured)
    median = statistics.median(errors)
    took = time.monotonic() - started
    print(f"\n{len(errors)} waits of {MIN_WAIT_S:.0f} s or more in {took:.0f} s; "
          f"median error of the wait shown at join {median:.2f}")
    assert len(errors) >= MEASURED * 2 // 3
    # The model itself is held to 0.15 by the deterministic simulation
    # (tests/waitroom/test_eta.py); this run adds the machine's own scheduling noise:
    # 0.04-0.11 on an idle machine, up to 0.21 measured with both cores busy. A broken
    # estimate is off by half or more.
    assert median <= 0.25
