"""Guesses counted: failed and refused attempts at passwords, tokens and codes.

Every endpoint that checks something a person could guess (a console password,
an API token, a recovery, booking or one-time code) counts its failures here and
its refusals once a limit is reached, so operators see an attack in /metrics.
The counters are this process's own; Prometheus adds up the processes it scrapes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry(auto_describe=True)

ATTEMPTS_FAILED = Counter(
    "antrean_guesses_failed", "Attempts with a wrong password, token or code",
    ["kind"], registry=REGISTRY)
ATTEMPTS_REFUSED = Counter(
    "antrean_guesses_refused", "Attempts refused unchecked because a limit was reached",
    ["kind"], registry=REGISTRY)
