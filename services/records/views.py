"""Service records, their review and duty points over HTTP: parse, call one function, serialize."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.errors import error_codes
from accounts.permissions import IsStaff
from accounts.throttles import ScopedThrottle
from members.pii import viewer_of
from services import errors, idempotency, openapi_examples
from services.api import CONFLICT, IDEMPOTENCY_PARAMETER, UNPROCESSABLE, url_pk
from services.errors import InvalidPeriod
from services.models import PointRule, ServiceRecord, ServiceRequest
from services.records import hours, points
from services.records import selectors as records
from services.records.attachment_serializers import RecordDetailSerializer
from services.records.serializers import (
    LeaderboardQuerySerializer,
    LeaderboardSerializer,
    PointRuleSerializer,
    RecordInputSerializer,
    RecordSerializer,
    RevokeInputSerializer,
    VerifyInputSerializer,
)
from services.records.writes import revoke_record, submit_record, verify_record

RECORDS = "records"
POINTS = "points"


def _record_body(record: ServiceRecord, request) -> dict:
    """One record as the current user may see it, read fresh (points, participants)."""
    fresh = records.record_queryset().get(pk=record.pk)
    return RecordSerializer(fresh, context={"request": request}).data


# ---------------------------------------------------------------- submission


@extend_schema(tags=[RECORDS])
class RequestRecordView(generics.GenericAPIView):
    """A checked-in claimant, the station's manager or staff submit the request's record."""

    permission_classes = [IsAuthenticated]
    serializer_class = RecordInputSerializer
    queryset = ServiceRequest.objects.none()
    # Per user (settings THROTTLE_RECORDS).
    throttle_classes = [ScopedThrottle]
    throttle_scope = "records"

    @extend_schema(
        summary="提交服务记录",
        examples=[openapi_examples.RECORD_CREATE],
        extensions=error_codes(
            errors.NotRecordSubmitter,
            errors.RecordExists,
            errors.RequestNotRecordable,
            errors.InvalidParticipants,
            examples=openapi_examples.RECORD_ERRORS,
        ),
        description=(
            "该需求已签到的认领委员、该驿站管理员或机关工作人员提交（否则 403 "
            "`not_record_submitter`）。participants 为该需求中已签到（checked_in）的认领 ID，"
            "否则 400 `invalid_participants`（响应含 invalid）。每个需求只有一条待核实或已核实的"
            "记录：再次提交 → 409 `record_exists`；被退回或撤销核实后可提交新版本（version+1，"
            "旧记录保留）。需求尚无人签到、已取消或已过期 → 409 `request_not_recordable`。"
            "人数上限见设置 RECORDS_MAX_*（超出 → 400）。提交时计算异常标记（flags），不阻止提交。"
            "需求进入 completed。支持 Idempotency-Key。"
        ),
        parameters=[IDEMPOTENCY_PARAMETER],
        request=RecordInputSerializer,
        responses={201: RecordSerializer, 409: CONFLICT, 422: UNPROCESSABLE},
    )
    def post(self, request, *args, **kwargs):
        request_id = url_pk(self)
        data = RecordInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def execute():
            record = submit_record(user=request.user, request_id=request_id, **data.validated_data)
            return status.HTTP_201_CREATED, _record_body(record, request)

        return idempotency.respond(request, execute)


# ---------------------------------------------------------------- records


class RecordObjectMixin:
    """Looks up one of the records the user may see (others are 404)."""

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ServiceRecord.objects.none()
        return records.visible_records(self.request.user)

    def get_object(self):
        record = generics.get_object_or_404(self.get_queryset(), pk=url_pk(self))
        self.check_object_permissions(self.request, record)
        return record


@extend_schema(tags=[RECORDS])
class RecordListView(RecordObjectMixin, generics.ListAPIView):
    """Records: members see those of requests they claimed, managers their stations', staff all."""

    serializer_class = RecordSerializer
    filterset_class = records.RecordFilter

    @extend_schema(
        summary="服务记录列表",
        extensions=error_codes(),
        description=(
            "委员：自己认领过的需求的记录；驿站管理员：本驿站的；机关工作人员：全部。"
            "筛选：flagged（有异常标记）、status、station、town、request、campaign_kind。"
            "他人姓名按个人信息规则打码。"
        ),
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=[RECORDS])
class RecordDetailView(RecordObjectMixin, generics.RetrieveAPIView):
    """One record the user may see, with its flags and photos (what the verifier reads)."""

    serializer_class = RecordDetailSerializer

    @extend_schema(
        summary="服务记录详情",
        extensions=error_codes(),
        description="含照片（attachments，限时签名链接）。",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=[RECORDS])
