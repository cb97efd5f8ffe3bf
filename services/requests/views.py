"""Campaigns, requests and claims over HTTP: parse, call one workflow function, serialize.

Reads apply due expiry first (``expire_overdue``), so what a client sees never waits
for the cron job.
"""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.errors import error_codes
from accounts.models import Event
from accounts.permissions import IsMember, IsStaffOrReadOnly
from accounts.throttles import ScopedThrottle
from services import errors, idempotency, openapi_examples
from services.api import (
    CONFLICT,
    IDEMPOTENCY_PARAMETER,
    UNPROCESSABLE,
    StoringFilterBackend,
    url_pk,
)
from services.models import Campaign, Claim, ServiceRequest
from services.permissions import (
    CanPostRequests,
    IsClaimant,
    IsClaimStationManager,
    IsRequestManager,
    IsRequestManagerOrReadOnly,
)
from services.requests import selectors
from services.requests.claims import cancel_claim, check_in, check_out, claim_request, reject_claim
from services.requests.expiry import expire_overdue
from services.requests.filters import CampaignFilter, ClaimFilter, ServiceRequestFilter
from services.requests.serializers import (
    AuditEventSerializer,
    CampaignInputSerializer,
    CampaignSerializer,
    CancelInputSerializer,
    CheckInInputSerializer,
    ClaimQuerySerializer,
    ClaimSerializer,
    CreatedRequestSerializer,
    RequestInputSerializer,
    RequestUpdateSerializer,
    ServiceRequestSerializer,
)
from services.requests.writes import (
    cancel_request,
    create_campaign,
    create_request,
    update_campaign,
    update_request,
)
from stations import errors as station_errors
from stations.geo import Point, distance_km

REQUESTS = "requests"


CLAIMS = "claims"


def _request_body(service_request: ServiceRequest, request, serializer_class, **context):
    """Serialize one request for the current user."""
    fresh = selectors.request_queryset().get(pk=service_request.pk)
    viewer = selectors.viewer_for(request.user, [fresh])
    return serializer_class(fresh, context={"viewer": viewer, **context}).data


def _claim_body(claim: Claim, request) -> dict:
    fresh = selectors.claim_queryset().get(pk=claim.pk)
    positions = selectors.waitlist_positions([fresh])
    return ClaimSerializer(fresh, context={"positions": positions, "request": request}).data


