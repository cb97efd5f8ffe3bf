"""Refuse oversized bodies before anything reads them."""

from __future__ import annotations

from django.conf import settings

from accounts import errors
from backend.exceptions import _json_error


class BodySizeLimitMiddleware:
    """413 in the error shape when Content-Length exceeds ``MAX_BODY_BYTES``.

    Django enforces ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only for ``request.body`` and forms; DRF's
    parsers read the stream directly, so the limit is applied here for every request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return _json_error(errors.VALIDATION_ERROR, "Content-Length 无效。", 400)
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return _json_error(errors.REQUEST_TOO_LARGE, "请求体过大。", 413)
        return self.get_response(request)
