"""API pieces every capability of the services app shares: id fields and URL ids, small
references, point input, the filter backend that keeps its filterset, schema responses."""

from __future__ import annotations

from django.http import Http404
from django_filters import rest_framework as filters
from django_filters.utils import translate_validation
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
)
from rest_framework import serializers

from accounts import fields as strict
from accounts.fields import MAX_ID
from members import pii
from services import idempotency
from services.models import Campaign
from services.records.hours import as_hours
from stations.errors import InvalidCoordinates
from stations.geo import (
    WGS84,
    validate_point,
)
from stations.serializers import CoordTypeField, LatitudeField, LongitudeField


def url_pk(view) -> int:
    """The URL's id; ids no row can have (beyond 64 bits) are 404 before they reach SQL."""
    pk = int(view.kwargs["pk"])
    if not 1 <= pk <= MAX_ID:
        raise Http404
    return pk


CONFLICT = OpenApiResponse(description="与当前状态冲突（见 code）")


UNPROCESSABLE = OpenApiResponse(description="无法处理（见 code）")


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    name=idempotency.HEADER,
    # The rule parse_key applies (1-100 printable ASCII characters), stated as the pattern.
    type={"type": "string", "pattern": f"^{idempotency._KEY_RE.pattern}$"},
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "幂等键（1–100 个可见 ASCII 字符，24 小时内有效）：同键同内容重放返回首次的状态码和"
        "响应体；同键不同内容 → 422 `idempotency_mismatch`；首次请求仍在处理 → 409 "
        "`idempotency_in_progress`（立即返回，附 Retry-After，稍后重试）。"
    ),
)


class IdRelatedField(strict.PrimaryKeyRelatedField):
    """A primary key that must be an integer (not a bool, not a huge number) naming a row."""

    default_error_messages = {
        "required": "该字段是必填项。",
        "does_not_exist": "ID 为 {pk_value} 的对象不存在。",
        "incorrect_type": "必须是整数 ID。",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if isinstance(data, str) and strict.from_text(self) and data.isdigit():
            data = int(data)  # a query string or a form carries text; a JSON body must not
        if not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 1 <= data <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class HoursField(serializers.FloatField):
    """Verified minutes shown as hours to one decimal (read only; ``source`` the minutes), the
    one format of hours in the API, the exports, the dashboard and certificates."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        kwargs.setdefault("help_text", "核实服务时长（小时，保留一位小数）")
        super().__init__(**kwargs)

    def to_representation(self, value):
        return as_hours(value)


class HoursFiguresSerializer(strict.Serializer):
    """The verified service time of a set of records: exact minutes and hours to show."""

    service_minutes = strict.IntegerField(help_text="核实服务时长（分钟，精确值）")
    service_hours = HoursField(source="service_minutes")


class NamedRefSerializer(strict.Serializer):
    """``{id, name}`` of a related object."""

    id = strict.IntegerField()
    name = strict.CharField()


class CampaignRefSerializer(strict.Serializer):
    id = strict.IntegerField()
    kind = strict.ChoiceField(choices=Campaign.Kind.choices)
    name = strict.CharField()


class RequestSpecialtySerializer(strict.Serializer):
    id = strict.IntegerField()
    code = strict.CharField()
    name = strict.CharField()


class ActorRefSerializer(strict.Serializer):
    """Who did something (posted, rejected, acted): the name masked as members.pii says."""

    id = strict.IntegerField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        viewer = self.context.get("viewer")
        if viewer is not None and not isinstance(viewer, pii.Viewer):
            # The request serializers' context carries services' per-page viewer.
            looker = pii.viewer_of(viewer.user)
        else:
            looker = pii.context_viewer(self.context)
        return pii.shown_name(looker, user.pk, user.name or user.username)


class PointInputMixin(strict.Serializer):
    """Optional ``lat``/``lng`` with ``coord_type``; stored as validated WGS-84."""

    lat = LatitudeField(
        required=False, allow_null=False, help_text="纬度；不填则用村/社区（或驿站）的坐标"
    )
    lng = LongitudeField(required=False, allow_null=False, help_text="经度（与纬度同时提供）")
    coord_type = CoordTypeField(default=WGS84)

    def pop_point(self, attrs):
        """Replace lat/lng/coord_type in ``attrs`` by a validated ``point`` (or nothing)."""
        lat = attrs.pop("lat", None)
        lng = attrs.pop("lng", None)
        coord_type = attrs.pop("coord_type", WGS84)
        if lat is None and lng is None:
            return attrs
        if lat is None or lng is None:
            missing = "lat" if lat is None else "lng"
            raise InvalidCoordinates(
                "纬度和经度需同时提供。", fields={missing: ["纬度和经度需同时提供。"]}
            )
        attrs["point"] = validate_point(lat, lng, coord_type=coord_type)
        return attrs


class StoringFilterBackend(filters.DjangoFilterBackend):
    """DjangoFilterBackend that leaves the bound filterset on the view (``view.filterset``)."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        queryset = filterset.qs
        view.filterset = filterset
        return queryset
