"""The intake over HTTP: QR posters, the mini-program's submission, the managers' queue and
triage. Parse, call one function, serialize (docs/intake.md)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiRequest,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import fields as strict
from accounts import wechat
from accounts.errors import error_codes
from accounts.permissions import is_staff
from accounts.throttles import client_address
from members.pii import viewer_of
from services import openapi_examples
from services.api import CONFLICT, url_pk
from services.intake import abuse, codes, ratings, selectors, tracking, writes
from services.intake import errors as intake_errors
from services.intake.errors import IntakeTicketUnknown, NotIntakeManager, NotTicketOwner
from services.intake.serializers import (
    AcceptInputSerializer,
    IntakeDeclineInputSerializer,
    IntakeInputSerializer,
    IntakePhotosReceiptSerializer,
    IntakePhotoUploadSerializer,
    IntakeQuerySerializer,
    IntakeReceiptSerializer,
    IntakeSerializer,
    MergeInputSerializer,
    RatingApiInputSerializer,
    ReferInputSerializer,
    TicketSerializer,
    TriageFiguresSerializer,
    UntriagedQuerySerializer,
)
from services.models import Intake
from stations.models import Station, Village

INTAKE = "intake"


class IsIntakeManager(BasePermission):
    """Station managers and staff (which station's intakes: the selectors decide)."""

    message = "仅驿站管理员或机关工作人员可以处理群众点单。"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_station_manager or is_staff(user)))


def ticket_url(request, intake: Intake) -> str:
    return request.build_absolute_uri(f"/q/t/{intake.ticket}/")


# ---------------------------------------------------------------- QR posters


class PosterQuerySerializer(strict.Serializer):
    format = strict.ChoiceField(
        choices=[("svg", "SVG 海报"), ("png", "PNG 二维码")],
        required=False,
        help_text="svg（默认）：可打印海报，含名称与说明文字；png：二维码图片",
    )


class PosterNegotiation(DefaultContentNegotiation):
    """``?format=`` names the poster's file type, not a renderer: errors stay JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _poster_response(request, station: Station, village: Village | None) -> HttpResponse:
    query = PosterQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    code = codes.code_for(actor=request.user, station=station, village=village)
    url = codes.intake_url(code, request)
    name = f"intake-{code.code}"
    if query.validated_data.get("format") == "png":
        response = HttpResponse(codes.qr_png(url), content_type="image/png")
        response["Content-Disposition"] = f'inline; filename="{name}.png"'
    else:
        response = HttpResponse(codes.poster_svg(code, url), content_type="image/svg+xml")
        response["Content-Disposition"] = f'inline; filename="{name}.svg"'
    response["X-Intake-Code"] = code.code
    response["Cache-Control"] = "private, no-store"
    return response


_POSTER_RESPONSES = {
    (200, "image/svg+xml"): OpenApiTypes.BINARY,
    (200, "image/png"): OpenApiTypes.BINARY,
    403: OpenApiResponse(description="不是该驿站的管理员或机关工作人员"),
    404: OpenApiResponse(description="驿站或村/社区不存在"),
}


def _station_of_village(village: Village) -> Station:
    if village.station_id is None:
        raise NotIntakeManager("该村/社区尚未指定服务驿站，不能生成二维码。")
    return village.station


def _check(request, station: Station) -> None:
    if not selectors.may_manage_station(request.user, station.pk):
        raise NotIntakeManager()


@extend_schema(tags=[INTAKE])
class StationPosterView(APIView):
    """The station's QR poster (its intake code, issued on first use)."""

    content_negotiation_class = PosterNegotiation

    @extend_schema(
        summary="驿站群众点单二维码海报",
        description=(
            "该驿站管理员与机关工作人员。format=svg（默认）为可打印海报（二维码、驿站名称、一行"
            "说明文字）；format=png 为二维码图片（不含文字）。入口码首次请求时生成，此后不变，"
            "停用后换新（POST …/qr/retire/）。响应头 X-Intake-Code 为入口码。"
        ),
        parameters=[PosterQuerySerializer],
        responses=_POSTER_RESPONSES,
    )
    def get(self, request, pk: int):
        station = get_object_or_404(Station, pk=url_pk(self), active=True)
        _check(request, station)
        return _poster_response(request, station, None)


