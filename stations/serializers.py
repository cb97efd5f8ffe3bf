"""Input and output serializers of towns, villages and stations.

Coordinates arrive as ``lat``/``lng`` (numbers or numeric strings) with an optional
``coord_type`` (``wgs84``, the default, or ``gcj02``); :func:`stations.geo.validate_point`
checks them and converts GCJ-02, so only WGS-84 is ever stored.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from accounts import fields as strict
from accounts.errors import ApplicationError
from accounts.models import User
from stations.errors import UnknownCoordType
from stations.geo import (
    CHINA_MAX_LAT,
    CHINA_MAX_LNG,
    CHINA_MIN_LAT,
    CHINA_MIN_LNG,
    COORD_TYPES,
    WGS84,
    validate_point,
)
from stations.models import Station, Town, Village

# 行政区划代码: 6 (county), 9 (town) or 12 (village) digits.
DIVISION_CODE_PATTERN = r"^[0-9]{6}(?:[0-9]{3}){0,2}$"
_DIVISION_CODE_RE = re.compile(DIVISION_CODE_PATTERN)


@extend_schema_field(OpenApiTypes.DOUBLE)
class CoordinateField(serializers.Field):
    """A latitude or longitude, taken as sent; ``validate_point`` judges it in ``validate``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


# The ranges validate_point enforces; the schema states them so generated input respects them.
@extend_schema_field({"type": "number", "format": "double", "minimum": -90, "maximum": 90})
class LatitudeField(CoordinateField):
    """A latitude in degrees, -90 to 90."""


@extend_schema_field({"type": "number", "format": "double", "minimum": -180, "maximum": 180})
class LongitudeField(CoordinateField):
    """A longitude in degrees, -180 to 180."""


@extend_schema_field(
    {
        "type": "string",
        "enum": ["wgs84", "gcj02"],
        "default": "wgs84",
        "description": (
            "输入坐标的坐标系；gcj02（微信/高德/腾讯地图）会被转换为 WGS-84 存储。"
            f"gcj02 坐标须在中国范围内（纬度 {CHINA_MIN_LAT}～{CHINA_MAX_LAT}，"
            f"经度 {CHINA_MIN_LNG}～{CHINA_MAX_LNG}），否则 400 outside_china。"
        ),
    }
)
class CoordTypeField(strict.CharField):
    """``wgs84`` (default) or ``gcj02``; anything else is refused by ``validate_point``."""

    # ``?coord_type=`` is no coordinate system, not "the default".
    blank_text_is_missing = False

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 10)
        super().__init__(**kwargs)

    def run_validation(self, data=empty):
        # Checked here too, not only with a point: ``{"home_lat": null, "coord_type": "bd09"}``
        # is as wrong as with coordinates (the schema's enum says so).
        value = super().run_validation(data)
        if value is not None and value not in COORD_TYPES:
            raise UnknownCoordType(fields={"coord_type": ["坐标类型只能是 wgs84 或 gcj02。"]})
        return value


def take_point(
    attrs: dict[str, Any],
    *,
    required: bool,
    lat: str = "lat",
    lng: str = "lng",
    into: str = "point",
    nullable: bool = False,
) -> dict[str, Any]:
    """Replace ``lat``/``lng``/``coord_type`` in ``attrs`` by one validated WGS-84 ``Point``.

    On a partial update the pair is optional, but when either is sent both must be (a
    coordinate is meaningless alone). With ``nullable``, sending both as null clears it.
    """
    coord_type = attrs.pop("coord_type", WGS84)
    sent = lat in attrs or lng in attrs
    lat_value = attrs.pop(lat, None)
    lng_value = attrs.pop(lng, None)
    if not (sent or required):
        return attrs
    if nullable and lat_value is None and lng_value is None:
        attrs[into] = None
        return attrs
    try:
        attrs[into] = validate_point(lat_value, lng_value, coord_type=coord_type)
    except ApplicationError as exc:
        # Name the fields as the client sent them (home_lat rather than lat).
        fields = getattr(exc, "fields", None)
        if fields and (lat, lng) != ("lat", "lng"):
            exc.fields = {
                {"lat": lat, "lng": lng}.get(key, key): msg for key, msg in fields.items()
            }
        raise
    return attrs


