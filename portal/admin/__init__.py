"""The BKD admin console: access, settings, the live dashboard, planning and data."""

from __future__ import annotations

from portal.admin import (
    dashboard,
    exports,
    metrics,
    pages,
    planner_page,
    roster,
    settings_page,
    status,
)
from portal.admin.banner import public_banner

__all__ = ["public_banner", "routes"]

routes = [
    *pages.routes,
    *dashboard.routes,
    *settings_page.routes,
    *planner_page.routes,
    *roster.routes,
    *exports.routes,
    *status.routes,
    *metrics.routes,
]
