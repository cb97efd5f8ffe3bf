"""Input and output serializers for sign-in and the current user."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from accounts import fields as strict
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


class TokenPairSerializer(TokenObtainPairSerializer):
    """simplejwt's pair, plus the user, so the client needs no second call."""

    def validate(self, attrs):
        data = super().validate(attrs)
        data["user"] = UserSerializer(self.user).data
        return data


class TokenPairOutputSerializer(serializers.Serializer):
    access = strict.CharField()
    refresh = strict.CharField()
    user = UserSerializer()


class TokenRefreshOutputSerializer(serializers.Serializer):
    access = strict.CharField()
    refresh = strict.CharField()


class LogoutInputSerializer(serializers.Serializer):
    refresh = strict.CharField(max_length=2000)


class WechatLoginInputSerializer(serializers.Serializer):
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


# Schemas of the /me/ sections other apps provide (see ME_SECTIONS). accounts may not import
# those apps, so the shapes are declared here and must match their providers' output
# (members.selectors.me_section, services.points.me_section).


class MeSpecialtySerializer(serializers.Serializer):
    id = strict.IntegerField()
    code = strict.CharField()
    name = strict.CharField()


class MeMemberSerializer(serializers.Serializer):
    """The signed-in user's own member profile, unmasked."""

    id = strict.IntegerField()
    name = strict.CharField()
    phone = strict.CharField()
    sector = strict.CharField()
    specialties = MeSpecialtySerializer(many=True)
    home_lat = strict.FloatField(allow_null=True)
    home_lng = strict.FloatField(allow_null=True)
    active = strict.BooleanField()


class MeTeamSerializer(serializers.Serializer):
    id = strict.IntegerField()
    name = strict.CharField()
    sector = strict.CharField()
    home_town = strict.IntegerField(allow_null=True)
    home_lat = strict.FloatField(allow_null=True)
    home_lng = strict.FloatField(allow_null=True)
    specialties = MeSpecialtySerializer(many=True)


class MeStationSerializer(serializers.Serializer):
    id = strict.IntegerField()
    name = strict.CharField()
    kind = strict.CharField()
    town = strict.IntegerField()
    address = strict.CharField()
    lat = strict.FloatField()
    lng = strict.FloatField()


class MeVillageSerializer(serializers.Serializer):
    id = strict.IntegerField()
    name = strict.CharField()
    kind = strict.CharField()
    town = strict.IntegerField()
    station = strict.IntegerField(allow_null=True)
    remote = strict.BooleanField()
    lat = strict.FloatField()
    lng = strict.FloatField()


class MePointRequestSerializer(serializers.Serializer):
    id = strict.IntegerField()
    title = strict.CharField()


class MePointEntrySerializer(serializers.Serializer):
    """One line of the user's duty-point ledger (services.points.me_section)."""

    id = strict.IntegerField()
    points = strict.IntegerField(help_text="积分（冲回为负数）")
    award = strict.BooleanField(help_text="true 奖励；false 撤销核实后的冲回")
    rule = strict.CharField(help_text="规则类型：participation、remote_village、team_leader")
    reason = strict.CharField()
    record = strict.IntegerField(help_text="服务记录 ID")
    request = MePointRequestSerializer()
    service_date = strict.DateField()
    created_at = strict.DateTimeField()


class MeSerializer(serializers.Serializer):
    """The current user and what they hold in every app (sections added by later apps)."""

    user = UserSerializer()
    roles = serializers.ListField(child=strict.ChoiceField(choices=Role.choices))
    member = MeMemberSerializer(allow_null=True, help_text="委员档案（非委员为 null）")
    team = MeTeamSerializer(allow_null=True, help_text="所在委员团队（无团队为 null）")
    stations_managed = MeStationSerializer(many=True, help_text="管理的驿站/工作室")
    villages_liaised = MeVillageSerializer(many=True, help_text="担任联络员的村/社区")
    points_total = strict.IntegerField(help_text="履职积分合计")
    points_recent = MePointEntrySerializer(many=True, help_text="最近的积分流水（新的在前）")


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


class NotificationListQuerySerializer(serializers.Serializer):
    """``?unread=1`` lists only unread notifications, ``?unread=0`` only read ones."""

    unread = strict.BooleanField(
        required=False, help_text="1/true：只看未读；0/false：只看已读；不传：全部"
    )


class NotificationReadAllOutputSerializer(serializers.Serializer):
    marked = strict.IntegerField(help_text="本次标为已读的条数")
    unread_count = strict.IntegerField(help_text="剩余未读条数")
