"""OpenAPI post-processing: the one error shape, declared once and referenced everywhere."""

from __future__ import annotations

from typing import Any


def _integer(description: str) -> dict[str, Any]:
    return {"type": "integer", "description": description}


def _ids(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "integer"}, "description": description}


# The machine-readable data some errors carry beside code and detail (ApplicationError.extra),
# each typed; no error carries any other key.
ERROR_EXTRAS: dict[str, dict[str, Any]] = {
    "invite_until": {
        "type": "string",
        "format": "date-time",
        "description": "invite_window：邀请团队优先期的截止时间",
    },
    "conflicting_request": _integer("time_conflict：时间重叠的另一项需求的 ID"),
    "opens_at": {
        "type": "string",
        "format": "date-time",
        "description": "check_in_window：可签到的最早时间",
    },
    "closes_at": {
        "type": "string",
        "format": "date-time",
        "description": "check_in_window：可签到的最晚时间",
    },
    "distance_m": _integer("too_far：签到位置与服务地点的距离（米）"),
    "geofence_m": _integer("too_far：允许的签到半径（米）"),
    "claimed": _integer("slots_below_claimed：已认领人数"),
    "conflicting_members": _integer("request_has_claims：新时间另有任务的委员人数"),
    "record": _integer("record_exists：该需求已有的服务记录 ID"),
    "invalid": _ids("invalid_participants：不符合条件的认领 ID"),
    "flags": {
        "type": "array",
        "items": {"$ref": "#/components/schemas/AnomalyFlagCodeEnum"},
        "description": "flags_not_acknowledged：记录的异常标记",
    },
    "limit": _integer("too_many_attachments：每条记录的照片上限"),
    "existing": _integer("too_many_attachments：已有照片数"),
    "max_minutes": _integer("hours_above_window：每人服务时长上限（分钟）"),
    "claims": _ids("hours_above_window：超过上限的认领 ID"),
    "max_days": _integer("证明：时间范围最多天数"),
    "max_services": _integer("证明：最多服务条数"),
    "services": _integer("证明：范围内的服务条数"),
    "max_occurrences": _integer("周期需求：最多次数"),
    "max_bytes": _integer("图片：每张最大字节数"),
    "max_pixels": _integer("图片：最多像素数"),
    "width": _integer("图片：宽（像素）"),
    "height": _integer("图片：高（像素）"),
    "status": {
        "allOf": [{"$ref": "#/components/schemas/EnterpriseAppealStatusEnum"}],
        "description": "appeal_wrong_state / appeal_not_rateable：诉求当前的状态",
    },
    "visits_this_month": _integer("visit_cap_reached：该企业本月已走访次数"),
    "cap": _integer("visit_cap_reached：每月走访上限"),
    "inactive_members": _ids("liaison_invalid：不在册的委员 ID"),
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "所有错误响应的统一格式。各操作的错误响应把 `code` 限定为该操作可能返回的错误码（枚举）。"
    ),
    "properties": {
        "code": {"type": "string", "description": "稳定的机器可读错误码"},
        "detail": {"type": "string", "description": "中文说明"},
        "fields": {
            "type": "object",
            "description": "仅校验错误：字段名 → 错误信息列表",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        **ERROR_EXTRAS,
    },
    "required": ["code", "detail"],
    "additionalProperties": False,
}

# The codes the one error handler (backend.exceptions) gives to any operation, by status: every
# operation whose codes are declared (accounts.errors.error_codes) lists them beside its own.
GENERIC_CODES: dict[str, list[str]] = {
    "400": ["validation_error"],
    "401": ["not_authenticated", "authentication_failed", "token_not_valid"],
    "403": ["permission_denied"],
    "404": ["not_found"],
    "405": ["method_not_allowed"],
    "413": ["request_too_large"],
    "415": ["unsupported_media_type"],
    "429": ["throttled"],
    "500": ["server_error"],
}
# ...and to any operation taking a body (accounts.parsers, accounts.fields.check_keys).
BODY_CODES: dict[str, list[str]] = {
    "400": ["parse_error", "json_too_deep", "unknown_field", "read_only_field"],
}
# Statuses whose generic codes only a signed-in operation gives (the others authenticate no one).
SIGNED_IN_STATUSES = ("401", "403")
# Codes of the Idempotency-Key machinery (services.idempotency), on every operation taking one.
IDEMPOTENCY_CODES: dict[str, list[str]] = {
    "400": ["invalid_idempotency_key"],
    "409": ["idempotency_in_progress"],
    "422": ["idempotency_mismatch"],
}
IDEMPOTENCY_HEADER = "Idempotency-Key"

_DESCRIPTIONS = {
    "400": "请求参数有误",
    "401": "未登录或登录凭证无效",
    "403": "无权限",
    "404": "资源不存在",
    "405": "不支持的请求方法",
    "409": "与当前状态冲突",
    "410": "已失效",
    "413": "请求体过大",
    "415": "不支持的内容类型",
    "422": "无法处理",
    "429": "请求过于频繁（响应头 Retry-After）",
    "500": "服务器内部错误",
    "503": "依赖服务不可用",
}

