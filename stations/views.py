"""Towns, villages and stations: reference data every signed-in user reads, staff writes.

Lists and details answer conditional GETs (ETag / Last-Modified → 304). There is no DELETE:
towns, villages and stations are referred to by requests and records, so they are deactivated
with ``PATCH {"active": false}`` instead, which hides them from everyone but staff.
"""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from accounts.permissions import IsStaffOrReadOnly
from stations import selectors, writes
from stations.conditional import ConditionalReadMixin
from stations.filters import SearchFilter, StationFilter, TownFilter, VillageFilter
from stations.permissions import CanEditStation
from stations.serializers import (
    StationInputSerializer,
    StationSerializer,
    TownInputSerializer,
    TownSerializer,
    VillageInputSerializer,
    VillageSerializer,
)

CONDITIONAL_HEADERS = [
    OpenApiParameter(
        "If-None-Match",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        description="上次响应的 ETag；未变化时返回 304",
    ),
    OpenApiParameter(
        "If-Modified-Since",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        description="上次响应的 Last-Modified（HTTP 日期）；未变化时返回 304",
    ),
]
NOT_MODIFIED = OpenApiResponse(description="未修改：客户端缓存仍然有效（无响应体）")


def editable_schema(*, tag: str, noun: str, output, input_serializer, conditional: bool = True):
    """The OpenAPI description of an EditableViewSet (with 304s when ``conditional``)."""
    parameters = CONDITIONAL_HEADERS if conditional else []

    def reads(serializer) -> dict:
        return {200: serializer, 304: NOT_MODIFIED} if conditional else {200: serializer}

    return extend_schema_view(
        list=extend_schema(
            tags=[tag],
            summary=f"{noun}列表",
            parameters=parameters,
            responses=reads(output(many=True)),
        ),
        retrieve=extend_schema(
            tags=[tag], summary=f"{noun}详情", parameters=parameters, responses=reads(output)
        ),
        create=extend_schema(
            tags=[tag],
            summary=f"新建{noun}（工作人员）",
            request=input_serializer,
            responses={201: output},
        ),
        partial_update=extend_schema(
            tags=[tag],
            summary=f"修改{noun}",
            description='`{"active": false}` 停用（不提供删除）。',
            request=input_serializer,
            responses={200: output},
        ),
    )


class EditableViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """list / retrieve / create / partial_update through input serializers and write functions.

    No PUT and no DELETE: rows others refer to are deactivated with ``PATCH {"active": false}``.
    """

    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_regex = r"[0-9]+"
    filter_backends = [DjangoFilterBackend, SearchFilter]
    input_serializer_class: type
    create_function: staticmethod
    update_function: staticmethod
    object_name: str

    def create(self, request, *args, **kwargs):
        data = self.input_serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        obj = self.create_function(actor=request.user, **data.validated_data)
        return Response(self.get_serializer(obj).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        obj = self.get_object()
        data = self.input_serializer_class(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        obj = self.update_function(
            actor=request.user, changes=data.validated_data, **{self.object_name: obj}
        )
        return Response(self.get_serializer(obj).data)


class ReferenceViewSet(ConditionalReadMixin, EditableViewSet):
    """An EditableViewSet whose reads answer conditional GETs (ETag / Last-Modified)."""


@editable_schema(
    tag="geography", noun="镇街", output=TownSerializer, input_serializer=TownInputSerializer
)
class TownViewSet(ReferenceViewSet):
    """镇/街道."""

    permission_classes = [IsStaffOrReadOnly]
    serializer_class = TownSerializer
    input_serializer_class = TownInputSerializer
    filterset_class = TownFilter
    search_fields = ["name"]
    create_function = staticmethod(writes.town_create)
    update_function = staticmethod(writes.town_update)
    object_name = "town"

    def get_queryset(self):
        return selectors.town_list(user=self.request.user)


@editable_schema(
    tag="geography", noun="村社", output=VillageSerializer, input_serializer=VillageInputSerializer
)
class VillageViewSet(ReferenceViewSet):
    """村/社区."""

    permission_classes = [IsStaffOrReadOnly]
    serializer_class = VillageSerializer
    input_serializer_class = VillageInputSerializer
    filterset_class = VillageFilter
    search_fields = ["name"]
    create_function = staticmethod(writes.village_create)
    update_function = staticmethod(writes.village_update)
    object_name = "village"

    def get_queryset(self):
        return selectors.village_list(user=self.request.user)


@editable_schema(
    tag="geography",
    noun="驿站/工作室",
    output=StationSerializer,
    input_serializer=StationInputSerializer,
)
class StationViewSet(ReferenceViewSet):
    """驿站/工作室: staff write; a manager may PATCH address and coordinates of their own."""

    permission_classes = [CanEditStation]
    serializer_class = StationSerializer
    input_serializer_class = StationInputSerializer
    filterset_class = StationFilter
    search_fields = ["name", "address"]
    create_function = staticmethod(writes.station_create)
    update_function = staticmethod(writes.station_update)
    object_name = "station"

    def get_queryset(self):
        return selectors.station_list(user=self.request.user)
