"""The slot offered instead of a long wait: one query per wait band, whoever asks."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from starlette.testclient import TestClient

from portal.visitor.offers import OFFER_WHEN_WAIT_OVER, offer_for_wait


def test_a_burst_of_long_waits_asks_the_database_once(app, slots) -> None:  # noqa: F811
    statements: list[str] = []
    with TestClient(app) as client:
        event.listen(app.state.portal.engine, "before_cursor_execute",
                     lambda conn, cursor, statement, *rest: statements.append(statement))
        state = app.state.portal

        async def ask(wait: int, times: int) -> list[Any]:
            return await asyncio.gather(*(offer_for_wait(state, wait)
                                          for _ in range(times)))

        single = client.portal.call(ask, OFFER_WHEN_WAIT_OVER, 1)  # type: ignore[union-attr]
        one_query = len(statements)
        burst = client.portal.call(ask, OFFER_WHEN_WAIT_OVER + 1800, 50)  # type: ignore[union-attr]
        cached = client.portal.call(ask, OFFER_WHEN_WAIT_OVER + 1800, 5)  # type: ignore[union-attr]
    assert one_query > 0 and single[0] is not None
    # Fifty visitors with a longer wait: no query at all (the free slots read once serve
    # every wait for half a minute), and the same offer for all.
    assert len(statements) == one_query
    assert all(offer == burst[0] for offer in burst) and burst[0] is not None
    assert cached == burst[:5]


def test_short_waits_get_no_offer(app) -> None:
    async def ask() -> Any:
        return await offer_for_wait(app.state.portal, OFFER_WHEN_WAIT_OVER - 1)

    assert asyncio.run(ask()) is None
