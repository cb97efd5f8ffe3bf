"""Matching over HTTP: ranked teams and invitations (managers), the member feed, the map."""

from __future__ import annotations

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.permissions import IsMember
from services.api import StoringFilterBackend, url_pk
from services.matching.feed import feed_page, recommend_for_member
from services.matching.filters import MapFilter, narrowed
from services.matching.invites import invite_team
from services.matching.map import check_coord_type, map_box, map_features
from services.matching.serializers import (
    InviteInputSerializer,
    MatchesQuerySerializer,
    MatchSerializer,
    RecommendedQuerySerializer,
    RecommendedRequestSerializer,
    RequestMapSerializer,
    feed_items_data,
    map_data,
    match_data,
)
from services.matching.teams import match_target, match_teams
from services.models import ServiceRequest
from services.permissions import IsRequestManager
from services.requests import selectors
from services.requests.serializers import ServiceRequestSerializer
from stations.filters import BBOX_PATTERN

REQUESTS = "requests"


class ManagedRequestMixin:
    """The URL's request, for its station's managers and staff."""

    def request_pk(self) -> int:
        """The URL's request id; 404 for one no request can have."""
        return url_pk(self)

    def get_object(self) -> ServiceRequest:
        pk = self.request_pk()
        service_request = generics.get_object_or_404(ServiceRequest.objects.all(), pk=pk)
        self.check_object_permissions(self.request, service_request)
        return service_request


@extend_schema(tags=[REQUESTS])
class RequestMatchesView(ManagedRequestMixin, generics.GenericAPIView):
    """Teams ranked for a request."""

    permission_classes = [IsAuthenticated, IsRequestManager]
    serializer_class = MatchSerializer
    queryset = ServiceRequest.objects.none()
    # A ranked list of at most ?limit= teams, not pages.
    pagination_class = None

    @extend_schema(
        summary="匹配团队（驿站管理员、机关工作人员）",
        description=(
            "按专长匹配、距离、该时段任务量、守约情况和近期在本驿站的服务经历为启用的团队打分，"
            "从高到低返回；每项附 score、distance_km、matched_specialties、reasons（中文说明）"
            "和 parts（各项得分）。超过 MATCHING_MAX_DISTANCE_KM（默认 50 公里）的团队不参与；"
            "团队位置取驻地坐标，未设时取所在镇街。"
        ),
        parameters=[MatchesQuerySerializer],
        responses={
            200: OpenApiResponse(
                response=MatchSerializer(many=True), description="团队列表，得分从高到低"
            )
        },
    )
    def get(self, request, *args, **kwargs):
        # The request as the matcher reads it (one statement), then the same checks as
        # get_object: 404 for an unknown request, then the station's managers and staff.
        now = timezone.now()
        target = match_target(self.request_pk(), now=now)
        if target is None:
            raise Http404
        self.check_object_permissions(request, target)
        query = MatchesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = match_teams(target=target, limit=query.validated_data["limit"], now=now)
        return Response([match_data(match) for match in result.matches])


@extend_schema(tags=[REQUESTS])
class RequestInviteView(ManagedRequestMixin, generics.GenericAPIView):
    """Invite a team: until ``until`` only its members may claim; they are notified."""

    permission_classes = [IsAuthenticated, IsRequestManager]
    serializer_class = InviteInputSerializer
    queryset = ServiceRequest.objects.none()

    @extend_schema(
        summary="邀请团队（驿站管理员、机关工作人员）",
        description=(
            "仅 open 状态的需求（否则 409 request_not_open）；团队须为启用状态，截止时间须晚于"
            "当前、早于需求开始时间（400）。截止前仅该团队委员可认领，团队在册委员收到"
            "team_invited 通知；再次邀请会替换之前的邀请。"
        ),
        request=InviteInputSerializer,
        responses={
            200: ServiceRequestSerializer,
            409: OpenApiResponse(description="需求不可认领（request_not_open）"),
        },
    )
    def post(self, request, *args, **kwargs):
        service_request = self.get_object()
        data = InviteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invited = invite_team(
            actor=request.user, request_id=service_request.pk, **data.validated_data
        )
        fresh = selectors.request_queryset().get(pk=invited.pk)
        viewer = selectors.viewer_for(request.user, [fresh])
        body = ServiceRequestSerializer(fresh, context={"viewer": viewer}).data
        return Response(body, status=status.HTTP_200_OK)


