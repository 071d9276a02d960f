"""Keeping secrets out of every line hygge prints.

Secrets are collected from the config (connection fields with secret-sounding names, the
password of any URL, secret-sounding query-string and DSN parameters, every secret-named
value that came from `${VAR}`) and replaced by `***` in each message before it reaches a
terminal, a log or an error. Text that no config mentions is masked by its shape: the
password of a URL (`scheme://user:pw@host`, the `@` in an unencoded password included) and
the value of a secret-sounding parameter (`?password=`, `password=` in a DSN,
`X-Amz-Security-Token`, `Credential=`).

Every pass here is linear in the length of the text: messages may quote values of any size.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from hygge_core.config.loader import Document

# Field names whose values are secret. `key` is (an S3 access key, an account key), but
# `keys` — a merge's key columns — is not, nor is a message broker's `routing_key`.
SECRET_KEYS = re.compile(
    r"pass(word|wd)?|pwd|secret|token|(?<!routing_)key(?!s)|credential|sas|connection_string"
    r"|private",
    re.IGNORECASE,
)
# A parameter whose value is secret, written `name=value` (a query string, a DSN, an Azure
# connection string, a signed request's Authorization header) or as a quoted key with a
# quoted value (`'X-Amz-Security-Token': b'...'`, `"password": "..."`); prose such as
# `field 'password': required` is neither. The name starts at a word boundary (so each
# position of the text is tried once) and values are bounded, so the scan stays linear.
_PARAM = re.compile(
    r"(?<![\w-])(?P<name>[\w-]*?(?:password|passwd|pwd|secret|token|signature|credential"
    r"|accountkey|access_?key|account_?key|api_?key|sig))"
    r"(?P<sep>\s*=\s*|['\"]\s*:\s*b?(?=['\"]))"
    r"(?P<value>'[^'\n]{0,1024}'|\"[^\"\n]{0,1024}\"|[^\s&;,'\"<>(){}\[\]]{1,1024})",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[^\s'\"<>]+")
_SCHEME_CHAR = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-_")


def _userinfo(token: str, start: int) -> tuple[int, int] | None:
    """Where the password of the URL whose `://` is at `start` lies in `token`.

    `(colon, at)` with the password in `token[colon + 1 : at]`, or None. The password
    runs to the *last* `@` of the token: an unencoded `@` in a password is a common mistake,
    and masking too much is better than showing part of it.
    """
    at = token.rfind("@")
    begin = start + 3
    if at <= begin:
        return None
    colon = token.find(":", begin, at)
    if colon == -1 or "/" in token[begin:colon]:
        return None
    return colon, at


def _mask_token(match: re.Match[str]) -> str:
    token = match.group(0)
    start = token.find("://")
    if start <= 0 or token[start - 1] not in _SCHEME_CHAR:
        return token
    found = _userinfo(token, start)
    if found is None:
        return token
    colon, at = found
    return f"{token[: colon + 1]}***{token[at:]}"


def _mask_param(match: re.Match[str]) -> str:
    value = match["value"]
    quote_char = value[0] if value[0] in "'\"" else ""
    return f"{match['name']}{match['sep']}{quote_char}***{quote_char}"


def mask_url(text: str) -> str:
    """Mask URL passwords and secret parameters in `text`: `postgresql://u:***@h/db`,
    `...?password=***`, `host=h password=*** dbname=d`. Linear in `len(text)`."""
    if "://" in text and "@" in text:
        text = _TOKEN.sub(_mask_token, text)
    if "=" in text or ":" in text:
        text = _PARAM.sub(_mask_param, text)
    return text


def url_password(value: str) -> str | None:
    """The password of `value` when it is a URL with `user:password@` (an `@` or a space
    in the password included: a config value is one URL, so its last `@` ends it)."""
    start = value.find("://")
    if start <= 0:
        return None
    at = value.rfind("@")
    colon = value.find(":", start + 3, at) if at > start + 3 else -1
    if colon == -1 or "/" in value[start + 3 : colon]:
        return None
    return value[colon + 1 : at] or None


def _forms(secret: str) -> list[str]:
    """`secret` as it may be printed: whole, URL-encoded, and, for an unencoded `@` in a
    URL password, the parts a parser takes for user or host (`pa@ssword` → `ssword`)."""
    forms = [secret, quote(secret, safe=""), quote_plus(secret)]
    for i in range(1, secret.count("@") + 1):
        forms += [part for part in secret.rsplit("@", i)[1:] if len(part) >= 5]
        forms += [part for part in secret.split("@", i)[:1] if len(part) >= 5]
    return forms


class Redactor:
    """Replaces known secret strings, and any URL password or secret parameter, with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found = {form for s in secrets if s for form in _forms(s)}
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in found if len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = mask_url(text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


def secrets_in(value: str) -> list[str]:
    """The secrets written inside one config string: a URL's password, secret parameters."""
    found: list[str] = []
    password = url_password(value)
    if password:
        found.append(password)
    if "=" in value or ":" in value:
        found += [m["value"].strip("'\"") for m in _PARAM.finditer(value)]
    return found


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
            found.extend(secrets_in(value))

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


# Libraries whose debug logs carry credentials (signed request headers, connection
# strings): under `-v` they stay at INFO, and everything logged is masked anyway.
CHATTY_LIBRARIES = (
    "botocore",
    "aiobotocore",
    "boto3",
    "s3transfer",
    "s3fs",
    "urllib3",
    "azure",
    "adlfs",
    "google",
    "gcsfs",
    "fsspec",
    "aiohttp",
    "httpx",
    "httpcore",
    "sqlalchemy",
    "psycopg",
    "pymysql",
    "asyncio",
)


class RedactingFormatter(logging.Formatter):
    """A log formatter whose every line (message, arguments, traceback) is masked by the
    current command's redactor: `mask_url` until the config has been read."""

    current: Callable[[str], str] = mask_url

    def format(self, record: logging.LogRecord) -> str:
        return RedactingFormatter.current(super().format(record))


def guard_logging(level: int, fmt: str) -> None:
    """Configure logging so that no line can carry a secret: every handler of the root
    logger masks, warnings go through logging, and under DEBUG the libraries listed in
    `CHATTY_LIBRARIES` stay at INFO."""
    logging.basicConfig(level=level, format=fmt)
    logging.getLogger().setLevel(level)  # (basicConfig leaves a configured root as it is)
    logging.captureWarnings(True)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(RedactingFormatter(fmt))
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.INFO))


def redact_logs(redactor: Callable[[str], str]) -> None:
    """From now on, mask log lines with `redactor` (it knows the config's secrets)."""
    RedactingFormatter.current = redactor
