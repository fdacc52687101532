"""``python -m bench.million``: a million visitors waiting, kept informed by one machine.

The whole portal runs as one small machine runs it: the web server (``antrean web``),
the loop, the worker, Redis, and HAProxy with ``deploy/haproxy/haproxy.cfg`` in front
when it is installed. ``--visitors`` visitors join with the room's own join script (one
identifier each); the cap admits at full speed (admissions lapse unclaimed after the
claim window, so the rate limit is what binds). Then wrk replays what every waiting
page asks for, at the rates the portal tells pages to ask:

- a page within ``near`` of the front asks for its own place every
  ``poll_after_ms(position)``;
- a page further back reads the board every 45-56 s (``waitroom.board``).

With ``--prequeue`` they all join before the opening; the room then opens, the loop
draws the pre-queue's order (the time and CPU it takes are printed), and each page
works its rank out from the seed on the board (``portal/static/draw.js``): no page asks
for its own place because of the draw.

The same run then measures the old way as its baseline: every page asking for its own
place at ``poll_after_ms`` (tokens sampled across the whole queue). For each it prints
the requests per second the pages need and what was served, the CPU seconds per second
of every portal process (web, loop, worker, Redis, HAProxy), the admissions per minute
held meanwhile, and how old what a page shows is at a random moment (the board's age
when read, sampled throughout, plus the time to the page's next look).

Run alone on the machine: the load generator shares its CPUs. Exits 0 unless the bench
itself failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.balancer import Balancer, haproxy_binary
from bench.servers import ROOT, PrivateRedis, free_port, process_cpu_seconds
from bench.wrk import DONE_LUA, find_wrk
from portal.db import create_db_engine, upgrade
from waitroom.board import BOARD_POLL_MS
from waitroom.eta import poll_interval_s
from waitroom.keys import RoomKeys
from waitroom.prequeue import draw_of
from waitroom.scripts import register_scripts
from waitroom.tokens import QueueTicket, TokenSigner, binding_tag

ROOM = "million"
PREFIX = "antrean"
SECRET = secrets.token_urlsafe(32)
WARM_S = 8  # seconds of load before the machine is measured
TOKEN_SAMPLE = 4000  # distinct tokens wrk cycles through per group of pages

_SCRIPT = """
local board = %(board)s
local near = { %(near)s }
local far = { %(far)s }
local p_board = %(p_board)f
local p_far = %(p_far)f
local pause = %(delay)d

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) %% 100000)
end

