"""Entry point for ASGI servers: ``uvicorn portal.asgi:app_from_env --factory``."""

from __future__ import annotations

from starlette.applications import Starlette

from portal.app import create_app
from portal.logs import configure_logging
from portal.settings import Settings


def app_from_env() -> Starlette:
    """Build the app from the process environment, its logs configured by the same."""
    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
