"""The one exception type users see: a one-line message that says what went wrong and what to do; and the masking
that keeps a secret's value out of every such message (a server may echo the key it was sent)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
"""Environment variables whose values are masked in every message (OPENAI_API_KEY, HF_TOKEN, …)."""
MIN_SECRET_LENGTH = 8
"""Shorter values of such variables (a flag, a number) are left alone: masking them would garble messages."""
MASK = "***"


def shown_as(value: str) -> set[str]:
    """A secret as a message may show it: as is, without surrounding whitespace, escaped as Python and JSON write
    it (a key read with its line break shows as ``\\n`` in an error about the header), and each whitespace-separated
    part long enough to be one."""
    forms = {value, value.strip(), json.dumps(value)[1:-1], repr(value)[1:-1], repr(value.encode())[2:-1]}
    forms |= {part for part in value.split() if len(part) >= MIN_SECRET_LENGTH}
    return {f for f in forms if f}


def secret_values(configured: Iterable[str | None] = ()) -> list[str]:
    """The values to mask: ``configured`` keys (whatever their length) and every secret-named variable of the
    environment, as messages may show them (:func:`shown_as`), longest first (so a key that contains another is
    masked whole)."""
    found = {v for v in configured if v}
    found |= {v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(set().union(*map(shown_as, found)), key=len, reverse=True)


def mask_secrets(text: str, configured: Iterable[str | None] = ()) -> str:
    """``text`` with the value of every secret (:func:`secret_values`) replaced by ``***``."""
    for value in secret_values(configured):
        text = text.replace(value, MASK)
    return text


def public_url(url: str) -> str:
    """``url`` as it may be shown or recorded: a password in it, and the value of any secret-named query parameter
    (``?api_key=…``), replaced by ``***`` (a base_url may carry credentials; records and messages must not)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username}:{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = [(k, MASK if SECRET_NAME.search(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="*")))


def url_secrets(url: str) -> list[str]:
    """The credentials a URL carries (its password, secret-named query values): masked wherever they appear."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    found = [v for k, v in parse_qsl(parts.query) if SECRET_NAME.search(k)]
    return [v for v in [parts.password, *found] if v]


def first_line(error: BaseException, limit: int = 200, configured: Iterable[str | None] = ()) -> str:
    """The first line of an exception's message (or its type), secrets masked *before* it is cut short (a cut
    must not leave the start of a key): third-party errors inside one-line reports."""
    text = mask_secrets(str(error), configured)
    return (text.strip().splitlines() or [error.__class__.__name__])[0][:limit]


class AudioMLQAError(Exception):
    """An error caused by input or environment, reported by the CLI as one line without a traceback."""