@extend_schema(tags=[REQUESTS])
class RecommendedRequestsView(generics.ListAPIView):
    """A member's feed: open requests they may claim near them, ranked for them."""

    permission_classes = [IsAuthenticated, IsMember]
    serializer_class = RecommendedRequestSerializer
    filter_backends: list = []
    queryset = ServiceRequest.objects.none()

    @extend_schema(
        summary="为我推荐的需求（委员）",
        description=(
            "半径内本人现在可以认领的需求：可认领（open）、未满员、未结束、本人未认领/候补/被拒、"
            "与本人已认领的时间不冲突、邀请期内仅受邀团队可见；按与匹配团队相同的评分从高到低"
            "排序，每项附 score、distance_km、reasons。不给 lat/lng 时用本人常住地，都没有时 400 "
            "location_required。最多对最近的 MATCHING_CANDIDATE_LIMIT（默认 100）条评分。"
        ),
        parameters=[RecommendedQuerySerializer],
        responses=OpenApiResponse(
            response=RecommendedRequestSerializer, description="分页列表，得分从高到低"
        ),
    )
    def get(self, request, *args, **kwargs):
        query = RecommendedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        feed = recommend_for_member(user=request.user, **query.validated_data)
        page = self.paginate_queryset(feed.entries)
        items = feed_page(feed, page)
        return self.get_paginated_response(feed_items_data(items))


@extend_schema(tags=[REQUESTS])
class RequestMapView(generics.ListAPIView):
    """Requests inside a box as a GeoJSON FeatureCollection, for the mini-program map."""

    permission_classes = [IsAuthenticated]
    serializer_class = RequestMapSerializer
    filter_backends = [StoringFilterBackend]
    filterset_class = MapFilter
    pagination_class = None

    def get_queryset(self):
        return ServiceRequest.objects.all()

    @extend_schema(
        summary="地图：范围内的需求（GeoJSON）",
        description=(
            "返回 GeoJSON FeatureCollection（RFC 7946，坐标为 [经度, 纬度]），默认只含可认领"
            "（open）且未结束的需求，可叠加需求列表的筛选参数。范围内需求不超过"
            " MATCHING_MAP_MAX_FEATURES（默认 500）时每个需求一个点要素（离地图中心近者在前，"
            "clustered=false）；超过时按全局固定网格聚合（边长 2^-k 度，k 取使范围长边约跨"
            " MATCHING_MAP_CLUSTER_GRID（默认 8）格的层级），范围触及的每个有需求的网格一个聚合"
            "要素（clustered=true，properties.cluster=true，count 为需求数，坐标为其质心，bbox"
            " 为该网格，点击后缩放至此即拆分为下一级网格；平移地图时网格不变）。bbox 面积上限见"
            " MATCHING_MAP_MAX_BBOX_DEG2（默认 1 平方度）。"
        ),
        parameters=[
            OpenApiParameter(
                "bbox",
                {"type": "string", "pattern": BBOX_PATTERN},
                required=True,
                description="最小经度,最小纬度,最大经度,最大纬度（如 122.05,29.98,122.15,30.06）",
            )
        ],
        responses={
            200: OpenApiResponse(
                response=RequestMapSerializer,
                description="GeoJSON FeatureCollection（RFC 7946），要素为点，坐标 [经度, 纬度]",
            )
        },
    )
    def get(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        cleaned = self.filterset.form.cleaned_data
        coord_type = check_coord_type(cleaned.get("coord_type"))
        box = map_box(cleaned.get("bbox"), coord_type=coord_type)
        result = map_features(
            queryset=queryset,
            box=box,
            coord_type=coord_type,
            statuses=None
            if narrowed(cleaned)
            else cleaned.get("status") or [ServiceRequest.Status.OPEN],
        )
        return Response(map_data(result))
