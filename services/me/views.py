"""The member's own screens over HTTP: ``GET me/tasks/``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAuthenticated

from accounts.permissions import IsMember, is_staff
from services.me import selectors
from services.me.serializers import TaskSerializer, TasksQuerySerializer
from services.models import Claim
from services.requests.expiry import expire_overdue
from services.requests.selectors import Viewer
from stations.selectors import managed_station_ids


@extend_schema(tags=["me"])
class MyTasksView(generics.ListAPIView):
    """My claims as the task screen shows them, in one query per page."""

    permission_classes = [IsAuthenticated, IsMember]
    serializer_class = TaskSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Claim.objects.none()
        query = TasksQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.my_tasks(self.request.user, when=query.validated_data["when"])

    @extend_schema(
        summary="我的任务",
        description=(
            "当前委员的认领：需求标题、时间、地点（地址、坐标、村/社区、驿站、镇街）、联系人"
            "（持有名额时可见）、签到时间窗、候补顺位和下一步（check_in/check_out/"
            "submit_record/none）。`?when=upcoming`（默认，按开始时间先后）或 `past`。"
        ),
        parameters=[TasksQuerySerializer],
    )
    def get(self, request, *args, **kwargs):
        queryset = self.get_queryset()  # a bad ?when= is 400 before anything else runs
        expire_overdue()
        page = self.paginate_queryset(queryset)
        user = request.user
        viewer = Viewer(user=user, staff=is_staff(user), stations=managed_station_ids(user))
        data = TaskSerializer(page, many=True, context={"viewer": viewer}).data
        return self.get_paginated_response(data)