@extend_schema(tags=["campaigns"])
class CampaignListView(generics.ListCreateAPIView):
    """三暖 campaigns: everyone signed in reads, staff create."""

    permission_classes = [IsStaffOrReadOnly]
    queryset = Campaign.objects.all()
    serializer_class = CampaignSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = CampaignFilter

    @extend_schema(summary="活动列表")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="新建活动（机关工作人员）",
        request=CampaignInputSerializer,
        responses={201: CampaignSerializer},
    )
    def post(self, request, *args, **kwargs):
        data = CampaignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = create_campaign(actor=request.user, **data.validated_data)
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["campaigns"])
class CampaignDetailView(generics.RetrieveUpdateAPIView):
    """One campaign; staff may change it."""

    permission_classes = [IsStaffOrReadOnly]
    queryset = Campaign.objects.all()
    serializer_class = CampaignSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        url_pk(self)
        return super().get_object()

    @extend_schema(summary="活动详情")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="修改活动（机关工作人员）",
        request=CampaignInputSerializer,
        responses={200: CampaignSerializer},
    )
    def patch(self, request, *args, **kwargs):
        campaign = self.get_object()
        data = CampaignInputSerializer(campaign, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        campaign = update_campaign(
            actor=request.user, campaign_id=campaign.pk, changes=dict(data.validated_data)
        )
        return Response(CampaignSerializer(campaign).data)


class RequestObjectMixin:
    """Looks up the URL's request after applying its due expiry."""

    def get_object(self):
        pk = url_pk(self)
        expire_overdue(request_ids=[pk])
        service_request = generics.get_object_or_404(selectors.request_queryset(), pk=pk)
        self.check_object_permissions(self.request, service_request)
        return service_request


@extend_schema(tags=[REQUESTS])
class RequestListView(generics.ListCreateAPIView):
    """Requests: everyone signed in lists; managers, liaisons and staff post."""

    permission_classes = [CanPostRequests]
    serializer_class = ServiceRequestSerializer
    filter_backends = [StoringFilterBackend]
    filterset_class = ServiceRequestFilter

    def get_queryset(self):
        return selectors.request_queryset()

    @extend_schema(
        summary="需求列表",
        extensions=error_codes(station_errors.InvalidCoordinates, station_errors.InvalidRadius),
        description=(
            "筛选：status、campaign、campaign_kind、town、station、village、specialty、"
            "starts_after、starts_before、search、near=纬度,经度 + radius_km（按距离排序）。"
            "联系人信息仅驿站管理员、机关工作人员、发布人和已认领委员可见，其他人为 null。"
        ),
    )
    def get(self, request, *args, **kwargs):
        expire_overdue()
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        near: Point | None = getattr(getattr(self, "filterset", None), "near_point", None)
        distances = (
            {r.pk: distance_km(near, Point(lat=r.lat, lng=r.lng)) for r in page} if near else {}
        )
        viewer = selectors.viewer_for(request.user, page, distances=distances)
        data = ServiceRequestSerializer(page, many=True, context={"viewer": viewer}).data
        return self.get_paginated_response(data)

    @extend_schema(
        summary="发布需求",
        examples=[openapi_examples.REQUEST_CREATE],
        extensions=error_codes(
            station_errors.InvalidCoordinates,
            station_errors.OutsideChina,
            station_errors.UnknownCoordType,
        ),
        description=(
            "驿站管理员（本驿站）、村/社区联络员（本村，需求归属服务该村的驿站）或机关工作人员。"
            "坐标默认取村/社区的，其次驿站的；coord_type=gcj02 时换算为 WGS-84 保存。"
            "与同村 14 天内相似的未完成需求会列在 possible_duplicates 中（仍然创建）。"
        ),
        request=RequestInputSerializer,
        responses={201: CreatedRequestSerializer},
    )
    def post(self, request, *args, **kwargs):
        data = RequestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = create_request(actor=request.user, **data.validated_data)
        body = _request_body(
            created.request,
            request,
            CreatedRequestSerializer,
            duplicates=created.possible_duplicates,
        )
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(tags=[REQUESTS])
class RequestDetailView(RequestObjectMixin, generics.RetrieveUpdateAPIView):
    """One request; its station's managers and staff edit it while open or full."""

    permission_classes = [IsAuthenticated, IsRequestManagerOrReadOnly]
    serializer_class = ServiceRequestSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.request_queryset()

    @extend_schema(summary="需求详情", extensions=error_codes())
    def get(self, request, *args, **kwargs):
        return Response(_request_body(self.get_object(), request, ServiceRequestSerializer))

    @extend_schema(
        summary="修改需求",
        examples=[openapi_examples.REQUEST_PATCH],
        extensions=error_codes(
            errors.RequestNotEditable,
            errors.SlotsBelowClaimed,
            errors.RequestHasClaims,
            station_errors.InvalidCoordinates,
            station_errors.OutsideChina,
            station_errors.UnknownCoordType,
        ),
        description=(
            "仅在 open/full 状态；名额不能少于已认领人数（409 slots_below_claimed）；"
            "改时间会让已认领或候补的委员时间冲突时 → 409 request_has_claims"
            "（conflicting_members）；时间、地点、名额的变化会通知已认领和候补的委员"
            "（request_changed）；增加名额会让候补自动转正。"
        ),
        request=RequestUpdateSerializer,
        responses={200: ServiceRequestSerializer, 409: CONFLICT},
    )
    def patch(self, request, *args, **kwargs):
        service_request = self.get_object()
        data = RequestUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        updated = update_request(
            actor=request.user, request_id=service_request.pk, changes=dict(data.validated_data)
        )
        return Response(_request_body(updated, request, ServiceRequestSerializer))


@extend_schema(tags=[REQUESTS])
class RequestCancelView(RequestObjectMixin, generics.GenericAPIView):
    """Cancel a request; its claimants and waitlist get a notification."""

    permission_classes = [IsAuthenticated, IsRequestManager]
    serializer_class = CancelInputSerializer

    def get_queryset(self):
        return selectors.request_queryset()

    @extend_schema(
        summary="取消需求",
        extensions=error_codes(errors.RequestNotCancellable),
        request=CancelInputSerializer,
        responses={200: ServiceRequestSerializer, 409: CONFLICT},
    )
    def post(self, request, *args, **kwargs):
        service_request = self.get_object()
        data = CancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cancelled = cancel_request(
            actor=request.user, request_id=service_request.pk, **data.validated_data
        )
        return Response(_request_body(cancelled, request, ServiceRequestSerializer))


@extend_schema(tags=[REQUESTS])
class RequestEventsView(RequestObjectMixin, generics.ListAPIView):
    """The audit trail of a request and its claims (its station's managers and staff)."""

    permission_classes = [IsAuthenticated, IsRequestManager]
    serializer_class = AuditEventSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Event.objects.none()
        return selectors.request_events(self.get_object())

    @extend_schema(summary="需求操作记录", extensions=error_codes())
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=[REQUESTS])
class RequestClaimView(generics.GenericAPIView):
    """A member claims a request (or joins its waitlist with ``?waitlist=1``)."""

    permission_classes = [IsAuthenticated, IsMember]
    serializer_class = ClaimSerializer
    queryset = ServiceRequest.objects.none()
    # Per member (settings THROTTLE_CLAIMS): a claim drive must not be won by a script.
    throttle_classes = [ScopedThrottle]
    throttle_scope = "claims"

    @extend_schema(
        summary="认领需求（抢单）",
        extensions=error_codes(
            errors.RequestFull,
            errors.AlreadyClaimed,
            errors.RequestNotOpen,
            errors.TimeConflict,
            errors.ClaimRejected,
            errors.InviteWindow,
            errors.MemberProfileRequired,
            examples=openapi_examples.CLAIM_ERRORS,
        ),
        description=(
            "201 返回认领（status=claimed）。名额已满 → 409 `request_full`；带 `?waitlist=1` 时改为"
            "加入候补（201，status=waitlisted，有人取消/过期/被拒时按先后自动转正并通知）。"
            "其他：409 `already_claimed`、`request_not_open`、`time_conflict`（附 "
            "conflicting_request）、`claim_rejected`；403 `permission_denied`（账号不是委员）、"
            "`member_profile_required`（有委员身份但没有有效的委员档案）、`invite_window`"
            "（邀请团队优先期内，附 invite_until）。支持 Idempotency-Key。"
        ),
        parameters=[ClaimQuerySerializer, IDEMPOTENCY_PARAMETER],
        request=None,
        responses={201: ClaimSerializer, 409: CONFLICT, 422: UNPROCESSABLE},
    )
    def post(self, request, *args, **kwargs):
        request_id = url_pk(self)
        query = ClaimQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)

        def execute():
            claim = claim_request(user=request.user, request_id=request_id, **query.validated_data)
            return status.HTTP_201_CREATED, _claim_body(claim, request)

        return idempotency.respond(request, execute)


