"""The shapes of the member's own screens: ``GET me/tasks/``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import fields as strict
from accounts.pii_audit import note_view
from services.api import NamedRefSerializer
from services.me import selectors
from services.models import Claim, ServiceRequest


class TasksQuerySerializer(strict.Serializer):
    """``?when=upcoming|past`` (default upcoming)."""

    when = strict.ChoiceField(
        choices=selectors.WHEN_CHOICES,
        required=False,
        default=selectors.UPCOMING,
        help_text="upcoming：候补、已认领、服务中的（按开始时间先后）；past：其余（最近的在前）",
    )


class TaskPlaceSerializer(strict.Serializer):
    """Where the service takes place."""

    address = strict.CharField()
    lat = strict.FloatField()
    lng = strict.FloatField()
    station = NamedRefSerializer()
    town = NamedRefSerializer()
    village = NamedRefSerializer(allow_null=True)


class TaskContactSerializer(strict.Serializer):
    """The resident contact: only while the member holds a place (the PII table)."""

    name = strict.CharField()
    phone = strict.CharField()


class CheckInWindowSerializer(strict.Serializer):
    opens_at = strict.DateTimeField(
        help_text="最早签到时间（开始前 SERVICES_CHECK_IN_OPENS_MINUTES）"
    )
    closes_at = strict.DateTimeField(help_text="最晚签到时间（结束时间）")
    keep_until = strict.DateTimeField(
        allow_null=True, help_text="未签到时名额保留到此时（之后认领过期）；候补为 null"
    )


class TaskRequestSerializer(strict.ModelSerializer):
    class Meta:
        model = ServiceRequest
        fields = ["id", "title", "status", "starts_at", "ends_at"]
        read_only_fields = fields


class TaskSerializer(strict.ModelSerializer):
    """One of my tasks: the claim, what and when, where, whom to call, what to do next."""

    request = TaskRequestSerializer()
    place = serializers.SerializerMethodField()
    contact = serializers.SerializerMethodField(
        help_text="联系人：持有名额（已认领、已签到、已完成）时可见，否则为 null"
    )
    check_in_window = serializers.SerializerMethodField()
    waitlist_position = serializers.SerializerMethodField(help_text="候补顺位（仅候补中）")
    next_action = serializers.SerializerMethodField(
        help_text="check_in 签到 · check_out 签退 · submit_record 提交服务记录 · none 无"
    )

    class Meta:
        model = Claim
        fields = [
            "id",
            "status",
            "request",
            "place",
            "contact",
            "check_in_window",
            "waitlist_position",
            "next_action",
            "claimed_at",
            "checked_in_at",
            "checked_out_at",
            "duration_minutes",
        ]
        read_only_fields = fields

    @extend_schema_field(TaskPlaceSerializer)
    def get_place(self, claim: Claim) -> dict:
        service_request = claim.request
        station = service_request.station
        village = service_request.village
        return {
            "address": service_request.address,
            "lat": service_request.lat,
            "lng": service_request.lng,
            "station": {"id": station.pk, "name": station.name},
            "town": {"id": station.town_id, "name": station.town.name},
            "village": {"id": village.pk, "name": village.name} if village else None,
        }

    @extend_schema_field(TaskContactSerializer(allow_null=True))
    def get_contact(self, claim: Claim) -> dict | None:
        viewer = self.context["viewer"]
        service_request = claim.request
        # This claim holding a place, or the viewer seeing contacts anyway (requests' Viewer).
        holding = claim.status in Claim.SLOT_HOLDING
        if not (holding or viewer.sees_contact(service_request)):
            return None
        if service_request.contact_phone and viewer.staff:
            note_view(actor_id=viewer.user.pk, obj=service_request, field_name="contact_phone")
        return {"name": service_request.contact_name, "phone": service_request.contact_phone}

    @extend_schema_field(CheckInWindowSerializer)
    def get_check_in_window(self, claim: Claim) -> dict:
        window = selectors.check_in_window(claim)
        return CheckInWindowSerializer(window).data

    @extend_schema_field(strict.IntegerField(allow_null=True))
    def get_waitlist_position(self, claim: Claim) -> int | None:
        ahead = getattr(claim, "waitlist_ahead", None)
        return None if ahead is None else ahead + 1

    @extend_schema_field(strict.ChoiceField(choices=selectors.NEXT_ACTIONS))
    def get_next_action(self, claim: Claim) -> str:
        return selectors.next_action(claim)