RETRY_AFTER = {
    "description": "多少秒后再试",
    "schema": {"type": "integer", "minimum": 0},
}
RETRY_AFTER_LEASE = {
    "description": "仅 `idempotency_in_progress`：首次请求仍在处理，多少秒后再试",
    "schema": {"type": "integer", "minimum": 0},
}
REPLAYED = {
    "description": "`true`：这是同一 Idempotency-Key 首次请求的重放（状态码与响应体与首次相同）",
    "schema": {"type": "string", "enum": ["true"]},
}
ETAG = {"description": "弱 ETag：下次带 If-None-Match 询问是否变化", "schema": {"type": "string"}}
LAST_MODIFIED = {
    "description": "最后修改时间（HTTP 日期；修改刚发生的一秒内不给出）",
    "schema": {"type": "string"},
}


def _merge(*lists: list[str]) -> list[str]:
    out: list[str] = []
    for codes in lists:
        out.extend(code for code in codes if code not in out)
    return out


def _error_schema(codes: list[str]) -> dict[str, Any]:
    """The Error component with ``code`` closed to ``codes``."""
    return {
        "allOf": [
            {"$ref": "#/components/schemas/Error"},
            {
                "type": "object",
                "properties": {"code": {"type": "string", "enum": codes}},
            },
        ]
    }


def _closed_codes(schema: dict[str, Any]) -> list[str] | None:
    for part in schema.get("allOf", []):
        enum = part.get("properties", {}).get("code", {}).get("enum")
        if enum is not None:
            return enum
    return None


def _header_names(operation: dict[str, Any]) -> set[str]:
    return {
        p.get("name", "").lower()
        for p in operation.get("parameters", [])
        if p.get("in") == "header"
    }


def add_error_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Add the ``Error`` component, the errors every operation can answer with and the headers.

    An operation whose view declares its errors (``x-error-codes``, from
    ``accounts.errors.error_codes``) gets a closed ``code`` enum on every error response: the
    handler's codes for that status (``GENERIC_CODES``), the Idempotency-Key codes when it takes
    one, and its own. The others keep ``code`` a string. Declared headers: Retry-After on 429
    (and 409 with an Idempotency-Key), Idempotent-Replayed on the answers of an operation taking
    an Idempotency-Key, ETag and Last-Modified on conditional reads (If-None-Match).
    """
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
            headers = _header_names(operation)
            idempotent = IDEMPOTENCY_HEADER.lower() in headers
            declared = operation.get("x-error-codes")
            codes = ["400", "404", "405", "413", "415", "429", "500"]
            if secured:
                codes += ["401", "403"]
            if declared is not None:
                codes += list(declared)
            if idempotent:
                codes += list(IDEMPOTENCY_CODES)
            for code in codes:
                responses.setdefault(code, {"description": _DESCRIPTIONS[code]})
            for code, response in responses.items():
                if code not in _DESCRIPTIONS:
                    continue
                # Errors declared by views (an OpenApiResponse without a body) get the shape.
                if "content" not in response:
                    if declared is None:
                        schema: dict[str, Any] = ref
                    else:
                        generic = (
                            []
                            if code in SIGNED_IN_STATUSES and not secured
                            else GENERIC_CODES.get(code, [])
                        )
                        enum = _merge(
                            generic,
                            BODY_CODES.get(code, []) if "requestBody" in operation else [],
                            IDEMPOTENCY_CODES.get(code, []) if idempotent else [],
                            declared.get(code, []),
                        )
                        schema = _error_schema(enum) if enum else ref
                    response["content"] = {"application/json": {"schema": schema}}
                if code == "429":
                    response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER
                elif code == "409" and idempotent:
                    response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER_LEASE
            for example in operation.pop("x-error-examples", []):
                content = responses[example["status"]]["content"]["application/json"]
                enum = _closed_codes(content["schema"])
                if enum is not None and example["value"]["code"] not in enum:
                    raise ValueError(f"example {example['name']}: code not declared")
                content.setdefault("examples", {})[example["name"]] = {"value": example["value"]}
            for code, response in responses.items():
                if idempotent and code not in _DESCRIPTIONS and code.startswith("2"):
                    response.setdefault("headers", {})["Idempotent-Replayed"] = REPLAYED
                if "if-none-match" in headers and code in ("200", "304"):
                    response_headers = response.setdefault("headers", {})
                    response_headers["ETag"] = {**ETAG, "required": True}
                    response_headers["Last-Modified"] = LAST_MODIFIED
    return result


def close_request_bodies(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Request bodies take exactly their properties: the API refuses any other key with 400
    ``unknown_field`` or ``read_only_field`` (accounts.fields.check_keys), and the schema says so
    (``additionalProperties: false`` on every request component)."""
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and schema.get("type") == "object":
            schema.setdefault("additionalProperties", False)
    return result


def hoist_branch_defaults(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """A blank-allowed text field is ``oneOf: [{pattern: non-empty}, {maxLength: 0}]``;
    drf-spectacular leaves its ``default`` inside the first branch, where ``''`` breaks that
    branch's own pattern (openapi-spec-validator rejects it). The default belongs to the field:
    it moves up beside the ``oneOf``, where ``''`` is valid through the second branch."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("oneOf", "anyOf"):
                branches = node.get(key)
                if isinstance(branches, list):
                    for branch in branches:
                        if isinstance(branch, dict) and "default" in branch:
                            node.setdefault("default", branch.pop("default"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result
