"""The one exception type users see: a one-line message that says what went wrong and what to do; and the masking
that keeps a secret's value out of every such message (a server may echo the key it was sent)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
"""Environment variables whose values are masked in every message (OPENAI_API_KEY, HF_TOKEN, …)."""
MIN_SECRET_LENGTH = 8
"""Shorter values of such variables (a flag, a number) are left alone: masking them would garble messages."""
MASK = "***"


def secret_values(configured: Iterable[str | None] = ()) -> list[str]:
    """The values to mask: ``configured`` keys (whatever their length) and every secret-named variable of the
    environment, longest first (so a key that contains another is masked whole)."""
    found = {v for v in configured if v}
    found |= {v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(found, key=len, reverse=True)


def mask_secrets(text: str, configured: Iterable[str | None] = ()) -> str:
    """``text`` with the value of every secret (:func:`secret_values`) replaced by ``***``."""
    for value in secret_values(configured):
        text = text.replace(value, MASK)
    return text


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (or its type): third-party errors inside one-line reports."""
    return (str(error).strip().splitlines() or [error.__class__.__name__])[0][:limit]


class AudioMLQAError(Exception):
    """An error caused by input or environment, reported by the CLI as one line without a traceback."""