function request()
  local r = math.random()
  if r < p_board then return board end
  if r < p_board + p_far then return far[math.random(#far)] end
  return near[math.random(#near)]
end

function delay()
  return math.random(0, 2 * pause)
end

%(done)s"""


@dataclass
class Phase:
    """One way of keeping the pages informed, as measured."""

    name: str
    needed_rps: float
    served_rps: float
    errors: int
    p99_ms: float
    cpu: dict[str, float]  # CPU seconds per second, by process
    admitted_per_minute: float
    staleness: tuple[float, float, float]  # p50, p99, max seconds


def _lua(raw: str) -> str:
    return json.dumps(raw)  # a JSON string is a valid Lua string for this ASCII


def _request(path: str, host: str, cookie: str | None = None) -> str:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    if cookie:
        lines.append(f"Cookie: antrean_b={cookie}")
    return "\r\n".join(lines) + "\r\n\r\n"


def _token_request(signer: TokenSigner, number: int, host: str) -> str:
    browser = f"bench-browser-{number}"
    token = signer.queue_token(QueueTicket(ROOM, number, int(time.time()), binding_tag(browser)))
    return _request(f"/api/v1/queue/{token}", host, browser)


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of a process and every process under it (children, grandchildren)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    wanted, total = {root}, 0.0
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    for pid in wanted:
        total += process_cpu_seconds(pid) or 0.0
    return total


class Machine:
    """The portal's processes, started and stopped together."""

    def __init__(self, tmp: Path, redis_url: str, redis_pid: int | None, cap: int, rate: int,
                 claim: int, workers: int) -> None:
        self.tmp, self.port = tmp, free_port()
        database = tmp / "antrean.db"
        engine = create_db_engine(f"sqlite:///{database}")
        upgrade(engine)
        engine.dispose()
        self.env = {
            **os.environ, "ANTREAN_ENV": "test", "ANTREAN_SECRET_KEY": SECRET,
            "ANTREAN_REDIS_PREFIX": PREFIX,
            "ANTREAN_REDIS_URL": redis_url, "ANTREAN_DATABASE_URL": f"sqlite:///{database}",
            "ANTREAN_VAR_DIR": str(tmp / "var"), "ANTREAN_ROOM": ROOM,
            "ANTREAN_HOST": "127.0.0.1", "ANTREAN_PORT": str(self.port),
            "ANTREAN_WEB_WORKERS": str(workers), "ANTREAN_MAX_ACTIVE": str(cap),
            "ANTREAN_ADMIT_PER_MINUTE": str(rate), "ANTREAN_CLAIM_WINDOW_SECONDS": str(claim),
            "ANTREAN_TRUSTED_PROXIES": "127.0.0.1/32", "ANTREAN_PUBLIC_URL": "https://127.0.0.1",
            # The bench's pages start polling only once all have joined; a real page
            # asks within seconds of its join, so nobody is stale before the load starts.
            "ANTREAN_STALE_AFTER_SECONDS": "86400",
            "ANTREAN_COOKIE_SECURE": "0",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.redis_pid = redis_pid
        self.log = (tmp / "portal.log").open("ab")
        for name in ("web", "loop", "worker"):
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "portal.cli.main", name], env=self.env, cwd=ROOT,
                stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200:
                    break
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited; see {tmp / 'portal.log'}")
            time.sleep(0.3)
        else:
            raise RuntimeError(f"the portal did not become ready; see {tmp / 'portal.log'}")
        self.balancer: Any = None

    def front(self, balancer: bool = True) -> tuple[str, Any]:
        """HAProxy with the sample configuration in front, when installed: (url, tls)."""
        if not balancer or haproxy_binary() is None:
            return f"http://127.0.0.1:{self.port}", None
        address = f"127.0.0.1:{self.port}"
        self.balancer = Balancer(self.tmp / "haproxy", [address] * 3)
        self.balancer.start()
        return self.balancer.url, self.balancer.tls()

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far, by part of the machine."""
        parts = {name: tree_cpu_seconds(process.pid) for name, process in self.processes.items()}
        if self.redis_pid is not None:
            parts["redis"] = process_cpu_seconds(self.redis_pid) or 0.0
        if self.balancer is not None and self.balancer.process is not None:
            parts["haproxy"] = tree_cpu_seconds(self.balancer.process.pid)
        return parts

    def stop(self) -> None:
        if self.balancer is not None:
            self.balancer.stop()
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.log.close()


def join_everybody(client: redis.Redis, count: int, batch: int = 10_000) -> float:
    """Join ``count`` visitors with the room's join script, one identifier each; seconds."""
    keys = RoomKeys(PREFIX, ROOM)
    scripts = register_scripts(client)
    script_keys = [*keys.all(), keys.join_bucket("-"), keys.join_proof("-")]
    started = time.perf_counter()
    done = 0
    while done < count:
        size = min(batch, count - done)
        now_ms = int(time.time() * 1000)
        with client.pipeline(transaction=False) as pipe:
            for index in range(done, done + size):
                scripts.join(keys=script_keys, args=[now_ms, 0, 0, 0, 0, -1, f"v{index:08x}"],
                             client=pipe)
            pipe.execute()
        done += size
    return time.perf_counter() - started


def hold_the_opening(client: redis.Redis) -> None:
    """Make the room open a day from now: joins wait in the pre-queue for the draw."""
    keys = RoomKeys(PREFIX, ROOM)
    client.hset(keys.key("config"), "opens_at", str(int(time.time()) + 86_400))
    time.sleep(1.5)  # every process has read the setting


@dataclass(frozen=True)
class Opening:
    """The draw at opening, as measured."""

    drawn: int
    seconds: float  # from the opening until the order was sealed
    cpu_s: dict[str, float]  # CPU seconds each part of the machine spent meanwhile
    slowest_ms: float  # the slowest answer to a page's look at the board meanwhile


def open_now(machine: Machine, client: redis.Redis) -> Opening:
    """Open the room now and wait for the loop to draw and seal the pre-queue's order."""
    keys = RoomKeys(PREFIX, ROOM)
    answers: list[float] = []
    done = threading.Event()

    def look() -> None:  # a page looking at the board all through the draw
        with httpx.Client(base_url=f"http://127.0.0.1:{machine.port}", timeout=30) as web:
            while not done.is_set():
                asked = time.perf_counter()
                web.get("/api/v1/queue/board")
                answers.append(time.perf_counter() - asked)
                time.sleep(0.02)

    looker = threading.Thread(target=look, daemon=True)
    looker.start()
    before = machine.cpu()
    started = time.monotonic()
    client.hset(keys.key("config"), "opens_at", str(int(time.time())))
    while client.hget(keys.key("stats"), "prequeue_sealed") is None:
        if time.monotonic() - started > 600:
            raise RuntimeError("the loop did not draw the order within 10 minutes")
        time.sleep(0.02)
    seconds = time.monotonic() - started
    done.set()
    looker.join()
    sealed = int(client.hget(keys.key("stats"), "prequeue_sealed") or 0)
    after = machine.cpu()
    return Opening(sealed, seconds, {part: after[part] - before.get(part, 0.0) for part in after},
                   max(answers, default=0.0) * 1000)


def numbers_by_position(client: redis.Redis, head: int) -> Callable[[int], int]:
    """The queue number at a position (1 = next): through the draw while its order lasts,
    then the walk-ins from ``head``."""
    keys = RoomKeys(PREFIX, ROOM)
    seed, sealed_raw = client.hmget(keys.key("stats"), ["prequeue_seed", "prequeue_sealed"])
    left = int(client.llen(keys.key("order")) or 0)
    sealed = int(sealed_raw or 0)
    text = seed.decode() if isinstance(seed, bytes) else seed
    draw = draw_of(text, sealed) if text is not None and left else None

    def number(position: int) -> int:
        if draw is None or position > left:
            return head + position - 1 - (left if draw is not None else 0)
        return draw.number_at(sealed - left + position)

    return number


def room_figures(client: redis.Redis) -> tuple[int, int, int]:
    """(head, last number, admitted so far) of the room."""
    keys = RoomKeys(PREFIX, ROOM)
    head, seq = client.mget(keys.key("head"), keys.key("seq"))
    admitted = client.hget(keys.key("stats"), "admitted_total")
    return int(head or 1), int(seq or 0), int(admitted or 0)


class BoardAges:
    """Samples how old the board is when a page reads it, all through a phase."""

    def __init__(self, url: str, tls: Any) -> None:
        self.ages: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, tls), daemon=True)
        self._thread.start()

    def _run(self, url: str, tls: Any) -> None:
        with httpx.Client(base_url=url, verify=tls if tls is not None else True,
                          timeout=10) as client:
            while not self._stop.wait(0.25):
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    body = client.get("/api/v1/queue/board").json()
                    self.ages.append(max(0.0, time.time() - body["as_of_ms"] / 1000))

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join(timeout=15)
        return self.ages


def staleness(ages: list[float], far: int, near_intervals: list[float],
              rng: random.Random, draws: int = 200_000) -> tuple[float, float, float]:
    """How old what a page shows is at a random moment: (p50, p99, max) seconds.

    A page's interval between looks is drawn as the portal draws it; a random moment
    falls in a long interval more often (length-biased), anywhere in it; what it shows
    was as old as a sampled age when it looked.
    """
    low, high = BOARD_POLL_MS[0] / 1000, BOARD_POLL_MS[1] / 1000
    total = far + len(near_intervals)
    values = []
    for _ in range(draws):
        if rng.random() < far / total:
            # length-biased uniform on [low, high]: density proportional to the length
            interval = math.sqrt(low * low + rng.random() * (high * high - low * low))
        else:
            mean = rng.choice(near_intervals)
            interval = mean * rng.uniform(0.8, 1.2)
        values.append(rng.choice(ages) + rng.uniform(0, interval))
    values.sort()
    worst = max(ages) + max(high, max(near_intervals) * 1.2)
    return values[len(values) // 2], values[int(len(values) * 0.99)], worst


def run_phase(name: str, *, machine: Machine, client: redis.Redis, url: str, wrk: str,
              board_pages: bool, waiting: int, near: int, seconds: int,
              connections: int, rng: random.Random) -> Phase:
    """Replay the pages of ``waiting`` visitors for ``seconds``; measure the machine."""
    host = url.split("//", 1)[1]
    signer = TokenSigner(SECRET)
    head, seq, _ = room_figures(client)
    near_positions = list(range(1, min(near, waiting) + 1))
    near_rates = [1 / poll_interval_s(p) for p in near_positions]
    near_rps = sum(near_rates)
    far_count = max(0, waiting - len(near_positions))
    if board_pages:
        board_rps = far_count / ((BOARD_POLL_MS[0] + BOARD_POLL_MS[1]) / 2000)
        far_rps = 0.0
    else:
        board_rps = 0.0
        # every page far back asks for itself: poll_after_ms of its own position
        far_rps = sum(1 / poll_interval_s(p) for p in range(near + 1, waiting + 1, 97)) * 97
    needed = near_rps + board_rps + far_rps
    near_sample = rng.choices(near_positions, weights=near_rates, k=TOKEN_SAMPLE)
    number_at = numbers_by_position(client, head)
    near_requests = [_token_request(signer, number_at(p), host) for p in near_sample]
    far_requests = [_token_request(signer, number_at(rng.randint(near + 1, waiting)), host)
                    for _ in range(TOKEN_SAMPLE)] if not board_pages else [near_requests[0]]
    pause_ms = max(0, round(connections * 1000 / needed) - 1)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "pages.lua"
        script.write_text(_SCRIPT % {
            "board": _lua(_request("/api/v1/queue/board", host)),
            "near": ",".join(_lua(r) for r in near_requests),
            "far": ",".join(_lua(r) for r in far_requests),
            "p_board": board_rps / needed, "p_far": far_rps / needed, "delay": pause_ms,
            "done": DONE_LUA})
        # wrk opens its connections (TLS handshakes and all) at the start: the machine
        # is measured from WARM_S in, once the pages are polling steadily.
        load = subprocess.Popen(
            [wrk, "-t", "2", "-c", str(connections), "-d", f"{seconds + WARM_S}s",
             "--timeout", "10s", "-s", str(script), url + "/"],
            stdout=subprocess.PIPE, text=True)
        time.sleep(WARM_S)
        ages = BoardAges(url, machine.balancer.tls() if machine.balancer else None)
        before_cpu, before = machine.cpu(), time.monotonic()
        _, _, admitted_before = room_figures(client)
        time.sleep(seconds)
        wall = time.monotonic() - before
        after_cpu = machine.cpu()
        _, _, admitted_after = room_figures(client)
        sampled = ages.stop()
        out, _ = load.communicate(timeout=120)
        if load.returncode != 0:
            raise RuntimeError(f"wrk exited with {load.returncode}")
    data = json.loads(next(ln for ln in reversed(out.splitlines()) if ln.startswith("{")))
    cpu = {part: (after_cpu[part] - before_cpu.get(part, 0.0)) / wall for part in after_cpu}
    intervals = [poll_interval_s(p) for p in near_positions]
    if not board_pages:
        intervals += [poll_interval_s(p) for p in range(near + 1, waiting + 1, 997)]
    return Phase(
        name=name, needed_rps=needed, served_rps=data["requests"] / (data["duration_us"] / 1e6),
        errors=int(data["status_errors"] + data["socket_errors"]), p99_ms=data["p99_us"] / 1000,
        cpu=cpu, admitted_per_minute=(admitted_after - admitted_before) * 60 / wall,
        staleness=staleness(sampled or [0.0], far_count if board_pages else 0, intervals, rng))


def _pages_per_two_cores(phase: Phase, waiting: int) -> float:
    """Waiting pages whose requests two cores would serve, at this phase's CPU per request
    and its mix of requests per page."""
    cpu = sum(phase.cpu.values())
    if phase.served_rps <= 0 or cpu <= 0:
        return 0.0
    per_request = cpu / phase.served_rps
    per_page = phase.needed_rps / waiting  # requests a second one page makes, on average
    return 2.0 / (per_request * per_page)


def print_table(phases: list[Phase], waiting: int, joined_s: float, url: str) -> None:
    print(f"\n{waiting:,} visitors waiting (joined in {joined_s:.0f} s), served at {url}")
    parts = sorted({part for phase in phases for part in phase.cpu})
    head = ["how pages learn their place", "needed/s", "served/s", "errors", "p99 ms",
            *[f"{p} cpu" for p in parts], "all cpu", "admitted/min", "age p50", "age p99",
            "age max"]
    rows = []
    for phase in phases:
        rows.append([phase.name, f"{phase.needed_rps:,.0f}", f"{phase.served_rps:,.0f}",
                     str(phase.errors), f"{phase.p99_ms:.1f}",
                     *[f"{phase.cpu.get(p, 0.0):.2f}" for p in parts],
                     f"{sum(phase.cpu.values()):.2f}", f"{phase.admitted_per_minute:,.0f}",
                     *(f"{s:.0f} s" for s in phase.staleness)])
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    print("\npages two cores keep informed, at the CPU per request measured: "
          + "; ".join(f"{phase.name}: {_pages_per_two_cores(phase, waiting):,.0f}"
                      for phase in phases))
    if len(phases) == 2:
        board, own = phases
        ratio = sum(board.cpu.values()) / max(sum(own.cpu.values()), 1e-9)
        print(f"\nCPU with the board / CPU with every page asking for itself: {ratio:.2f} "
              "(cpu: seconds per second, 2.00 = both cores)")
    print("served/s below needed/s means the machine fell behind: pages then look later "
          "than told, and their age grows by the shortfall.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.million", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=60, help="measured seconds per phase")
    parser.add_argument("--cap", type=int, default=4000)
    parser.add_argument("--rate", type=int, default=1200, help="admissions per minute")
    parser.add_argument("--claim", type=int, default=60, help="claim window, seconds")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--workers", type=int, default=1, help="web server processes")
    parser.add_argument("--no-balancer", action="store_true",
                        help="no HAProxy in front: wrk asks the web server itself")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the phase where every page asks for itself")
    parser.add_argument("--prequeue", action="store_true",
                        help="everybody joins before the opening; then the draw")
    args = parser.parse_args(argv)
    wrk = find_wrk()
    if wrk is None:
        print("wrk is not installed (Debian package wrk): nothing measured")
        return 0
    rng = random.Random(20260831)
    with tempfile.TemporaryDirectory() as directory, contextlib.ExitStack() as stack:
        tmp = Path(directory)
        store = PrivateRedis(tmp / "redis")
        stack.callback(store.stop)
        client = store.client()
        machine = Machine(tmp, store.url, store.pid, args.cap, args.rate, args.claim,
                          args.workers)
        stack.callback(machine.stop)
        if args.prequeue:
            hold_the_opening(client)
        joined_s = join_everybody(client, args.visitors)
        opening = open_now(machine, client) if args.prequeue else None
        url, _tls = machine.front(not args.no_balancer)
        time.sleep(2)  # a snapshot and a tick after the joins
        board = httpx.get(url + "/api/v1/queue/board", verify=_tls or True, timeout=10).json()
        _, seq, _ = room_figures(client)
        # the drawn order still to serve, those back from a skip, and the walk-ins
        waiting = (int(board["order_left"]) + int(board["returning"])
                   + max(0, seq - int(board["head"]) + 1))
        phases = [run_phase("board far back (new)", machine=machine, client=client, url=url,
                            wrk=wrk, board_pages=True, waiting=waiting, near=board["near"],
                            seconds=args.seconds, connections=args.connections, rng=rng)]
        if not args.no_baseline:
            phases.append(run_phase("every page asks for itself", machine=machine,
                                    client=client, url=url, wrk=wrk, board_pages=False,
                                    waiting=waiting, near=board["near"], seconds=args.seconds,
                                    connections=args.connections, rng=rng))
        print_table(phases, waiting, joined_s, url)
        if opening is not None:
            spent = ", ".join(f"{part} {cpu:.1f}" for part, cpu in sorted(opening.cpu_s.items()))
            print(f"\nthe draw at opening: {opening.drawn:,} numbers ordered and sealed "
                  f"{opening.seconds:.1f} s after the opening (CPU s meanwhile: {spent}; "
                  f"the board answered within {opening.slowest_ms:.0f} ms throughout); "
                  "pages then work their ranks out from the board's seed, with no request "
                  "of their own")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
