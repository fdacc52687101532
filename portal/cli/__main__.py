"""``python -m portal.cli``: the same as the ``antrean`` command."""

from __future__ import annotations

import sys

from portal.cli.main import main

sys.exit(main())
