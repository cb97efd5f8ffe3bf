"""Open311 GeoReport v2 endpoints (JSON): services.json, requests.json, requests/{id}.json."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.fields import MAX_ID
from services.open311 import selectors, writes
from services.open311.auth import HasStationApiKey, Open311Throttle, StationApiKeyAuthentication
from services.open311.errors import UnknownRequest
from services.open311.serializers import (
    Open311PostedSerializer,
    Open311PostInputSerializer,
    Open311QuerySerializer,
    Open311RequestSerializer,
    Open311ServiceSerializer,
)

TAG = "open311"

_ERROR_TEXT = {
    400: "参数缺失或有误",
    403: "缺少 api_key 或 api_key 无效",
    404: "service_code 或需求不存在",
    405: "不支持的请求方法",
    413: "请求体过大",
    415: "只接受 application/x-www-form-urlencoded",
    429: "请求过于频繁（响应头 Retry-After）",
    500: "服务器内部错误",
}


# Open311's error body: a list of {code, description} (inline: error responses are not lists
# to drf-spectacular's serializer handling).
OPEN311_ERROR_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "properties": {
            "code": {"type": "integer", "description": "HTTP 状态码"},
            "description": {"type": "string", "description": "中文说明"},
        },
        "required": ["code", "description"],
    },
}


def open311_errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Open311-shaped error responses for the schema: ``[{code, description}]``."""
    return {
        code: OpenApiResponse(
            response=OPEN311_ERROR_SCHEMA,
            description=f"{_ERROR_TEXT[code]}（Open311 错误格式）",
        )
        for code in codes
    }


READ_ERRORS = open311_errors(400, 404, 405, 413, 415, 429, 500)


class Open311View(APIView):
    """Public reads, key-holding posts; form bodies only; Open311 throttles."""

    authentication_classes = [StationApiKeyAuthentication]
    permission_classes = [HasStationApiKey]
    throttle_classes = [Open311Throttle]
    parser_classes = [FormParser]
    renderer_classes = [JSONRenderer]

    @property
    def throttle_scope(self) -> str:
        return "open311_write" if self.request.method == "POST" else "open311_read"


def _requests_body(rows, *, now) -> list:
    context = {"now": now, "services": selectors.services_by_specialty(rows)}
    return Open311RequestSerializer(rows, many=True, context=context).data


class ServiceListView(Open311View):
    """The service catalogue: one service per specialty, plus ``general``."""

    @extend_schema(
        tags=[TAG],
        summary="Open311 服务目录（services.json）",
        operation_id="open311_services",
        description=(
            "公开，无需登录。每个启用的专长是一项服务（service_code = 专长代码），另有 "
            "`general`（综合服务）对应未指定专长的需求。group 为该专长通常所属的三暖类别"
            "（暖企、暖岙、暖心），其余为“服务需求”。metadata 恒为 false，type 恒为 realtime。"
        ),
        parameters=[
            OpenApiParameter("jurisdiction_id", str, required=False, description="可省略，忽略其值")
        ],
        auth=[],
        responses={200: Open311ServiceSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request):
        return Response(Open311ServiceSerializer(selectors.service_list(), many=True).data)


class RequestListView(Open311View):
    """Service requests: public search, and posts by a station's API key."""

    @extend_schema(
        tags=[TAG],
        summary="Open311 查询服务需求（requests.json）",
        operation_id="open311_requests_list",
        description=(
            "公开，无需登录，不含任何个人信息。按发布时间（requested_datetime）倒序，最多 "
            "OPEN311_MAX_REQUESTS（默认 1000）条。未给 start_date/end_date 时为最近 90 天；"
            "两者相隔不能超过 90 天。给出 service_request_id 时忽略其他参数。状态映射："
            "open、full、in_progress → open；completed、verified、cancelled、expired → closed。"
        ),
        parameters=[Open311QuerySerializer],
        auth=[],
        responses={200: Open311RequestSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request):
        query = Open311QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        rows = selectors.request_list(query=query.to_query(), now=now)
        return Response(_requests_body(rows, now=now))

    @extend_schema(
        tags=[TAG],
        summary="Open311 提交服务需求（驿站 API 密钥）",
        operation_id="open311_requests_create",
        description=(
            "`application/x-www-form-urlencoded`（JSON 请求体 → 415）。`api_key` 为驿站的 "
            "Open311 密钥（缺失或无效 → 403），需求归属该驿站，以密钥签发人的名义经工作流创建。"
            "位置：`lat` + `long`（WGS-84），或 `address_string`（坐标取驿站的）。"
            "`first_name`/`last_name`/`phone` 存为群众联系人（不公开）；email、media_url、"
            "device_id、account_id、address_id 忽略。扩展属性：`attribute[campaign]`（活动 ID 或 "
            "warm_enterprise/warm_village/warm_heart；默认取该服务所属三暖类别在开始日进行中的活动，"
            "否则当天唯一进行中的活动）、`attribute[starts_at]`（默认明天 9:00）、"
            "`attribute[ends_at]`（默认开始后 8 小时）、`attribute[slots]`（默认 1）、"
            "`attribute[title]`（默认取 description 第一行）。"
        ),
        request={"application/x-www-form-urlencoded": Open311PostInputSerializer},
        auth=[],
        responses={
            201: Open311PostedSerializer(many=True),
            **open311_errors(400, 403, 404, 405, 413, 415, 429, 500),
        },
    )
    def post(self, request):
        data = Open311PostInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        service_request = writes.request_post(key=request.auth, **data.workflow_arguments())
        body = Open311PostedSerializer(
            [
                {
                    "service_request_id": str(service_request.pk),
                    "service_notice": (
                        f"已转交{service_request.station.name}，"
                        f"委员可在“我为群众办一事”小程序中认领。"
                    ),
                    "account_id": None,
                }
            ],
            many=True,
        ).data
        return Response(body, status=status.HTTP_201_CREATED)


class RequestDetailView(Open311View):
    """One service request, as a one-element list (as the spec has it)."""

    @extend_schema(
        tags=[TAG],
        summary="Open311 单个服务需求（requests/{id}.json）",
        operation_id="open311_request_detail",
        description="公开，无需登录，不含任何个人信息。返回只含一项的数组；不存在 → 404。",
        parameters=[
            OpenApiParameter(
                "service_request_id", str, OpenApiParameter.PATH, description="需求 ID"
            ),
            OpenApiParameter(
                "jurisdiction_id", str, required=False, description="可省略，忽略其值"
            ),
        ],
        auth=[],
        responses={200: Open311RequestSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request, service_request_id: str):
        text = service_request_id
        if not (text.isascii() and text.isdigit() and len(text) <= 19 and 1 <= int(text) <= MAX_ID):
            raise UnknownRequest()
        request_id = int(text)
        now = timezone.now()
        row = selectors.request_detail(request_id=request_id)
        return Response(_requests_body([row], now=now))
