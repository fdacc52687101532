"""The sample balancer answers the queue's board from memory, and nothing else."""

from __future__ import annotations

import math
import time
from pathlib import Path

import httpx
import pytest

from bench.balancer import Balancer, haproxy_binary
from tests.support.servers import LiveServer

BOARD = "/api/v1/queue/board"


def test_the_balancer_keeps_the_board_a_second_and_never_a_visitor_own_answer(
        live_server_factory, sqlite_url: str, tmp_path: Path) -> None:
    if haproxy_binary() is None:
        pytest.skip("HAProxy is not installed (Debian package haproxy)")
    server: LiveServer = live_server_factory(sqlite_url, ANTREAN_TRUSTED_PROXIES="127.0.0.1/32",
                                             ANTREAN_MAX_ACTIVE="1")
    direct = httpx.get(server.url + BOARD)
    assert direct.headers["cache-control"] == "public, max-age=1"
    balancer = Balancer(tmp_path / "lb", [f"127.0.0.1:{server.port}"] * 3)
    balancer.start()
    try:
        with httpx.Client(base_url=balancer.url, verify=balancer.tls(), timeout=10) as client:
            client.post("/api/v1/queue/join")  # holds the only place
            client.cookies.clear()
            token = client.post("/api/v1/queue/join").json()["token"]
            started = time.monotonic()
            boards = [client.get(BOARD) for _ in range(40)]
            elapsed = time.monotonic() - started
            assert all(b.status_code == 200 and b.json()["head"] >= 1 for b in boards)
            from_memory = [b for b in boards if "age" in b.headers]
            # the node is asked at most about once per second the cache keeps it
            assert len(boards) - len(from_memory) <= math.ceil(elapsed) + 1, \
                (len(from_memory), elapsed)
            own = [client.get(f"/api/v1/queue/{token}") for _ in range(5)]
            assert all(r.status_code == 200 and "age" not in r.headers
                       and r.headers["cache-control"] == "no-store" for r in own)
            # a page is never answered from the cache
            assert "age" not in client.get("/antre").headers
    finally:
        balancer.stop()
