"""暖企 over HTTP: enterprises, their 专员, visits, 诉求, the enterprise's desk and the figures.
Parse, call one function, serialize (docs/enterprises.md).

Who: staff create, import, deactivate and assign; the current 专员 log visits and move the
诉求 of their enterprises; station managers read the enterprises their stations serve (and
verify the visits' records through the records endpoints); the enterprise reaches its own
诉求 through its desk code only, without an account.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiRequest, OpenApiResponse, extend_schema
from rest_framework import generics, renderers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMember, IsStaff
from accounts.throttles import ScopedThrottle, client_address
from members.roster import XLSX_CONTENT_TYPE
from members.views import FirstRendererNegotiation, XlsxRenderer
from services.api import CONFLICT, UNPROCESSABLE, url_pk
from services.enterprises import appeals, codes, errors, figures, imports, selectors, visits, writes
from services.enterprises.serializers import (
    AppealInputSerializer,
    AppealRatingInputSerializer,
    AppealReferInputSerializer,
    AppealSerializer,
    DeactivateInputSerializer,
    DeskAppealInputSerializer,
    DeskAppealSerializer,
    DeskCodeSerializer,
    DeskSerializer,
    EnterpriseInputSerializer,
    EnterpriseSerializer,
    FiguresQuerySerializer,
    FiguresRowSerializer,
    ImportResultSerializer,
    ImportUploadSerializer,
    LiaisonAssignInputSerializer,
    LiaisonSerializer,
    MyEnterpriseSerializer,
    NoInputSerializer,
    PeriodQuerySerializer,
    RejectInputSerializer,
    ResolveInputSerializer,
    VisitInputSerializer,
    VisitResultSerializer,
    VisitSerializer,
)
from services.intake import abuse
from services.intake.writes import resident_for
from services.models import Enterprise, EnterpriseAppeal, EnterpriseLiaison, EnterpriseVisit
from services.stats import selectors as stats
from services.stats.views import CanReadStats, FileNegotiation

ENTERPRISES = "enterprises"


def _context(request) -> dict:
    """The serializer context: which enterprises the reader is a current 专员 of."""
    liaison_of = set()
    if request.user.is_authenticated:
        liaison_of = set(
            EnterpriseLiaison.objects.filter(
                selectors.current(), member__user=request.user
            ).values_list("enterprise_id", flat=True)
        )
    return {"request": request, "liaison_of": liaison_of}


def _visible(request, pk: int) -> Enterprise:
    return get_object_or_404(selectors.visible(request.user), pk=pk)


@extend_schema(tags=[ENTERPRISES])
class EnterpriseListView(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = EnterpriseSerializer

    def get_queryset(self):
        return selectors.visible(self.request.user).order_by("town_id", "name", "id")

    def get_serializer_context(self):
        return _context(self.request)

    def get_permissions(self):
        return [IsStaff()] if self.request.method == "POST" else super().get_permissions()

    @extend_schema(
        summary="暖企企业列表",
        description="机关工作人员看全部；驿站管理员看所管驿站服务的企业（只读）；委员看本人"
        "当前担任暖企专员的企业；其他人为空。联系人电话除机关和本企业专员外打码。",
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(
            EnterpriseSerializer(page, many=True, context=_context(request)).data
        )

    @extend_schema(
        summary="录入企业（机关工作人员）",
        description="统一社会信用代码按 GB 32100-2015 校验（→ 400 `credit_code_invalid`），"
        "已被使用 → 409 `credit_code_taken`；坐标可为 GCJ-02（coord_type=gcj02）。",
        request=EnterpriseInputSerializer,
        responses={201: EnterpriseSerializer, 409: CONFLICT},
    )
    def post(self, request):
        data = EnterpriseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enterprise = writes.create_enterprise(actor=request.user, **data.validated_data)
        return Response(
            EnterpriseSerializer(enterprise, context=_context(request)).data,
            status=status.HTTP_201_CREATED,
        )


@extend_schema(tags=[ENTERPRISES])
class EnterpriseDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="企业详情", responses={200: EnterpriseSerializer})
    def get(self, request, pk: int):
        enterprise = _visible(request, url_pk(self))
        return Response(EnterpriseSerializer(enterprise, context=_context(request)).data)


@extend_schema(tags=[ENTERPRISES])
class EnterpriseDeactivateView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        summary="停用企业（机关工作人员）",
        description="不删除：走访与诉求保留，当前专员指派结束；"
        "已停用 → 409 `enterprise_inactive`。",
        request=DeactivateInputSerializer,
        responses={200: EnterpriseSerializer, 409: CONFLICT},
    )
    def post(self, request, pk: int):
        enterprise = get_object_or_404(Enterprise, pk=url_pk(self))
        data = DeactivateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enterprise = writes.deactivate_enterprise(
            actor=request.user, enterprise_id=enterprise.pk, **data.validated_data
        )
        return Response(EnterpriseSerializer(enterprise, context=_context(request)).data)


@extend_schema(tags=[ENTERPRISES])
class EnterpriseLiaisonsView(APIView):
    permission_classes = [IsAuthenticated]

    def get_permissions(self):
        return [IsStaff()] if self.request.method == "POST" else super().get_permissions()

    @extend_schema(
        summary="暖企专员指派历史",
        description="当前与历史指派（被替换的有 ended_at），新在前。",
        responses={200: LiaisonSerializer(many=True)},
    )
    def get(self, request, pk: int):
        enterprise = _visible(request, url_pk(self))
        rows = EnterpriseLiaison.objects.filter(enterprise=enterprise).select_related("member")
        return Response(LiaisonSerializer(rows.order_by("-created_at", "-id"), many=True).data)

    @extend_schema(
        summary="指派暖企专员（机关工作人员）",
        description="一名牵头专员、可选协助专员与期限；原有指派结束并保留为历史。"
        "委员不在册或重复 → 400 `liaison_invalid`；企业已停用 → 409 `enterprise_inactive`。",
        request=LiaisonAssignInputSerializer,
        responses={201: LiaisonSerializer(many=True), 409: CONFLICT},
    )
    def post(self, request, pk: int):
        enterprise = get_object_or_404(Enterprise, pk=url_pk(self))
        data = LiaisonAssignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rows = writes.assign_liaisons(
            actor=request.user, enterprise_id=enterprise.pk, **data.validated_data
        )
        return Response(LiaisonSerializer(rows, many=True).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=[ENTERPRISES])
class EnterpriseDeskCodeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="企业服务码（二维码）",
        description="机关工作人员与本企业当前专员可取，交给企业联系人：企业凭此提交诉求、查看"
        "并评价本企业的诉求。其他人 → 403 `not_enterprise_liaison`。",
        responses={200: DeskCodeSerializer},
    )
    def get(self, request, pk: int):
        enterprise = _visible(request, url_pk(self))
        if not selectors.may_steer(request.user, enterprise.pk):
            raise errors.NotEnterpriseLiaison()
        url = codes.desk_url(enterprise.desk_ticket, request)
        png = base64.b64encode(codes.qr_png(url)).decode()
        return Response(
            DeskCodeSerializer({"desk_url": url, "qr_png": f"data:image/png;base64,{png}"}).data,
            headers={"Cache-Control": "no-store"},
        )


@extend_schema(tags=[ENTERPRISES])
class EnterpriseVisitsView(APIView):
    permission_classes = [IsAuthenticated]

    def get_permissions(self):
        return [IsMember()] if self.request.method == "POST" else super().get_permissions()

    @extend_schema(summary="企业走访记录", responses={200: VisitSerializer(many=True)})
    def get(self, request, pk: int):
        enterprise = _visible(request, url_pk(self))
        rows = EnterpriseVisit.objects.filter(enterprise=enterprise).select_related("member")
        return Response(VisitSerializer(rows.order_by("-visited_at", "-id"), many=True).data)

    @extend_schema(
        summary="登记走访（本企业暖企专员）",
        description=(
            "在企业现场签到（ENTERPRISE_GEOFENCE_METERS 内，否则 422 `too_far`），走访结束后"
            "登记；形成暖企活动的一条服务记录，经驿站管理员或机关核实后计入服务企业数和时长。"
            "无事不扰：距上次走访不足 ENTERPRISE_QUIET_DAYS 天 → 登记但返回 warnings；本月已达 "
            "ENTERPRISE_VISITS_PER_MONTH 次 → 409 `visit_cap_reached`（企业邀约除外）。"
            "非当前专员 → 403 `not_enterprise_liaison`。"
        ),
        request=VisitInputSerializer,
        responses={201: VisitResultSerializer, 409: CONFLICT, 422: UNPROCESSABLE},
    )
    def post(self, request, pk: int):
        enterprise = get_object_or_404(Enterprise, pk=url_pk(self))
        data = VisitInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = visits.log_visit(
            user=request.user, enterprise_id=enterprise.pk, **data.validated_data
        )
        return Response(VisitResultSerializer(result).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=[ENTERPRISES])
class EnterpriseAppealsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="企业诉求列表", responses={200: AppealSerializer(many=True)})
    def get(self, request, pk: int):
        enterprise = _visible(request, url_pk(self))
        rows = EnterpriseAppeal.objects.filter(enterprise=enterprise)
        return Response(AppealSerializer(rows.order_by("-created_at", "-id"), many=True).data)

    @extend_schema(
        summary="登记企业诉求（专员或机关）",
        description="登记即已受理。非本企业当前专员或机关 → 403 `not_enterprise_liaison`。",
        request=AppealInputSerializer,
        responses={201: AppealSerializer, 409: CONFLICT},
    )
    def post(self, request, pk: int):
        enterprise = _visible(request, url_pk(self))
        if not selectors.may_steer(request.user, enterprise.pk):
            raise errors.NotEnterpriseLiaison()
        data = AppealInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appeal = appeals.raise_appeal(
            actor=request.user, enterprise=enterprise, source="visit", **data.validated_data
        )
        return Response(AppealSerializer(appeal).data, status=status.HTTP_201_CREATED)


class _AppealMove(APIView):
    """POST appeals/{id}/<move>/: staff or the enterprise's current 专员."""

    permission_classes = [IsAuthenticated]
    input_class: type = RejectInputSerializer

    def move(self, request, appeal: EnterpriseAppeal, values: dict) -> EnterpriseAppeal:
        raise NotImplementedError

    def post(self, request, pk: int):
        appeal = get_object_or_404(selectors.appeals_visible(request.user), pk=url_pk(self))
        if not selectors.may_steer(request.user, appeal.enterprise_id):
            raise errors.NotEnterpriseLiaison()
        data = self.input_class(data=request.data)
        data.is_valid(raise_exception=True)
        moved = self.move(request, appeal, dict(data.validated_data))
        return Response(AppealSerializer(moved).data)


