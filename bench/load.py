"""The load generator: N keep-alive connections replay prepared requests for a fixed time.

It runs in its own OS process (``python -m bench.load``, spec as JSON on stdin,
result as JSON on stdout) so it never shares an interpreter with a server.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from bench.client import Connection, ProtocolError

T = TypeVar("T")


@dataclass(frozen=True)
class LoadSpec:
    """What to send where, how hard and for how long."""

    name: str
    host: str
    port: int
    requests: list[bytes]
    connections: int = 32
    duration: float = 5.0
    warmup: float = 1.0

    def to_json(self) -> str:
        """Encode for the generator process."""
        data = asdict(self)
        data["requests"] = [r.decode("latin-1") for r in self.requests]
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> LoadSpec:
        """Decode what ``to_json`` wrote."""
        data = json.loads(text)
        data["requests"] = [r.encode("latin-1") for r in data["requests"]]
        return cls(**data)


@dataclass(frozen=True)
class LoadResult:
    """Throughput and latency of one endpoint over the measured window."""

    name: str
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of an ascending list; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def _drive(
    spec: LoadSpec, index: int, window: tuple[float, float], latencies: list[float],
    statuses: Counter[str],
) -> None:
    # Connection i starts at request i and steps by the connection count, so
    # together the connections walk every prepared request (e.g. every token).
    start, end = window
    requests = spec.requests
    step = spec.connections
    position = index % len(requests)
    clock = time.perf_counter
    conn = await Connection.open(spec.host, spec.port)
    try:
        while True:
            began = clock()
            if began >= end:
                return
            try:
                reply = await conn.exchange(requests[position])
                code = str(reply.status)
            except (ConnectionError, asyncio.IncompleteReadError, ProtocolError, OSError):
                code = "conn_error"
                await conn.close()
                conn = await Connection.open(spec.host, spec.port)
            position = (position + step) % len(requests)
            if began >= start:
                latencies.append(clock() - began)
                statuses[code] += 1
    finally:
        await conn.close()


async def generate(spec: LoadSpec) -> LoadResult:
    """Run the load described by ``spec`` in this process and measure it."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    start = time.perf_counter() + spec.warmup
    window = (start, start + spec.duration)
    await asyncio.gather(
        *(_drive(spec, i, window, latencies, statuses) for i in range(spec.connections))
    )
    latencies.sort()
    errors = sum(n for code, n in statuses.items() if not code.startswith("2"))
    return LoadResult(
        name=spec.name,
        requests=len(latencies),
        errors=errors,
        seconds=spec.duration,
        rps=len(latencies) / spec.duration,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        statuses=dict(statuses),
    )


def run_in_subprocess(spec: LoadSpec, cpus: set[int] | None = None) -> LoadResult:
    """Run ``spec`` in a fresh generator process (pinned to ``cpus``) and return its result."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.load"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if cpus:
            os.sched_setaffinity(process.pid, cpus)
        out, _ = process.communicate(spec.to_json(), timeout=spec.warmup + spec.duration + 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"load generator for {spec.name} exited with {process.returncode}")
    return LoadResult(**json.loads(out))


def run_fast(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when it is installed, else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main() -> None:
    """Entry point of the generator process: spec on stdin, result on stdout."""
    spec = LoadSpec.from_json(sys.stdin.read())
    result = run_fast(generate(spec))
    sys.stdout.write(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
