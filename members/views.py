"""Specialties, teams, members, the Excel roster import and account activation."""

from __future__ import annotations

from django.http import HttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiRequest,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import permissions, renderers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsStaff, IsStaffOrReadOnly
from accounts.throttles import ScopedThrottle
from members import roster, selectors, writes
from members.filters import MemberFilter, SpecialtyFilter, TeamFilter
from members.models import Specialty, Team
from members.permissions import RosterReadStaffWrite
from members.serializers import (
    ActivateInputSerializer,
    ActivationCodeSerializer,
    MemberCreatedSerializer,
    MemberInputSerializer,
    MemberSerializer,
    RosterResultSerializer,
    RosterUploadSerializer,
    SpecialtyInputSerializer,
    SpecialtySerializer,
    TeamInputSerializer,
    TeamSerializer,
)
from stations.views import EditableViewSet, ReferenceViewSet, editable_schema


@editable_schema(
    tag="members",
    noun="专长",
    output=SpecialtySerializer,
    input_serializer=SpecialtyInputSerializer,
)
class SpecialtyViewSet(ReferenceViewSet):
    """专长: reference data, cached by clients with ETag / Last-Modified."""

    permission_classes = [IsStaffOrReadOnly]
    serializer_class = SpecialtySerializer
    input_serializer_class = SpecialtyInputSerializer
    filterset_class = SpecialtyFilter
    search_fields = ["name", "code"]
    create_function = staticmethod(writes.specialty_create)
    update_function = staticmethod(writes.specialty_update)
    object_name = "specialty"

    def get_queryset(self):
        return selectors.specialty_list(user=self.request.user)


