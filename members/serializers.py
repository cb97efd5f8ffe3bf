"""Input and output serializers of specialties, teams, members, the roster import and /me/.

Names, phones and homes of people go through :mod:`members.pii` fields, never plain ones.
"""

from __future__ import annotations

import re

from rest_framework import serializers

from accounts import fields as strict
from accounts.models import User
from members.models import Member, Specialty, Team
from members.phones import normalize_phone
from members.pii import HomeCoordinateField, NameField, PhoneField
from stations.models import Town
from stations.serializers import (
    CoordTypeField,
    LatitudeField,
    LongitudeField,
    StationBriefSerializer,
    VillageBriefSerializer,
    take_point,
)

_CODE_RE = re.compile(r"[a-z][a-z0-9_]*")
_PHONE_MESSAGE = "请填写 11 位中国大陆手机号。"


class SpecialtySerializer(strict.ModelSerializer):
    """专长."""

    class Meta:
        model = Specialty
        fields = ["id", "code", "name", "active", "updated_at"]
        read_only_fields = fields


class SpecialtyBriefSerializer(strict.ModelSerializer):
    """A specialty inside a team or member."""

    class Meta:
        model = Specialty
        fields = ["id", "code", "name"]
        read_only_fields = fields


class SpecialtyInputSerializer(strict.Serializer):
    """Create or partly update a specialty."""

    # A RegexField, so the schema carries the pattern the code must match.
    code = strict.RegexField(
        r"^[a-z][a-z0-9_]*$",
        max_length=30,
        help_text="小写字母、数字、下划线，如 law",
        error_messages={"invalid": "代码只能包含小写字母、数字和下划线，且以字母开头。"},
    )
    name = strict.CharField(max_length=30)
    active = strict.BooleanField(required=False)

    def validate_code(self, value: str) -> str:
        if not _CODE_RE.fullmatch(value):
            raise serializers.ValidationError("代码只能包含小写字母、数字和下划线，且以字母开头。")
        return value


class PersonSerializer(strict.ModelSerializer):
    """A user named somewhere (a team leader): id and the name and phone the viewer may see."""

    name = NameField(user_id_attr="id")
    phone = PhoneField(user_id_attr="id")

    class Meta:
        model = User
        fields = ["id", "name", "phone"]
        read_only_fields = fields


class TeamBriefSerializer(strict.ModelSerializer):
    """A team inside a member."""

    class Meta:
        model = Team
        fields = ["id", "name", "sector"]
        read_only_fields = fields


class TeamSerializer(strict.ModelSerializer):
    """委员团队: sector, home, specialties, leader, number of active members."""

    specialties = SpecialtyBriefSerializer(many=True, read_only=True)
    leader = PersonSerializer(read_only=True, allow_null=True)
    member_count = strict.IntegerField(read_only=True, help_text="在册委员人数")

    class Meta:
        model = Team
        fields = [
            "id",
            "name",
            "sector",
            "home_town",
            "home_lat",
            "home_lng",
            "specialties",
            "leader",
            "member_count",
            "active",
            "updated_at",
        ]
        read_only_fields = fields


class TeamInputSerializer(strict.Serializer):
    """Create or partly update a team; ``home_lat``/``home_lng`` both null clears the home."""

    name = strict.CharField(max_length=100)
    sector = strict.CharField(max_length=50, allow_blank=True, required=False)
    home_town = strict.PrimaryKeyRelatedField(
        queryset=Town.objects.filter(active=True), allow_null=True, required=False
    )
    home_lat = LatitudeField()
    home_lng = LongitudeField()
    coord_type = CoordTypeField()
    specialties = strict.PrimaryKeyRelatedField(
        queryset=Specialty.objects.filter(active=True), many=True, required=False
    )
    leader = strict.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        allow_null=True,
        required=False,
        help_text="负责人的用户 id（须为在册委员）",
    )
    active = strict.BooleanField(required=False)

    def validate(self, attrs):
        return take_point(
            attrs, required=False, lat="home_lat", lng="home_lng", into="home", nullable=True
        )


class MemberSerializer(strict.ModelSerializer):
    """委员 as the viewer may see them (see members.pii)."""

    name = NameField()
    phone = PhoneField()
    team = TeamBriefSerializer(read_only=True, allow_null=True)
    specialties = SpecialtyBriefSerializer(many=True, read_only=True)
    home_lat = HomeCoordinateField(attr="home_lat")
    home_lng = HomeCoordinateField(attr="home_lng")

    class Meta:
        model = Member
        fields = [
            "id",
            "user",
            "name",
            "phone",
            "sector",
            "team",
            "specialties",
            "home_lat",
            "home_lng",
            "active",
            "updated_at",
        ]
        read_only_fields = fields


