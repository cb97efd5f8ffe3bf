"""Input and output serializers for sign-in and the current user."""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.module_loading import import_string
from rest_framework import serializers
from rest_framework_simplejwt import serializers as jwt_serializers

from accounts import fields as strict
from accounts import tokens
from accounts.models import Notification, Role, User


class UserSerializer(strict.ModelSerializer):
    """The signed-in user as the client needs it."""

    roles = serializers.ListField(child=strict.ChoiceField(choices=Role.choices), read_only=True)
    wechat_bound = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "name", "phone", "roles", "wechat_bound"]
        read_only_fields = fields

    def get_wechat_bound(self, user: User) -> bool:
        return bool(user.wechat_openid)


class TokenPairSerializer(strict.StrictInputMixin, jwt_serializers.TokenObtainPairSerializer):
    """simplejwt's pair, in a new session, plus the user, so the client needs no second call."""

    token_class = tokens.SessionRefreshToken

    def validate(self, attrs):
        data = super().validate(attrs)
        data["user"] = UserSerializer(self.user).data
        return data


class TokenRefreshSerializer(strict.StrictInputMixin, jwt_serializers.TokenRefreshSerializer):
    """simplejwt's fields; the refresh token is spent once (``accounts.tokens.rotate``)."""

    def validate(self, attrs):
        return tokens.rotate(attrs["refresh"])


class TokenPairOutputSerializer(strict.Serializer):
    access = strict.CharField()
    refresh = strict.CharField()
    user = UserSerializer()


class TokenRefreshOutputSerializer(strict.Serializer):
    access = strict.CharField()
    refresh = strict.CharField()


class LogoutInputSerializer(strict.Serializer):
    refresh = strict.CharField(max_length=2000)


class WechatLoginInputSerializer(strict.Serializer):
    """``{code}``, or ``{code, username, password}`` to bind the first time."""

    code = strict.CharField(max_length=128, trim_whitespace=True)
    username = strict.CharField(max_length=150, required=False, allow_blank=False)
    password = strict.CharField(
        max_length=128, required=False, trim_whitespace=False, style={"input_type": "password"}
    )

    def validate(self, attrs):
        if ("username" in attrs) != ("password" in attrs):
            raise serializers.ValidationError("用户名和密码需同时提供。")
        return attrs


class MeBaseSerializer(strict.Serializer):
    """The current user and what they hold in every app (sections added by later apps)."""

    user = UserSerializer()
    roles = serializers.ListField(child=strict.ChoiceField(choices=Role.choices))
    unread_notifications = strict.IntegerField(
        help_text="未读站内通知数（与 me/notifications/ 的 unread_count 相同）"
    )


@functools.cache
def me_serializer_class() -> type[serializers.Serializer]:
    """``GET me/``'s shape: the user and roles, then the fields of each ``ME_SECTIONS``
    provider's ``serializer``, in order. accounts may not import those apps; settings name
    them, so each section's shape is declared once, beside the code that fills it."""
    fields: dict[str, serializers.Field] = {}
    for path in settings.ME_SECTIONS:
        fields.update(import_string(path).serializer().get_fields())
    return type(
        "MeSerializer", (MeBaseSerializer,), {"__doc__": MeBaseSerializer.__doc__, **fields}
    )


# ---------------------------------------------------------------- in-app notifications


class NotificationSerializer(strict.ModelSerializer):
    """One in-app notification of the signed-in user."""

    payload = serializers.DictField(read_only=True, help_text="与通知相关的对象（如 request_id）")
    read = serializers.SerializerMethodField(help_text="是否已读")

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "payload", "created_at", "read", "read_at"]
        read_only_fields = fields

    def get_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


class NotificationListQuerySerializer(strict.Serializer):
    """``?unread=1`` lists only unread notifications, ``?unread=0`` only read ones."""

    unread = strict.BooleanField(
        required=False, help_text="1/true：只看未读；0/false：只看已读；不传：全部"
    )


class NotificationReadAllOutputSerializer(strict.Serializer):
    marked = strict.IntegerField(help_text="本次标为已读的条数")
    unread_count = strict.IntegerField(help_text="剩余未读条数")
