"""The automatic cap's codes: why a decision kept or changed the cap."""

from __future__ import annotations

from portal.admin.labels import label_of
from portal.i18n import N_

REASON_LABELS = {
    "increase": N_("Naik: formulir cukup cepat"),
    "decrease": N_("Turun: formulir terlalu lambat"),
    "hold": N_("Tetap: sampel terlalu sedikit"),
    "clamp": N_("Disesuaikan ke batas bawah/atas"),
}


def reason_label(code: str | None) -> str:
    """The label of a decision's reason."""
    return label_of(code, REASON_LABELS)
