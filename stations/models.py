"""Geography of the district: towns (镇/街道), villages (村/社区) and stations (驿站/工作室)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


def coordinate_checks(prefix: str, lat: str = "lat", lng: str = "lng") -> list:
    """CheckConstraints keeping stored WGS-84 coordinates in range (NULL allowed)."""
    return [
        models.CheckConstraint(
            condition=Q(**{f"{lat}__isnull": True}) | Q(**{f"{lat}__gte": -90, f"{lat}__lte": 90}),
            name=f"{prefix}_{lat}_range",
        ),
        models.CheckConstraint(
            condition=Q(**{f"{lng}__isnull": True})
            | Q(**{f"{lng}__gte": -180, f"{lng}__lte": 180}),
            name=f"{prefix}_{lng}_range",
        ),
    ]


class Town(models.Model):
    """镇/街道: a town or sub-district of the district."""

    class Kind(models.TextChoices):
        SUBDISTRICT = "subdistrict", "街道"
        TOWN = "town", "镇"

    name = models.CharField("名称", max_length=50, unique=True)
    # 行政区划代码: blank when not known (never invented); unique when given.
    code = models.CharField("行政区划代码", max_length=12, blank=True)
    kind = models.CharField("类型", max_length=12, choices=Kind.choices, default=Kind.SUBDISTRICT)
    lat = models.FloatField("纬度")
    lng = models.FloatField("经度")
    active = models.BooleanField("启用", default=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "镇/街道"
        verbose_name_plural = "镇/街道"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["code"], condition=~Q(code=""), name="town_code_unique"
            ),
            *coordinate_checks("town"),
        ]

    def __str__(self) -> str:
        return self.name


class Station(models.Model):
    """A station: member workstation (委员工作室), consultation station (协商驿站) and the like."""

    class Kind(models.TextChoices):
        WORKSTATION = "workstation", "委员工作室"
        CONSULTATION = "consultation", "协商驿站"
        SERVICE_BASE = "service_base", "服务基地"
        COUNCIL = "council", "民生议事堂"

    name = models.CharField("名称", max_length=100, unique=True)
    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    town = models.ForeignKey(
        Town, verbose_name="所属镇街", on_delete=models.PROTECT, related_name="stations"
    )
    address = models.CharField("地址", max_length=200, blank=True)
    lat = models.FloatField("纬度")
    lng = models.FloatField("经度")
    managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name="管理员",
        blank=True,
        related_name="managed_stations",
    )
    active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "驿站/工作室"
        verbose_name_plural = "驿站/工作室"
        ordering = ["id"]
        indexes = [models.Index(fields=["lat", "lng"], name="station_lat_lng")]
        constraints = coordinate_checks("station")

    def __str__(self) -> str:
        return self.name


class Village(models.Model):
    """村/社区: a village or community, served by one station."""

    class Kind(models.TextChoices):
        VILLAGE = "village", "行政村"
        COMMUNITY = "community", "社区"
        FISHING_VILLAGE = "fishing_village", "渔村"
        ISLAND = "island", "海岛村"

    town = models.ForeignKey(
        Town, verbose_name="所属镇街", on_delete=models.PROTECT, related_name="villages"
    )
    name = models.CharField("名称", max_length=50)
    kind = models.CharField("类型", max_length=20, choices=Kind.choices, default=Kind.VILLAGE)
    lat = models.FloatField("纬度")
    lng = models.FloatField("经度")
    # 偏远: the remote farming and fishing villages that 暖岙 service trips go to.
    remote = models.BooleanField("偏远", default=False)
    station = models.ForeignKey(
        Station,
        verbose_name="服务驿站",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="villages",
    )
    liaisons = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name="联络员",
        blank=True,
        related_name="liaised_villages",
    )
    active = models.BooleanField("启用", default=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "村/社区"
        verbose_name_plural = "村/社区"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["town", "name"], name="village_unique_in_town"),
            *coordinate_checks("village"),
        ]

    def __str__(self) -> str:
        return self.name


class StationApiKey(models.Model):
    """Open311 API key of a station: an outside system posts needs for that station with it.

    The key is ``<prefix>.<secret>``; only the prefix (to find the row) and a SHA-256 of the
    whole key are stored, so the key is shown once, when it is made, and never again. A SHA-256
    is enough here (no slow hash): the secret is 256 random bits, not a password people choose.
    """

    station = models.ForeignKey(
        Station, verbose_name="驿站/工作室", on_delete=models.PROTECT, related_name="api_keys"
    )
    name = models.CharField("名称", max_length=100, help_text="用途，如“12345 热线对接”")
    prefix = models.CharField("密钥前缀", max_length=16, unique=True, editable=False)
    secret_hash = models.CharField("密钥摘要", max_length=64, editable=False)
    # The staff account an Open311 post acts as (the request's 发布人); a key whose issuer is no
    # longer active staff stops working.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="签发人",
        on_delete=models.PROTECT,
        related_name="station_api_keys",
    )
    active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    last_used_at = models.DateTimeField("最近使用", null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "Open311 API 密钥"
        verbose_name_plural = "Open311 API 密钥"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name}（{self.prefix}…）"