def _move_schema(summary: str, description: str, request_class):
    return extend_schema(
        tags=[ENTERPRISES],
        summary=summary,
        description=description
        + "只能按 已受理 → 已转办 → 办理中 → 已办结 前进，或已受理 → 不予受理；否则 409 "
        "`appeal_wrong_state`。机关或本企业当前专员（驿站管理员只读 → 403）。",
        request=request_class,
        responses={200: AppealSerializer, 409: CONFLICT},
    )


class AppealReferView(_AppealMove):
    input_class = AppealReferInputSerializer

    @_move_schema("诉求转办", "转至承办部门，写明转办事项与办理时限。", AppealReferInputSerializer)
    def post(self, request, pk: int):
        return super().post(request, pk)

    def move(self, request, appeal, values):
        return appeals.refer_appeal(actor=request.user, appeal_id=appeal.pk, **values)


class AppealStartView(_AppealMove):
    input_class = NoInputSerializer

    @_move_schema("诉求办理中", "承办部门已开始办理。", NoInputSerializer)
    def post(self, request, pk: int):
        return super().post(request, pk)

    def move(self, request, appeal, values):
        return appeals.start_appeal(actor=request.user, appeal_id=appeal.pk)


class AppealResolveView(_AppealMove):
    input_class = ResolveInputSerializer

    @_move_schema("诉求办结", "须写明办理结果。", ResolveInputSerializer)
    def post(self, request, pk: int):
        return super().post(request, pk)

    def move(self, request, appeal, values):
        return appeals.resolve_appeal(actor=request.user, appeal_id=appeal.pk, **values)


