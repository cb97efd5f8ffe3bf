"""Statistics over HTTP: parse the filters, call ``services.stats.selectors``, serialize.

Staff see everything; station managers see the towns of their stations; members and village
liaisons get 403.
"""

from __future__ import annotations

from urllib.parse import quote

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.throttles import ScopedThrottle
from services import openapi_examples
from services.models import ServiceRequest
from services.stats import exports
from services.stats import selectors as stats
from services.stats.serializers import (
    BreakdownQuerySerializer,
    BreakdownSerializer,
    ExportQuerySerializer,
    StatsQuerySerializer,
    SummarySerializer,
    UnclaimedQuerySerializer,
    UnclaimedRequestSerializer,
)

STATS = "stats"
_SCOPE = (
    "机关工作人员看全部；驿站/工作室管理员只看所管驿站所在镇街（town 为其他镇街 → 403 "
    "`town_out_of_scope`）；委员、村/社区联络员 → 403。只统计已核实（verified）的服务记录；"
    "日期为 Asia/Shanghai 日历日，默认今年；from 晚于 to → 400 `invalid_date_range`。"
)


class CanReadStats(BasePermission):
    """Staff and station managers."""

    message = "仅政协机关工作人员和驿站/工作室管理员可以查看统计。"

    def has_permission(self, request, view) -> bool:
        return stats.can_read_stats(request.user)


def _filters(request, serializer_class=StatsQuerySerializer) -> tuple[stats.StatsFilter, dict]:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = dict(query.validated_data)
    filters = stats.resolve_filters(
        user=request.user,
        date_from=data.pop("date_from", None),
        date_to=data.pop("date_to", None),
        town=data.pop("town", None),
        campaign_kind=data.pop("campaign_kind", None),
    )
    return filters, data


@extend_schema(tags=[STATS])
class SummaryView(APIView):
    """The headline figures of a period."""

    permission_classes = [CanReadStats]

    @extend_schema(
        summary="统计汇总",
        examples=[openapi_examples.STATS_SUMMARY],
        description=(
            "服务群众人次、服务企业数、走访户数、委员参与人次、参与委员人数、需求数与完成率、"
            "各三暖类型、各活动目标进度、首次认领与核实的中位时长。" + _SCOPE
        ),
        parameters=[StatsQuerySerializer],
        responses={200: SummarySerializer},
    )
    def get(self, request):
        filters, _ = _filters(request)
        return Response(SummarySerializer(stats.stats_summary(filters=filters)).data)


@extend_schema(tags=[STATS])
class BreakdownView(APIView):
    """One breakdown of the figures: by town, station, team, 三暖 kind or month."""

    permission_classes = [CanReadStats]

    @extend_schema(
        summary="分类统计",
        description=(
            "by=town|station|team|campaign_kind|month。按团队时按认领时的团队归属：参与人次"
            "精确；服务人次等按参与者份额分摊到各团队（合计等于总数，四舍五入）。按月份列出区间"
            "内每个月（无记录为 0）。" + _SCOPE
        ),
        parameters=[BreakdownQuerySerializer],
        responses={200: BreakdownSerializer},
    )
    def get(self, request):
        filters, data = _filters(request, BreakdownQuerySerializer)
        rows = stats.stats_breakdown(filters=filters, by=data["by"])
        return Response(
            BreakdownSerializer({"filters": filters, "by": data["by"], "rows": rows}).data
        )


@extend_schema(tags=[STATS])
class UnclaimedView(generics.ListAPIView):
    """The follow-up list: open requests nobody has claimed for longer than ``hours``."""

    permission_classes = [CanReadStats]
    serializer_class = UnclaimedRequestSerializer
    queryset = ServiceRequest.objects.none()

    @extend_schema(
        summary="待跟进：长时间无人认领的需求",
        description=(
            "状态为 open、无人认领、发布超过 hours 小时（默认 48）且尚未结束的需求，"
            "按发布时间从早到晚，分页。驿站管理员只看所管驿站所在镇街。"
        ),
        parameters=[UnclaimedQuerySerializer],
    )
    def get(self, request, *args, **kwargs):
        query = UnclaimedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        queryset = stats.unclaimed_requests(user=request.user, now=now, **query.validated_data)
        page = self.paginate_queryset(queryset)
        data = UnclaimedRequestSerializer(page, many=True, context={"now": now}).data
        return self.get_paginated_response(data)


class FileNegotiation(DefaultContentNegotiation):
    """Always JSON for errors: ``?format=`` names the export's file type here, not a renderer."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(tags=[STATS])
class ExportView(APIView):
    """The statistics as a file: .xlsx (every sheet) or CSV (one sheet)."""

    permission_classes = [CanReadStats]
    content_negotiation_class = FileNegotiation
    # Per user (settings THROTTLE_EXPORTS): each export aggregates every sheet.
    throttle_classes = [ScopedThrottle]
    throttle_scope = "exports"

    @extend_schema(
        summary="导出统计（Excel / CSV）",
        description=(
            "format=xlsx：一个工作簿，工作表 汇总、按镇街、按驿站、按团队、按三暖、按月份；"
            "format=csv：sheet 指定的一张表（默认 汇总），UTF-8 带 BOM。表头为中文。"
            "任一表超过 STATS_EXPORT_MAX_ROWS 行 → 422 `export_too_large`。" + _SCOPE
        ),
        parameters=[ExportQuerySerializer],
        responses={
            (200, exports.XLSX_TYPE): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.STR,
            422: OpenApiResponse(description="导出行数超过上限（export_too_large）"),
        },
    )
    def get(self, request):
        filters, data = _filters(request, ExportQuerySerializer)
        body, content_type, name = exports.export_file(filters=filters, **data)
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = (
            f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote('服务统计-' + name)}"
        )
        return response
