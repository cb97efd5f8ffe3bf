"""Application errors: one class carrying a stable code and a Chinese detail.

Every app subclasses :class:`ApplicationError` in its own ``errors.py``; the handler in
``backend.exceptions`` turns all of them (and DRF's and Django's own) into the one shape
``{"code", "detail", "fields"?}``.
"""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException

# Codes shared by every app. Tests import these instead of repeating strings.
VALIDATION_ERROR = "validation_error"
PARSE_ERROR = "parse_error"
NOT_AUTHENTICATED = "not_authenticated"
AUTHENTICATION_FAILED = "authentication_failed"
TOKEN_NOT_VALID = "token_not_valid"  # noqa: S105 - an error code, not a secret
PERMISSION_DENIED = "permission_denied"
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
NOT_ACCEPTABLE = "not_acceptable"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
REQUEST_TOO_LARGE = "request_too_large"
THROTTLED = "throttled"
SERVER_ERROR = "server_error"
SERVICE_UNAVAILABLE = "service_unavailable"
CONFLICT = "conflict"
UNKNOWN_FIELD = "unknown_field"
READ_ONLY_FIELD = "read_only_field"

WECHAT_UNBOUND = "wechat_unbound"
WECHAT_CODE_INVALID = "wechat_code_invalid"
WECHAT_RATE_LIMITED = "wechat_rate_limited"
WECHAT_USER_BLOCKED = "wechat_user_blocked"
WECHAT_UNAVAILABLE = "wechat_unavailable"
WECHAT_ALREADY_BOUND = "wechat_already_bound"
INVALID_CREDENTIALS = "invalid_credentials"


class ApplicationError(APIException):
    """An error the API reports on purpose: status, stable ``code``, Chinese ``detail``."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = VALIDATION_ERROR
    default_detail = "请求有误。"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail=detail or self.default_detail, code=code or self.default_code)
        self.code = code or self.default_code
        self.fields = fields
        # Extra machine-readable data merged into the body (e.g. ``distance_m`` for too_far).
        self.extra = extra or {}


class InvalidInput(ApplicationError):
    """400: input failed a rule that a serializer cannot express on its own."""


class UnknownField(InvalidInput):
    """400: a body key that is no field of the operation (a typo is never silently dropped)."""

    default_code = UNKNOWN_FIELD
    default_detail = "请求中有不认识的字段。"


class ReadOnlyField(InvalidInput):
    """400: a body key that names a field the API shows but never takes (status, counters...)."""

    default_code = READ_ONLY_FIELD
    default_detail = "请求中有只读字段，不能写入。"


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    default_code = CONFLICT
    default_detail = "操作与当前状态冲突。"


class Unprocessable(ApplicationError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "unprocessable"
    default_detail = "请求无法处理。"


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = PERMISSION_DENIED
    default_detail = "您没有执行该操作的权限。"


class Unavailable(ApplicationError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = SERVICE_UNAVAILABLE
    default_detail = "服务暂时不可用，请稍后再试。"


class NotAuthenticated(ApplicationError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = NOT_AUTHENTICATED
    default_detail = "请先登录。"


class TooManyRequests(ApplicationError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = THROTTLED
    default_detail = "请求过于频繁，请稍后再试。"

    def __init__(
        self, detail: str | None = None, *, code: str | None = None, wait: int | None = None
    ):
        super().__init__(detail, code=code)
        self.wait = wait


def error_codes(
    *raised: type[ApplicationError] | tuple[int, str],
    examples: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """The errors an operation raises, for ``extend_schema(extensions=error_codes(...))``.

    Each item is an :class:`ApplicationError` subclass (its ``status_code`` and ``default_code``)
    or a ``(status, code)`` pair for an error raised with ``code=``. They become the operation's
    ``x-error-codes``; backend.schema turns them, with the codes the one handler gives to every
    operation, into a closed ``code`` enum per error status, and tests/contract_codes.py fails the
    suite when a declared code is produced by no test on that operation.

    ``examples`` are error bodies ``{"status", "name", "value"}`` (services.openapi_examples);
    backend.schema puts each on its response (they must use a declared code).
    """
    by_status: dict[str, list[str]] = {}
    for item in raised:
        if isinstance(item, tuple):
            status_code, code = item
        else:
            status_code, code = item.status_code, item.default_code
        codes = by_status.setdefault(str(status_code), [])
        if code not in codes:
            codes.append(code)
    out: dict[str, Any] = {
        "x-error-codes": {status: by_status[status] for status in sorted(by_status)}
    }
    if examples:
        out["x-error-examples"] = list(examples)
    return out