@extend_schema(tags=[INTAKE])
class VillagePosterView(APIView):
    """A village's QR poster: the resident's village is preset."""

    content_negotiation_class = PosterNegotiation

    @extend_schema(
        summary="村/社区群众点单二维码海报",
        description="其服务驿站的管理员与机关工作人员；其余同驿站海报，扫码后村/社区已预设。",
        parameters=[PosterQuerySerializer],
        responses=_POSTER_RESPONSES,
    )
    def get(self, request, pk: int):
        village = get_object_or_404(Village, pk=url_pk(self), active=True)
        station = _station_of_village(village)
        _check(request, station)
        return _poster_response(request, station, village)


class RetiredCodeSerializer(strict.Serializer):
    code = strict.CharField()
    retired_at = strict.DateTimeField()


def _retire(request, station: Station, village: Village | None) -> Response:
    _check(request, station)
    retired = codes.retire_code(actor=request.user, station=station, village=village)
    return Response(RetiredCodeSerializer(retired).data)


@extend_schema(tags=[INTAKE])
class StationPosterRetireView(APIView):
    @extend_schema(
        summary="停用驿站二维码",
        description="旧海报扫码后显示“已停用”页面；下次获取海报时生成新入口码。",
        request=None,
        responses={200: RetiredCodeSerializer},
    )
    def post(self, request, pk: int):
        station = get_object_or_404(Station, pk=url_pk(self), active=True)
        return _retire(request, station, None)


@extend_schema(tags=[INTAKE])
class VillagePosterRetireView(APIView):
    @extend_schema(
        summary="停用村/社区二维码",
        description="旧海报扫码后显示“已停用”页面；下次获取海报时生成新入口码。",
        request=None,
        responses={200: RetiredCodeSerializer},
    )
    def post(self, request, pk: int):
        village = get_object_or_404(Village, pk=url_pk(self), active=True)
        return _retire(request, _station_of_village(village), village)


# ---------------------------------------------------------------- submission


def submit_from(request, data: dict, *, code, source: str, resident=None) -> Intake:
    """The one submission path of the page and the API."""
    return writes.submit_intake(
        code=code,
        description=data["description"],
        phone=data.get("phone", ""),
        specialty=data.get("specialty"),
        village=data.get("village"),
        source=source,
        resident=resident,
        photos=request.FILES.getlist("photo"),
    )


@extend_schema(tags=[INTAKE])
class IntakeView(generics.GenericAPIView):
    """POST: a resident's need from the mini-program (no login). GET: the managers' queue."""

    queryset = Intake.objects.none()
    serializer_class = IntakeSerializer

    def get_permissions(self):
        if self.request.method == "POST":
            return [AllowAny()]
        return [IsIntakeManager()]

    def get_authenticators(self):
        # The resident has no account: a stale token of someone else must not turn a
        # submission into a 401.
        if self.request is not None and self.request.method == "POST":
            return []
        return super().get_authenticators()

    @extend_schema(
        summary="群众点单（小程序）",
        examples=[openapi_examples.INTAKE_CREATE, openapi_examples.INTAKE_RECEIPT],
        extensions=error_codes(
            intake_errors.IntakeCodeUnknown,
            intake_errors.IntakeCodeRetired,
            intake_errors.IntakeDuplicate,
            intake_errors.IntakeThrottled,
            wechat.WechatCodeInvalid,
            wechat.WechatRateLimited,
            wechat.WechatUserBlocked,
            wechat.WechatUnavailable,
            examples=openapi_examples.INTAKE_ERRORS,
        ),
        description=(
            "无需登录。code 为海报二维码中的入口码（不存在 → 404 `intake_code_unknown`，已停用 → "
            "410 `intake_code_retired`）。description 必填（至多 INTAKE_MAX_DESCRIPTION 字，"
            "不可全为空白或不可见字符）；phone 可选，须为大陆手机号；village 仅驿站二维码可选"
            "（须由该驿站服务）。wechat_code（wx.login）可选：以 openid 识别群众，此后各环节推送"
            "订阅消息。每个地址、每个手机号限频（INTAKE_RATE_PER_ADDRESS / _PER_PHONE → 429 "
            "`intake_throttled`）；同一手机号重复提交相同诉求 → 409 `intake_duplicate`。"
            "群众所写内容不公开。返回回执码与进度页面地址。"
        ),
        request=IntakeInputSerializer,
        responses={
            201: IntakeReceiptSerializer,
            401: OpenApiResponse(description="wechat_code 无效或已用过（wechat_code_invalid）"),
            404: OpenApiResponse(description="入口码不存在"),
            503: OpenApiResponse(description="微信接口不可用（wechat_unavailable）"),
            409: CONFLICT,
            410: OpenApiResponse(description="入口码已停用"),
            429: OpenApiResponse(description="提交过于频繁"),
        },
    )
    def post(self, request):
        abuse.check_address(client_address(request))
        data = IntakeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        code = codes.lookup(values["code"])
        resident = writes.resident_for(values["wechat_code"]) if values.get("wechat_code") else None
        intake = submit_from(
            request, values, code=code, source=Intake.Source.MINIPROGRAM, resident=resident
        )
        body = {
            "ticket": intake.ticket,
            "ticket_url": ticket_url(request, intake),
            "status": intake.status,
        }
        return Response(IntakeReceiptSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="群众点单待办（派单）",
        extensions=error_codes(),
        description=(
            "驿站管理员：所管驿站的群众点单；机关工作人员：全部。按进入待办时间从早到晚，"
            "age_seconds 为等待时长。status=new 为待受理。联系电话完整显示（仅此二类人员可见）。"
        ),
        parameters=[IntakeQuerySerializer],
        responses={200: IntakeSerializer(many=True)},
    )
    def get(self, request):
        query = IntakeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        station = query.validated_data.get("station")
        intakes = selectors.queue(
            request.user,
            status=query.validated_data.get("status"),
            station=station.pk if station else None,
        )
        page = self.paginate_queryset(intakes)
        context = {"request": request, "now": timezone.now(), "viewer": viewer_of(request.user)}
        return self.get_paginated_response(IntakeSerializer(page, many=True, context=context).data)