class MemberCreatedSerializer(MemberSerializer):
    """A new member, with the one-time activation code (shown this once)."""

    activation_code = strict.CharField(
        read_only=True,
        allow_null=True,
        help_text="一次性激活码，仅此一次返回；已有可用密码的账号为 null",
    )
    activation_expires_at = strict.DateTimeField(read_only=True, allow_null=True)

    class Meta(MemberSerializer.Meta):
        fields = [*MemberSerializer.Meta.fields, "activation_code", "activation_expires_at"]
        read_only_fields = fields


# A mainland mobile number as the API takes it: 11 digits, optionally after +86/86, spaces or
# dashes between digits allowed ("139 0000 1234"). Rosters are more lenient (members.phones).
PHONE_PATTERN = r"^(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]){8}$"


class PhoneInputField(strict.RegexField):
    """A mainland mobile number (``PHONE_PATTERN``), normalized to 11 digits."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("error_messages", {"invalid": _PHONE_MESSAGE})
        super().__init__(PHONE_PATTERN, **kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        # The length limit is on what was sent, not on the normalized number.
        if len(text) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        # fullmatch: the validator's "$" would also take a trailing newline.
        phone = normalize_phone(text) if re.fullmatch(PHONE_PATTERN, text) else None
        if phone is None:
            raise serializers.ValidationError(_PHONE_MESSAGE)
        return phone


class MemberInputSerializer(strict.Serializer):
    """Create or partly update a member; the account's login name is the phone number."""

    name = strict.CharField(max_length=50)
    phone = PhoneInputField()
    sector = strict.CharField(max_length=50, allow_blank=True, required=False)
    team = strict.PrimaryKeyRelatedField(
        queryset=Team.objects.filter(active=True), allow_null=True, required=False
    )
    specialties = strict.PrimaryKeyRelatedField(
        queryset=Specialty.objects.filter(active=True), many=True, required=False
    )
    home_lat = LatitudeField()
    home_lng = LongitudeField()
    coord_type = CoordTypeField()
    active = strict.BooleanField(required=False)

    def validate(self, attrs):
        return take_point(
            attrs, required=False, lat="home_lat", lng="home_lng", into="home", nullable=True
        )


class ActivationCodeSerializer(strict.Serializer):
    """A freshly issued one-time activation code."""

    activation_code = strict.CharField()
    activation_expires_at = strict.DateTimeField()


class ActivateInputSerializer(strict.Serializer):
    """Phone, the activation code staff handed over, and the new password."""

    phone = PhoneInputField()
    code = strict.CharField(
        max_length=32, help_text="工作人员发放的一次性激活码；与手机号不符或已过期 → 400"
    )
    password = strict.CharField(
        min_length=8,
        max_length=128,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="新密码：至少 8 位，不能全是数字、不能是常见密码、不能与姓名或手机号过于相似",
    )


class RosterUploadSerializer(strict.Serializer):
    """``multipart/form-data`` with one ``file``: the .xlsx roster."""

    file = serializers.FileField(
        allow_empty_file=False,
        help_text="文件名须以 .xlsx 结尾、内容须为 .xlsx 工作簿，否则 400 roster_not_xlsx",
    )


class RosterAccountSerializer(strict.Serializer):
    """A login account the import created: the code to hand to the member, shown this once."""

    row = strict.IntegerField(help_text="Excel 行号")
    member = strict.IntegerField(help_text="委员 id")
    name = strict.CharField()
    phone = strict.CharField(help_text="登录用户名")
    activation_code = strict.CharField()
    activation_expires_at = strict.DateTimeField()


class RosterResultSerializer(strict.Serializer):
    """What an import did."""

    rows = strict.IntegerField(help_text="导入的数据行数")
    created = strict.IntegerField(help_text="新建委员数")
    updated = strict.IntegerField(help_text="更新委员数")
    accounts = RosterAccountSerializer(many=True, help_text="新账号及其一次性激活码")


class OwnProfileSerializer(strict.ModelSerializer):
    """The signed-in member's own profile (nothing masked: it is theirs)."""

    specialties = SpecialtyBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Member
        fields = [
            "id",
            "name",
            "phone",
            "sector",
            "specialties",
            "home_lat",
            "home_lng",
            "active",
        ]
        read_only_fields = fields


class OwnTeamSerializer(strict.ModelSerializer):
    """The signed-in member's team."""

    specialties = SpecialtyBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "sector", "home_town", "home_lat", "home_lng", "specialties"]
        read_only_fields = fields


class MeSectionSerializer(strict.Serializer):
    """members' part of ``GET me/`` (``members.selectors.me_section``)."""

    member = OwnProfileSerializer(allow_null=True, help_text="委员档案（非委员为 null）")
    team = OwnTeamSerializer(allow_null=True, help_text="所在委员团队（无团队为 null）")
    stations_managed = StationBriefSerializer(many=True, help_text="管理的驿站/工作室")
    villages_liaised = VillageBriefSerializer(many=True, help_text="担任联络员的村/社区")
