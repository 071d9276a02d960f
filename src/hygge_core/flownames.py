"""Which flow names hygge accepts, and how a flow name becomes part of a path.

A flow's name becomes a file name in every file store (its state, lock, staging folder and
commit records), so a name such as `/abs` or `../../victim` would reach outside the store.
Names are checked when the config is read; `path_part` encodes them again where they become
paths, so that no caller (the Python API, a plugin's own context) can bypass the check.
"""

from __future__ import annotations

import re
from urllib.parse import quote

FLOW_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
FLOW_NAME_RULE = (
    "a flow name is 1 to 128 characters: letters, digits, '_', '-' and '.', "
    "starting with a letter, a digit or '_'"
)


def flow_name_problem(name: object) -> str | None:
    """Why `name` cannot name a flow, or None when it can."""
    text = str(name)
    if FLOW_NAME.fullmatch(text):
        return None
    shown = repr(text) if len(text) <= 60 else repr(text[:57] + "...")
    return f"invalid flow name {shown}: {FLOW_NAME_RULE}"


def path_part(name: str) -> str:
    """`name` as one path element that cannot leave its folder: valid names are unchanged;
    anything else is percent-encoded, dots included when the name is only dots."""
    part = quote(name, safe="")
    if not part.strip("."):
        part = part.replace(".", "%2E")
    return part
