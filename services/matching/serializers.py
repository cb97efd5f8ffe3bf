"""Input and output of matches, invitations, the member feed and the map.

The output serializers document the responses in the OpenAPI schema; the responses themselves
are built by the small functions at the end from plain values, because ranked lists and map
features are produced by the hundred and DRF serializers cost tens of microseconds per field.
Tests compare the two, so they cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from accounts import fields as strict
from members.models import Team
from services.api import (
    CampaignRefSerializer,
    IdRelatedField,
    NamedRefSerializer,
    PointInputMixin,
    RequestSpecialtySerializer,
)
from services.matching.feed import FeedItem
from services.matching.map import MapResult, check_coord_type
from services.matching.scoring import TERMS, SpecialtyRef
from services.matching.teams import TeamMatch
from services.models import Campaign, ServiceRequest
from stations.serializers import LatitudeField, LongitudeField

# ---------------------------------------------------------------- input


class MatchesQuerySerializer(strict.Serializer):
    """``?limit=``: how many teams to return."""

    limit = strict.IntegerField(
        required=False,
        min_value=1,
        validators=[
            strict.setting_max("MATCHING_MATCHES_MAX_LIMIT", "limit 不能超过 %(limit_value)s。")
        ],
        help_text="返回团队数，默认 10，最大见设置 MATCHING_MATCHES_MAX_LIMIT（默认 50）",
    )

    def validate(self, attrs):
        attrs.setdefault("limit", settings.MATCHING_MATCHES_DEFAULT_LIMIT)
        return attrs


class InviteInputSerializer(strict.Serializer):
    """``{team, until}``: until then only that team's members may claim."""

    team = IdRelatedField(queryset=Team.objects.all(), help_text="受邀团队 ID（须为启用状态）")
    until = serializers.DateTimeField(help_text="邀请截止时间：晚于当前时间、早于需求开始时间")


# The limit is read per request (matching.check_radius); the schema states the configured one.
@extend_schema_field(
    {
        "type": "number",
        "format": "double",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": settings.MATCHING_FEED_MAX_RADIUS_KM,
    }
)
class RadiusField(serializers.Field):
    """A radius passed through as sent: matching.check_radius judges it (``invalid_radius``)."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class RecommendedQuerySerializer(PointInputMixin):
    """``?lat=&lng=&radius_km=&coord_type=``; without lat/lng the member's home is used."""

    lat = LatitudeField(
        required=False,
        allow_null=False,
        help_text="当前位置纬度（与 lng 同时提供）；不填则用本人常住地",
    )
    lng = LongitudeField(
        required=False, allow_null=False, help_text="当前位置经度（与 lat 同时提供）"
    )

    radius_km = RadiusField(
        required=False,
        help_text="搜索半径（公里），默认 10，最大见设置 MATCHING_FEED_MAX_RADIUS_KM（默认 50）",
    )

    def to_internal_value(self, data):
        # DRF reads "?lng=" of an optional field as "not given"; the schema types it a number.
        blank = {
            name: ["请填写有效的数字，或不传此参数。"]
            for name in ("lat", "lng", "radius_km")
            if hasattr(data, "getlist") and "" in data.getlist(name)
        }
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)

    def validate(self, attrs):
        # Checked even without lat/lng, so a typo never passes silently.
        attrs["coord_type"] = check_coord_type(attrs.get("coord_type"))
        attrs = self.pop_point(attrs)
        attrs["radius_km"] = attrs.get("radius_km")
        return attrs


# ---------------------------------------------------------------- output (schema)


class ScorePartsSerializer(strict.Serializer):
    """The five terms of a score, each in [0, 1]."""

    specialty = serializers.FloatField(help_text="专长匹配度")
    distance = serializers.FloatField(help_text="距离（越近越高）")
    load = serializers.FloatField(help_text="该时段空闲程度")
    reliability = serializers.FloatField(help_text="守约程度（爽约、临时取消越少越高）")
    history = serializers.FloatField(help_text="近期在该驿站的服务经历")


class MatchTeamSerializer(strict.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    sector = serializers.CharField(help_text="界别")
    home_town = NamedRefSerializer(allow_null=True)
    member_count = serializers.IntegerField(help_text="在册委员数")


class MatchSerializer(strict.Serializer):
    """One ranked team for a request."""

    team = MatchTeamSerializer()
    score = serializers.FloatField(help_text="综合得分 0..1，越高越合适")
    distance_km = serializers.FloatField(help_text="团队驻地到需求地点的距离（公里）")
    matched_specialties = RequestSpecialtySerializer(many=True)
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text="得分依据，如“专长匹配：法律”“距离 3.2 公里”"
    )
    parts = ScorePartsSerializer()


