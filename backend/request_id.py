"""The request id: one short string that follows a request into its log lines, the outbox rows
it writes and the Celery tasks it queues (docs/operations.md, 日志 / Logs).

A leaf module (it imports nothing of the project), so the apps may read the current id
(``accounts.models.Notification.request_id`` defaults to it) without importing the rest of
``backend/`` (docs/architecture.md, the import rule).

``X-Request-ID`` from the client (or nginx) is kept when it is 8–64 characters of
``[A-Za-z0-9._-]``; anything else is replaced by a new uuid4 hex. The id is echoed in the
response's ``X-Request-ID``.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import uuid
from collections.abc import Iterator

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
PATTERN = re.compile(r"[A-Za-z0-9._-]{8,64}")

_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def new() -> str:
    """A fresh id: 32 hex digits."""
    return uuid.uuid4().hex


def accept(value: str | None) -> str:
    """``value`` when it is a well-formed id, else a fresh one."""
    if value and PATTERN.fullmatch(value):
        return value
    return new()


def current() -> str:
    """The id of the request (or task) this code runs for; ``""`` outside any."""
    return _current.get()


@contextlib.contextmanager
def bound(value: str) -> Iterator[str]:
    """Run a block under request id ``value`` (an empty value leaves no id)."""
    token = _current.set(value or "")
    try:
        yield value
    finally:
        _current.reset(token)


class RequestIdMiddleware:
    """Outermost: binds the request's id for everything below and returns it in the header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        value = accept(request.META.get(META_KEY))
        request.request_id = value
        token = _current.set(value)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = value
        return response