class IntakeObjectMixin:
    permission_classes = [IsIntakeManager]
    queryset = Intake.objects.none()

    def intake(self) -> Intake:
        # Another station's intake is 404: its existence is not the manager's to know.
        return get_object_or_404(selectors.visible_intakes(self.request.user), pk=url_pk(self))

    def body(self, intake: Intake) -> dict:
        # Read fresh, as it is now (a referral has just moved it out of this user's stations).
        intake = Intake.objects.select_related("station", "village", "specialty").get(pk=intake.pk)
        context = {
            "request": self.request,
            "now": timezone.now(),
            "viewer": viewer_of(self.request.user),
        }
        return IntakeSerializer(intake, context=context).data


@extend_schema(tags=[INTAKE])
class IntakeDetailView(IntakeObjectMixin, generics.GenericAPIView):
    serializer_class = IntakeSerializer

    @extend_schema(
        summary="群众点单详情", extensions=error_codes(), responses={200: IntakeSerializer}
    )
    def get(self, request, pk: int):
        return Response(self.body(self.intake()))


def _triage_view(name: str, summary: str, description: str, serializer, action, raises=()):
    @extend_schema(tags=[INTAKE])
    class View(IntakeObjectMixin, generics.GenericAPIView):
        serializer_class = IntakeSerializer

        @extend_schema(
            summary=summary,
            extensions=error_codes(intake_errors.IntakeNotNew, *raises),
            description=description
            + " 仅 status=new 可处理（否则 409 `intake_not_new`）；其他驿站的点单 → 404。",
            request=serializer,
            responses={200: IntakeSerializer, 409: CONFLICT},
        )
        def post(self, request, pk: int):
            intake = self.intake()
            data = serializer(data=request.data)
            data.is_valid(raise_exception=True)
            return Response(self.body(action(request.user, intake, data.validated_data)))

    View.__name__ = View.__qualname__ = name
    return View


