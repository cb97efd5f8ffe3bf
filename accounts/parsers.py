"""The API's JSON parser: DRF's, with the nesting depth capped before the document is parsed.

Python's ``json`` recurses once per level: a body of 100,000 ``[`` raises ``RecursionError``
from the parser (and again wherever the document is walked: the idempotency fingerprint, the
serializers). No request of this API nests deeper than a few levels, so anything beyond
``JSON_MAX_DEPTH`` is refused as 400 ``json_too_deep`` before ``json.loads`` runs.
"""

from __future__ import annotations

import io
import re

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser

from accounts.errors import InvalidInput

JSON_TOO_DEEP = "json_too_deep"

# A JSON string (its escapes included) or one bracket: strings are skipped whole, so a "[" inside
# text never counts as a level.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class JsonTooDeep(InvalidInput):
    """400: the JSON body nests deeper than any request of this API does."""

    default_code = JSON_TOO_DEEP
    default_detail = "请求体的 JSON 嵌套层级过深。"


def json_depth(data: bytes, *, limit: int) -> int:
    """The deepest nesting of arrays and objects in ``data``, counted up to ``limit + 1``."""
    depth = deepest = 0
    for match in _TOKEN.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


class JSONParser(DRFJSONParser):
    """DRF's JSON parser, refusing documents nested deeper than ``JSON_MAX_DEPTH``."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read() if stream is not None else b""
        limit = settings.JSON_MAX_DEPTH
        if json_depth(data, limit=limit) > limit:
            raise JsonTooDeep(f"请求体的 JSON 嵌套层级过深（最多 {limit} 层）。")
        try:
            return super().parse(io.BytesIO(data), media_type, parser_context)
        except RecursionError:
            raise ParseError() from None
