"""``GET /healthz``: 200 when the database answers, 503 in the error shape when it does not."""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from accounts import errors
from backend.exceptions import _json_error

logger = logging.getLogger(__name__)


@require_GET
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.error("health check: database unreachable: %s", type(exc).__name__)
        return _json_error(errors.SERVICE_UNAVAILABLE, "数据库不可用。", 503)
    return JsonResponse({"status": "ok", "database": connection.vendor})
