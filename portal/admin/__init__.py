"""The BKD admin console: access, settings, the live dashboard, planning and data."""

from __future__ import annotations

from portal.admin import (
    calendar_page,
    dashboard,
    exports,
    metrics,
    notifications,
    pages,
    planner_page,
    roster,
    roster_upload,
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
    *calendar_page.routes,
    *roster.routes,
    *roster_upload.routes,
    *exports.routes,
    *notifications.routes,
    *status.routes,
    *metrics.routes,
]
