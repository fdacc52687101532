"""A minimal HTTP/1.1 keep-alive client on raw asyncio streams (fast enough to not be the limit)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any


class ProtocolError(Exception):
    """The server answered something this client does not understand."""


@dataclass(frozen=True)
class Reply:
    """One HTTP response: status, raw header block and body."""

    status: int
    head: bytes
    body: bytes

    def cookies(self) -> dict[str, str]:
        """Cookies the response sets (name -> value)."""
        found: dict[str, str] = {}
        for line in self.head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"set-cookie":
                pair = value.strip().split(b";", 1)[0].decode("latin-1")
                key, _, cookie = pair.partition("=")
                found[key] = cookie.strip('"')
        return found

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def build_request(
    method: str,
    path: str,
    *,
    host: str,
    body: bytes | None = None,
    cookies: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> bytes:
    """Encode one keep-alive request, ready to be written as is."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: antrean-bench"]
    if cookies:
        lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
    if body is not None:
        lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class Connection:
    """One keep-alive connection that exchanges one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        """Connect to ``host:port``."""
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> Reply:
        """Send a prepared request and read its whole response."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        at = head.lower().find(b"\r\ncontent-length:")
        if at < 0:
            raise ProtocolError("response without Content-Length")
        end = head.index(b"\r\n", at + 2)
        length = int(head[at + 17 : end])
        body = await self.reader.readexactly(length) if length else b""
        return Reply(status, head, body)

    async def close(self) -> None:
        """Close the connection, ignoring a peer that is already gone."""
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
