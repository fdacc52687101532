"""The bench's output: one table on stdout and var/bench/results.json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.admission import AdmissionResult
from bench.load import LoadResult
from bench.memory import MemoryResult

RATIO_TARGET = 0.80  # status polls against the bare endpoint
JOIN_RATIO_TARGET = 0.85  # joins against one Lua call
BYTES_PER_VISITOR_TARGET = 100.0


@dataclass(frozen=True)
class Ratio:
    """One endpoint's throughput over its baseline's, against the target."""

    name: str
    value: float
    target: float

    @property
    def verdict(self) -> str:
        """PASS or MISS."""
        return "PASS" if self.value >= self.target else "MISS"


@dataclass(frozen=True)
class BenchResults:
    """Everything one run measured."""

    settings: dict[str, object]
    endpoints: list[LoadResult]
    admission: AdmissionResult | None
    memory: MemoryResult | None
    # The server process's CPU time per request (µs), lowest of the turns; empty
    # where the platform cannot tell.
    server_cpu_us: dict[str, float] = field(default_factory=dict)

    def rps(self, name: str) -> float:
        """Requests per second of one endpoint."""
        return next(r.rps for r in self.endpoints if r.name == name)

    def ratios(self) -> list[Ratio]:
        """The two throughput ratios the targets are about."""
        return [
            Ratio("status / bare", self.rps("status") / self.rps("bare"), RATIO_TARGET),
            Ratio("join / one-Lua-call", self.rps("join") / self.rps("lua"),
                  JOIN_RATIO_TARGET),
        ]

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict of the results and the verdicts."""
        return {
            "settings": self.settings,
            "endpoints": [asdict(r) | {"server_cpu_us_per_request": self.server_cpu_us.get(r.name)}
                          for r in self.endpoints],
            "ratios": [{**asdict(r), "verdict": r.verdict} for r in self.ratios()],
            "admission": asdict(self.admission) if self.admission else None,
            "memory": {
                **asdict(self.memory),
                "target_bytes_per_visitor": BYTES_PER_VISITOR_TARGET,
                "verdict": "PASS"
                if self.memory.bytes_per_visitor <= BYTES_PER_VISITOR_TARGET else "MISS",
            } if self.memory else None,
        }


ENDPOINT_LABELS = {
    "bare": "bare JSON (baseline)",
    "lua": "one Lua call (baseline)",
    "status": "GET /api/v1/queue/{token}",
    "join": "POST /api/v1/queue/join",
}


def format_report(results: BenchResults) -> str:
    """The human-readable table."""
    s = results.settings
    lines = [
        f"antrean bench: {s['connections']} connections, {s['duration']} s per endpoint "
        f"(+{s['warmup']} s warm-up, best of {s['repeat']}), load generator: {s['load_generator']}",
        "",
        f"{'endpoint':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'server CPU us/req':>18}",
        "-" * 83,
    ]
    cpu = results.server_cpu_us
    for r in results.endpoints:
        label = ENDPOINT_LABELS.get(r.name, r.name)
        used = f"{cpu[r.name]:.1f}" if r.name in cpu else "-"
        lines.append(f"{label:<28} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
                     f"{r.errors:>7} {used:>18}")
    lines.append("")
    for ratio in results.ratios():
        lines.append(f"{ratio.name:<28} {ratio.value:>9.2f}   target >= {ratio.target:.2f}  "
                     f"{ratio.verdict}")
    pairs = (("status / bare", "status", "bare"), ("join / one-Lua-call", "join", "lua"))
    if all(name in cpu for _, a, b in pairs for name in (a, b)):
        lines.append("by server CPU per request (the same ratios, whichever side was the "
                     "bottleneck):")
        for label, endpoint, baseline in pairs:
            lines.append(f"  {label:<26} {cpu[baseline] / cpu[endpoint]:>9.2f}")
    if results.admission:
        a = results.admission
        lines += [
            "",
            f"finish sent -> next visitor sees admitted ({a.rounds} rounds, "
            f"polling every {a.poll_interval_ms:.0f} ms):",
            f"  p50 {a.p50_ms:.1f} ms, p99 {a.p99_ms:.1f} ms, min {a.min_ms:.1f} ms, "
            f"max {a.max_ms:.1f} ms, {a.mean_polls:.1f} polls per round",
        ]
    if results.memory:
        m = results.memory
        verdict = "PASS" if m.bytes_per_visitor <= BYTES_PER_VISITOR_TARGET else "MISS"
        lines += [
            "",
            f"Redis memory per waiting visitor ({m.visitors:,} joined in {m.seconds:.1f} s):",
            f"  {m.bytes_per_visitor:.2f} bytes  target <= {BYTES_PER_VISITOR_TARGET:.0f}  "
            f"{verdict}   (used_memory {m.before_bytes:,} -> {m.after_bytes:,}; "
            f"marks bitfield {m.marks_key_bytes:,} bytes)",
        ]
    return "\n".join(lines)


def print_report(results: BenchResults) -> None:
    """Print the table."""
    print(format_report(results), flush=True)


def write_json(results: BenchResults, path: Path) -> None:
    """Write the results as JSON to ``path`` (directories are created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results.to_json(), indent=2) + "\n")
