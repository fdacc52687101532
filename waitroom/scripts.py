"""Loads the room's Lua scripts from package files and registers them once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from waitroom.autopipe import pipelined_scripts

VERBS = ("join", "poll", "enter", "heartbeat", "finish", "tick", "seal", "touch", "leave",
         "move", "lane")


@cache
def script_source(verb: str) -> str:
    """Return the full source of a verb: the shared prelude, then the verb's file."""
    lua = resources.files("waitroom") / "lua"
    return (lua / "_lib.lua").read_text() + "\n" + (lua / f"{verb}.lua").read_text()


@dataclass(frozen=True)
class RoomScripts:
    """The registered scripts of a room, callable with (keys, args)."""

    join: Any
    poll: Any
    enter: Any
    heartbeat: Any
    finish: Any
    tick: Any
    seal: Any
    touch: Any
    leave: Any
    move: Any
    lane: Any


def register_scripts(client: Any) -> RoomScripts:
    """Register every verb on a redis client (sync or asyncio) and return them.

    On a plain asyncio client the calls are pipelined automatically: the calls
    made in one turn of the event loop share one write and one connection.
    """
    scripts = {verb: client.register_script(script_source(verb)) for verb in VERBS}
    return RoomScripts(**pipelined_scripts(client, scripts))
