"""Text sent to a model (a search query, a prompt), checked before any tokenizer sees it."""

from __future__ import annotations

import unicodedata
from typing import Any

MAX_CHARS = 2000
ALLOWED_CONTROLS = {"\t", "\n", "\r"}


def request_text(value: Any, name: str) -> str:
    """`value` (bytes or str) as stripped text; "" when absent. ValueError names `name` for text that is not
    UTF-8, longer than MAX_CHARS, or holds control characters (NUL and the like are refused, not stripped:
    they come from broken clients, and dropping them silently would answer a question nobody asked)."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"{name} is not valid UTF-8 ({error.reason})") from error
    value = (value or "").strip()
    if len(value) > MAX_CHARS:
        raise ValueError(f"{name} is {len(value)} characters long; at most {MAX_CHARS} are accepted")
    if control := next((c for c in value if unicodedata.category(c) == "Cc" and c not in ALLOWED_CONTROLS), None):
        raise ValueError(f"{name} contains the control character U+{ord(control):04X}")
    return value
