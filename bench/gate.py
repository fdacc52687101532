"""``python -m bench.gate``: how far the join gate slows one program opening places in a loop.

A real portal process (uvicorn, the default join bucket: 120 at once, 60 a minute
per address) behind a trusted proxy address, and one client that asks for a new
place with a new browser cookie as fast as it can, solving every proof of work it
is asked for (in Python, on one core: a browser's JavaScript is slower, a
determined bot's native code faster). The baseline is the same loop against the
same server with the gate opened wide (a bucket nobody empties), measured in the
same run. The table shows places per minute in each stretch of the run and the
proof sizes asked for.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.servers import PrivateRedis, UvicornServer
from portal.db import create_db_engine, upgrade
from waitroom.proof import solve

JOIN = "/api/v1/queue/join"
ADDRESS = "198.51.100.7"  # the one address the loop comes from (forwarded by the proxy)


def loop(url: str, seconds: float, stretch: float) -> list[tuple[int, int, int]]:
    """Open places for ``seconds``; per stretch: (places, proofs solved, most bits asked)."""
    rows: list[tuple[int, int, int]] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        started = time.monotonic()
        places = proofs = bits = 0
        end_of_stretch = stretch
        while (elapsed := time.monotonic() - started) < seconds:
            if elapsed >= end_of_stretch:
                rows.append((places, proofs, bits))
                places = proofs = bits = 0
                end_of_stretch += stretch
            headers = {"cookie": f"antrean_b={secrets.token_urlsafe(16)}",
                       "x-forwarded-for": ADDRESS}
            response = client.post(JOIN, json={}, headers=headers)
            if response.status_code == 429 and "challenge" in response.json()["error"]:
                challenge = response.json()["error"]["challenge"]
                bits = max(bits, int(challenge["bits"]))
                nonce = solve(challenge["challenge"], int(challenge["bits"]))
                proofs += 1
                response = client.post(JOIN, headers=headers, json={
                    "proof": {"challenge": challenge["challenge"], "nonce": nonce}})
            if response.status_code == 201:
                places += 1
        rows.append((places, proofs, bits))
    return rows


def server_env(tmp: Path, redis_url: str, room: str, **extra: str) -> dict[str, str]:
    """A portal process on the bench's Redis and a fresh SQLite file."""
    database = tmp / f"{room}.db"
    engine = create_db_engine(f"sqlite:///{database}")
    upgrade(engine)
    engine.dispose()
    return {"ANTREAN_ENV": "test", "ANTREAN_REDIS_URL": redis_url,
            "ANTREAN_DATABASE_URL": f"sqlite:///{database}",
            "ANTREAN_VAR_DIR": str(tmp / "var"), "ANTREAN_ROOM": room,
            "ANTREAN_MAX_ACTIVE": "10", "ANTREAN_TRUSTED_PROXIES": "127.0.0.1/32",
            **extra}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gate", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="how long the gated loop runs (default 60)")
    parser.add_argument("--stretch", type=float, default=10.0,
                        help="seconds per row of the table (default 10)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="antrean-bench-gate-") as name, \
            contextlib.ExitStack() as stack:
        tmp = Path(name)
        redis_server = PrivateRedis(tmp / "redis")
        stack.callback(redis_server.stop)
        servers = {}
        for room, extra in (("open", {"ANTREAN_JOIN_BURST": "1000000000",
                                      "ANTREAN_JOIN_RATE_PER_MINUTE": "1000000000"}),
                            ("gated", {})):
            server = UvicornServer(room, "portal.asgi:app_from_env", factory=True,
                                   env=server_env(tmp, redis_server.url, room, **extra),
                                   ready_path="/healthz")
            stack.callback(server.stop)
            servers[room] = server
        baseline_seconds = min(args.stretch, args.seconds)
        [(open_places, _, _)] = loop(servers["open"].url, baseline_seconds, baseline_seconds)
        rows = loop(servers["gated"].url, args.seconds, args.stretch)
    open_rate = open_places * 60 / baseline_seconds
    print(f"\nOne client in a loop, one address; baseline without a gate: "
          f"{open_rate:,.0f} places/min (measured over {baseline_seconds:.0f} s)\n")
    print(f"{'seconds':>11} {'places':>7} {'per min':>8} {'of base':>8} {'proofs':>7} "
          f"{'bits':>5}")
    total = 0
    for index, (places, proofs, bits) in enumerate(rows):
        start, end = index * args.stretch, min(args.seconds, (index + 1) * args.stretch)
        rate = places * 60 / max(end - start, 1e-9)
        total += places
        print(f"{start:>5.0f}-{end:<5.0f} {places:>7} {rate:>8.0f} "
              f"{rate / open_rate if open_rate else 0:>8.1%} {proofs:>7} {bits or '-':>5}")
    print(f"\nin all: {total} places in {args.seconds:.0f} s "
          f"({total * 60 / args.seconds:.0f}/min); the bucket alone allows 120 at once "
          f"and 60 a minute")
    return 0


if __name__ == "__main__":
    sys.exit(main())