IntakeAcceptView = _triage_view(
    "IntakeAcceptView",
    "受理：生成服务需求",
    "以点单内容（诉求、村/社区、类型、联系电话）预填，经需求发布流程生成服务需求并关联；"
    "活动、时间、名额由管理员填写，规则同 POST requests/。",
    AcceptInputSerializer,
    lambda user, intake, data: writes.accept_intake(actor=user, intake_id=intake.pk, **data),
)
IntakeMergeView = _triage_view(
    "IntakeMergeView",
    "合并到已有需求",
    "request 须为本驿站尚未取消或过期的需求（否则 400 `merge_target_invalid`）。",
    MergeInputSerializer,
    lambda user, intake, data: writes.merge_intake(
        actor=user, intake_id=intake.pk, request_id=data["request"].pk
    ),
    raises=[intake_errors.MergeTargetInvalid],
)
IntakeReferView = _triage_view(
    "IntakeReferView",
    "转交",
    "station：转交其他驿站（进入其待办，仍为 new）；office=true：作为社情民意信息转交政协机关"
    "（关闭）。二选一（否则 400 `referral_invalid`），reason 必填、群众可见。",
    ReferInputSerializer,
    lambda user, intake, data: writes.refer_intake(
        actor=user,
        intake_id=intake.pk,
        reason=data["reason"],
        station=data.get("station"),
        office=data.get("office", False),
    ),
    raises=[intake_errors.ReferralInvalid],
)
IntakeDeclineView = _triage_view(
    "IntakeDeclineView",
    "不予受理",
    "reason 必填，群众在进度页面可见。",
    IntakeDeclineInputSerializer,
    lambda user, intake, data: writes.decline_intake(
        actor=user, intake_id=intake.pk, reason=data["reason"]
    ),
)


# ---------------------------------------------------------------- follow-up and figures


@extend_schema(tags=[INTAKE])
class UntriagedView(generics.ListAPIView):
    """The follow-up list: intakes new for longer than ``hours`` (INTAKE_TRIAGE_HOURS)."""

    permission_classes = [IsIntakeManager]
    serializer_class = IntakeSerializer
    queryset = Intake.objects.none()

    @extend_schema(
        summary="待跟进：超时未受理的群众点单",
        description="status=new 且进入待办超过 hours 小时（默认 INTAKE_TRIAGE_HOURS）的点单，"
        "最早的在前，分页。驿站管理员只看所管驿站。",
        parameters=[UntriagedQuerySerializer],
    )
    def get(self, request, *args, **kwargs):
        query = UntriagedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        intakes = selectors.untriaged(
            request.user, now=now, hours=query.validated_data.get("hours")
        )
        page = self.paginate_queryset(intakes)
        context = {"request": request, "now": now, "viewer": viewer_of(request.user)}
        return self.get_paginated_response(IntakeSerializer(page, many=True, context=context).data)


@extend_schema(tags=[INTAKE])
class IntakeFiguresView(APIView):
    permission_classes = [IsIntakeManager]

    @extend_schema(
        summary="群众点单统计（受理用时）",
        description="所见点单的各状态数量、受理用时（提交到首次处理，小时：中位数与平均数）、"
        "超时未受理数。",
        parameters=[OpenApiParameter("station", int, required=False)],
        responses={200: TriageFiguresSerializer},
    )
    def get(self, request):
        query = IntakeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        station = query.validated_data.get("station")
        intakes = selectors.queue(request.user, station=station.pk if station else None)
        figures = selectors.triage_figures(intakes, now=timezone.now())
        return Response(TriageFiguresSerializer(figures).data)


# ---------------------------------------------------------------- the resident's ticket


def _ticket_intake(ticket: str) -> Intake:
    intake = tracking.by_ticket(ticket)
    if intake is None:
        raise IntakeTicketUnknown()
    return intake


class _Public:
    permission_classes = [AllowAny]
    authentication_classes: list = []


@extend_schema(tags=[INTAKE])
class TicketView(_Public, APIView):
    @extend_schema(
        summary="诉求进度（回执）",
        extensions=error_codes(intake_errors.IntakeTicketUnknown),
        description=(
            "无需登录，回执码即凭证（不存在 → 404 `intake_ticket_unknown`）。步骤：已提交、已受理、"
            "已派单、已有委员认领、服务中、已完成，各附时间（未到为 null）；不含任何委员信息。"
        ),
        responses={200: TicketSerializer, 404: OpenApiResponse(description="回执不存在")},
    )
    def get(self, request, ticket: str):
        return Response(TicketSerializer(tracking.ticket_view(_ticket_intake(ticket))).data)


def _check_owner(intake: Intake, wechat_code: str):
    """A mini-program intake is the WeChat user's who posted it: their ``wechat_code`` or
    403. An intake from the page (no account) is its ticket holder's. Returns the actor."""
    if intake.resident_id is None:
        return None
    if not wechat_code:
        raise NotTicketOwner()
    actor = writes.resident_for(wechat_code)
    if actor.pk != intake.resident_id:
        raise NotTicketOwner()
    return actor