class TownSerializer(strict.ModelSerializer):
    """A town (镇/街道) as every reader sees it."""

    class Meta:
        model = Town
        fields = ["id", "name", "code", "kind", "lat", "lng", "active", "updated_at"]
        read_only_fields = fields


class TownInputSerializer(strict.Serializer):
    """Create (all of name, lat, lng) or partly update a town."""

    name = strict.CharField(max_length=50)
    code = strict.RegexField(
        DIVISION_CODE_PATTERN,
        max_length=12,
        allow_blank=True,
        required=False,
        help_text="行政区划代码：6、9 或 12 位数字（可留空）",
        error_messages={"invalid": "行政区划代码应为 6、9 或 12 位数字。"},
    )
    kind = strict.ChoiceField(choices=Town.Kind.choices, required=False)
    lat = LatitudeField(required=True, allow_null=False)
    lng = LongitudeField(required=True, allow_null=False)
    coord_type = CoordTypeField()
    active = strict.BooleanField(required=False)

    def validate_code(self, value: str) -> str:
        if value and not _DIVISION_CODE_RE.fullmatch(value):
            raise serializers.ValidationError("行政区划代码应为 6、9 或 12 位数字。")
        return value

    def validate(self, attrs):
        return take_point(attrs, required=not self.partial)


class VillageSerializer(strict.ModelSerializer):
    """A village (村/社区): its town, the station that serves it, its liaisons' user ids."""

    liaisons = strict.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Village
        fields = [
            "id",
            "town",
            "name",
            "kind",
            "lat",
            "lng",
            "remote",
            "station",
            "liaisons",
            "active",
            "updated_at",
        ]
        read_only_fields = fields


class VillageInputSerializer(strict.Serializer):
    """Create or partly update a village."""

    town = strict.PrimaryKeyRelatedField(queryset=Town.objects.filter(active=True))
    name = strict.CharField(max_length=50)
    kind = strict.ChoiceField(choices=Village.Kind.choices, required=False)
    lat = LatitudeField(required=True, allow_null=False)
    lng = LongitudeField(required=True, allow_null=False)
    coord_type = CoordTypeField()
    remote = strict.BooleanField(required=False)
    station = strict.PrimaryKeyRelatedField(
        queryset=Station.objects.filter(active=True), allow_null=True, required=False
    )
    liaisons = strict.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), many=True, required=False
    )
    active = strict.BooleanField(required=False)

    def validate(self, attrs):
        return take_point(attrs, required=not self.partial)


class StationSerializer(strict.ModelSerializer):
    """A station (驿站/工作室): kind, town, address, position, its managers' user ids."""

    managers = strict.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Station
        fields = [
            "id",
            "name",
            "kind",
            "town",
            "address",
            "lat",
            "lng",
            "managers",
            "active",
            "updated_at",
        ]
        read_only_fields = fields


class StationInputSerializer(strict.Serializer):
    """Create (staff) or partly update a station (staff; its managers: address and position)."""

    name = strict.CharField(max_length=100)
    kind = strict.ChoiceField(choices=Station.Kind.choices)
    town = strict.PrimaryKeyRelatedField(queryset=Town.objects.filter(active=True))
    address = strict.CharField(max_length=200, allow_blank=True, required=False)
    lat = LatitudeField(required=True, allow_null=False)
    lng = LongitudeField(required=True, allow_null=False)
    coord_type = CoordTypeField()
    managers = strict.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), many=True, required=False
    )
    active = strict.BooleanField(required=False)

    def validate(self, attrs):
        return take_point(attrs, required=not self.partial)


class StationBriefSerializer(strict.ModelSerializer):
    """A station a manager manages, as /me/ lists it."""

    class Meta:
        model = Station
        fields = ["id", "name", "kind", "town", "address", "lat", "lng"]
        read_only_fields = fields


class VillageBriefSerializer(strict.ModelSerializer):
    """A village a liaison posts for, as /me/ lists it."""

    class Meta:
        model = Village
        fields = ["id", "name", "kind", "town", "station", "remote", "lat", "lng"]
        read_only_fields = fields
