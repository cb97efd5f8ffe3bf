"""The service archive over HTTP: my history, a member's history, the annual workbook."""

from __future__ import annotations

from urllib.parse import quote

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsStaff
from accounts.throttles import ScopedThrottle
from members.models import Member
from services.api import url_pk
from services.archive import exports
from services.archive import selectors as archive
from services.archive.serializers import (
    AnnualExportQuerySerializer,
    HistoryQuerySerializer,
    ServiceHistorySerializer,
    ServiceRowSerializer,
)
from services.requests.transitions import member_of
from services.stats.views import FileNegotiation

ARCHIVE = "archive"
_HISTORY = (
    "只含已核实（verified）服务记录上计入统计的时长条目，按服务日期倒序分页（page、page_size）。"
    "每条：服务日期、驿站、村/社区、需求标题、服务内容、本人核实时长、服务群众人次、本人在该记录上"
    "获得的积分。totals、by_year、by_kind：筛选期间的合计、按年、按三暖类型（服务次数、时长、"
    "服务群众人次、积分）。期间：year，或 from/to（含首尾，可只填一端），不填为全部；year 与 "
    "from/to 同时给出或 from 晚于 to → 400 `invalid_period`。"
)


class HistoryMixin(generics.GenericAPIView):
    serializer_class = ServiceRowSerializer
    queryset = Member.objects.none()

    def history(self, request, member: Member) -> Response:
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        given = query.validated_data
        period = archive.resolve_period(
            year=given.get("year"), date_from=given.get("from"), date_to=given.get("to")
        )
        page = self.paginate_queryset(archive.service_rows(member.pk, period))
        figures = archive.totals(member.pk, period)
        paginator = self.paginator
        body = {
            "member": member,
            "year": period.year,
            "from": period.date_from,
            "to": period.date_to,
            "totals": figures["total"],
            "by_year": figures["by_year"],
            "by_kind": figures["by_kind"],
            "count": paginator.page.paginator.count,
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "results": page,
        }
        return Response(ServiceHistorySerializer(body, context={"request": request}).data)


@extend_schema(tags=[ARCHIVE])
class MyHistoryView(HistoryMixin):
    """The signed-in member's service archive (履职档案)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="我的履职档案",
        description="本人的已核实服务。"
        + _HISTORY
        + "无委员档案 → 403 `member_profile_required`。",
        parameters=[HistoryQuerySerializer],
        responses={200: ServiceHistorySerializer},
    )
    def get(self, request):
        return self.history(request, member_of(request.user))


@extend_schema(tags=[ARCHIVE])
class MemberHistoryView(HistoryMixin):
    """One member's service archive, for staff and the member's team leader."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="委员履职档案",
        description=(
            "机关工作人员、该委员本人及其所在团队负责人可看；其他人（其他团队负责人、驿站管理员、"
            "其他委员）→ 403 `not_history_viewer`；委员不存在 → 404。" + _HISTORY
        ),
        parameters=[HistoryQuerySerializer],
        responses={200: ServiceHistorySerializer},
    )
    def get(self, request, pk):
        return self.history(request, archive.history_member(request.user, url_pk(self)))


@extend_schema(tags=[ARCHIVE])
class AnnualExportView(APIView):
    """Every member's year as a workbook (staff)."""

    permission_classes = [IsStaff]
    content_negotiation_class = FileNegotiation
    throttle_classes = [ScopedThrottle]
    throttle_scope = "exports"

    @extend_schema(
        summary="年度履职服务统计导出（Excel，机关工作人员）",
        description=(
            "一张工作表：每位在册委员（及当年有服务的已离册委员）一行：姓名、界别、团队、当年已核实"
            "服务次数、核实服务时长（小时）、服务群众人次，暖企/暖岙/暖心各自的三项，履职积分（净值，"
            "按服务日期计）。year 默认今年；不是整数或不在 2000–2100 之间 → 400 "
            "`validation_error`。"
        ),
        parameters=[AnnualExportQuerySerializer],
        responses={(200, exports.XLSX_TYPE): OpenApiTypes.BINARY},
    )
    def get(self, request):
        query = AnnualExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        year = query.validated_data.get("year") or timezone.localdate().year
        body, content_type, name = exports.annual_file(year)
        response = HttpResponse(body, content_type=content_type)
        shown = quote(f"{year}年度履职服务-{name}")
        response["Content-Disposition"] = (
            f"attachment; filename=\"{name}\"; filename*=UTF-8''{shown}"
        )
        return response
