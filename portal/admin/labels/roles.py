"""Console roles as operators read them."""

from __future__ import annotations

from portal.admin.labels import label_of
from portal.i18n import N_

ROLE_LABELS = {"viewer": N_("Pemantau"), "operator": N_("Operator"), "admin": N_("Admin")}


def role_label(code: str | None) -> str:
    """The label of a role."""
    return label_of(code, ROLE_LABELS)
