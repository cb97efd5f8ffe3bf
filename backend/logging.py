"""Log lines: JSON by default, one object per line; text under ``make run`` (``LOG_FORMAT=text``).
docs/operations.md, 日志 / Logs.

Every record carries ``time``, ``level``, ``logger``, ``message`` and the ``request_id`` of the
request or Celery task it was written for (backend.request_id). :class:`RequestLogMiddleware`
writes one line per request on the ``backend.request`` logger and feeds the request metrics
(backend.metrics): method, route template, status, duration, database time, user id.
"""

from __future__ import annotations

import contextlib
import logging
import time

from django.db import connections
from django.utils.functional import empty
from pythonjsonlogger.json import JsonFormatter

from backend import metrics, request_id

request_logger = logging.getLogger("backend.request")

JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (``-`` in text when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id.current() or None
        return True


class JsonLineFormatter(JsonFormatter):
    """python-json-logger's formatter with the field names of docs/operations.md: ``time`` in
    ISO 8601 with milliseconds and offset, ``level``, ``logger``; Chinese left readable."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(JSON_FIELDS, *args, **kwargs)

    def formatTime(self, record, datefmt=None):
        moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        offset = time.strftime("%z", time.localtime(record.created))
        return f"{moment}.{int(record.msecs):03d}{offset[:3]}:{offset[3:]}"


class TextFormatter(logging.Formatter):
    def __init__(self, *args, **kwargs):
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not getattr(record, "request_id", None):
            record.request_id = "-"
        return super().format(record)


def _user_id(request):
    user = getattr(request, "user", None)
    # The session user is a lazy object: never load it only to log it (the view did, or not).
    if user is None or getattr(user, "_wrapped", None) is empty:
        return None
    return user.pk if getattr(user, "is_authenticated", False) else None


class _DbTimer:
    """A ``connection.execute_wrapper`` adding up the time spent in the driver."""

    __slots__ = ("seconds",)

    def __init__(self):
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start


class RequestLogMiddleware:
    """One ``backend.request`` line and the request metrics, per request (after the id is bound)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        timer = _DbTimer()
        start = time.perf_counter()
        status = 500
        try:
            with contextlib.ExitStack() as stack:
                for alias in connections:
                    stack.enter_context(connections[alias].execute_wrapper(timer))
                response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            seconds = time.perf_counter() - start
            match = getattr(request, "resolver_match", None)
            route = match.route if match is not None and match.route else metrics.UNMATCHED_ROUTE
            metrics.observe_request(route, request.method, status, seconds, timer.seconds)
            request_logger.info(
                "%s %s %s %.1fms",
                request.method,
                route,
                status,
                seconds * 1000,
                extra={
                    "method": request.method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "db_ms": round(timer.seconds * 1000, 2),
                    "user_id": _user_id(request),
                },
            )
