"""What the tests share: live servers, app settings, and the steps people take.

Test modules import from here, never from ``conftest.py`` or from each other.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "var" / "test-artifacts"
DATA = ROOT / "tests" / "data"
VENDOR = ROOT / "tests" / "vendor"


# Hypothesis examples for the widest properties: the everyday run draws a quarter of
# them (the suite keeps within its time), ANTREAN_TEST_THOROUGH=1 draws them all.
THOROUGH = os.environ.get("ANTREAN_TEST_THOROUGH", "") in ("1", "true", "yes")


def examples(thorough: int) -> int:
    """How many examples a property with ``thorough`` examples at full strength draws."""
    return thorough if THOROUGH else max(100, thorough // 4)
