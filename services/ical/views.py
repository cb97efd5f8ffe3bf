"""The calendar feed over HTTP: the member's secret URL (``me/calendar/``) and the public
``calendar/{token}.ics`` a phone's calendar subscribes to."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, renderers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import fields as strict
from accounts.permissions import IsMember
from members.models import Member
from services.ical import feeds

CALENDAR = "calendar"
ICS_CONTENT_TYPE = "text/calendar; charset=utf-8"


class CalendarStateSerializer(strict.Serializer):
    active = strict.BooleanField(help_text="是否有可用的订阅地址")
    created_at = strict.DateTimeField(allow_null=True, help_text="当前地址的开启时间")


class CalendarIssuedSerializer(strict.Serializer):
    url = strict.CharField(help_text="订阅地址（只显示这一次，请复制到手机日历的“添加订阅”）")
    created_at = strict.DateTimeField()


@extend_schema(tags=[CALENDAR])
class MyCalendarView(APIView):
    """The member's calendar URL: its state, a new one, or none."""

    permission_classes = [IsAuthenticated, IsMember]

    @extend_schema(summary="日历订阅状态", responses={200: CalendarStateSerializer})
    def get(self, request):
        member = Member.objects.filter(user=request.user).first()
        feed = feeds.live_feed(member)
        body = {"active": feed is not None, "created_at": feed.created_at if feed else None}
        return Response(CalendarStateSerializer(body).data)

    @extend_schema(
        summary="开启（或更换）日历订阅地址",
        description="返回新的秘密地址（只显示这一次）；原地址随即停用（410 `calendar_revoked`）。",
        request=None,
        responses={201: CalendarIssuedSerializer},
    )
    def post(self, request):
        feed, token = feeds.issue_feed(user=request.user)
        url = request.build_absolute_uri(reverse("calendar-feed", kwargs={"token": token}))
        body = CalendarIssuedSerializer({"url": url, "created_at": feed.created_at}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="停用日历订阅地址",
        description=(
            "之后该地址返回 410 `calendar_revoked`；没有可用地址 → 404 `calendar_not_issued`。"
        ),
        request=None,
        responses={204: None},
    )
    def delete(self, request):
        feeds.revoke_feed(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=[CALENDAR])
class CalendarFeedView(APIView):
    """A member's upcoming tasks as iCalendar (RFC 5545), read with the secret URL alone."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    # Errors in the one JSON shape; the calendar itself is an HttpResponse of its own type.
    renderer_classes = [renderers.JSONRenderer]

    @extend_schema(
        summary="日历订阅（iCalendar）",
        description=(
            "无需登录，凭秘密地址读取：当前委员未结束的任务（与 me/tasks/?when=upcoming 相同），"
            "每个任务一个 VEVENT。地址已停用 → 410 `calendar_revoked`；不存在 → 404 "
            "`calendar_not_found`。"
        ),
        responses={
            (200, "text/calendar"): OpenApiResponse(
                response=OpenApiTypes.STR, description="RFC 5545 日历"
            ),
            404: OpenApiResponse(description="calendar_not_found"),
            410: OpenApiResponse(description="calendar_revoked"),
        },
    )
    def get(self, request, token: str):
        feed = feeds.feed_for_token(token)
        response = HttpResponse(feeds.calendar_for(feed), content_type=ICS_CONTENT_TYPE)
        response["Cache-Control"] = "private, max-age=300"
        response["Content-Disposition"] = 'inline; filename="tasks.ics"'
        return response
