"""Recurring services over HTTP: post, read, edit or cancel every future occurrence, claim
every future occurrence. One occurrence is edited, cancelled or claimed as a request."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.permissions import IsMember
from services.api import CONFLICT, url_pk
from services.models import ServiceSeries
from services.permissions import CanPostRequests, IsRequestManager
from services.requests.serializers import CancelInputSerializer
from services.series import writes
from services.series.serializers import (
    SeriesClaimsSerializer,
    SeriesInputSerializer,
    SeriesSerializer,
    SeriesUpdateSerializer,
)

SERIES = "series"


def _series_queryset():
    return ServiceSeries.objects.select_related("station", "village", "campaign")


def _body(series_id: int) -> dict:
    return SeriesSerializer(_series_queryset().get(pk=series_id)).data


class SeriesObjectMixin:
    def get_object(self):
        series = _series_queryset().filter(pk=url_pk(self)).first()
        if series is None:
            raise Http404
        self.check_object_permissions(self.request, series)
        return series


@extend_schema(tags=[SERIES])
class SeriesCreateView(generics.GenericAPIView):
    """A station posts a recurring service; each occurrence is an ordinary request."""

    permission_classes = [CanPostRequests]
    serializer_class = SeriesSerializer
    queryset = ServiceSeries.objects.none()

    @extend_schema(
        summary="发布周期服务",
        description=(
            "每周（weekdays）或每月（weekdays + week_of_month：第几个该星期，-1 为最后一个）；"
            "截止日期 until 或次数 count 二选一；最多 SERIES_MAX_OCCURRENCES 场（400 "
            "`series_too_long`）。每场都是一条普通需求（series 指向本周期），逐场按发布需求的"
            "规则检查；任何一场不合规则全部不创建。"
        ),
        request=SeriesInputSerializer,
        responses={201: SeriesSerializer},
    )
    def post(self, request, *args, **kwargs):
        data = SeriesInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        series = writes.create_series(actor=request.user, **data.validated_data)
        return Response(_body(series.pk), status=status.HTTP_201_CREATED)


@extend_schema(tags=[SERIES])
class SeriesDetailView(SeriesObjectMixin, generics.GenericAPIView):
    """One recurring service with its occurrences; its station's managers edit the future."""

    permission_classes = [IsAuthenticated]
    serializer_class = SeriesSerializer
    queryset = ServiceSeries.objects.none()

    def get_permissions(self):
        if self.request.method == "PATCH":
            return [IsAuthenticated(), IsRequestManager()]
        return super().get_permissions()

    @extend_schema(summary="周期服务详情")
    def get(self, request, *args, **kwargs):
        return Response(_body(self.get_object().pk))

    @extend_schema(
        summary="修改所有未开始的场次",
        description=(
            "改动应用到每一场未开始的（open/full）场次，一个事务内全部成功或全部不变；每场的"
            "认领和候补委员收到 request_changed（从 → 到）。改单场请用 PATCH requests/{id}/。"
            "409 `series_ended`（没有未开始的场次）、`request_has_claims`、`slots_below_claimed`。"
        ),
        request=SeriesUpdateSerializer,
        responses={200: SeriesSerializer, 409: CONFLICT},
    )
    def patch(self, request, *args, **kwargs):
        series = self.get_object()
        data = SeriesUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        writes.update_series(actor=request.user, series_id=series.pk, changes=data.validated_data)
        return Response(_body(series.pk))


@extend_schema(tags=[SERIES])
class SeriesCancelView(SeriesObjectMixin, generics.GenericAPIView):
    """Cancel every future occurrence; their claimants and waitlists are told."""

    permission_classes = [IsAuthenticated, IsRequestManager]
    serializer_class = CancelInputSerializer
    queryset = ServiceSeries.objects.none()

    @extend_schema(
        summary="取消所有未开始的场次",
        description="取消单场请用 POST requests/{id}/cancel/。409 `series_ended`。",
        request=CancelInputSerializer,
        responses={200: SeriesSerializer, 409: CONFLICT},
    )
    def post(self, request, *args, **kwargs):
        series = self.get_object()
        data = CancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        writes.cancel_series(actor=request.user, series_id=series.pk, **data.validated_data)
        return Response(_body(series.pk))


@extend_schema(tags=[SERIES])
class SeriesClaimView(SeriesObjectMixin, generics.GenericAPIView):
    """A member claims every future occurrence that takes them."""

    permission_classes = [IsAuthenticated, IsMember]
    serializer_class = SeriesClaimsSerializer
    queryset = ServiceSeries.objects.none()

    @extend_schema(
        summary="认领所有未开始的场次",
        description=(
            "逐场认领（每场单独按认领规则检查）：名额已满、与其他任务时间冲突、已认领、邀请期"
            "等原因未认领的场次列在 skipped 中（含 code 与 detail）。认领单场请用 POST "
            "requests/{id}/claims/。409 `series_ended`。"
        ),
        request=None,
        responses={200: SeriesClaimsSerializer, 409: CONFLICT},
    )
    def post(self, request, *args, **kwargs):
        series = self.get_object()
        result = writes.claim_series(user=request.user, series_id=series.pk)
        body = {
            "claimed": [claim.pk for claim in result.claimed],
            "claimed_requests": [claim.request_id for claim in result.claimed],
            "skipped": result.skipped,
        }
        return Response(SeriesClaimsSerializer(body).data)
