"""Codes as operators read them: one small mapping of ``N_()`` labels per kind of code.

A label is Indonesian text (or a ``Message`` with values) that the page translates;
a code no mapping knows is shown as readable text rather than failing the page.
"""

from __future__ import annotations

from collections.abc import Mapping

from scheduler.text import Typed


def label_of(code: object, labels: Mapping[str, str]) -> str:
    """The label of ``code``; an unknown code as plain words (``sms_blocked`` → ``sms blocked``)."""
    text = "" if code is None else str(code)
    found = labels.get(text)
    if found is not None:
        return found
    return Typed(text.replace("_", " ").replace(".", " ").strip() or "–")
