"""The benches' tests run their simulations on the suite's Redis, under asyncio."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