@editable_schema(
    tag="members",
    noun="委员团队",
    output=TeamSerializer,
    input_serializer=TeamInputSerializer,
    conditional=False,
)
class TeamViewSet(EditableViewSet):
    """委员团队: members, managers and liaisons read (leader's name and phone masked)."""

    permission_classes = [RosterReadStaffWrite]
    serializer_class = TeamSerializer
    input_serializer_class = TeamInputSerializer
    filterset_class = TeamFilter
    search_fields = ["name", "sector"]
    create_function = staticmethod(writes.team_create)
    update_function = staticmethod(writes.team_update)
    object_name = "team"

    def get_queryset(self):
        return selectors.team_list(user=self.request.user)

    def _reloaded(self, team: Team) -> Team:
        # member_count is an annotation: read the row back through the selector.
        return self.get_queryset().get(pk=team.pk)

    def create(self, request, *args, **kwargs):
        data = TeamInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = writes.team_create(actor=request.user, **data.validated_data)
        body = self.get_serializer(self._reloaded(team)).data
        return Response(body, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        team = self.get_object()
        data = TeamInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        team = writes.team_update(actor=request.user, team=team, changes=data.validated_data)
        return Response(self.get_serializer(self._reloaded(team)).data)


@extend_schema_view(
    list=extend_schema(tags=["members"], summary="委员列表（按查看者脱敏）"),
    retrieve=extend_schema(tags=["members"], summary="委员详情（按查看者脱敏）"),
    create=extend_schema(
        tags=["members"],
        summary="新建委员及其账号（工作人员）",
        description="登录用户名为手机号；新账号没有可用密码，响应中的一次性激活码仅返回这一次。",
        request=MemberInputSerializer,
        responses={201: MemberCreatedSerializer},
    ),
    partial_update=extend_schema(
        tags=["members"],
        summary="修改委员（工作人员）",
        description='`{"active": false}` 移出名册（同时取消委员角色），不提供删除。',
        request=MemberInputSerializer,
        responses={200: MemberSerializer},
    ),
)
class MemberViewSet(EditableViewSet):
    """委员: staff write; others read with names, phones and homes masked (members.pii)."""

    permission_classes = [RosterReadStaffWrite]
    serializer_class = MemberSerializer
    input_serializer_class = MemberInputSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = MemberFilter
    update_function = staticmethod(writes.member_update)
    object_name = "member"

    def get_queryset(self):
        return selectors.member_list(user=self.request.user)

    def create(self, request, *args, **kwargs):
        data = MemberInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member, activation = writes.member_create(actor=request.user, **data.validated_data)
        member = self.get_queryset().get(pk=member.pk)
        member.activation_code = activation.code if activation else None
        member.activation_expires_at = activation.expires_at if activation else None
        body = MemberCreatedSerializer(member, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(
        tags=["members"],
        summary="重新签发激活码（工作人员）",
        description="旧激活码随即失效；新激活码仅返回这一次。",
        request=None,
        responses={201: ActivationCodeSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="activation-code",
        permission_classes=[IsStaff],
    )
    def activation_code(self, request, pk=None):
        member = self.get_object()
        activation = writes.member_issue_activation(actor=request.user, member=member)
        body = ActivationCodeSerializer(
            {"activation_code": activation.code, "activation_expires_at": activation.expires_at}
        ).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


class MemberActivateView(APIView):
    """A member sets their password with the one-time code staff gave them."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedThrottle]
    throttle_scope = "member_activate"

    @extend_schema(
        tags=["members"],
        summary="委员激活账号（设置密码）",
        description=(
            "`{phone, code, password}`：用工作人员提供的一次性激活码设置密码；之后用手机号和"
            "密码登录或绑定微信。手机号、激活码不符或已过期 → 400 `activation_invalid`。"
        ),
        request=ActivateInputSerializer,
        responses={204: None},
    )
    def post(self, request):
        data = ActivateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        writes.member_activate(**data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RosterImportView(APIView):
    """Staff upload an .xlsx roster; all rows are imported or none."""

    permission_classes = [IsStaff]
    # The API is JSON only; this one endpoint takes a file.
    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=["members"],
        summary="导入 Excel 委员名单（工作人员）",
        description=(
            "`multipart/form-data`，字段 `file` 为 .xlsx（只能一个工作表、不能含公式）。"
            "表头：姓名、手机号（必填），界别、团队、专长、常住地纬度、常住地经度（选填）。"
            "按手机号新建或更新委员；任一行有误 → 400 `roster_invalid`，`fields` 形如 "
            '`{"row 3.手机号": ["..."]}`，不写入任何数据。新账号的一次性激活码仅在本响应中返回。'
        ),
        request=OpenApiRequest(
            RosterUploadSerializer,
            encoding={
                "file": {
                    "contentType": roster.XLSX_CONTENT_TYPE,
                    "headers": {
                        "Content-Disposition": {
                            "schema": {"type": "string"},
                            "example": 'form-data; name="file"; filename="roster.xlsx"',
                        }
                    },
                }
            },
        ),
        responses={200: RosterResultSerializer},
    )
    def post(self, request):
        data = RosterUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        result = roster.import_roster(
            stream=upload, filename=upload.name or "", size=upload.size, actor=request.user
        )
        body = RosterResultSerializer(result).data
        # The body holds one-time activation codes: no cache may keep it.
        return Response(body, headers={"Cache-Control": "no-store"})


class XlsxRenderer(renderers.BaseRenderer):
    """Lets clients ask for the template with ``Accept: ...spreadsheetml.sheet``."""

    media_type = roster.XLSX_CONTENT_TYPE
    format = "xlsx"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else renderers.JSONRenderer().render(data)


class FirstRendererNegotiation(DefaultContentNegotiation):
    """Errors always in JSON: ``?format=xlsx`` names the file the view returns itself, and must
    not label a 401/403 JSON body as a spreadsheet."""

    def select_renderer(self, request, renderers, format_suffix=None):
        # An unknown ?format= is a client bug (the schema lists json and xlsx), not ignored.
        wanted = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        if wanted is not None and wanted not in {renderer.format for renderer in renderers}:
            raise ValidationError({"format": ["只支持 json 或 xlsx。"]})
        return renderers[0], renderers[0].media_type


class RosterTemplateView(APIView):
    """The roster template: headers, notes and one example row."""

    permission_classes = [IsStaff]
    renderer_classes = [renderers.JSONRenderer, XlsxRenderer]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        tags=["members"],
        summary="下载 Excel 名单模板（工作人员）",
        responses={
            (200, roster.XLSX_CONTENT_TYPE): OpenApiResponse(
                response=OpenApiTypes.BINARY, description="名单模板 .xlsx"
            )
        },
    )
    def get(self, request):
        team = Team.objects.filter(active=True).order_by("id").first()
        specialties = Specialty.objects.filter(active=True).order_by("id")[:2]
        content = roster.template_workbook(
            example_team=team.name if team else "",
            example_specialties="、".join(specialty.name for specialty in specialties),
        )
        response = HttpResponse(content, content_type=roster.XLSX_CONTENT_TYPE)
        response["Content-Disposition"] = (
            "attachment; filename=\"roster-template.xlsx\"; filename*=UTF-8''"
            "%E5%A7%94%E5%91%98%E5%90%8D%E5%8D%95%E6%A8%A1%E6%9D%BF.xlsx"
        )
        return response
