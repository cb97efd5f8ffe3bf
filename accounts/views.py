"""Sign-in, sign-out and the current user."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts.errors import Forbidden
from accounts.logins import wechat_login
from accounts.serializers import (
    LogoutInputSerializer,
    MeSerializer,
    TokenPairOutputSerializer,
    TokenPairSerializer,
    TokenRefreshOutputSerializer,
    UserSerializer,
    WechatLoginInputSerializer,
)
from accounts.throttles import ScopedThrottle


def tokens_for(user) -> dict:
    """A fresh access/refresh pair and the user."""
    refresh = RefreshToken.for_user(user)
    return {
        "access": str(refresh.access_token),
        "refresh": str(refresh),
        "user": UserSerializer(user).data,
    }


@extend_schema(tags=["auth"], summary="用户名密码登录", responses=TokenPairOutputSerializer)
class TokenView(TokenObtainPairView):
    """username + password → ``{access, refresh, user}``."""

    serializer_class = TokenPairSerializer
    throttle_classes = [ScopedThrottle]
    throttle_scope = "login"


@extend_schema(tags=["auth"], summary="刷新令牌（轮换）", responses=TokenRefreshOutputSerializer)
class TokenRefresh(TokenRefreshView):
    """A refresh token → a new pair; the old refresh token is blacklisted."""

    throttle_classes = [ScopedThrottle]
    throttle_scope = "login"


class LogoutView(APIView):
    """Blacklist the given refresh token of the signed-in user."""

    @extend_schema(
        tags=["auth"], summary="退出登录", request=LogoutInputSerializer, responses={204: None}
    )
    def post(self, request):
        data = LogoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            token = RefreshToken(data.validated_data["refresh"])
        except TokenError as exc:
            raise InvalidToken(str(exc)) from None
        user_claim = settings.SIMPLE_JWT.get("USER_ID_CLAIM", "user_id")
        if str(token.get(user_claim)) != str(request.user.pk):
            raise Forbidden("只能注销自己的登录凭证。")
        token.blacklist()
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
        responses=TokenPairOutputSerializer,
        description=(
            "`{code}`：openid 已绑定时返回令牌；首次使用 `{code, username, password}` 绑定账号；"
            "未绑定且未提供账号 → 401 `wechat_unbound`。"
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
        "member": None,
        "team": None,
        "stations_managed": [],
        "villages_liaised": [],
        "points_total": 0,
    }
    for path in settings.ME_SECTIONS:
        data.update(import_string(path)(user))
    return data


class MeView(APIView):
    """The signed-in user, roles, member profile, team, stations managed, points."""

    @extend_schema(tags=["auth"], summary="当前用户", responses=MeSerializer)
    def get(self, request):
        return Response(me_sections(request.user))