class AppealRejectView(_AppealMove):
    input_class = RejectInputSerializer

    @_move_schema("诉求不予受理", "须写明原因，企业可见。", RejectInputSerializer)
    def post(self, request, pk: int):
        return super().post(request, pk)

    def move(self, request, appeal, values):
        return appeals.reject_appeal(actor=request.user, appeal_id=appeal.pk, **values)


@extend_schema(tags=[ENTERPRISES])
class MyEnterprisesView(generics.ListAPIView):
    permission_classes = [IsMember]
    serializer_class = MyEnterpriseSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Enterprise.objects.none()
        return selectors.my_enterprises(self.request.user)

    @extend_schema(
        summary="我的企业（暖企专员）",
        description="本人当前担任专员的企业，附最近一次走访时间与未办结诉求数。",
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(
            MyEnterpriseSerializer(page, many=True, context=_context(request)).data
        )


# ---------------------------------------------------------------- import


@extend_schema(tags=[ENTERPRISES])
class EnterpriseImportView(APIView):
    permission_classes = [IsStaff]
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="导入 Excel 企业名单（机关工作人员）",
        description=(
            "`multipart/form-data`，字段 `file` 为 .xlsx（一个工作表、不含公式）。任一行有误 → "
            '400 `enterprise_import_invalid`，`fields` 形如 `{"row 3.统一社会信用代码": ["..."]}`，'
            "不写入任何数据。表头见 GET enterprises/import/template/。"
        ),
        request=OpenApiRequest(
            ImportUploadSerializer,
            encoding={
                "file": {
                    "contentType": XLSX_CONTENT_TYPE,
                    "headers": {
                        "Content-Disposition": {
                            "schema": {"type": "string"},
                            "example": 'form-data; name="file"; filename="enterprises.xlsx"',
                        }
                    },
                }
            },
        ),
        responses={201: ImportResultSerializer},
    )
    def post(self, request):
        data = ImportUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        created = imports.import_enterprises(
            stream=upload, filename=upload.name or "", size=upload.size, actor=request.user
        )
        body = {"created": len(created), "enterprises": [row.pk for row in created]}
        return Response(ImportResultSerializer(body).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=[ENTERPRISES])
