"""Request heads are held to a deadline: a client trickling its headers is cut off.

The rule itself is checked with plain numbers; the server is checked with real
sockets against real server processes: the one ``antrean run`` starts
(``web_command``, httptools' parser) and the same launcher on h11's parser. The
bounds come from the header timeout the servers are given, never from how fast
this machine is: a head is never cut before its timeout (less a margin for the
scheduler), and a cut head is cut well within twice its timeout.
"""

from __future__ import annotations

import select
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.cli.run import web_command
from portal.header_deadline import BYTES_PER_EXTRA_SECOND, head_deadline
from portal.settings import Settings
from tests.support.servers import LiveServer, live_env

TIMEOUT = 2  # the servers' ANTREAN_HEADER_TIMEOUT_SECONDS
EARLIEST = TIMEOUT - 0.5  # a cut before this would be a cut before the timeout
LATEST = 2 * TIMEOUT + 6  # the longest a head may take (twice the timeout), and slack
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: antrean.test\r\n\r\n"
SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: antrean.test\r\nX-Padding: " + b"a" * 200


@given(started=st.floats(0, 1e6), received=st.integers(0, 10**7),
       timeout=st.integers(1, 300))
def test_a_head_has_its_timeout_and_at_most_twice_it(started: float, received: int,
                                                      timeout: int) -> None:
    deadline = head_deadline(started, received, timeout)
    assert started + timeout <= deadline <= started + 2 * timeout
    # every 500 bytes earn one second, until the cap
    assert head_deadline(started, received + BYTES_PER_EXTRA_SECOND, timeout) == pytest.approx(
        min(deadline + 1, started + 2 * timeout), abs=1e-6)  # floats: not bit for bit


def test_bytes_earn_whole_seconds_only() -> None:
    assert head_deadline(100.0, 0, 20) == 120.0
    assert head_deadline(100.0, 499, 20) == 120.0
    assert head_deadline(100.0, 500, 20) == 121.0
    assert head_deadline(100.0, 10_000, 20) == 140.0
    assert head_deadline(100.0, 10**9, 20) == 140.0


def launcher(port: int) -> list[str]:
    """The web server ``antrean run`` starts, on ``port``."""
    return web_command(Settings(host="127.0.0.1", port=port, web_workers=1))


def h11_launcher(port: int) -> list[str]:
    """The same launcher, serving with h11's parser (as without httptools)."""
    program = ("import dataclasses, sys\n"
               "from portal.header_deadline import H11HeaderDeadline\n"
               "from portal.serve import serve\n"
               "from portal.settings import Settings\n"
               "settings = dataclasses.replace(Settings.from_env(), host='127.0.0.1',"
               " port=int(sys.argv[1]))\n"
               "serve(settings, H11HeaderDeadline)\n")
    return [sys.executable, "-c", program, str(port)]


LAUNCHERS: dict[str, Callable[[int], list[str]]] = {"httptools": launcher, "h11": h11_launcher}


@pytest.fixture(scope="module", params=sorted(LAUNCHERS))
def server(request: pytest.FixtureRequest, redis_url: str, migrated_sqlite: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp_path = tmp_path_factory.mktemp("heads")
    shutil.copyfile(migrated_sqlite, tmp_path / "antrean.db")
    env = live_env(redis_url, f"sqlite:///{tmp_path / 'antrean.db'}", tmp_path,
                   ANTREAN_HEADER_TIMEOUT_SECONDS=str(TIMEOUT))
    live = LiveServer(env, log=tmp_path / "server.log", command=LAUNCHERS[request.param])
    yield live
    live.stop()


def connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=LATEST)


def drip(sockets: list[socket.socket], data: bytes, every: float,
         give_up: float = LATEST) -> dict[socket.socket, tuple[float, bytes]]:
    """Send ``data`` to each socket a byte every ``every`` seconds until the server closes it.

    Returns, per socket, the seconds from its first byte to its end and what the
    server answered; fails if one is still open after ``give_up`` seconds.
    """
    started = time.monotonic()
    next_byte, sent = started, 0
    open_ = set(sockets)
    answers = {sock: b"" for sock in sockets}
    ended: dict[socket.socket, tuple[float, bytes]] = {}
    while open_ and time.monotonic() - started < give_up:
        if sent < len(data) and time.monotonic() >= next_byte:
            for sock in open_:
                try:
                    sock.sendall(data[sent:sent + 1])
                except OSError:
                    pass  # closed by the server: its answer is read below
            sent, next_byte = sent + 1, next_byte + every
        wait = max(0.0, min(next_byte - time.monotonic(), 0.1))
        readable, _, _ = select.select(list(open_), [], [], wait)
        for sock in readable:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                answers[sock] += chunk
            else:
                ended[sock] = (time.monotonic() - started, answers[sock])
                open_.discard(sock)
    assert not open_, f"{len(open_)} of {len(sockets)} still open after {give_up} s"
    return ended


