"""The Lua scripts agree with the Python side: key order, key names and state numbers.

A script reads its keys by position and its states by number; a key list or a
state renumbered on one side only would corrupt a room without any error, so the
headers and the named constants are held to ``keys.py`` and ``states.py`` here.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest

from waitroom.keys import (
    DRAWN_PREFIX,
    JOIN_BUCKET_PREFIX,
    JOIN_LANE_PREFIX,
    JOIN_PROOF_PREFIX,
    KEY_NAMES,
    RoomKeys,
)
from waitroom.scripts import VERBS
from waitroom.states import VisitorState

LUA = resources.files("waitroom") / "lua"
PRELUDE = "_lib.lua"
SCRIPTS = sorted(entry.name for entry in LUA.iterdir() if entry.name.endswith(".lua"))

# Keys passed after the room's own, by the one script that takes each.
EXTRA_KEYS = {"join.lua": {len(KEY_NAMES) + 1: JOIN_BUCKET_PREFIX,
                           len(KEY_NAMES) + 2: JOIN_PROOF_PREFIX},
              "lane.lua": {len(KEY_NAMES) + 1: JOIN_LANE_PREFIX},
              "seal.lua": {len(KEY_NAMES) + 1: DRAWN_PREFIX}}

KEY_MENTION = re.compile(r"KEYS\[(\d+)\]\s+\(?([a-z][a-z-]*)\)?")
KEY_USE = re.compile(r"KEYS\[(\d+)\]")
NAMES = r"[A-Z][A-Z0-9_]*"
CONSTANTS = re.compile(rf"^local\s+({NAMES}(?:\s*,\s*{NAMES})*)\s*=\s*([^\n]+)$", re.M)
MARK_SET = re.compile(r"\bmark_set\(\s*[^,]+,\s*([^,]+),")


def source(name: str) -> str:
    return (LUA / name).read_text()


def header(name: str) -> str:
    """The comment lines a script starts with."""
    lines = []
    for line in source(name).splitlines():
        if not line.startswith("--"):
            break
        lines.append(line)
    return "\n".join(lines)


def code(name: str) -> str:
    """The script without its comments."""
    return re.sub(r"--[^\n]*", "", source(name))


def constants(name: str) -> dict[str, str]:
    """Upper-case locals a script defines, each with the expression it is bound to."""
    found: dict[str, str] = {}
    for names, values in CONSTANTS.findall(code(name)):
        left = [n.strip() for n in names.split(",")]
        right = [v.strip() for v in values.split(",")]
        if len(left) == len(right):
            found.update(zip(left, right, strict=True))
        else:
            assert len(left) == 1, f"{name}: cannot read {names} = {values}"
            found[left[0]] = values.strip()
    return found


def test_every_verb_has_its_script() -> None:
    assert SCRIPTS == sorted([PRELUDE, *(f"{verb}.lua" for verb in VERBS)])


def test_the_prelude_lists_the_room_keys_in_keys_py_order() -> None:
    listed = [(int(i), name) for i, name in KEY_MENTION.findall(header(PRELUDE))]
    assert listed == list(enumerate(KEY_NAMES, start=1))


def test_the_prelude_binds_each_key_name_to_its_position() -> None:
    bound = {name: value for name, value in constants(PRELUDE).items()
             if name.startswith("K_")}
    expected = {f"K_{key.upper()}": f"KEYS[{i}]" for i, key in enumerate(KEY_NAMES, start=1)}
    assert bound == expected


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s != PRELUDE])
def test_each_script_header_names_its_keys_as_keys_py_does(script: str) -> None:
    text = header(script)
    assert "KEYS: the room's keys (see _lib.lua)" in text
    assert "ARGV[1] now (ms)" in text
    assert "Returns" in text
    known = {**dict(enumerate(KEY_NAMES, start=1)), **EXTRA_KEYS.get(script, {})}
    mentioned = {int(i): name for i, name in KEY_MENTION.findall(text)}
    for position, name in mentioned.items():
        assert known.get(position) == name, f"{script}: KEYS[{position}] is not {name}"
    # A key read by position in the code is one the header names.
    used = {int(i) for i in KEY_USE.findall(code(script))}
    assert used <= set(mentioned), f"{script}: KEYS{sorted(used - set(mentioned))} unnamed"
    assert set(EXTRA_KEYS.get(script, {})) <= used


def test_the_per_caller_keys_share_the_room_tag() -> None:
    keys = RoomKeys("p", "r")
    assert keys.join_bucket("a").startswith(keys.key(JOIN_BUCKET_PREFIX))
    assert keys.join_proof("p:x").startswith(keys.key(JOIN_PROOF_PREFIX))
    assert keys.join_lane("a").startswith(keys.key(JOIN_LANE_PREFIX))
    for key in (keys.join_bucket("a"), keys.join_proof("p:x"), keys.join_lane("a")):
        assert "{r}" in key


def test_state_numbers_match_states_py() -> None:
    defined = {name: value for name, value in constants(PRELUDE).items()
               if name in VisitorState.__members__}
    assert defined, "the prelude names no states"
    assert {name: int(value) for name, value in defined.items()} == {
        name: VisitorState[name].value for name in defined}
    for script in SCRIPTS:
        own = set(constants(script)) & set(VisitorState.__members__)
        assert script == PRELUDE or not own, f"{script} defines states of its own: {own}"
        used = set(re.findall(rf"\b{NAMES}\b", code(script))) & set(VisitorState.__members__)
        assert used <= set(defined), f"{script} uses undefined states {used - set(defined)}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_states_are_written_by_name(script: str) -> None:
    names = set(constants(PRELUDE)) & set(VisitorState.__members__)
    for argument in MARK_SET.findall(code(script)):
        argument = argument.strip()
        assert argument in names or argument.islower(), f"{script}: mark_set(.., {argument})"


def test_every_state_fits_in_a_mark() -> None:
    # A mark is state * SPAN + seconds in a u32: the state has 32 - log2(SPAN) bits.
    span = int(constants(PRELUDE)["SPAN"])
    assert span == 2**29
    assert (max(VisitorState) + 1) * span <= 2**32
