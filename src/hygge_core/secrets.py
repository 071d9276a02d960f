"""Keeping secrets out of every line hygge prints.

Secrets are collected from the config (connection fields with secret-sounding names, the
password of any URL, every value that came from `${VAR}`) and replaced by `***` in each
message before it reaches a terminal, a log or an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from hygge_core.config.loader import Document

SECRET_KEYS = re.compile(
    r"pass(word)?|secret|token|key|credential|sas|connection_string|account_key|private",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]+)@")


def mask_url(url: str) -> str:
    """`postgresql://u:pw@h/db` → `postgresql://u:***@h/db`."""
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)


class Redactor:
    """Replaces known secret strings, and any URL password, with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = mask_url(text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def collect_secrets(doc: Document | None, connections: dict[str, dict[str, Any]]) -> list[str]:
    """Every string in the config that must never be printed."""
    found: list[str] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str):
            if SECRET_KEYS.search(key):
                found.append(value)
            for m in _URL_PASSWORD.finditer(value):
                found.append(m["pw"])

    walk(connections)
    if doc is not None:
        walk(doc.data)
        for path in doc.expanded:
            value: Any = doc.data
            for part in path:
                value = (
                    value.get(part)
                    if isinstance(value, dict)
                    else (
                        value[part]
                        if isinstance(value, list) and isinstance(part, int) and part < len(value)
                        else None
                    )
                )
            # Expanded paths, URLs and names are not all secret, but printing any of
            # them is never needed to understand an error; short values stay visible.
            if isinstance(value, str) and SECRET_KEYS.search(str(path[-1])):
                found.append(value)
    return found
