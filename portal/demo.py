"""Demo data for a newcomer's first ``make run``."""

from __future__ import annotations

import logging

from portal.settings import Settings

log = logging.getLogger("antrean.demo")


def seed_demo(settings: Settings) -> None:
    """Put the demo data in place (idempotent)."""
    log.info("demo mode: the waiting room starts with its default settings")