class RecommendedRequestSerializer(strict.Serializer):
    """An open request in a member's feed, with why it is recommended."""

    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=ServiceRequest.Status.choices)
    campaign = CampaignRefSerializer()
    station = NamedRefSerializer()
    town = NamedRefSerializer()
    village = NamedRefSerializer(allow_null=True)
    specialties = RequestSpecialtySerializer(many=True)
    lat = serializers.FloatField()
    lng = serializers.FloatField()
    address = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    slots = serializers.IntegerField()
    claimed = serializers.IntegerField()
    available = serializers.IntegerField(help_text="剩余名额")
    invited_team = NamedRefSerializer(allow_null=True, help_text="邀请团队（优先认领期内）")
    invite_until = serializers.DateTimeField(allow_null=True)
    score = serializers.FloatField(help_text="综合得分 0..1")
    distance_km = serializers.FloatField(help_text="到当前位置（或常住地）的距离（公里）")
    matched_specialties = RequestSpecialtySerializer(many=True)
    reasons = serializers.ListField(child=serializers.CharField())
    parts = ScorePartsSerializer()


class GeoJSONPointSerializer(strict.Serializer):
    """GeoJSON Point (RFC 7946): ``coordinates`` is ``[lng, lat]``."""

    type = serializers.ChoiceField(choices=["Point"])
    coordinates = serializers.ListField(
        child=serializers.FloatField(),
        min_length=2,
        max_length=2,
        help_text="[经度, 纬度]，坐标系见 coord_type",
    )


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class FeatureIdField(serializers.Field):
    """A GeoJSON feature id: the request's id (a number) or a cluster's name (a string)."""

    def to_representation(self, value):
        return value


ONE_REQUEST = "（聚合要素为 null）"
ONE_CLUSTER = "（单个需求要素为 null）"


class RequestMapPropertiesSerializer(strict.Serializer):
    """A request's properties, or a cluster's (``cluster`` tells which)."""

    cluster = serializers.BooleanField(
        help_text="true：聚合要素（范围内需求多于 limit 时按网格聚合），false：单个需求"
    )
    id = serializers.IntegerField(allow_null=True, help_text="需求 ID" + ONE_REQUEST)
    title = serializers.CharField(allow_null=True, help_text=ONE_REQUEST)
    status = serializers.ChoiceField(
        choices=ServiceRequest.Status.choices, allow_null=True, help_text=ONE_REQUEST
    )
    campaign_kind = serializers.ChoiceField(
        choices=Campaign.Kind.choices, allow_null=True, help_text=ONE_REQUEST
    )
    starts_at = serializers.DateTimeField(allow_null=True, help_text=ONE_REQUEST)
    ends_at = serializers.DateTimeField(allow_null=True, help_text=ONE_REQUEST)
    slots = serializers.IntegerField(allow_null=True, help_text=ONE_REQUEST)
    claimed = serializers.IntegerField(allow_null=True, help_text=ONE_REQUEST)
    station_id = serializers.IntegerField(allow_null=True, help_text=ONE_REQUEST)
    station_name = serializers.CharField(allow_null=True, help_text=ONE_REQUEST)
    count = serializers.IntegerField(allow_null=True, help_text="该网格内的需求数" + ONE_CLUSTER)
    bbox = serializers.ListField(
        child=serializers.FloatField(),
        min_length=4,
        max_length=4,
        allow_null=True,
        help_text="该网格的范围 [最小经度, 最小纬度, 最大经度, 最大纬度]，点击后缩放至此即拆分为"
        "下一级网格" + ONE_CLUSTER,
    )


class RequestMapFeatureSerializer(strict.Serializer):
    """GeoJSON Feature: one request (a point at the request), or a cluster (a point at the
    centroid of the requests of one grid cell)."""

    type = serializers.ChoiceField(choices=["Feature"])
    id = serializers.CharField(
        help_text='单个需求为其 ID（数字），聚合要素为 "cluster-层级-行-列"（字符串，'
        "同一网格在各次请求中名称不变）"
    )
    geometry = GeoJSONPointSerializer()
    properties = RequestMapPropertiesSerializer()


@extend_schema_serializer(many=False)
class RequestMapSerializer(strict.Serializer):
    """GeoJSON FeatureCollection (RFC 7946) of requests, plus whether it was cut short."""

    type = serializers.ChoiceField(choices=["FeatureCollection"])
    features = RequestMapFeatureSerializer(many=True)
    truncated = serializers.BooleanField(
        help_text=(
            "始终为 false：范围内需求多于 limit 时改为返回聚合要素（clustered=true），不再截断"
        )
    )
    limit = serializers.IntegerField(
        help_text="按单个需求返回的最多要素数（设置 MATCHING_MAP_MAX_FEATURES），超过则聚合"
    )
    clustered = serializers.BooleanField(
        help_text="true：要素均为聚合（每个网格一个），false：要素均为单个需求"
    )
    total = serializers.IntegerField(
        help_text="要素所代表的需求总数（筛选后）：单个需求时为范围内的需求数，"
        "聚合时为范围所触及网格内的需求数"
    )
    coord_type = serializers.ChoiceField(choices=["wgs84", "gcj02"], help_text="坐标系")