class RecordVerifyView(RecordObjectMixin, generics.GenericAPIView):
    """The station's manager or staff approve or reject a record (never its submitter)."""

    permission_classes = [IsAuthenticated, records.IsRecordReviewer]
    serializer_class = VerifyInputSerializer

    @extend_schema(
        summary="核实服务记录",
        examples=[openapi_examples.VERIFY_APPROVE, openapi_examples.VERIFY_REJECT],
        extensions=error_codes(
            errors.CannotVerifyOwnRecord,
            errors.NotRecordVerifier,
            errors.VerifierIsParticipant,
            errors.NoteRequired,
            errors.InvalidHours,
            errors.HoursAboveWindow,
            errors.FlagsNotAcknowledged,
            errors.AlreadyVerified,
            errors.RecordNotPending,
            examples=openapi_examples.VERIFY_ERRORS,
        ),
        description=(
            "该驿站管理员或机关工作人员；提交人本人不能核实（403 `cannot_verify_own_record`，"
            "管理员也不例外），其他人 403 `not_record_verifier`。approved=true：记录与需求变为"
            "verified，参与认领变为 done，按积分规则给每位参与委员记履职积分（每人每条记录每条规则"
            "一次）。approved=false：记录退回（note 必填，否则 400 `note_required`），需求回到 "
            "in_progress，提交人收到通知，可提交新版本。记录有异常标记时 note 必填（400 "
            "`flags_not_acknowledged`）。已核实 → 409 `already_verified`；已退回或已撤销 → 409 "
            "`record_not_pending`。"
        ),
        request=VerifyInputSerializer,
        responses={200: RecordSerializer, 409: CONFLICT},
    )
    def post(self, request, *args, **kwargs):
        record = self.get_object()
        data = VerifyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        record = verify_record(
            actor=request.user,
            record_id=record.pk,
            approved=given["approved"],
            note=given["note"],
            hours_given=[hours.Correction(**entry) for entry in given["hours"]],
        )
        return Response(_record_body(record, request))


@extend_schema(tags=[RECORDS])
class RecordRevokeView(RecordObjectMixin, generics.GenericAPIView):
    """Staff take back a verification; points are reversed by negative ledger lines."""

    permission_classes = [IsStaff]
    serializer_class = RevokeInputSerializer

    @extend_schema(
        summary="撤销核实（机关工作人员）",
        extensions=error_codes(errors.RecordNotVerified),
        description=(
            "仅已核实（verified）的记录（否则 409 `record_not_verified`）。记录变为 revoked，"
            "需求回到 completed，参与认领回到 checked_in，已发积分以负数流水冲回（流水只增不删）；"
            "之后可提交新版本记录。"
        ),
        request=RevokeInputSerializer,
        responses={200: RecordSerializer, 409: CONFLICT},
    )
    def post(self, request, *args, **kwargs):
        record = self.get_object()
        data = RevokeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = revoke_record(actor=request.user, record_id=record.pk, **data.validated_data)
        return Response(_record_body(record, request))


# ---------------------------------------------------------------- points


@extend_schema(tags=[POINTS])
class PointRuleListView(generics.ListAPIView):
    """The scoring table (积分规则), as staff set it in the admin."""

    serializer_class = PointRuleSerializer
    queryset = PointRule.objects.order_by("id")

    @extend_schema(summary="积分规则", description="核实通过时每位参与委员按启用的规则得分。")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=[POINTS])
class LeaderboardView(APIView):
    """Members ranked by duty points earned for services in a period."""

    @extend_schema(
        summary="履职积分排行榜",
        description=(
            "from/to 为服务日期（上海时间，含首尾）：to 默认今天，from 默认 to 所在年的 1 月 1 日；"
            "from 晚于 to → 400 "
            "`invalid_period`。team：只计该团队名下获得的积分。limit：前几名（默认 20，最大 100）。"
            "按期间净积分（奖励减冲回）排序，同分同名次；净积分不大于 0 的不列出。"
            "姓名按个人信息规则打码（机关工作人员、驿站管理员和本人可见全名）。"
        ),
        parameters=[LeaderboardQuerySerializer],
        responses={200: LeaderboardSerializer},
    )
    def get(self, request):
        query = LeaderboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        end = query.validated_data.get("to") or points.default_period().end
        # Without from, the period starts on 1 January of to's year.
        start = query.validated_data.get("from") or end.replace(month=1, day=1)
        if start > end:
            raise InvalidPeriod(fields={"from": ["开始日期不能晚于结束日期。"]})
        team = query.validated_data.get("team")
        rows = points.leaderboard(
            viewer=viewer_of(request.user),
            period=points.Period(start=start, end=end),
            team_id=team,
            limit=query.validated_data.get("limit") or settings.POINTS_LEADERBOARD_LIMIT,
        )
        body = {"from": start, "to": end, "team": team, "results": rows}
        return Response(LeaderboardSerializer(body).data)
