"""Sign-in, sign-out and the current user."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts import inbox
from accounts.logins import wechat_login
from accounts.models import Notification
from accounts.serializers import (
    LogoutInputSerializer,
    NotificationListQuerySerializer,
    NotificationReadAllOutputSerializer,
    NotificationSerializer,
    TokenPairOutputSerializer,
    TokenPairSerializer,
    TokenRefreshOutputSerializer,
    TokenRefreshSerializer,
    UserSerializer,
    WechatLoginInputSerializer,
    me_serializer_class,
)
from accounts.throttles import ScopedThrottle
from accounts.tokens import SessionRefreshToken, end_session


def tokens_for(user) -> dict:
    """A fresh access/refresh pair, in a new session, and the user."""
    refresh = SessionRefreshToken.for_user(user)
    return {
        "access": str(refresh.access_token),
        "refresh": str(refresh),
        "user": UserSerializer(user).data,
    }


@extend_schema(
    tags=["auth"],
    summary="用户名密码登录",
    responses={
        200: TokenPairOutputSerializer,
        401: OpenApiResponse(description="用户名或密码错误（invalid_credentials）"),
    },
)
class TokenView(TokenObtainPairView):
    """username + password → ``{access, refresh, user}``."""

    serializer_class = TokenPairSerializer
    throttle_classes = [ScopedThrottle]
    throttle_scope = "login"


@extend_schema(
    tags=["auth"],
    summary="刷新令牌（轮换）",
    responses={
        200: TokenRefreshOutputSerializer,
        401: OpenApiResponse(
            description="刷新令牌无效、过期、已用过（每个刷新令牌只能用一次）或已退出登录（token_not_valid）"
        ),
    },
)
class TokenRefresh(TokenRefreshView):
    """A refresh token → a new pair; the old refresh token is spent (one use only)."""

    serializer_class = TokenRefreshSerializer
    throttle_classes = [ScopedThrottle]
    throttle_scope = "login"


class LogoutView(APIView):
    """End the session of the given refresh token of the signed-in user."""

    @extend_schema(
        tags=["auth"],
        summary="退出登录",
        request=LogoutInputSerializer,
        responses={
            204: None,
            401: OpenApiResponse(
                description="刷新令牌无效、过期，或该会话已退出登录（token_not_valid）"
            ),
            403: OpenApiResponse(description="刷新令牌属于其他用户（permission_denied）"),
        },
        description=(
            "结束 `refresh` 所属的这一次登录（会话）：该刷新令牌、由它轮换出的刷新令牌和这次登录"
            "签发的访问令牌都立即失效；同一用户在其他设备上的登录不受影响。再次用同一会话的令牌"
            "退出 → 401 `token_not_valid`。修改密码则结束该用户的全部登录。"
        ),
    )
    def post(self, request):
        data = LogoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            end_session(user=request.user, raw=data.validated_data["refresh"])
        except TokenError as exc:
            raise InvalidToken(str(exc)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class WechatLoginView(APIView):
    """Mini-program login with a ``wx.login`` code; binds the openid on first use."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedThrottle]
    throttle_scope = "wechat_login"

    @extend_schema(
        tags=["auth"],
        summary="微信小程序登录",
        request=WechatLoginInputSerializer,
        responses={
            200: TokenPairOutputSerializer,
            401: OpenApiResponse(
                description=(
                    "登录凭证 code 无效或已用过（wechat_code_invalid）、openid 未绑定"
                    "（wechat_unbound）或账号密码错误（invalid_credentials）"
                )
            ),
            503: OpenApiResponse(description="微信接口不可用（wechat_unavailable）"),
        },
        description=(
            "`{code}`：openid 已绑定时返回令牌；首次使用 `{code, username, password}` 绑定账号；"
            "未绑定且未提供账号 → 401 `wechat_unbound`。username 与 password 须同时提供或同时省略。"
        ),
    )
    def post(self, request):
        data = WechatLoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = wechat_login(**data.validated_data)
        return Response(tokens_for(user))


def me_sections(user) -> dict:
    """The current user's view of every app, merged from ``ME_SECTIONS`` providers."""
    data = {
        "user": UserSerializer(user).data,
        "roles": user.roles,
        "unread_notifications": inbox.unread_count(user=user),
    }
    for path in settings.ME_SECTIONS:
        data.update(import_string(path)(user))
    return data


class MeView(generics.GenericAPIView):
    """The signed-in user, roles, member profile, team, stations managed, points."""

    pagination_class = None

    def get_serializer_class(self):
        return me_serializer_class()

    @extend_schema(tags=["auth"], summary="当前用户")
    def get(self, request):
        return Response(me_sections(request.user))


# ---------------------------------------------------------------- in-app notifications


class NotificationPagination(api_settings.DEFAULT_PAGINATION_CLASS):  # type: ignore[misc,name-defined]
    """The project's pages (apps never import backend/), plus the user's ``unread_count``."""

    unread_count = 0

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["unread_count"] = self.unread_count
        return response

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["unread_count"] = {
            "type": "integer",
            "description": "未读通知总数（不受筛选影响）",
        }
        paginated["required"] = [*paginated.get("required", []), "unread_count"]
        return paginated


class NotificationListView(generics.ListAPIView):
    """The signed-in user's in-app notifications, newest first."""

    serializer_class = NotificationSerializer
    pagination_class = NotificationPagination
    filter_backends: list = []

    @extend_schema(
        tags=["notifications"],
        summary="我的通知",
        parameters=[NotificationListQuerySerializer],
        description="站内通知（含未发出微信订阅消息的），最新在前；`unread_count` 为未读总数。",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Notification.objects.none()
        query = NotificationListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return inbox.notifications_for(
            user=self.request.user, unread=query.validated_data.get("unread")
        )

    def paginate_queryset(self, queryset):
        self.paginator.unread_count = inbox.unread_count(user=self.request.user)
        return super().paginate_queryset(queryset)


class NotificationReadView(APIView):
    """Mark one of the signed-in user's notifications read (idempotent)."""

    @extend_schema(
        tags=["notifications"], summary="标为已读", request=None, responses=NotificationSerializer
    )
    def post(self, request, pk: int):
        notification = inbox.notification_mark_read(user=request.user, notification_id=pk)
        return Response(NotificationSerializer(notification).data)


class NotificationReadAllView(APIView):
    """Mark all of the signed-in user's notifications read (idempotent)."""

    @extend_schema(
        tags=["notifications"],
        summary="全部标为已读",
        request=None,
        responses=NotificationReadAllOutputSerializer,
    )
    def post(self, request):
        marked = inbox.notifications_mark_all_read(user=request.user)
        return Response({"marked": marked, "unread_count": inbox.unread_count(user=request.user)})
