"""Shapes of the team leader's screens and of assignments (派单)."""

from __future__ import annotations

from rest_framework import serializers

from accounts import fields as strict
from members import pii
from members.models import Member
from services.api import ActorRefSerializer, IdRelatedField, NamedRefSerializer
from services.me.selectors import WHEN_CHOICES
from services.me.serializers import TaskRequestSerializer
from services.models import Assignment, Claim, ServiceRequest


class TeamQuerySerializer(strict.Serializer):
    """``?when=upcoming|past`` (default upcoming)."""

    when = strict.ChoiceField(
        choices=WHEN_CHOICES,
        required=False,
        default="upcoming",
        help_text="upcoming：候补、已认领、服务中的（按开始时间先后）；past：其余",
    )


class TeamMemberSerializer(strict.ModelSerializer):
    """A teammate, named as the PII rule says (a leader sees the surname only)."""

    name = pii.NameField()

    class Meta:
        model = Member
        fields = ["id", "name"]
        read_only_fields = fields


class TeamClaimSerializer(strict.ModelSerializer):
    """One claim made in the team."""

    member = TeamMemberSerializer()
    request = TaskRequestSerializer()
    station = serializers.SerializerMethodField()

    class Meta:
        model = Claim
        fields = [
            "id",
            "status",
            "member",
            "request",
            "station",
            "claimed_at",
            "checked_in_at",
            "duration_minutes",
        ]
        read_only_fields = fields

    def get_station(self, claim: Claim) -> dict:
        station = claim.request.station
        return NamedRefSerializer({"id": station.pk, "name": station.name}).data


class InvitedRequestSerializer(strict.ModelSerializer):
    """A request the team was invited to: where the leader dispatches."""

    station = NamedRefSerializer()
    village = NamedRefSerializer(allow_null=True)
    available = serializers.SerializerMethodField(help_text="剩余名额")
    team_claims = strict.IntegerField(help_text="本团队已认领或候补的人数")
    pending_assignments = strict.IntegerField(help_text="等待答复的派单数")

    class Meta:
        model = ServiceRequest
        fields = [
            "id",
            "title",
            "status",
            "starts_at",
            "ends_at",
            "station",
            "village",
            "address",
            "slots",
            "claimed",
            "available",
            "invite_until",
            "team_claims",
            "pending_assignments",
        ]
        read_only_fields = fields

    def get_available(self, obj: ServiceRequest) -> int:
        return max(0, obj.slots - obj.claimed)


class TeamSummarySerializer(strict.Serializer):
    team = NamedRefSerializer()
    hours = strict.FloatField(help_text="服务时长（小时，已核实的认领的签到至签退时长）")
    services = strict.IntegerField(help_text="已核实的服务人次（认领数）")
    people_served = strict.IntegerField(help_text="服务群众人次（本团队委员参与的已核实记录）")
    points = strict.IntegerField(help_text="履职积分合计（记在本团队名下的）")
    upcoming_claims = strict.IntegerField(help_text="待办认领数")
    invited_requests = strict.IntegerField(help_text="受邀且仍可认领的需求数")


class AssignInputSerializer(strict.Serializer):
    """``{member, note?}``: the teammate to ask."""

    member = IdRelatedField(
        queryset=Member.objects.select_related("user"), help_text="委员 ID（本团队在册委员）"
    )
    note = strict.CharField(max_length=200, required=False, allow_blank=True, default="")


class DeclineInputSerializer(strict.Serializer):
    reason = strict.CharField(max_length=200, help_text="拒绝原因（必填，200 字以内）")


class AssignmentSerializer(strict.ModelSerializer):
    """A 派单 and its answer; ``claim`` is the place once accepted."""

    request = TaskRequestSerializer()
    member = TeamMemberSerializer()
    team = NamedRefSerializer()
    assigned_by = ActorRefSerializer(allow_null=True)
    claim = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Assignment
        fields = [
            "id",
            "status",
            "request",
            "member",
            "team",
            "assigned_by",
            "note",
            "created_at",
            "answered_at",
            "decline_reason",
            "claim",
        ]
        read_only_fields = fields


class AssignmentQuerySerializer(strict.Serializer):
    status = strict.ChoiceField(
        choices=Assignment.Status.choices, required=False, help_text="按状态筛选"
    )
