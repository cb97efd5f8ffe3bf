"""Team leaders over HTTP: the team's claims, invited requests and figures; assignments."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.permissions import IsMember
from members import pii
from services.api import CONFLICT, url_pk
from services.models import Assignment, Claim, ServiceRequest
from services.requests.expiry import expire_overdue
from services.teams import assignments, selectors
from services.teams.serializers import (
    AssignInputSerializer,
    AssignmentQuerySerializer,
    AssignmentSerializer,
    DeclineInputSerializer,
    InvitedRequestSerializer,
    TeamClaimSerializer,
    TeamQuerySerializer,
    TeamSummarySerializer,
)

TEAMS = "team leaders"


def _assignment_body(assignment: Assignment, request) -> dict:
    fresh = selectors.visible_assignments(request.user).get(pk=assignment.pk)
    return AssignmentSerializer(fresh, context={"viewer": pii.viewer_of(request.user)}).data


@extend_schema(tags=[TEAMS])
class TeamClaimsView(generics.ListAPIView):
    """The team's claims (the leader; staff)."""

    permission_classes = [IsAuthenticated]
    serializer_class = TeamClaimSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Claim.objects.none()
        team = selectors.team_for_leader(self.request.user, url_pk(self))
        query = TeamQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.team_claims(team, when=query.validated_data["when"])

    @extend_schema(
        summary="团队认领（团队负责人）",
        description="本团队委员的认领（认领时所在团队）；`?when=upcoming`（默认）或 `past`。"
        "其他团队的负责人 → 403 `not_team_leader`。姓名按个人信息规则打码。",
        parameters=[TeamQuerySerializer],
    )
    def get(self, request, *args, **kwargs):
        queryset = self.get_queryset()
        expire_overdue()
        page = self.paginate_queryset(queryset)
        context = {"viewer": pii.viewer_of(request.user)}
        return self.get_paginated_response(
            TeamClaimSerializer(page, many=True, context=context).data
        )


@extend_schema(tags=[TEAMS])
class TeamRequestsView(generics.ListAPIView):
    """Requests the team was invited to that still take claims (where to dispatch)."""

    permission_classes = [IsAuthenticated]
    serializer_class = InvitedRequestSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ServiceRequest.objects.none()
        team = selectors.team_for_leader(self.request.user, url_pk(self))
        return selectors.invited_requests(team)

    @extend_schema(summary="团队受邀需求（团队负责人）")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=[TEAMS])
class TeamSummaryView(generics.GenericAPIView):
    """The team's hours, people served, points and what is ahead."""

    permission_classes = [IsAuthenticated]
    serializer_class = TeamSummarySerializer
    pagination_class = None

    @extend_schema(summary="团队概况（团队负责人）")
    def get(self, request, *args, **kwargs):
        team = selectors.team_for_leader(request.user, url_pk(self))
        return Response(TeamSummarySerializer(selectors.team_summary(team)).data)


@extend_schema(tags=[TEAMS])
class RequestAssignView(generics.GenericAPIView):
    """The invited team's leader assigns a teammate (派单)."""

    permission_classes = [IsAuthenticated]
    serializer_class = AssignmentSerializer
    queryset = Assignment.objects.none()

    @extend_schema(
        summary="派单（团队负责人）",
        description=(
            "仅受邀团队的负责人：403 `not_team_leader`（不是团队负责人）、`team_not_invited`"
            "（需求没有邀请其团队）；400 `assignee_not_in_team`、`assignee_inactive`；409 "
            "`already_assigned`、`already_claimed`、`request_not_open`。委员收到通知，接单后才算认领。"
        ),
        request=AssignInputSerializer,
        responses={201: AssignmentSerializer, 409: CONFLICT},
    )
    def post(self, request, *args, **kwargs):
        request_id = url_pk(self)
        data = AssignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = assignments.assign(
            actor=request.user, request_id=request_id, **data.validated_data
        )
        return Response(_assignment_body(assignment, request), status=status.HTTP_201_CREATED)


@extend_schema(tags=[TEAMS])
class AssignmentListView(generics.ListAPIView):
    """Assignments: a member's own, a leader's teams', staff all."""

    permission_classes = [IsAuthenticated]
    serializer_class = AssignmentSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Assignment.objects.none()
        query = AssignmentQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.visible_assignments(self.request.user)
        wanted = query.validated_data.get("status")
        return rows.filter(status=wanted) if wanted else rows

    @extend_schema(summary="派单列表", parameters=[AssignmentQuerySerializer])
    def get(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        context = {"viewer": pii.viewer_of(request.user)}
        return self.get_paginated_response(
            AssignmentSerializer(page, many=True, context=context).data
        )


@extend_schema(tags=[TEAMS])
class AssignmentAcceptView(generics.GenericAPIView):
    """The assignee accepts: a claim is made under every claim rule."""

    permission_classes = [IsAuthenticated, IsMember]
    serializer_class = AssignmentSerializer
    queryset = Assignment.objects.none()

    @extend_schema(
        summary="接单",
        description=(
            "仅被派单的委员本人（403 `not_assignee`）；按认领规则认领：409 `request_full`、"
            "`time_conflict`、`already_claimed`、`request_not_open`，403 `invite_window`；"
            "已答复 → 409 `assignment_not_pending`。失败时派单保持待确认。"
        ),
        request=None,
        responses={200: AssignmentSerializer, 409: CONFLICT},
    )
    def post(self, request, *args, **kwargs):
        assignment = assignments.accept(user=request.user, assignment_id=url_pk(self))
        return Response(_assignment_body(assignment, request))


@extend_schema(tags=[TEAMS])
class AssignmentDeclineView(generics.GenericAPIView):
    """The assignee declines with a reason."""

    permission_classes = [IsAuthenticated, IsMember]
    serializer_class = DeclineInputSerializer
    queryset = Assignment.objects.none()

    @extend_schema(
        summary="拒绝派单",
        request=DeclineInputSerializer,
        responses={200: AssignmentSerializer, 409: CONFLICT},
    )
    def post(self, request, *args, **kwargs):
        pk = url_pk(self)
        data = DeclineInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = assignments.decline(user=request.user, assignment_id=pk, **data.validated_data)
        return Response(_assignment_body(assignment, request))
