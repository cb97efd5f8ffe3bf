"""Members of the CPPCC (委员), their teams (委员团队) and specialties (专长)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from stations.models import Town, coordinate_checks


class Specialty(models.Model):
    """专长: what a team or member can do (法律, 医疗卫生 ...)."""

    code = models.SlugField("代码", max_length=30, unique=True)
    name = models.CharField("名称", max_length=30, unique=True)
    active = models.BooleanField("启用", default=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "专长"
        verbose_name_plural = "专长"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    """委员团队: a team of members, by sector (界别), with a home location."""

    name = models.CharField("名称", max_length=100, unique=True)
    sector = models.CharField("界别", max_length=50, blank=True)
    home_town = models.ForeignKey(
        Town,
        verbose_name="所在镇街",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="teams",
    )
    home_lat = models.FloatField("驻地纬度", null=True, blank=True)
    home_lng = models.FloatField("驻地经度", null=True, blank=True)
    specialties = models.ManyToManyField(
        Specialty, verbose_name="专长", blank=True, related_name="teams"
    )
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="团队负责人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="led_teams",
    )
    active = models.BooleanField("启用", default=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "委员团队"
        verbose_name_plural = "委员团队"
        ordering = ["id"]
        indexes = [models.Index(fields=["home_lat", "home_lng"], name="team_home_lat_lng")]
        constraints = coordinate_checks("team", "home_lat", "home_lng")

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """委员: the member profile of a user account."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name="账号",
        on_delete=models.PROTECT,
        related_name="member_profile",
    )
    name = models.CharField("姓名", max_length=50)
    phone = models.CharField("手机号", max_length=11, blank=True)
    sector = models.CharField("界别", max_length=50, blank=True)
    team = models.ForeignKey(
        Team,
        verbose_name="所在团队",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )
    specialties = models.ManyToManyField(
        Specialty, verbose_name="专长", blank=True, related_name="members"
    )
    home_lat = models.FloatField("常住地纬度", null=True, blank=True)
    home_lng = models.FloatField("常住地经度", null=True, blank=True)
    active = models.BooleanField("在册", default=True)
    # 激活码: accounts made by staff or the roster import start without a usable password; the
    # member sets one with this one-time code. Only a keyed hash is kept, the code is shown once.
    activation_code_hash = models.CharField(
        "激活码摘要", max_length=64, blank=True, default="", editable=False
    )
    activation_expires_at = models.DateTimeField(
        "激活码有效期至", null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "委员"
        verbose_name_plural = "委员"
        ordering = ["id"]
        constraints = [
            # The roster import matches people by phone, so a phone names one member.
            models.UniqueConstraint(
                fields=["phone"], condition=~Q(phone=""), name="member_phone_unique"
            ),
            *coordinate_checks("member", "home_lat", "home_lng"),
        ]

    def __str__(self) -> str:
        return self.name
