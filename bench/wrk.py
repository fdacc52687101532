"""The same load through ``wrk`` when it is installed (a Lua script replays the requests)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.load import LoadResult, LoadSpec

# wrk's done() hook prints one JSON line the bench reads back.
_SCRIPT = """
local requests = {
%(requests)s
}
local position = 0
local threads_made = 0

function setup(thread)
  thread:set("first", threads_made)
  threads_made = threads_made + 1
end

function init(args)
  -- each thread starts elsewhere in the list, so all threads together walk all of it
  position = (tonumber(first) or 0) * 7919 %% #requests
end

function request()
  position = position %% #requests + 1
  return requests[position]
end

%(done)s"""

# The done() hook every script here ends with: one JSON line the bench reads back.
DONE_LUA = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, '
    .. '"p50_us": %f, "p99_us": %f}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def find_wrk() -> str | None:
    """The path of ``wrk`` if it is on PATH."""
    return shutil.which("wrk")


def _lua_string(raw: bytes) -> str:
    # Three-digit decimal escapes keep CR, LF, quotes and backslashes exact in Lua 5.1.
    return '"' + "".join(
        chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03d}" for b in raw
    ) + '"'


def _run(wrk: str, spec: LoadSpec, script: Path, seconds: int, threads: int) -> dict[str, float]:
    command = [wrk, "-t", str(threads), "-c", str(spec.connections), "-d", f"{seconds}s",
               "--timeout", "5s", "-s", str(script), f"http://{spec.host}:{spec.port}/"]
    out = subprocess.run(command, check=True, capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    line = next(ln for ln in reversed(out.splitlines()) if ln.startswith("{"))
    data: dict[str, float] = json.loads(line)
    return data


def run_wrk(spec: LoadSpec, wrk: str, threads: int = 1) -> LoadResult:
    """Warm up, then measure ``spec`` with wrk (whole seconds; status errors are >= 400)."""
    threads = max(1, min(threads, spec.connections))
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "requests.lua"
        body = ",\n".join(_lua_string(r) for r in spec.requests)
        script.write_text(_SCRIPT % {"requests": body, "done": DONE_LUA})
        if spec.warmup > 0:
            _run(wrk, spec, script, max(1, math.ceil(spec.warmup)), threads)
        data = _run(wrk, spec, script, max(1, round(spec.duration)), threads)
    seconds = data["duration_us"] / 1e6
    errors = int(data["status_errors"] + data["socket_errors"])
    return LoadResult(
        name=spec.name,
        requests=int(data["requests"]),
        errors=errors,
        seconds=seconds,
        rps=data["requests"] / seconds,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        statuses={"errors": errors},
    )
