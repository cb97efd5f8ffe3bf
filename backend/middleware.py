"""Refuse oversized bodies before anything reads them."""

from __future__ import annotations

from django.conf import settings
from django.urls import Resolver404, resolve

from accounts import errors
from backend.exceptions import _json_error


def body_limit(request) -> int:
    """``MAX_BODY_BYTES``, or the larger limit a view names in ``body_limit_setting``.

    The views that take photos (POST records/{id}/attachments/, and the residents' page
    POST /q/<code>/) name ``ATTACHMENTS_MAX_UPLOAD_BYTES``; every other route keeps the default.
    Resolved only for a body above the default, so ordinary requests pay nothing."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    # A class-based view carries the names on its class, a function view on itself.
    view_class = getattr(match.func, "view_class", match.func)
    name = getattr(view_class, "body_limit_setting", None)
    methods = getattr(view_class, "body_limit_methods", ())
    if not name or request.method not in methods:
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return max(getattr(settings, name), settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


class BodySizeLimitMiddleware:
    """413 in the error shape when Content-Length exceeds ``MAX_BODY_BYTES`` (or the limit of
    the one view that lifts it, :func:`body_limit`).

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
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE and length > body_limit(request):
            return _json_error(errors.REQUEST_TOO_LARGE, "请求体过大。", 413)
        return self.get_response(request)