class EnterpriseTemplateView(APIView):
    permission_classes = [IsStaff]
    renderer_classes = [renderers.JSONRenderer, XlsxRenderer]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        summary="下载 Excel 企业名单模板（机关工作人员）",
        responses={
            (200, XLSX_CONTENT_TYPE): OpenApiResponse(
                response=OpenApiTypes.BINARY, description="企业名单模板 .xlsx"
            )
        },
    )
    def get(self, request):
        response = HttpResponse(imports.template_workbook(), content_type=XLSX_CONTENT_TYPE)
        response["Content-Disposition"] = (
            "attachment; filename=\"enterprise-template.xlsx\"; filename*=UTF-8''"
            + quote("企业名单模板.xlsx")
        )
        return response


# ---------------------------------------------------------------- the enterprise's desk


def _desk(ticket: str) -> Enterprise:
    if not isinstance(ticket, str) or not codes.TICKET_RE.fullmatch(ticket):
        raise errors.DeskTicketUnknown()
    enterprise = Enterprise.objects.filter(desk_ticket=ticket).first()
    if enterprise is None:
        raise errors.DeskTicketUnknown()
    return enterprise


class _Public:
    permission_classes = [AllowAny]
    authentication_classes: list = []


def _desk_body(enterprise: Enterprise) -> dict:
    rows = EnterpriseAppeal.objects.filter(enterprise=enterprise).order_by("-created_at", "-id")
    return DeskSerializer({"name": enterprise.name, "appeals": rows}).data


@extend_schema(tags=[ENTERPRISES])
class DeskView(_Public, APIView):
    @extend_schema(
        summary="企业服务台：本企业的诉求",
        description="无需登录，企业服务码即凭证（不存在 → 404 `desk_ticket_unknown`）；"
        "只列本企业的诉求，不含任何委员信息。",
        responses={200: DeskSerializer},
    )
    def get(self, request, ticket: str):
        return Response(_desk_body(_desk(ticket)))


