"""Booking codes: the states a booking is in."""

from __future__ import annotations

from portal.admin.labels import label_of
from portal.i18n import N_

STATUS_LABELS = {"active": N_("Berlaku"), "cancelled": N_("Dibatalkan")}


def status_label(code: str | None) -> str:
    """The label of a booking status."""
    return label_of(code, STATUS_LABELS)
