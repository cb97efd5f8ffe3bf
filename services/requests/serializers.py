"""Input and output serializers of campaigns, requests, claims and their audit trail."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import fields as strict
from accounts.models import Event
from accounts.pii_audit import note_view
from members.models import Specialty, Team
from services.api import (
    ActorRefSerializer,
    CampaignRefSerializer,
    IdRelatedField,
    NamedRefSerializer,
    PointInputMixin,
    RequestSpecialtySerializer,
)
from services.models import MAX_SLOTS, MIN_SLOTS, Campaign, Claim, ServiceRequest
from stations.models import Station, Village
from stations.serializers import LatitudeField, LongitudeField

MAX_SPECIALTIES = 20


class CampaignSerializer(strict.ModelSerializer):
    """A 三暖 campaign."""

    class Meta:
        model = Campaign
        fields = ["id", "kind", "name", "starts_on", "ends_on", "target_served", "created_at"]
        read_only_fields = fields


class CampaignInputSerializer(strict.ModelSerializer):
    """Staff create (all fields) or PATCH (any of them) a campaign."""

    class Meta:
        model = Campaign
        fields = ["kind", "name", "starts_on", "ends_on", "target_served"]
        extra_kwargs = {
            "target_served": {"max_value": 10_000_000},
            "ends_on": {"help_text": "结束日期：不早于开始日期（PATCH 时与已存的开始日期比较）"},
        }

    def validate(self, attrs):
        starts = attrs.get("starts_on", getattr(self.instance, "starts_on", None))
        ends = attrs.get("ends_on", getattr(self.instance, "ends_on", None))
        if starts and ends and ends < starts:
            raise serializers.ValidationError({"ends_on": ["结束日期不能早于开始日期。"]})
        return attrs


class RequestInputSerializer(PointInputMixin):
    """POST ``requests/``: station or village (or both), campaign, what, when, how many."""

    shown_model = ServiceRequest

    station = IdRelatedField(
        queryset=Station.objects.all(),
        required=False,
        allow_null=True,
        help_text="驿站 ID；驿站与村/社区至少给一个",
    )
    village = IdRelatedField(
        queryset=Village.objects.select_related("station"),
        required=False,
        allow_null=True,
        help_text="村/社区 ID；给出时需求归属服务该村的驿站（同时给出驿站时须一致）",
    )
    campaign = IdRelatedField(
        queryset=Campaign.objects.all(), help_text="活动 ID；开始日期须在活动期间内"
    )
    title = strict.CharField(max_length=100)
    description = strict.CharField(max_length=2000, required=False, allow_blank=True)
    specialties = IdRelatedField(
        queryset=Specialty.objects.filter(active=True),
        many=True,
        required=False,
        max_length=MAX_SPECIALTIES,
        help_text=f"所需专长 ID（最多 {MAX_SPECIALTIES} 项）",
    )
    address = strict.CharField(max_length=200, required=False, allow_blank=True)
    starts_at = strict.DateTimeField(help_text="开始时间：晚于当前时间，一年以内")
    ends_at = strict.DateTimeField(help_text="结束时间：晚于开始时间，最长 92 天")
    slots = strict.IntegerField(min_value=MIN_SLOTS, max_value=MAX_SLOTS)
    invited_team = IdRelatedField(
        queryset=Team.objects.all(),
        required=False,
        allow_null=True,
        help_text="邀请团队 ID（启用的团队；与 invite_until 同时给出）",
    )
    invite_until = strict.DateTimeField(
        required=False,
        allow_null=True,
        help_text="邀请截止：此前仅受邀团队可认领；晚于当前时间、不晚于开始时间",
    )
    contact_name = strict.CharField(max_length=50, required=False, allow_blank=True)
    contact_phone = strict.RegexField(
        r"^[0-9+\- ]{3,20}$",
        required=False,
        allow_blank=True,
        error_messages={"invalid": "联系电话只能包含数字、空格、+ 和 -（3 到 20 位）。"},
    )

    def validate_specialties(self, value):
        return list(dict.fromkeys(value))

    def validate(self, attrs):
        return self.pop_point(attrs)


class RequestUpdateSerializer(RequestInputSerializer):
    """PATCH ``requests/{id}/``: any of the fields; station and village cannot move."""

    station = None
    village = None

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("partial", True)
        super().__init__(*args, **kwargs)


class CancelInputSerializer(strict.Serializer):
    """``{reason}`` for cancelling or rejecting."""

    reason = strict.CharField(max_length=200, help_text="原因（必填，200 字以内）")


class MyClaimSerializer(strict.Serializer):
    id = strict.IntegerField()
    status = strict.ChoiceField(choices=Claim.Status.choices)


class ServiceRequestSerializer(strict.ModelSerializer):
    """A request as a viewer sees it; contact fields are null unless they may see them."""

    station = NamedRefSerializer()
    town = serializers.SerializerMethodField()
    village = NamedRefSerializer(allow_null=True)
    campaign = CampaignRefSerializer()
    specialties = RequestSpecialtySerializer(many=True)
    invited_team = NamedRefSerializer(allow_null=True)
    created_by = ActorRefSerializer(allow_null=True)
    available = serializers.SerializerMethodField(help_text="剩余名额")
    waitlist_count = serializers.SerializerMethodField(help_text="候补人数")
    contact_name = serializers.SerializerMethodField(
        help_text="联系人：仅驿站管理员、机关工作人员、发布人和已认领委员可见，否则为 null"
    )
    contact_phone = serializers.SerializerMethodField(help_text="联系电话（可见范围同上）")
    my_claim = serializers.SerializerMethodField(help_text="当前用户在此需求上的有效认领")
    distance_km = serializers.SerializerMethodField(help_text="距 near 点的距离（仅 near 查询）")

    class Meta:
        model = ServiceRequest
        fields = [
            "id",
            "title",
            "description",
            "status",
            "campaign",
            "station",
            "town",
            "village",
            "specialties",
            "lat",
            "lng",
            "address",
            "starts_at",
            "ends_at",
            "slots",
            "claimed",
            "available",
            "waitlist_count",
            "invited_team",
            "invite_until",
            "contact_name",
            "contact_phone",
            "my_claim",
            "distance_km",
            "created_by",
            "created_at",
            "updated_at",
            "first_claimed_at",
            "cancelled_at",
            "cancel_reason",
            "series",
        ]
        read_only_fields = fields
        extra_kwargs = {"series": {"help_text": "所属周期服务 ID（周期服务的一场；否则为 null）"}}

    @property
    def _viewer(self):
        return self.context["viewer"]

    @extend_schema_field(NamedRefSerializer)
    def get_town(self, obj: ServiceRequest) -> dict:
        return {"id": obj.station.town_id, "name": obj.station.town.name}

    def get_available(self, obj: ServiceRequest) -> int:
        return max(0, obj.slots - obj.claimed)

    def get_waitlist_count(self, obj: ServiceRequest) -> int:
        return self._viewer.waitlists.get(obj.pk, 0)

    @extend_schema_field(strict.CharField(allow_null=True))
    def get_contact_name(self, obj: ServiceRequest) -> str | None:
        return obj.contact_name if self._viewer.sees_contact(obj) else None

    @extend_schema_field(strict.CharField(allow_null=True))
    def get_contact_phone(self, obj: ServiceRequest) -> str | None:
        if not self._viewer.sees_contact(obj):
            return None
        if obj.contact_phone and self._viewer.staff:
            # A resident's number read by staff leaves an Event (one INSERT per response).
            note_view(actor_id=self._viewer.user.pk, obj=obj, field_name="contact_phone")
        return obj.contact_phone

    @extend_schema_field(MyClaimSerializer(allow_null=True))
    def get_my_claim(self, obj: ServiceRequest) -> dict | None:
        mine = self._viewer.claims.get(obj.pk)
        return {"id": mine[0], "status": mine[1]} if mine else None

    @extend_schema_field(strict.FloatField(allow_null=True))
    def get_distance_km(self, obj: ServiceRequest) -> float | None:
        distance = self._viewer.distances.get(obj.pk)
        return round(distance, 3) if distance is not None else None


class PossibleDuplicateSerializer(strict.Serializer):
    """An open request of the same village that looks like the new one."""

    id = strict.IntegerField()
    title = strict.CharField()
    status = strict.ChoiceField(choices=ServiceRequest.Status.choices)
    starts_at = strict.DateTimeField()
    similarity = strict.FloatField(help_text="标题相似度 0..1")


class CreatedRequestSerializer(ServiceRequestSerializer):
    """The new request plus ``possible_duplicates`` (empty when none); the poster decides."""

    possible_duplicates = serializers.SerializerMethodField()

    class Meta(ServiceRequestSerializer.Meta):
        fields = [*ServiceRequestSerializer.Meta.fields, "possible_duplicates"]
        read_only_fields = fields

    @extend_schema_field(PossibleDuplicateSerializer(many=True))
    def get_possible_duplicates(self, obj) -> list:
        return PossibleDuplicateSerializer(self.context.get("duplicates", []), many=True).data


class ClaimQuerySerializer(strict.Serializer):
    """``?waitlist=1``: join the waitlist when the request is full."""

    waitlist = strict.BooleanField(
        required=False, default=False, help_text="名额已满时加入候补（1/true）"
    )


class CheckInInputSerializer(PointInputMixin):
    """``{lat, lng, coord_type?}`` where the member stands now."""

    lat = LatitudeField(required=True, allow_null=False, help_text="纬度")
    lng = LongitudeField(required=True, allow_null=False, help_text="经度")

    def validate(self, attrs):
        return self.pop_point(attrs)


class ClaimRequestSerializer(strict.ModelSerializer):
    """The request a claim is on, briefly."""

    station = NamedRefSerializer()

    class Meta:
        model = ServiceRequest
        fields = ["id", "title", "status", "starts_at", "ends_at", "station", "lat", "lng"]
        read_only_fields = fields


class ClaimSerializer(strict.ModelSerializer):
    """A claim or waitlist place."""

    request = ClaimRequestSerializer()
    member = NamedRefSerializer()
    team = NamedRefSerializer(allow_null=True)
    rejected_by = ActorRefSerializer(allow_null=True)
    waitlist_position = serializers.SerializerMethodField(help_text="候补顺位（仅候补中）")

    class Meta:
        model = Claim
        fields = [
            "id",
            "request",
            "member",
            "team",
            "status",
            "waitlist_position",
            "created_at",
            "claimed_at",
            "promoted_at",
            "check_in_by",
            "checked_in_at",
            "check_in_lat",
            "check_in_lng",
            "check_in_distance_m",
            "checked_out_at",
            "duration_minutes",
            "cancelled_at",
            "cancel_reason",
            "late_cancel",
            "rejected_at",
            "rejected_by",
            "reject_reason",
            "expired_at",
        ]
        read_only_fields = fields

    @extend_schema_field(strict.IntegerField(allow_null=True))
    def get_waitlist_position(self, obj: Claim) -> int | None:
        return self.context.get("positions", {}).get(obj.pk)


class AuditEventSerializer(strict.ModelSerializer):
    """One line of a request's audit trail (the request's and its claims')."""

    actor = ActorRefSerializer(allow_null=True)
    object_type = serializers.SerializerMethodField(help_text="request 或 claim")

    class Meta:
        model = Event
        fields = [
            "id",
            "at",
            "actor",
            "verb",
            "object_type",
            "object_id",
            "from_status",
            "to_status",
            "payload",
        ]
        read_only_fields = fields

    def get_object_type(self, event: Event) -> str:
        return "claim" if event.content_type.model == "claim" else "request"
