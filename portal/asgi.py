"""Entry point for ASGI servers: ``uvicorn portal.asgi:app_from_env --factory``."""

from __future__ import annotations

from starlette.applications import Starlette

from portal.app import create_app
from portal.settings import Settings


def app_from_env() -> Starlette:
    """Build the app from the process environment."""
    return create_app(Settings.from_env())
