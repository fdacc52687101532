"""What the tests share: live servers, app settings, and the steps people take.

Test modules import from here, never from ``conftest.py`` or from each other.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "var" / "test-artifacts"
DATA = ROOT / "tests" / "data"
VENDOR = ROOT / "tests" / "vendor"
