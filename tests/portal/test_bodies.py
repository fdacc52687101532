"""Request bodies are bounded while they arrive: big bodies cost the server no memory.

One real uvicorn process serves the module; each big body is generated lazily by
the client, and the server's peak resident memory (``VmHWM``, reset before each
request) is read from /proc.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from portal.bodies import (
    DOCUMENT_BODY_BYTES,
    FORM_BODY_BYTES,
    JSON_BODY_BYTES,
    ROSTER_BODY_BYTES,
    body_limit,
)
from tests.support.servers import LiveServer, live_env

BIG = 64 * 1024 * 1024
CHUNK = 64 * 1024
# What the server may grow by while it refuses a big body (a body read whole grows it
# by the body's size and more).
GROWTH_KIB = 8 * 1024


@pytest.fixture(scope="module")
def server(redis_url: str, migrated_sqlite: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp_path = tmp_path_factory.mktemp("bodies")
    shutil.copyfile(migrated_sqlite, tmp_path / "antrean.db")
    live = LiveServer(live_env(redis_url, f"sqlite:///{tmp_path / 'antrean.db'}", tmp_path))
    yield live
    live.stop()


def lazy_body(total: int) -> Iterator[bytes]:
    """``total`` bytes in chunks, made as they are sent (a chunked upload)."""
    chunk = b"a" * CHUNK
    for _ in range(total // CHUNK):
        yield chunk


def peak_growth_kib(server: LiveServer, send: object) -> tuple[httpx.Response, int]:
    """Send a request (``send()``) and return its answer and the server's peak growth."""
    pid = server.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current size
    before = _status_kib(pid, "VmRSS")
    response = send()  # type: ignore[operator]
    return response, _status_kib(pid, "VmHWM") - before


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def test_each_kind_of_route_has_its_limit() -> None:
    assert body_limit("/api/v1/bookings") == body_limit("/api/v1/queue/join") == JSON_BODY_BYTES
    assert body_limit("/booking") == body_limit("/admin/masuk") == FORM_BODY_BYTES
    assert body_limit("/formulir") == body_limit("/formulir/berkas") == DOCUMENT_BODY_BYTES
    assert body_limit("/admin/peserta/unggah") == ROSTER_BODY_BYTES


@pytest.mark.parametrize("path", ["/api/v1/bookings", "/api/v1/queue/join",
                                  "/api/v1/bookings/ABCD2345/reschedule"])
def test_a_big_chunked_json_body_is_refused_without_being_held(server: LiveServer,
                                                                 path: str) -> None:
    response, growth = peak_growth_kib(server, lambda: httpx.post(
        server.url + path, content=lazy_body(BIG),
        headers={"content-type": "application/json"}, timeout=30))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert growth < GROWTH_KIB, f"server grew by {growth} KiB for a {BIG >> 20} MB body"


def test_a_big_chunked_form_post_is_refused_without_being_held(server: LiveServer) -> None:
    response, growth = peak_growth_kib(server, lambda: httpx.post(
        server.url + "/booking", content=lazy_body(BIG),
        headers={"content-type": "application/x-www-form-urlencoded"}, timeout=30))
    assert response.status_code == 413
    assert "text/html" in response.headers["content-type"]
    assert "terlalu besar" in response.text
    assert growth < GROWTH_KIB, f"server grew by {growth} KiB for a {BIG >> 20} MB body"


def test_a_chunked_body_within_its_limit_still_reaches_the_route(server: LiveServer) -> None:
    response = httpx.post(server.url + "/api/v1/bookings",
                          content=iter([b"{", b" " * (JSON_BODY_BYTES - 2), b"}"]),
                          headers={"content-type": "application/json"}, timeout=10)
    assert response.status_code == 422  # read and checked: the fields are missing
    assert response.json()["error"]["code"] != "too_large"


@pytest.mark.parametrize("path", ["/api/v1/bookings", "/api/v1/queue/join", "/booking",
                                  "/formulir/berkas"])
def test_a_declared_oversize_body_is_answered_before_it_is_sent(server: LiveServer,
                                                                 path: str) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {200 << 20}\r\n\r\n"
                     .encode())  # not a byte of the body: the answer must come without it
        answer = b""
        while chunk := sock.recv(65536):  # the server answers and closes: nothing more sent
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
    assert b"connection: close" in rest.lower()


@pytest.fixture(scope="module")
def impatient(redis_url: str, migrated_sqlite: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    """A server that waits one second for a stalled body, its log in a file."""
    tmp_path = tmp_path_factory.mktemp("slow-bodies")
    shutil.copyfile(migrated_sqlite, tmp_path / "antrean.db")
    log = tmp_path / "server.log"
    live = LiveServer(live_env(redis_url, f"sqlite:///{tmp_path / 'antrean.db'}", tmp_path,
                               ANTREAN_BODY_TIMEOUT_SECONDS="1"), log=log)
    yield live, log
    live.stop()


def _answer(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


@pytest.mark.parametrize("path", ["/api/v1/bookings", "/api/v1/queue/join"])
def test_a_body_that_stops_arriving_is_cut_off(impatient: tuple[LiveServer, Path],
                                               path: str) -> None:
    server, _log = impatient
    for framing, first in ((b"Transfer-Encoding: chunked", b"10\r\n{\"nik\": \"360128"),
                           (b"Content-Length: 400", b"{\"nik\": \"360128")):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\n" + framing + b"\r\n\r\n" + first)
            # ... and nothing more: the server answers 408 and closes
            status_line = _answer(sock).partition(b"\r\n")[0]
        assert status_line == b"HTTP/1.1 408 Request Timeout", (framing, status_line)


def test_a_client_going_away_mid_body_is_not_an_error(impatient: tuple[LiveServer, Path]) -> None:
    server, log = impatient
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST /api/v1/bookings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"ni")
        # closed mid-body, as a phone losing its signal
    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
    written = log.read_text(errors="replace")
    assert "Traceback" not in written and "ERROR" not in written, written[-2000:]
