"""The client's address: the TCP peer, or what trusted proxies say it was.

Behind a load balancer the TCP peer is the balancer. Its ``Forwarded`` (RFC 7239)
or ``X-Forwarded-For`` header names the hops a request came through, the client
first; anyone can write such a header, so it is read only when the peer is one
of ``ANTREAN_TRUSTED_PROXIES``, and only from the right: each trusted proxy
appends the address it saw, so the first address from the right that is not a
trusted proxy is the client, and everything left of it may be made up. A value
that cannot be read is never believed: the answer is then the last trusted hop.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import Scope

from portal.environment import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "-"
# IPv6 users are handed a whole /64 each: counting its addresses apart would let
# one person join as 2^64 different addresses.
IPV6_LIMIT_PREFIX = 64


def parse_address(text: str) -> Address | None:
    """An IP address (IPv4-mapped IPv6 read as IPv4), or None when ``text`` is not one."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: Address, trusted: Sequence[Network]) -> bool:
    """Whether an address lies in one of the trusted proxies' ranges."""
    return any(address.version == network.version and address in network
               for network in trusted)


@lru_cache(maxsize=4096)
def trusted_peer(peer: str, trusted: tuple[Network, ...]) -> bool:
    """Whether a connection's peer (the address text the server gives) is a trusted proxy.

    Kept for the peers seen lately: behind a balancer every request asks it of the same
    one or two addresses, and reading one takes microseconds.
    """
    address = parse_address(peer)
    return address is not None and is_trusted(address, trusted)


def _hop(text: str) -> Address | None:
    """One node of a forwarding header: ``192.0.2.1``, ``192.0.2.1:80``, ``[2001:db8::1]:80``,
    or a bare IPv6 address; None for anything else (``unknown``, obfuscated names, junk)."""
    text = text.strip()
    if text.startswith("["):
        inside, bracket, port = text[1:].partition("]")
        if not bracket or (port and not (port.startswith(":") and port[1:].isdigit())):
            return None
        address = parse_address(inside)
        return address if isinstance(address, ipaddress.IPv6Address) else None
    if text.count(":") == 1:  # IPv4 with a port
        host, port = text.split(":")
        if not port.isdigit():
            return None
        address = parse_address(host)
        return address if isinstance(address, ipaddress.IPv4Address) else None
    return parse_address(text)


def _split_outside_quotes(text: str, separator: str) -> list[str] | None:
    """Split on ``separator`` except inside quoted strings; None when a quote is left open."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted or escaped:
        return None
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str | None:
    if not value.startswith('"'):
        return value if '"' not in value else None
    if len(value) < 2 or not value.endswith('"'):
        return None
    inner, result, escaped = value[1:-1], [], False
    for char in inner:
        if escaped:
            result.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            result.append(char)
    return "".join(result)


def forwarded_hops(values: Iterable[str]) -> list[str | None]:
    """The ``for=`` node of each element of ``Forwarded`` headers, client first.

    An element without a readable ``for=`` is None: it stands for a hop that
    cannot be trusted, so the walk stops there.
    """
    hops: list[str | None] = []
    for value in values:
        elements = _split_outside_quotes(value, ",")
        if elements is None:
            hops.append(None)
            continue
        for element in elements:
            if not element.strip():
                continue
            node: str | None = None
            pairs = _split_outside_quotes(element, ";") or []
            for pair in pairs:
                name, equals, raw = pair.strip().partition("=")
                if equals and name.strip().lower() == "for":
                    node = _unquote(raw.strip())
                    break
            hops.append(node)
    return hops


def forwarded_for_hops(values: Iterable[str]) -> list[str | None]:
    """The addresses of ``X-Forwarded-For`` headers, client first."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def resolve_client(peer: str | None, trusted: Sequence[Network], *,
                   forwarded: Sequence[str] = (), x_forwarded_for: Sequence[str] = ()) -> str:
    """The client's address for a request from ``peer`` with these forwarding headers.

    The peer itself unless it is a trusted proxy; then the first untrusted address
    of ``Forwarded`` (or, without it, ``X-Forwarded-For``) read from the right. An
    unreadable hop ends the walk at the last trusted one.
    """
    if not peer:
        return UNKNOWN
    address = parse_address(peer)
    if address is None or not trusted or not is_trusted(address, trusted):
        return str(address) if address is not None else peer
    hops = forwarded_hops(forwarded) if forwarded else forwarded_for_hops(x_forwarded_for)
    last_trusted = address
    for raw in reversed(hops):
        hop = _hop(raw) if raw is not None else None
        if hop is None:
            break
        if not is_trusted(hop, trusted):
            return str(hop)
        last_trusted = hop
    return str(last_trusted)


def client_address(connection: HTTPConnection, trusted: Sequence[Network]) -> str:
    """The client address of a request under the trusted proxies ("-" when unknown)."""
    return scope_client_address(connection.scope, trusted)


def scope_client_address(scope: Scope, trusted: Sequence[Network]) -> str:
    """``client_address`` of an ASGI scope, for code that has no Request."""
    client = scope.get("client")
    peer = client[0] if client else None
    if not trusted:  # the usual case when nothing is in front: no header is even read
        return peer or UNKNOWN
    headers = Headers(scope=scope)
    return resolve_client(peer, trusted, forwarded=headers.getlist("forwarded"),
                          x_forwarded_for=headers.getlist("x-forwarded-for"))


def limit_key(address: str) -> str:
    """What a per-address limit counts: the address, or its /64 for IPv6."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((parsed, IPV6_LIMIT_PREFIX), strict=False)
        return str(network)
    return str(parsed) if parsed is not None else address


@lru_cache(maxsize=65536)
def limit_hash(address: str) -> str:
    """A short hash of what a per-address limit counts (the address itself is not stored).

    Kept for the addresses seen lately: every join asks, and one office or carrier
    address asks thousands of times.
    """
    return hashlib.sha256(f"addr|{limit_key(address)}".encode()).hexdigest()[:16]
