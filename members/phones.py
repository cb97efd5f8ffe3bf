"""Mainland China mobile numbers: one normal form for storage, matching and login names."""

from __future__ import annotations

import re
import unicodedata

MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
_SEPARATORS_RE = re.compile(r"[\s\-()（）]")


def normalize_phone(value: object) -> str | None:
    """Return the 11-digit mobile number in ``value``, or None when it is not one.

    Accepts what rosters contain: full-width digits, spaces and dashes, a ``+86``/``86``
    prefix, and numbers Excel stored as integers or floats (13800001111.0).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not value.is_integer():
            return None
        text = str(int(value))
    elif isinstance(value, str):
        text = _SEPARATORS_RE.sub("", unicodedata.normalize("NFKC", value))
    else:
        return None
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("86") and len(text) == 13:
        text = text[2:]
    return text if MOBILE_RE.fullmatch(text) else None