class ClaimObjectMixin:
    """Looks up one of the claims the user may see, after its request's due expiry."""

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Claim.objects.none()
        return selectors.visible_claims(self.request.user)

    def get_object(self):
        pk = url_pk(self)
        request_id = Claim.objects.filter(pk=pk).values_list("request_id", flat=True).first()
        if request_id is not None:
            expire_overdue(request_ids=[request_id])
        claim = generics.get_object_or_404(self.get_queryset(), pk=pk)
        self.check_object_permissions(self.request, claim)
        return claim


@extend_schema(tags=[CLAIMS])
class ClaimListView(ClaimObjectMixin, generics.ListAPIView):
    """Claims: a member sees their own, a manager their stations', staff all."""

    serializer_class = ClaimSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ClaimFilter

    @extend_schema(summary="认领列表", extensions=error_codes())
    def get(self, request, *args, **kwargs):
        expire_overdue()
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        positions = selectors.waitlist_positions(page)
        context = {"positions": positions, "request": request}
        data = ClaimSerializer(page, many=True, context=context).data
        return self.get_paginated_response(data)


@extend_schema(tags=[CLAIMS])
class ClaimDetailView(ClaimObjectMixin, generics.RetrieveAPIView):
    """One claim the user may see."""

    serializer_class = ClaimSerializer

    @extend_schema(summary="认领详情", extensions=error_codes())
    def get(self, request, *args, **kwargs):
        return Response(_claim_body(self.get_object(), request))


