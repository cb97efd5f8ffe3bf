"""OpenAPI post-processing: the one error shape, declared once and referenced everywhere."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "所有错误响应的统一格式。",
    "properties": {
        "code": {"type": "string", "description": "稳定的机器可读错误码"},
        "detail": {"type": "string", "description": "中文说明"},
        "fields": {
            "type": "object",
            "description": "仅校验错误：字段名 → 错误信息列表",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["code", "detail"],
    # Some errors carry extra machine-readable data (for example distance_m with too_far).
    "additionalProperties": True,
}

_DESCRIPTIONS = {
    "400": "请求参数有误",
    "401": "未登录或登录凭证无效",
    "403": "无权限",
    "404": "资源不存在",
    "405": "不支持的请求方法",
    "409": "与当前状态冲突",
    "413": "请求体过大",
    "415": "不支持的内容类型",
    "422": "无法处理",
    "429": "请求过于频繁（响应头 Retry-After）",
    "500": "服务器内部错误",
    "503": "依赖服务不可用",
}


def add_error_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Add the ``Error`` component and the errors every operation can answer with."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                # A comma-separated query list (?ordering=a,b) cannot be written empty: "?x="
                # reads as one empty item, which StrictFilterSet refuses.
                if parameter.get("in") == "query" and schema.get("type") == "array":
                    schema.setdefault("minItems", 1)
            responses = operation.setdefault("responses", {})
            secured = operation.get("security") != [{}] and any(
                "jwtAuth" in item for item in operation.get("security", [])
            )
            codes = ["400", "404", "405", "413", "415", "429", "500"]
            if secured:
                codes += ["401", "403"]
            for code in codes:
                responses.setdefault(
                    code,
                    {
                        "description": _DESCRIPTIONS[code],
                        "content": {"application/json": {"schema": ref}},
                    },
                )
            for code, response in responses.items():
                # Errors declared by views as the Error serializer get the shared component.
                if code in _DESCRIPTIONS and "content" not in response:
                    response["content"] = {"application/json": {"schema": ref}}
    return result


def close_request_bodies(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Request bodies take exactly their properties: the API refuses any other key with 400
    ``unknown_field`` or ``read_only_field`` (accounts.fields.check_keys), and the schema says so
    (``additionalProperties: false`` on every request component)."""
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and schema.get("type") == "object":
            schema.setdefault("additionalProperties", False)
    return result
