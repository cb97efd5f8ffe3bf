"""Errors under /open311/ in Open311's shape: ``[{"code": <HTTP status>, "description": "..."}]``.

Every error of the API is made in the one shape ``{"code", "detail", ...}`` first — by the DRF
handler, by the body-size middleware (413), by Django's 404/500 handlers — and this middleware,
outermost but for SecurityMiddleware, rewrites those under /open311/ so that no path is missed.
"""

from __future__ import annotations

import json

from django.http import HttpResponse, JsonResponse

PREFIX = "/open311/"

_FALLBACK = {
    400: "请求有误。",
    403: "没有权限。",
    404: "未找到该资源。",
    405: "不支持该请求方法。",
    413: "请求体过大。",
    415: "只接受 application/x-www-form-urlencoded 请求体。",
    429: "请求过于频繁，请稍后再试。",
}
_SKIP_HEADERS = {"content-type", "content-length"}


def open311_error(status: int, description: str) -> list[dict]:
    """The Open311 error body."""
    return [{"code": status, "description": description}]


def _description(response: HttpResponse) -> str:
    fallback = _FALLBACK.get(response.status_code, "服务器内部错误，请稍后再试。")
    if "json" not in response.get("Content-Type", ""):
        return fallback
    try:
        body = json.loads(response.content)
    except ValueError:
        return fallback
    if not isinstance(body, dict) or not isinstance(body.get("detail"), str):
        return fallback
    return body["detail"]


class Open311ErrorMiddleware:
    """Rewrite error responses under /open311/ into Open311's error list."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code < 400
            or getattr(response, "streaming", False)
            or not request.path_info.startswith(PREFIX)
        ):
            return response
        # For 415 DRF names the type it got; the client needs the one it should send.
        status = response.status_code
        description = _FALLBACK[415] if status == 415 else _description(response)
        shaped = JsonResponse(
            open311_error(response.status_code, description),
            safe=False,
            status=response.status_code,
            json_dumps_params={"ensure_ascii": False},
        )
        for header, value in response.items():
            if header.lower() not in _SKIP_HEADERS:
                shaped[header] = value
        return shaped
