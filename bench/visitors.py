"""Visitors of the real portal: the requests they send and a crowd made ahead of a run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bench.client import Connection, Reply, build_request

BROWSER_COOKIE = "antrean_b"
SESSION_COOKIE = "antrean_s"


@dataclass(frozen=True)
class Visitor:
    """A visitor who joined: their queue token and the browser secret it is bound to."""

    token: str
    browser: str
    state: str


def join_request(host: str) -> bytes:
    """``POST /api/v1/queue/join`` from a browser without cookies: a new visitor each time."""
    return build_request("POST", "/api/v1/queue/join", host=host, body=b"{}")


def status_request(host: str, visitor: Visitor) -> bytes:
    """``GET /api/v1/queue/{token}`` as the visitor's own browser."""
    return build_request("GET", f"/api/v1/queue/{visitor.token}", host=host,
                         cookies={BROWSER_COOKIE: visitor.browser})


def enter_request(host: str, visitor: Visitor) -> bytes:
    """``POST /api/v1/queue/{token}/enter``: claim an admission."""
    return build_request("POST", f"/api/v1/queue/{visitor.token}/enter", host=host, body=b"{}",
                         cookies={BROWSER_COOKIE: visitor.browser})


def finish_request(host: str, visitor: Visitor, session: str) -> bytes:
    """``POST /api/v1/session/finish``: leave the form, freeing a place."""
    return build_request("POST", "/api/v1/session/finish", host=host, body=b"{}",
                         cookies={BROWSER_COOKIE: visitor.browser, SESSION_COOKIE: session})


def visitor_of(reply: Reply) -> Visitor:
    """The visitor a successful join reply describes."""
    if reply.status not in (200, 201):
        raise RuntimeError(f"join answered {reply.status}: {reply.body[:200]!r}")
    body = reply.json()
    return Visitor(body["token"], reply.cookies()[BROWSER_COOKIE], body["state"])


async def join_visitors(host: str, port: int, count: int, connections: int = 16) -> list[Visitor]:
    """Join ``count`` new visitors through the API, ``connections`` at a time."""
    request = join_request(host)
    visitors: list[Visitor] = []

    async def joiner(share: int) -> None:
        conn = await Connection.open(host, port)
        try:
            for _ in range(share):
                visitors.append(visitor_of(await conn.exchange(request)))
        finally:
            await conn.close()

    shares = [count // connections + (1 if i < count % connections else 0)
              for i in range(connections)]
    await asyncio.gather(*(joiner(share) for share in shares if share))
    return visitors
