"""The real settings without the request-id and request-log middlewares (backend.request_id,
backend.logging): what bench/observability.py compares them against."""

from backend.settings import *  # noqa: F403
from backend.settings import MIDDLEWARE

MIDDLEWARE = [
    name
    for name in MIDDLEWARE
    if name
    not in {"backend.request_id.RequestIdMiddleware", "backend.logging.RequestLogMiddleware"}
]