# ---------------------------------------------------------------- output (built by hand)


def _datetimes() -> Callable[[datetime | None], str | None]:
    """What DRF's DateTimeField.to_representation returns (ISO 8601 in the current zone, "Z"
    for UTC), with the zone looked up once per response instead of once per value."""
    zone = timezone.get_current_timezone()

    def render(value: datetime | None) -> str | None:
        if value is None:
            return None
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return render


def _specialties(refs: list[SpecialtyRef]) -> list[dict[str, Any]]:
    return [{"id": s.id, "code": s.code, "name": s.name} for s in refs]


def _parts(parts: dict[str, float]) -> dict[str, float]:
    return {term: round(parts[term], 3) for term in TERMS}


def match_data(match: TeamMatch) -> dict[str, Any]:
    """MatchSerializer's shape."""
    town = match.home_town
    return {
        "team": {
            "id": match.team_id,
            "name": match.name,
            "sector": match.sector,
            "home_town": {"id": town.id, "name": town.name} if town else None,
            "member_count": match.member_count,
        },
        "score": round(match.score, 3),
        "distance_km": round(match.distance_km, 3),
        "matched_specialties": _specialties(match.matched_specialties),
        "reasons": match.reasons,
        "parts": _parts(match.parts),
    }


def feed_items_data(items: list[FeedItem]) -> list[dict[str, Any]]:
    """RecommendedRequestSerializer's shape, for a page of items."""
    dt = _datetimes()
    return [_feed_item(item, dt) for item in items]


def _feed_item(item: FeedItem, _dt: Callable[[datetime | None], str | None]) -> dict[str, Any]:
    row = item.details
    invited = row.invited_team_id is not None
    return {
        "id": row.id,
        "title": row.title,
        "status": row.status,
        "campaign": {"id": row.campaign_id, "kind": row.campaign_kind, "name": row.campaign_name},
        "station": {"id": row.station_id, "name": row.station_name},
        "town": {"id": row.town_id, "name": row.town_name},
        "village": {"id": row.village_id, "name": row.village_name} if row.village_id else None,
        "specialties": _specialties(item.specialties),
        "lat": row.lat,
        "lng": row.lng,
        "address": row.address,
        "starts_at": _dt(row.starts_at),
        "ends_at": _dt(row.ends_at),
        "slots": row.slots,
        "claimed": row.claimed,
        "available": max(0, row.slots - row.claimed),
        "invited_team": (
            {"id": row.invited_team_id, "name": row.invited_team_name} if invited else None
        ),
        "invite_until": _dt(row.invite_until) if invited else None,
        "score": round(item.score, 3),
        "distance_km": round(item.distance_km, 3),
        "matched_specialties": _specialties(item.matched_specialties),
        "reasons": item.reasons,
        "parts": _parts(item.parts),
    }


# A cluster's request properties: the same keys as a request's, null.
_NO_REQUEST = dict.fromkeys(
    (
        "id",
        "title",
        "status",
        "campaign_kind",
        "starts_at",
        "ends_at",
        "slots",
        "claimed",
        "station_id",
        "station_name",
    )
)


def map_data(result: MapResult) -> dict[str, Any]:
    """RequestMapSerializer's shape: a GeoJSON FeatureCollection."""
    _dt = _datetimes()
    clusters = [
        {
            "type": "Feature",
            "id": f"cluster-{c.level}-{c.row}-{c.column}",
            "geometry": {"type": "Point", "coordinates": [c.lng, c.lat]},
            "properties": {
                "cluster": True,
                **_NO_REQUEST,
                "count": c.count,
                "bbox": [c.min_lng, c.min_lat, c.max_lng, c.max_lat],
            },
        }
        for c in result.clusters
    ]
    return {
        "type": "FeatureCollection",
        "features": clusters
        + [
            {
                "type": "Feature",
                "id": f.id,
                "geometry": {"type": "Point", "coordinates": [f.lng, f.lat]},
                "properties": {
                    "cluster": False,
                    "id": f.id,
                    "title": f.title,
                    "status": f.status,
                    "campaign_kind": f.campaign_kind,
                    "starts_at": _dt(f.starts_at),
                    "ends_at": _dt(f.ends_at),
                    "slots": f.slots,
                    "claimed": f.claimed,
                    "station_id": f.station_id,
                    "station_name": f.station_name,
                    "count": None,
                    "bbox": None,
                },
            }
            for f in result.features
        ],
        "truncated": result.truncated,
        "limit": result.limit,
        "coord_type": result.coord_type,
        "clustered": result.clustered,
        "total": result.total,
    }
