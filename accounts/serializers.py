"""Input and output serializers for sign-in and the current user."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from accounts.models import Role, User


class UserSerializer(serializers.ModelSerializer):
    """The signed-in user as the client needs it."""

    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=Role.choices), read_only=True
    )
    wechat_bound = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "name", "phone", "roles", "wechat_bound"]
        read_only_fields = fields

    def get_wechat_bound(self, user: User) -> bool:
        return bool(user.wechat_openid)


class TokenPairSerializer(TokenObtainPairSerializer):
    """simplejwt's pair, plus the user, so the client needs no second call."""

    def validate(self, attrs):
        data = super().validate(attrs)
        data["user"] = UserSerializer(self.user).data
        return data


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = UserSerializer()


class TokenRefreshOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class LogoutInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=2000)


class WechatLoginInputSerializer(serializers.Serializer):
    """``{code}``, or ``{code, username, password}`` to bind the first time."""

    code = serializers.CharField(max_length=128, trim_whitespace=True)
    username = serializers.CharField(max_length=150, required=False, allow_blank=False)
    password = serializers.CharField(
        max_length=128, required=False, trim_whitespace=False, style={"input_type": "password"}
    )

    def validate(self, attrs):
        if ("username" in attrs) != ("password" in attrs):
            raise serializers.ValidationError("用户名和密码需同时提供。")
        return attrs


class MeSerializer(serializers.Serializer):
    """The current user and what they hold in every app (sections added by later apps)."""

    user = UserSerializer()
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))
    member = serializers.DictField(allow_null=True, help_text="委员档案（非委员为 null）")
    team = serializers.DictField(allow_null=True, help_text="所在委员团队")
    stations_managed = serializers.ListField(child=serializers.DictField())
    villages_liaised = serializers.ListField(child=serializers.DictField())
    points_total = serializers.IntegerField(help_text="履职积分合计")
