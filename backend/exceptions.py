"""The one error handler: every error leaves the API as ``{"code", "detail", "fields"?}``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from accounts import errors
from accounts.errors import ApplicationError, TooManyRequests
from backend import metrics

logger = logging.getLogger(__name__)

# DRF's own exceptions → (code, Chinese detail). DRF's messages are translated too, but these
# are written for the people who read them: members on a phone, staff at a desk.
_DRF_ERRORS: list[tuple[type[Exception], str, str]] = [
    (InvalidToken, errors.TOKEN_NOT_VALID, "登录凭证无效或已过期，请重新登录。"),
    (exceptions.ParseError, errors.PARSE_ERROR, "请求体不是有效的 JSON。"),
    (exceptions.NotAuthenticated, errors.NOT_AUTHENTICATED, "请先登录。"),
    (exceptions.AuthenticationFailed, errors.AUTHENTICATION_FAILED, "身份认证失败。"),
    (exceptions.PermissionDenied, errors.PERMISSION_DENIED, "您没有执行该操作的权限。"),
    (exceptions.NotFound, errors.NOT_FOUND, "未找到该资源。"),
    (exceptions.MethodNotAllowed, errors.METHOD_NOT_ALLOWED, "不支持该请求方法。"),
    (exceptions.NotAcceptable, errors.NOT_ACCEPTABLE, "无法提供请求的响应格式。"),
    (exceptions.UnsupportedMediaType, errors.UNSUPPORTED_MEDIA_TYPE, "不支持的请求内容类型。"),
    (exceptions.Throttled, errors.THROTTLED, "请求过于频繁，请稍后再试。"),
]


def error_body(code: str, detail: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The error shape as a dict."""
    body: dict[str, Any] = {"code": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return body


def _flatten_fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested validation detail into ``{"field.sub": ["message", ...]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten_fields(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, value in enumerate(detail):
                out.update(_flatten_fields(value, f"{prefix}[{index}]" if prefix else str(index)))
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return {key: value for key, value in out.items() if value}


def _validation_response(detail: Any) -> Response:
    fields = _flatten_fields(detail)
    first = next(iter(fields.values()), ["请求参数有误。"])[0]
    name = next(iter(fields), "")
    summary = first if name in ("", "non_field_errors") else f"{name}：{first}"
    return Response(
        error_body(errors.VALIDATION_ERROR, summary, fields), status=status.HTTP_400_BAD_REQUEST
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF ``EXCEPTION_HANDLER``: shape every error, roll back the request's transaction."""
    set_rollback()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return _validation_response(detail)
    elif isinstance(exc, RequestDataTooBig):
        return Response(
            error_body(errors.REQUEST_TOO_LARGE, "请求体过大。"),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    elif isinstance(exc, (TooManyFilesSent, TooManyFieldsSent)):
        # DATA_UPLOAD_MAX_NUMBER_FILES / _FIELDS: a form of more parts than any request takes.
        return Response(
            error_body(errors.VALIDATION_ERROR, "表单的文件或字段数量过多。"),
            status=status.HTTP_400_BAD_REQUEST,
        )
    elif isinstance(exc, TokenError):
        exc = InvalidToken()

    if isinstance(exc, (exceptions.Throttled, TooManyRequests)):
        metrics.throttled(getattr(context.get("view"), "throttle_scope", "") or "other")

    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        body = error_body(exc.code, str(exc.detail), exc.fields)
        body.update(exc.extra)
        # 429 throttled, 409 idempotency_in_progress: when to ask again.
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(exc.wait)
        return Response(body, status=exc.status_code, headers=headers)

    if isinstance(exc, exceptions.ValidationError):
        return _validation_response(exc.detail)

    if isinstance(exc, exceptions.APIException):
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
        code, detail = _describe(exc)
        return Response(error_body(code, detail), status=exc.status_code, headers=headers)

    # Anything else is a bug: log it with its stack, tell the client nothing about it.
    request = context.get("request")
    logger.exception("Unhandled error in %s", getattr(request, "path", "?"), exc_info=exc)
    return Response(
        error_body(errors.SERVER_ERROR, "服务器内部错误，请稍后再试。"),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def _describe(exc: exceptions.APIException) -> tuple[str, str]:
    if isinstance(exc, exceptions.AuthenticationFailed):
        codes = exc.get_codes()
        if codes == "no_active_account":
            return errors.INVALID_CREDENTIALS, "用户名或密码错误，或账号已停用。"
    for klass, code, detail in _DRF_ERRORS:
        if isinstance(exc, klass):
            if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
                detail = f"请求过于频繁，请在 {int(exc.wait)} 秒后再试。"
            return code, detail
    codes = exc.get_codes()
    return (codes if isinstance(codes, str) else errors.SERVER_ERROR), str(exc.detail)


# Django-level handlers, for errors raised outside DRF views (unknown URLs, middleware).
def _json_error(code: str, detail: str, status_code: int) -> JsonResponse:
    return JsonResponse(
        error_body(code, detail), status=status_code, json_dumps_params={"ensure_ascii": False}
    )


def handler400(request, exception=None):
    return _json_error(errors.VALIDATION_ERROR, "请求有误。", 400)


def handler403(request, exception=None):
    return _json_error(errors.PERMISSION_DENIED, "您没有执行该操作的权限。", 403)


def handler404(request, exception=None):
    return _json_error(errors.NOT_FOUND, "未找到该资源。", 404)


def handler500(request):
    return _json_error(errors.SERVER_ERROR, "服务器内部错误，请稍后再试。", 500)