@extend_schema(tags=[ENTERPRISES])
class DeskAppealsView(_Public, APIView):
    @extend_schema(
        summary="企业服务台：提交诉求",
        description="登记即已受理并通知本企业专员；附 wechat_code（小程序）则办理进度以订阅"
        "消息通知该微信用户。按来源地址限流（INTAKE_RATE_PER_ADDRESS，429 `intake_throttled`）。",
        request=DeskAppealInputSerializer,
        responses={201: DeskAppealSerializer, 409: CONFLICT},
    )
    def post(self, request, ticket: str):
        abuse.check_address(client_address(request))
        enterprise = _desk(ticket)
        data = DeskAppealInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        wechat_code = values.pop("wechat_code", "")
        account = resident_for(wechat_code) if wechat_code else None
        appeal = appeals.raise_appeal(
            actor=account,
            enterprise=enterprise,
            source="miniprogram" if account else "desk",
            **values,
        )
        return Response(DeskAppealSerializer(appeal).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=[ENTERPRISES])
class DeskRatingView(_Public, APIView):
    @extend_schema(
        summary="企业服务台：评价已办结的诉求",
        description="只能评价本企业的诉求（否则 404 `appeal_ticket_unknown`），办结后一次"
        "（否则 409 `appeal_not_rateable`）；小程序提交的须附同一微信用户的 wechat_code"
        "（否则 403 `not_appeal_owner`）。",
        request=AppealRatingInputSerializer,
        responses={
            201: DeskAppealSerializer,
            403: OpenApiResponse(description="非本人"),
            409: CONFLICT,
        },
    )
    def post(self, request, ticket: str, pk: int):
        enterprise = _desk(ticket)
        appeal = EnterpriseAppeal.objects.filter(enterprise=enterprise, pk=url_pk(self)).first()
        if appeal is None:
            raise errors.AppealTicketUnknown()
        data = AppealRatingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        wechat_code = values.pop("wechat_code", "")
        actor = None
        if appeal.source == EnterpriseAppeal.Source.MINIPROGRAM:
            if not wechat_code:
                raise errors.NotAppealOwner()
            actor = resident_for(wechat_code)
            if actor.pk != appeal.raised_by_id:
                raise errors.NotAppealOwner()
        rated = appeals.rate_appeal(appeal_id=appeal.pk, actor=actor, **values)
        return Response(DeskAppealSerializer(rated).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- figures


def _figure_filters(request):
    query = FiguresQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = dict(query.validated_data)
    filters = stats.resolve_filters(
        user=request.user,
        date_from=data.pop("date_from", None),
        date_to=data.pop("date_to", None),
        town=data.pop("town", None),
    )
    return filters, data["by"]


@extend_schema(tags=["stats"])
class EnterpriseFiguresView(APIView):
    permission_classes = [CanReadStats]

    @extend_schema(
        summary="暖企统计",
        description=(
            "按镇街、行业、是否重点项目企业或月份：在册企业、期间走访覆盖企业、走访次数（及已"
            "核实）、诉求数、办结率、办结用时中位数（小时）、超期未办结、企业评价。驿站管理员只看"
            "所管驿站所在镇街；日期为 Asia/Shanghai 日历日，默认今年。"
        ),
        parameters=[FiguresQuerySerializer],
        responses={200: FiguresRowSerializer(many=True)},
    )
    def get(self, request):
        filters, by = _figure_filters(request)
        rows = figures.enterprise_figures(filters, by=by)
        return Response(FiguresRowSerializer(rows, many=True).data)


@extend_schema(tags=["stats"])
class EnterpriseFiguresExportView(APIView):
    permission_classes = [CanReadStats]
    content_negotiation_class = FileNegotiation
    throttle_classes = [ScopedThrottle]
    throttle_scope = "exports"

    @extend_schema(
        summary="导出暖企统计（Excel）",
        description="一个工作簿：按镇街、按行业、按重点项目、按月份四张表。"
        "参数同 stats/enterprises/（不用 by）。",
        parameters=[PeriodQuerySerializer],
        responses={(200, XLSX_CONTENT_TYPE): OpenApiTypes.BINARY},
    )
    def get(self, request):
        query = PeriodQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = dict(query.validated_data)
        filters = stats.resolve_filters(
            user=request.user,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            town=data.get("town"),
        )
        body = figures.export_workbook(filters)
        name = f"wwqz-enterprises-{filters.date_from:%Y%m%d}-{filters.date_to:%Y%m%d}.xlsx"
        response = HttpResponse(body, content_type=XLSX_CONTENT_TYPE)
        response["Content-Disposition"] = (
            f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote('暖企统计-' + name)}"
        )
        return response