def read_response(sock: socket.socket) -> bytes:
    """One whole response to a /healthz request (its head and its short body)."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        assert chunk, f"closed after {answer!r}"
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(4096)
    return answer


def assert_cut_with_408(elapsed: float, answer: bytes) -> None:
    assert EARLIEST <= elapsed <= LATEST, elapsed
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"\r\nconnection: close\r\n" in answer.lower()


def test_a_head_sent_a_byte_a_second_is_cut_at_its_deadline(server: LiveServer) -> None:
    with connect(server) as sock:
        [(elapsed, answer)] = drip([sock], SLOW_HEAD, every=1.0).values()
    assert_cut_with_408(elapsed, answer)


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
        server: LiveServer) -> None:
    with connect(server) as sock:
        [(elapsed, answer)] = drip([sock], b"", every=1.0).values()
    assert EARLIEST <= elapsed <= LATEST, elapsed
    assert answer == b""


def test_many_slow_heads_do_not_keep_a_request_from_being_answered(
        server: LiveServer) -> None:
    slow = [connect(server) for _ in range(200)]
    try:
        for sock in slow:
            sock.sendall(SLOW_HEAD[:1])
        # all two hundred heads pending, a normal request is answered
        assert httpx.get(server.url + "/healthz", timeout=TIMEOUT).status_code == 200
        ended = drip(slow, SLOW_HEAD[1:], every=1.0)
    finally:
        for sock in slow:
            sock.close()
    for elapsed, answer in ended.values():
        assert_cut_with_408(elapsed, answer)
    assert httpx.get(server.url + "/healthz", timeout=TIMEOUT).status_code == 200


def test_a_slow_head_within_its_deadline_is_served(server: LiveServer) -> None:
    with connect(server) as sock:
        for piece in range(0, len(REQUEST), 8):  # in pieces over about half the timeout
            sock.sendall(REQUEST[piece:piece + 8])
            time.sleep(TIMEOUT / 2 / (len(REQUEST) / 8))
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")


def test_a_large_head_earns_more_time(server: LiveServer) -> None:
    # 2000 bytes at once earn four seconds more (capped at twice the timeout); the
    # rest comes a byte a quarter second until the timeout itself is well past.
    padding = b"X-Padding: " + b"a" * (4 * BYTES_PER_EXTRA_SECOND) + b"\r\n"
    head, end = REQUEST[:-2], b"\r\n"
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(head + padding + b"X-Slow: ")
        while time.monotonic() - started < TIMEOUT + 0.5:
            sock.sendall(b"b")
            time.sleep(0.25)
        sock.sendall(b"\r\n" + end)
        assert time.monotonic() - started < 2 * TIMEOUT - 0.5, "the client itself was late"
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")


def test_an_idle_kept_alive_connection_is_not_cut_by_the_header_deadline(
        server: LiveServer) -> None:
    # uvicorn closes a kept-alive connection idle for 5 s (timeout_keep_alive); the
    # header deadline, shorter, must not close it sooner.
    with connect(server) as sock:
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(TIMEOUT + 1)
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")


def test_the_next_head_on_a_kept_alive_connection_is_timed_from_its_first_byte(
        server: LiveServer) -> None:
    with connect(server) as sock:
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(1)
        [(elapsed, answer)] = drip([sock], SLOW_HEAD, every=1.0).values()
    assert_cut_with_408(elapsed, answer)


def test_blank_lines_between_requests_do_not_hold_a_connection(server: LiveServer) -> None:
    # Each arrival cancels uvicorn's keep-alive timer, and httptools' parser skips
    # them without beginning a request: they are timed as a head all the same
    # (h11's parser refuses them at once).
    with connect(server) as sock:
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        drip([sock], b"\r\n" * 20, every=1.0)