@extend_schema(tags=[CLAIMS])
class ClaimCancelView(ClaimObjectMixin, generics.GenericAPIView):
    """The claimant cancels before the start (or leaves the waitlist)."""

    permission_classes = [IsAuthenticated, IsClaimant]
    serializer_class = CancelInputSerializer

    @extend_schema(
        summary="取消认领",
        examples=[openapi_examples.CANCEL],
        extensions=error_codes(
            errors.NotClaimant, errors.ClaimNotActive, errors.CancelWindowClosed
        ),
        description=(
            "仅认领人本人，开始前；原因必填。开始前不足 SERVICES_LATE_CANCEL_HOURS 小时取消记为"
            "临时取消（late_cancel=true，通知驿站管理员）。名额释放后候补第一位自动转正。"
        ),
        request=CancelInputSerializer,
        responses={200: ClaimSerializer, 409: CONFLICT},
    )
    def post(self, request, *args, **kwargs):
        claim = self.get_object()
        data = CancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        claim = cancel_claim(user=request.user, claim_id=claim.pk, **data.validated_data)
        return Response(_claim_body(claim, request))


@extend_schema(tags=[CLAIMS])
class ClaimCheckInView(ClaimObjectMixin, generics.GenericAPIView):
    """The claimant checks in on site."""

    permission_classes = [IsAuthenticated, IsClaimant]
    serializer_class = CheckInInputSerializer

    @extend_schema(
        summary="签到",
        examples=[openapi_examples.CHECK_IN],
        extensions=error_codes(
            errors.NotClaimant,
            errors.AlreadyCheckedIn,
            errors.ClaimNotActive,
            errors.CheckInWindow,
            errors.TooFar,
            station_errors.InvalidCoordinates,
            station_errors.OutsideChina,
            station_errors.UnknownCoordType,
            examples=openapi_examples.CHECK_IN_ERRORS,
        ),
        description=(
            "开始前 SERVICES_CHECK_IN_OPENS_MINUTES 分钟至结束时间内（否则 409 "
            "`check_in_window`），距服务地点不超过 SERVICES_GEOFENCE_METERS 米（否则 422 "
            "`too_far`，响应含 distance_m 与 geofence_m）。首位签到使需求进入 in_progress。"
        ),
        request=CheckInInputSerializer,
        responses={200: ClaimSerializer, 409: CONFLICT, 422: UNPROCESSABLE},
    )
    def post(self, request, *args, **kwargs):
        claim = self.get_object()
        data = CheckInInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        claim = check_in(user=request.user, claim_id=claim.pk, **data.validated_data)
        return Response(_claim_body(claim, request))


@extend_schema(tags=[CLAIMS])
class ClaimCheckOutView(ClaimObjectMixin, generics.GenericAPIView):
    """The claimant checks out; the duration is recorded."""

    permission_classes = [IsAuthenticated, IsClaimant]
    serializer_class = ClaimSerializer

    @extend_schema(
        summary="签退",
        extensions=error_codes(
            errors.NotClaimant, errors.NotCheckedIn, errors.ClaimNotActive, errors.AlreadyCheckedOut
        ),
        request=None,
        responses={200: ClaimSerializer, 409: CONFLICT},
    )
    def post(self, request, *args, **kwargs):
        claim = check_out(user=request.user, claim_id=self.get_object().pk)
        return Response(_claim_body(claim, request))


@extend_schema(tags=[CLAIMS])
class ClaimRejectView(ClaimObjectMixin, generics.GenericAPIView):
    """The station's manager (or staff) declines a claim or waitlist place."""

    permission_classes = [IsAuthenticated, IsClaimStationManager]
    serializer_class = CancelInputSerializer

    @extend_schema(
        summary="拒绝认领（驿站管理员）",
        extensions=error_codes(errors.ClaimNotRejectable),
        description="仅 claimed 或 waitlisted；原因必填，委员收到通知；名额释放后候补自动转正。",
        request=CancelInputSerializer,
        responses={200: ClaimSerializer, 409: CONFLICT},
    )
    def post(self, request, *args, **kwargs):
        claim = self.get_object()
        data = CancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        claim = reject_claim(actor=request.user, claim_id=claim.pk, **data.validated_data)
        return Response(_claim_body(claim, request))