@extend_schema(tags=[INTAKE])
class TicketPhotosView(_Public, APIView):
    """The resident adds photos after submitting (the mini-program's way: one per upload)."""

    parser_classes = [MultiPartParser]
    body_limit_setting = "ATTACHMENTS_MAX_UPLOAD_BYTES"
    body_limit_methods = ("POST",)

    @extend_schema(
        summary="为点单补充照片",
        description=(
            "无需登录，回执码即凭证（不存在 → 404 `intake_ticket_unknown`）。"
            "`multipart/form-data`，字段 `files` 可重复（wx.uploadFile 每次一张）；"
            "小程序提交的点单须附同一微信用户的 "
            "wechat_code（否则 403 `not_ticket_owner`）。仅在点单待受理且提交后 "
            "INTAKE_PHOTO_WINDOW_MINUTES 分钟内（否则 409 `intake_photos_closed`），每条点单最多 "
            "INTAKE_MAX_PHOTOS 张（400）。照片检查、去除元数据同服务记录的照片（415/413/400）；"
            "与提交共用每地址限频（429 `intake_throttled`）。任一张不合格则全部不保存。"
        ),
        request=OpenApiRequest(
            IntakePhotoUploadSerializer,
            encoding={"files": {"contentType": "image/jpeg, image/png, image/webp"}},
        ),
        responses={
            201: IntakePhotosReceiptSerializer,
            403: OpenApiResponse(description="非本人"),
            404: OpenApiResponse(description="回执不存在"),
            409: CONFLICT,
            429: OpenApiResponse(description="提交过于频繁"),
        },
    )
    def post(self, request, ticket: str):
        abuse.check_address(client_address(request))
        intake = _ticket_intake(ticket)
        data = IntakePhotoUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = _check_owner(intake, data.validated_data.get("wechat_code", ""))
        writes.add_photos(intake_id=intake.pk, photos=data.validated_data["files"], actor=actor)
        body = {"photos": intake.photos.count(), "max_photos": settings.INTAKE_MAX_PHOTOS}
        return Response(IntakePhotosReceiptSerializer(body).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=[INTAKE])
class TicketRatingView(_Public, APIView):
    def _rate(self, request, ticket: str, *, change: bool) -> Response:
        intake = _ticket_intake(ticket)
        data = RatingApiInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        actor = _check_owner(intake, values.pop("wechat_code", ""))
        ratings.rate(intake_id=intake.pk, change=change, actor=actor, **values)
        return Response(
            TicketSerializer(tracking.ticket_view(intake)).data,
            status=status.HTTP_200_OK if change else status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="评单：评价服务",
        extensions=error_codes(
            intake_errors.IntakeTicketUnknown,
            intake_errors.NotTicketOwner,
            intake_errors.RatingNotYet,
            intake_errors.RatingExists,
            wechat.WechatCodeInvalid,
            wechat.WechatRateLimited,
            wechat.WechatUserBlocked,
            wechat.WechatUnavailable,
        ),
        description=(
            "服务记录核实后（否则 409 `rating_not_yet`），score 1–5，comment 可选（≤300 字）。"
            "每条点单一次（已评 → 409 `rating_exists`，请用 PUT 修改）。小程序提交的点单须附"
            "同一微信用户的 wechat_code（否则 403 `not_ticket_owner`）。"
        ),
        request=RatingApiInputSerializer,
        responses={
            201: TicketSerializer,
            403: OpenApiResponse(description="非本人"),
            409: CONFLICT,
        },
    )
    def post(self, request, ticket: str):
        return self._rate(request, ticket, change=False)

    @extend_schema(
        summary="评单：修改评价",
        extensions=error_codes(
            intake_errors.IntakeTicketUnknown,
            intake_errors.NotTicketOwner,
            intake_errors.RatingNotYet,
            intake_errors.RatingLocked,
            wechat.WechatCodeInvalid,
            wechat.WechatRateLimited,
            wechat.WechatUserBlocked,
            wechat.WechatUnavailable,
        ),
        description="首次评价后 INTAKE_RATING_CHANGE_DAYS 天内可修改（之后 409 `rating_locked`）；"
        "尚未评价时等同首次评价。",
        request=RatingApiInputSerializer,
        responses={
            200: TicketSerializer,
            403: OpenApiResponse(description="非本人"),
            409: CONFLICT,
        },
    )
    def put(self, request, ticket: str):
        return self._rate(request, ticket, change=True)
