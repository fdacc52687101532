"""Visitor states as stored in the room's bitfield, and their public names."""

from __future__ import annotations

from enum import IntEnum


class VisitorState(IntEnum):
    """The 3-bit state kept per queue number in Redis."""

    UNKNOWN = 0
    WAITING = 1
    SKIPPED = 2
    ADMITTED = 3
    ACTIVE = 4
    FINISHED = 5
    EXPIRED = 6
    LEFT = 7

    @property
    def public(self) -> str:
        """The state name the API and pages show."""
        if self in (VisitorState.WAITING, VisitorState.SKIPPED):
            return "waiting"
        if self is VisitorState.ADMITTED:
            return "admitted"
        if self is VisitorState.ACTIVE:
            return "active"
        if self is VisitorState.FINISHED:
            return "finished"
        if self is VisitorState.LEFT:
            return "left"
        return "expired"
