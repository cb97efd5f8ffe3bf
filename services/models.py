"""Campaigns (三暖), service requests (需求) and claims (认领); idempotency keys.

Counters and states are changed only by the capabilities' writes modules; the constraints below
are the database's half of the rules (docs/architecture.md#states-and-concurrency-rules), so a
bug there fails loudly instead of silently over-filling a request.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Cast

from members.models import Member, Specialty, Team
from stations.models import Station, Village, coordinate_checks

# Slots per request: at least one place, and nothing absurd (the largest trips take ~100).
MIN_SLOTS = 1
MAX_SLOTS = 500


class Campaign(models.Model):
    """A campaign of the 三暖 brand (暖企, 暖岙, 暖心) for a period."""

    class Kind(models.TextChoices):
        WARM_ENTERPRISE = "warm_enterprise", "暖企"
        WARM_VILLAGE = "warm_village", "暖岙"
        WARM_HEART = "warm_heart", "暖心"

    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    name = models.CharField("名称", max_length=100, unique=True)
    starts_on = models.DateField("开始日期")
    ends_on = models.DateField("结束日期")
    # 目标服务人次: what the campaign means to reach, for the staff dashboard.
    target_served = models.PositiveIntegerField("目标服务人次", default=0)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "活动（三暖）"
        verbose_name_plural = "活动（三暖）"
        ordering = ["-starts_on", "id"]
        indexes = [models.Index(fields=["kind", "starts_on"], name="campaign_kind_starts")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")), name="campaign_ends_after_starts"
            ),
        ]

    def __str__(self) -> str:
        return self.name


# The matching grid (ServiceRequest.grid): cells per degree, and the factor that keeps a
# latitude row's cells apart (longitude cells run 0..360 × GRID_CELLS_PER_DEGREE).
GRID_CELLS_PER_DEGREE = 20
GRID_LAT_FACTOR = 10000


class ServiceSeries(models.Model):
    """周期服务: a station's recurring service; each occurrence is an ordinary ServiceRequest
    (``ServiceRequest.series``), generated at posting and capped by SERIES_MAX_OCCURRENCES."""

    class Frequency(models.TextChoices):
        WEEKLY = "weekly", "每周"
        MONTHLY = "monthly", "每月"

    station = models.ForeignKey(
        Station, verbose_name="驿站/工作室", on_delete=models.PROTECT, related_name="series"
    )
    village = models.ForeignKey(
        Village,
        verbose_name="村/社区",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="series",
    )
    campaign = models.ForeignKey(
        Campaign, verbose_name="活动", on_delete=models.PROTECT, related_name="series"
    )
    title = models.CharField("标题", max_length=100)
    frequency = models.CharField("频率", max_length=10, choices=Frequency.choices)
    # Monday = 0 … Sunday = 6, sorted, at least one.
    weekdays = models.JSONField("星期")
    # Monthly only: the n-th such weekday of the month (1–5), or -1 for the last.
    week_of_month = models.SmallIntegerField("每月第几周", null=True, blank=True)
    starts_on = models.DateField("首次日期")
    start_time = models.TimeField("开始时刻")
    duration_minutes = models.PositiveIntegerField("时长（分钟）")
    until = models.DateField("截止日期", null=True, blank=True)
    count = models.PositiveSmallIntegerField("次数", null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="发布人",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField("发布时间", auto_now_add=True)

    class Meta:
        verbose_name = "周期服务"
        verbose_name_plural = "周期服务"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(until__isnull=False) | Q(count__isnull=False),
                name="series_has_an_end",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ServiceRequest(models.Model):
    """需求/任务: a need posted by a station (or a village it serves) for members to claim."""

    class Status(models.TextChoices):
        OPEN = "open", "可认领"
        FULL = "full", "已满员"
        IN_PROGRESS = "in_progress", "进行中"
        COMPLETED = "completed", "已完成"
        VERIFIED = "verified", "已核实"
        CANCELLED = "cancelled", "已取消"
        EXPIRED = "expired", "已过期"

    station = models.ForeignKey(
        Station, verbose_name="驿站/工作室", on_delete=models.PROTECT, related_name="requests"
    )
    village = models.ForeignKey(
        Village,
        verbose_name="村/社区",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="requests",
    )
    campaign = models.ForeignKey(
        Campaign, verbose_name="活动", on_delete=models.PROTECT, related_name="requests"
    )
    title = models.CharField("标题", max_length=100)
    description = models.TextField("说明", max_length=2000, blank=True)
    specialties = models.ManyToManyField(
        Specialty, verbose_name="所需专长", blank=True, related_name="requests"
    )
    lat = models.FloatField("纬度")
    lng = models.FloatField("经度")
    # Matching's spatial key: the request's cell of a 1/GRID_CELLS_PER_DEGREE-degree grid,
    # computed by the database from lat/lng (so bulk loads and raw SQL keep it too). The feed
    # reads the (status, grid, lat, lng) index cell by cell — only the cells a circle touches —
    # where the (status, lat, lng) index makes it read a whole latitude band of the province.
    # PostgreSQL rounds a float cast to integer and SQLite truncates; each is monotonic, and
    # services.matching.queries.grid_cells computes the cells the way the database does.
    grid = models.GeneratedField(
        expression=(
            Cast((F("lat") + 90.0) * GRID_CELLS_PER_DEGREE, models.IntegerField()) * GRID_LAT_FACTOR
            + Cast((F("lng") + 180.0) * GRID_CELLS_PER_DEGREE, models.IntegerField())
        ),
        output_field=models.IntegerField(),
        db_persist=True,
        verbose_name="网格",
    )
    address = models.CharField("地址", max_length=200, blank=True)
    starts_at = models.DateTimeField("开始时间")
    ends_at = models.DateTimeField("结束时间")
    slots = models.PositiveSmallIntegerField("名额")
    # Slot-holding claims (claimed, checked_in, done); moved only by conditional UPDATEs.
    claimed = models.PositiveSmallIntegerField("已认领", default=0)
    status = models.CharField("状态", max_length=12, choices=Status.choices, default=Status.OPEN)
    # First-claim window: until invite_until only members of invited_team may claim.
    invited_team = models.ForeignKey(
        Team,
        verbose_name="邀请团队",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invited_requests",
    )
    invite_until = models.DateTimeField("邀请截止", null=True, blank=True)
    # PII: shown only to the station's managers, staff, the poster and live claimants.
    contact_name = models.CharField("联系人", max_length=50, blank=True)
    contact_phone = models.CharField("联系电话", max_length=20, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="发布人",
        null=True,
        on_delete=models.SET_NULL,
        related_name="service_requests",
    )
    created_at = models.DateTimeField("发布时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    # Set once, by the first successful claim: time-to-first-claim statistics.
    first_claimed_at = models.DateTimeField("首次认领时间", null=True, blank=True)
    cancelled_at = models.DateTimeField("取消时间", null=True, blank=True)
    cancel_reason = models.CharField("取消原因", max_length=200, blank=True)
    # An occurrence of a recurring service (周期服务); otherwise null.
    series = models.ForeignKey(
        ServiceSeries,
        verbose_name="周期服务",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="occurrences",
    )
    # first_claimed_at - created_at in seconds (as the database subtracts them) and its duration
    # bucket, stamped by ``services.rollups`` with the first claim: the time-to-claim median
    # reads a histogram and the few requests of one bucket instead of every request.
    claim_seconds = models.FloatField("首次认领用时（秒）", null=True, blank=True, editable=False)
    claim_bucket = models.SmallIntegerField(
        "首次认领用时分段", null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = "服务需求"
        verbose_name_plural = "服务需求"
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["status", "starts_at"], name="request_status_starts"),
            models.Index(fields=["status", "ends_at"], name="request_status_ends"),
            models.Index(fields=["status", "lat", "lng"], name="request_status_lat_lng"),
            # Covering on both databases (the id a key column, as SQLite has no INCLUDE; there
            # it is the rowid anyway): the feed's ring reads. On PostgreSQL it also carries
            # ends_at, so the map's count of a box (at most cap + 1 rows, "not ended") reads no
            # table page (issue 22); Django leaves the INCLUDE out on SQLite.
            models.Index(
                fields=["status", "grid", "lat", "lng", "id"],
                include=["ends_at"],
                name="request_status_grid_ends",
            ),
            models.Index(fields=["lat", "lng"], name="request_lat_lng"),
            models.Index(fields=["station", "status"], name="request_station_status"),
            models.Index(fields=["village", "status", "created_at"], name="request_village_status"),
            models.Index(fields=["campaign", "status"], name="request_campaign_status"),
            models.Index(fields=["created_at"], name="request_created"),
            # The requests of one duration bucket in a period, in duration order (the median).
            models.Index(
                fields=["claim_bucket", "starts_at", "claim_seconds", "station", "campaign"],
                condition=Q(claim_bucket__isnull=False),
                name="request_claim_bucket",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(slots__gte=MIN_SLOTS, slots__lte=MAX_SLOTS), name="request_slots_range"
            ),
            models.CheckConstraint(
                condition=Q(claimed__gte=0, claimed__lte=F("slots")),
                name="request_claimed_within_slots",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="request_ends_after_starts"
            ),
            models.CheckConstraint(
                condition=Q(invited_team__isnull=True, invite_until__isnull=True)
                | Q(invited_team__isnull=False, invite_until__isnull=False),
                name="request_invite_complete",
            ),
            *coordinate_checks("request"),
        ]

    def __str__(self) -> str:
        return self.title


class Claim(models.Model):
    """认领: a member's place on a request, or their place in its waitlist."""

    class Status(models.TextChoices):
        # 候补: waiting for a slot; holds no slot, promoted in order when one frees.
        WAITLISTED = "waitlisted", "候补中"
        CLAIMED = "claimed", "已认领"
        CHECKED_IN = "checked_in", "已签到"
        DONE = "done", "已完成"
        CANCELLED = "cancelled", "已取消"
        EXPIRED = "expired", "已过期"
        REJECTED = "rejected", "已拒绝"

    request = models.ForeignKey(
        ServiceRequest, verbose_name="需求", on_delete=models.PROTECT, related_name="claims"
    )
    member = models.ForeignKey(
        Member, verbose_name="委员", on_delete=models.PROTECT, related_name="claims"
    )
    # The member's team when they claimed: statistics per team must not move when they switch.
    team = models.ForeignKey(
        Team,
        verbose_name="认领时团队",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claims",
    )
    status = models.CharField("状态", max_length=12, choices=Status.choices)
    created_at = models.DateTimeField("提交时间", auto_now_add=True)
    claimed_at = models.DateTimeField("占位时间", null=True, blank=True)
    promoted_at = models.DateTimeField("候补转正时间", null=True, blank=True)
    # max(starts_at, claimed_at): the claim expires when not checked in by this + grace.
    check_in_by = models.DateTimeField("签到基准时间", null=True, blank=True)
    checked_in_at = models.DateTimeField("签到时间", null=True, blank=True)
    check_in_lat = models.FloatField("签到纬度", null=True, blank=True)
    check_in_lng = models.FloatField("签到经度", null=True, blank=True)
    check_in_distance_m = models.FloatField("签到距离（米）", null=True, blank=True)
    checked_out_at = models.DateTimeField("签退时间", null=True, blank=True)
    # Check-in to check-out, clamped to the request's window plus SERVICES_HOURS_GRACE_MINUTES
    # (services.records.hours.clamped_minutes; docs/records-and-points.md#hours).
    duration_minutes = models.PositiveIntegerField("服务时长（分钟）", null=True, blank=True)
    # Checked out by the sweep at the window's end + grace, not by the member.
    auto_checked_out = models.BooleanField("自动签退", default=False)
    cancelled_at = models.DateTimeField("取消时间", null=True, blank=True)
    cancel_reason = models.CharField("取消原因", max_length=200, blank=True)
    # 临时取消: cancelled within SERVICES_LATE_CANCEL_HOURS of the start.
    late_cancel = models.BooleanField("临时取消", default=False)
    rejected_at = models.DateTimeField("拒绝时间", null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="拒绝人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reject_reason = models.CharField("拒绝原因", max_length=200, blank=True)
    expired_at = models.DateTimeField("过期时间", null=True, blank=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    # A member has at most one of these per request (waitlisted included: one line per person).
    LIVE = (Status.WAITLISTED, Status.CLAIMED, Status.CHECKED_IN, Status.DONE)
    # The claims counted by ServiceRequest.claimed.
    SLOT_HOLDING = (Status.CLAIMED, Status.CHECKED_IN, Status.DONE)

    class Meta:
        verbose_name = "认领"
        verbose_name_plural = "认领"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["member", "status"], name="claim_member_status"),
            models.Index(fields=["request", "status", "created_at"], name="claim_request_status"),
            models.Index(fields=["status", "check_in_by"], name="claim_status_check_in_by"),
            # Matching reads a team's live claims and its recent no-shows from this index alone
            # (services.matching.queries.team_facts; measured in bench/matching.py).
            models.Index(
                fields=[
                    "team",
                    "status",
                    "claimed_at",
                    "checked_in_at",
                    "late_cancel",
                    "checked_out_at",
                ],
                name="claim_team_status_claimed",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "member"],
                condition=Q(status__in=["waitlisted", "claimed", "checked_in", "done"]),
                name="claim_one_live_per_member",
            ),
            *coordinate_checks("claim", "check_in_lat", "check_in_lng"),
        ]

    def __str__(self) -> str:
        # Read by people (the admin's lists and inlines): who, which need, in what state.
        return f"{self.member.name} 认领「{self.request.title}」（{self.get_status_display()}）"


class Assignment(models.Model):
    """派单: a team leader asks a teammate to take a place on a request the team was invited to.

    It holds no slot: the place is a Claim made when the member accepts, under every claim rule
    (slots, time conflicts, the invite window); declining writes nothing else."""

    class Status(models.TextChoices):
        PENDING = "pending", "待确认"
        ACCEPTED = "accepted", "已接单"
        DECLINED = "declined", "已拒绝"

    request = models.ForeignKey(
        ServiceRequest, verbose_name="需求", on_delete=models.PROTECT, related_name="assignments"
    )
    member = models.ForeignKey(
        Member, verbose_name="委员", on_delete=models.PROTECT, related_name="assignments"
    )
    team = models.ForeignKey(
        Team, verbose_name="团队", on_delete=models.PROTECT, related_name="assignments"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="派单人",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.PENDING)
    note = models.CharField("派单说明", max_length=200, blank=True)
    created_at = models.DateTimeField("派单时间", auto_now_add=True)
    answered_at = models.DateTimeField("答复时间", null=True, blank=True)
    decline_reason = models.CharField("拒绝原因", max_length=200, blank=True)
    claim = models.OneToOneField(
        Claim,
        verbose_name="认领",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assignment",
    )

    class Meta:
        verbose_name = "派单"
        verbose_name_plural = "派单"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["member", "status"], name="assignment_member_status"),
            models.Index(fields=["team", "status"], name="assignment_team_status"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "member"],
                condition=Q(status="pending"),
                name="assignment_one_pending",
            ),
            models.CheckConstraint(
                condition=Q(status="accepted", claim__isnull=False)
                | (~Q(status="accepted") & Q(claim__isnull=True)),
                name="assignment_claim_when_accepted",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.team.name} 派单给 {self.member.name}：「{self.request.title}」"
            f"（{self.get_status_display()}）"
        )


class CalendarFeed(models.Model):
    """日历订阅: a member's secret calendar URL. Only a sha256 of the token is kept (the URL is
    shown once, when issued); a revoked feed stays so its URL answers "revoked", not "unknown"."""

    member = models.ForeignKey(
        Member, verbose_name="委员", on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    token_hash = models.CharField("令牌摘要", max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    revoked_at = models.DateTimeField("撤销时间", null=True, blank=True)

    class Meta:
        verbose_name = "日历订阅"
        verbose_name_plural = "日历订阅"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"], condition=Q(revoked_at__isnull=True), name="calendar_one_live"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} ({'revoked' if self.revoked_at else 'live'})"


class IdempotencyKey(models.Model):
    """A client's Idempotency-Key and the response it got, kept for replays (24 h)."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "处理中"
        DONE = "done", "已完成"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="用户",
        on_delete=models.CASCADE,
        related_name="idempotency_keys",
    )
    key = models.CharField("幂等键", max_length=100)
    # sha256 of method, path and canonical JSON body: same key + other payload is refused.
    fingerprint = models.CharField("请求摘要", max_length=64)
    state = models.CharField("状态", max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField("响应状态码", null=True, blank=True)
    # JSON text rather than JSONField: jsonb would reorder keys, and a replay must match.
    response_body = models.TextField("响应内容", blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    # The lease of the attempt in flight: its owner (a random token per attempt) renews
    # locked_at while it works, so a key whose lease ran out belongs to a dead process and may be
    # run again; the owner's final write is fenced on its token (services/idempotency.py).
    owner = models.CharField("处理者", max_length=32, blank=True, default="")
    locked_at = models.DateTimeField("租约续期时间")
    expires_at = models.DateTimeField("过期时间")

    class Meta:
        verbose_name = "幂等键"
        verbose_name_plural = "幂等键"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires")]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class ServiceRecord(models.Model):
    """服务记录: what was done on a request and for how many people; counts once verified.

    A rejected record stays as it was and a resubmission is a new row (``version`` + 1). The
    columns under "denormalised" copy the request's place, campaign and day at submission so
    statistics over a million records aggregate one table without joins.
    """

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "待核实"
        VERIFIED = "verified", "已核实"
        REJECTED = "rejected", "已退回"
        # 撤销: a verification taken back by staff; its points are reversed.
        REVOKED = "revoked", "已撤销"

    LIVE = (Status.SUBMITTED, Status.VERIFIED)

    request = models.ForeignKey(
        ServiceRequest, verbose_name="需求", on_delete=models.PROTECT, related_name="records"
    )
    version = models.PositiveSmallIntegerField("版本", default=1)
    people_served = models.PositiveIntegerField("服务群众人次")
    enterprises_served = models.PositiveIntegerField("服务企业数", default=0)
    households_visited = models.PositiveIntegerField("走访户数", default=0)
    summary = models.TextField("服务内容", max_length=2000)
    participants = models.ManyToManyField(
        Claim, verbose_name="参与认领", related_name="records", blank=True
    )
    participants_count = models.PositiveSmallIntegerField("参与人次", default=0)
    status = models.CharField(
        "状态", max_length=10, choices=Status.choices, default=Status.SUBMITTED
    )
    # 异常标记: computed on submit; a verifier must acknowledge them in the note.
    flags = models.JSONField("异常标记", default=list, blank=True)
    # len(flags), so "?flagged=1" is an indexed comparison on both databases.
    flag_count = models.PositiveSmallIntegerField("异常标记数", default=0)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="提交人",
        null=True,
        on_delete=models.SET_NULL,
        related_name="submitted_records",
    )
    submitted_at = models.DateTimeField("提交时间", auto_now_add=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="核实人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="verified_records",
    )
    verified_at = models.DateTimeField("核实时间", null=True, blank=True)
    # verified_by / verified_at / note record the review whichever way it went (退回 too).
    note = models.CharField("核实意见", max_length=500, blank=True)
    revoked_at = models.DateTimeField("撤销时间", null=True, blank=True)
    revoke_reason = models.CharField("撤销原因", max_length=200, blank=True)
    # The participants' verified minutes (their current ServiceHours entries), written at
    # verification; what the statistics add up as hours.
    service_minutes = models.PositiveIntegerField("核实服务时长（分钟）", default=0)

    # Denormalised from the request at submission (statistics read these, never the joins).
    station = models.ForeignKey(
        Station, verbose_name="驿站/工作室", on_delete=models.PROTECT, related_name="records"
    )
    town = models.ForeignKey(
        "stations.Town", verbose_name="镇/街道", on_delete=models.PROTECT, related_name="records"
    )
    campaign = models.ForeignKey(
        Campaign, verbose_name="活动", on_delete=models.PROTECT, related_name="records"
    )
    campaign_kind = models.CharField("三暖类型", max_length=20, choices=Campaign.Kind.choices)
    # The Asia/Shanghai calendar day the service took place (the request's starts_at).
    service_date = models.DateField("服务日期")
    # verified_at - submitted_at in seconds and its duration bucket while the record is verified
    # (stamped and cleared by ``services.rollups``): the time-to-verify median.
    verify_seconds = models.FloatField("核实用时（秒）", null=True, blank=True, editable=False)
    verify_bucket = models.SmallIntegerField("核实用时分段", null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "服务记录"
        verbose_name_plural = "服务记录"
        ordering = ["-submitted_at", "-id"]
        indexes = [
            models.Index(fields=["status", "service_date"], name="record_status_date"),
            models.Index(fields=["station", "status"], name="record_station_status"),
            models.Index(fields=["town", "status", "service_date"], name="record_town_status_date"),
            models.Index(fields=["request", "status"], name="record_request_status"),
            # The verifier's work list: flagged records only (a small part of the table).
            models.Index(
                fields=["status", "station"],
                condition=Q(flag_count__gt=0),
                name="record_flagged",
            ),
            # The verified records of one duration bucket in a period, in duration order.
            models.Index(
                fields=[
                    "verify_bucket",
                    "service_date",
                    "verify_seconds",
                    "town",
                    "campaign_kind",
                ],
                condition=Q(status="verified", verify_bucket__isnull=False),
                name="record_verify_bucket",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["request"],
                condition=Q(status__in=["submitted", "verified"]),
                name="record_one_live_per_request",
            ),
            models.UniqueConstraint(fields=["request", "version"], name="record_request_version"),
            models.CheckConstraint(condition=Q(version__gte=1), name="record_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} v{self.version} ({self.status})"


class ServiceHours(models.Model):
    """服务时长: one participant's minutes on one verified record (docs/records-and-points.md).

    Written when the record is verified: the minutes the check-in and check-out give, and, when
    the verifier corrects them, a second entry with the corrected minutes and the reason, the
    first staying as it was (``current`` False). ``counted`` marks the entries the statistics
    add up: current, of a record that is verified (cleared when the verification is revoked).
    The record's place, campaign and day are copied so hours per member or team read this table
    alone.
    """

    class Source(models.TextChoices):
        RECORDED = "recorded", "签到签退"
        CORRECTED = "corrected", "核实更正"

    record = models.ForeignKey(
        ServiceRecord, verbose_name="服务记录", on_delete=models.PROTECT, related_name="hours"
    )
    claim = models.ForeignKey(
        Claim, verbose_name="认领", on_delete=models.PROTECT, related_name="hours"
    )
    member = models.ForeignKey(
        Member, verbose_name="委员", on_delete=models.PROTECT, related_name="service_hours"
    )
    # The claim's team snapshot (the member's team when they claimed).
    team = models.ForeignKey(
        Team,
        verbose_name="团队",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="service_hours",
    )
    minutes = models.PositiveIntegerField("服务时长（分钟）")
    source = models.CharField("来源", max_length=10, choices=Source.choices)
    reason = models.CharField("更正原因", max_length=200, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="录入人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField("录入时间")
    current = models.BooleanField("现行", default=True)
    counted = models.BooleanField("计入统计", default=False)
    # Denormalised from the record.
    service_date = models.DateField("服务日期")
    station = models.ForeignKey(
        Station, verbose_name="驿站/工作室", on_delete=models.PROTECT, related_name="+"
    )
    town = models.ForeignKey(
        "stations.Town", verbose_name="镇/街道", on_delete=models.PROTECT, related_name="+"
    )
    campaign_kind = models.CharField("三暖类型", max_length=20, choices=Campaign.Kind.choices)

    class Meta:
        verbose_name = "服务时长"
        verbose_name_plural = "服务时长"
        ordering = ["record", "claim", "id"]
        indexes = [
            models.Index(
                fields=["member", "service_date"],
                condition=Q(counted=True),
                name="hours_counted_member",
            ),
            models.Index(
                fields=["service_date", "team"],
                condition=Q(counted=True),
                name="hours_counted_date_team",
            ),
        ]
        constraints = [
            # One entry stands for each participant of a record.
            models.UniqueConstraint(
                fields=["record", "claim"], condition=Q(current=True), name="hours_one_current"
            ),
            models.CheckConstraint(
                condition=Q(counted=False) | Q(current=True), name="hours_counted_is_current"
            ),
            models.CheckConstraint(
                condition=Q(source="recorded") | ~Q(reason=""), name="hours_correction_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record_id}/{self.claim_id} {self.minutes} min ({self.source})"


# A rule is worth 0 (switched off in effect) to 100 points; penalties are not rules.
MIN_RULE_POINTS = 0
MAX_RULE_POINTS = 100


class PointRule(models.Model):
    """积分规则: how many duty points a verified participation earns, editable in the admin."""

    class Kind(models.TextChoices):
        PARTICIPATION = "participation", "参与服务"
        REMOTE_VILLAGE = "remote_village", "暖岙偏远村加分"
        TEAM_LEADER = "team_leader", "团队负责人加分"

    code = models.SlugField("代码", max_length=30, unique=True)
    kind = models.CharField("规则类型", max_length=20, choices=Kind.choices, unique=True)
    name = models.CharField("名称", max_length=50)
    points = models.SmallIntegerField(
        "分值",
        validators=[MinValueValidator(MIN_RULE_POINTS), MaxValueValidator(MAX_RULE_POINTS)],
        help_text=f"每次核实通过时每位参与委员获得的积分（{MIN_RULE_POINTS}–{MAX_RULE_POINTS}）",
    )
    active = models.BooleanField("启用", default=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "积分规则"
        verbose_name_plural = "积分规则"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gte=MIN_RULE_POINTS, points__lte=MAX_RULE_POINTS),
                name="point_rule_points_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.points:+d}"


class PointEntry(models.Model):
    """履职积分 ledger line: append-only; a revoked award is reversed by a negative line."""

    member = models.ForeignKey(
        Member, verbose_name="委员", on_delete=models.PROTECT, related_name="point_entries"
    )
    points = models.SmallIntegerField("积分")
    rule = models.ForeignKey(
        PointRule, verbose_name="规则", on_delete=models.PROTECT, related_name="entries"
    )
    reason = models.CharField("说明", max_length=100)
    record = models.ForeignKey(
        ServiceRecord,
        verbose_name="服务记录",
        on_delete=models.PROTECT,
        related_name="point_entries",
    )
    # False for the negative line that reverses an award when a verification is revoked.
    award = models.BooleanField("奖励", default=True)
    created_at = models.DateTimeField("记账时间", auto_now_add=True)
    # The record's service day (Asia/Shanghai): leaderboards count points by when the service
    # took place, and a reversal carries the same day, so it cancels the award in any period.
    service_date = models.DateField("服务日期")
    # The team the member was in (for leaderboards per team that do not move with transfers).
    team = models.ForeignKey(
        Team,
        verbose_name="团队",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="point_entries",
    )

    class Meta:
        verbose_name = "履职积分"
        verbose_name_plural = "履职积分"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["member", "created_at"], name="points_member_created"),
            models.Index(fields=["created_at", "member"], name="points_created_member"),
            models.Index(fields=["service_date", "member"], name="points_date_member"),
            models.Index(fields=["team", "service_date"], name="points_team_date"),
        ]
        constraints = [
            # Exactly once per participant, record and rule; and at most one reversal of each.
            models.UniqueConstraint(
                fields=["member", "record", "rule", "award"], name="points_once_per_record_rule"
            ),
            # Awards are never negative and reversals never positive.
            models.CheckConstraint(
                condition=Q(award=True, points__gte=0) | Q(award=False, points__lte=0),
                name="points_sign_matches_award",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.points:+d}"


class DailyServiceStat(models.Model):
    """日汇总: the verified records of one day, station and campaign, added up.

    Kept by ``services.rollups`` in the same transaction as each verification (and its
    revocation), so the statistics read a few tens of thousands of rows instead of every record;
    ``manage.py rebuild_stats`` recomputes it from the records.
    """

    service_date = models.DateField("服务日期")
    station = models.ForeignKey(
        Station, verbose_name="驿站/工作室", on_delete=models.PROTECT, related_name="+"
    )
    campaign = models.ForeignKey(
        Campaign, verbose_name="活动", on_delete=models.PROTECT, related_name="+"
    )
    # As the records carry them (copied at submission).
    town = models.ForeignKey(
        "stations.Town", verbose_name="镇/街道", on_delete=models.PROTECT, related_name="+"
    )
    campaign_kind = models.CharField("三暖类型", max_length=20, choices=Campaign.Kind.choices)
    records = models.IntegerField("已核实记录数", default=0)
    people_served = models.BigIntegerField("服务群众人次", default=0)
    enterprises_served = models.BigIntegerField("服务企业数", default=0)
    households_visited = models.BigIntegerField("走访户数", default=0)
    participations = models.BigIntegerField("参与人次", default=0)
    service_minutes = models.BigIntegerField("核实服务时长（分钟）", default=0)

    class Meta:
        verbose_name = "服务日汇总"
        verbose_name_plural = "服务日汇总"
        ordering = ["service_date", "station", "campaign"]
        constraints = [
            models.UniqueConstraint(
                # Town and kind too: a record keeps the ones it was submitted with.
                fields=["service_date", "station", "campaign", "town", "campaign_kind"],
                name="daily_stat_day_station",
            ),
        ]
        indexes = [
            models.Index(fields=["town", "service_date"], name="daily_stat_town_date"),
        ]

    def __str__(self) -> str:
        return f"{self.service_date} {self.station_id}/{self.campaign_id}"


class PeriodStat(models.Model):
    """A rollup row of one calendar day, month or year (Asia/Shanghai), ``starts_on`` its first
    day. Each change is added to its day, month and year, so any period of whole days reads a
    few rows per month and year it spans instead of one per day (``services.rollups.cover``)."""

    class Period(models.TextChoices):
        DAY = "d", "日"
        MONTH = "m", "月"
        YEAR = "y", "年"

    period = models.CharField("周期", max_length=1, choices=Period.choices)
    starts_on = models.DateField("起始日期")

    class Meta:
        abstract = True


class DurationHistogram(PeriodStat):
    """How many durations fell in each bucket (``services.rollups.EDGES``), with the shortest
    and longest seen there: bounds that a removal may leave loose, never too tight."""

    bucket = models.SmallIntegerField("用时分段")
    shortest = models.FloatField("最短用时（秒）")
    longest = models.FloatField("最长用时（秒）")

    class Meta:
        abstract = True


class RequestStat(PeriodStat):
    """需求汇总: requests taking place in one period by status, per station and campaign.

    ``station_key`` / ``campaign_key`` 0 means all of them (the unfiltered figure is one row
    per period). Requests are filtered by their station's and campaign's current town and
    kind, so the keys are ids, joined at read time, never a copy of the town or kind.
    """

    station_key = models.IntegerField("驿站（0 为全部）")
    campaign_key = models.IntegerField("活动（0 为全部）")
    posted = models.IntegerField("发布需求数", default=0)
    completed = models.IntegerField("已完成需求数（含已核实）", default=0)
    verified = models.IntegerField("已核实需求数", default=0)
    cancelled = models.IntegerField("已取消需求数", default=0)
    expired = models.IntegerField("已过期需求数", default=0)

    class Meta:
        verbose_name = "需求汇总"
        verbose_name_plural = "需求汇总"
        constraints = [
            models.UniqueConstraint(
                fields=["period", "station_key", "campaign_key", "starts_on"],
                name="request_stat_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period}{self.starts_on} {self.station_key}/{self.campaign_key}"


class ClaimTimeStat(DurationHistogram):
    """首次认领用时分布: requests' time to first claim per bucket, period, station and campaign
    (0: all), the request belonging to the day of its starts_at."""

    station_key = models.IntegerField("驿站（0 为全部）")
    campaign_key = models.IntegerField("活动（0 为全部）")
    requests = models.IntegerField("需求数", default=0)

    class Meta:
        verbose_name = "首次认领用时分布"
        verbose_name_plural = "首次认领用时分布"
        constraints = [
            models.UniqueConstraint(
                fields=["period", "station_key", "campaign_key", "starts_on", "bucket"],
                name="claim_time_stat_key",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.period}{self.starts_on} {self.station_key}/{self.campaign_key} #{self.bucket}"
        )


class VerifyTimeStat(DurationHistogram):
    """核实用时分布: verified records' time to verification per bucket, period, town (0: all)
    and 三暖 kind ('': all) — the records' own denormalised town and kind."""

    town_key = models.IntegerField("镇/街道（0 为全部）")
    kind_key = models.CharField("三暖类型（空为全部）", max_length=20, blank=True)
    records = models.IntegerField("已核实记录数", default=0)

    class Meta:
        verbose_name = "核实用时分布"
        verbose_name_plural = "核实用时分布"
        constraints = [
            models.UniqueConstraint(
                fields=["period", "town_key", "kind_key", "starts_on", "bucket"],
                name="verify_time_stat_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period}{self.starts_on} {self.town_key}/{self.kind_key} #{self.bucket}"


class ActiveMemberStat(PeriodStat):
    """活跃委员: each member's participations in verified records per period, town (0: all) and
    三暖 kind ('': all) — the records' own town and kind. Active members in a period are the
    distinct members among its rows, read without touching the participants."""

    town_key = models.IntegerField("镇/街道（0 为全部）")
    kind_key = models.CharField("三暖类型（空为全部）", max_length=20, blank=True)
    member = models.ForeignKey(
        Member, verbose_name="委员", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    participations = models.IntegerField("参与人次", default=0)

    class Meta:
        verbose_name = "活跃委员"
        verbose_name_plural = "活跃委员"
        constraints = [
            models.UniqueConstraint(
                fields=["period", "town_key", "kind_key", "starts_on", "member"],
                name="active_member_stat_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period}{self.starts_on} {self.town_key}/{self.kind_key} {self.member_id}"


class Attachment(models.Model):
    """照片: an image stored as evidence, stripped of metadata (services.attachments).

    The files live in ``STORAGES["attachments"]`` under ``file_name`` and ``thumbnail_name``;
    both are blank once purged. The capture time and GPS position were read from the EXIF before
    it was stripped (GPS is personal data: the retention purge clears it). ``record`` is the
    owner today; later owners add their own nullable key, so the rules of who may see or change
    an attachment stay with its owner's capability (docs/attachments.md).
    """

    record = models.ForeignKey(
        ServiceRecord,
        verbose_name="服务记录",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="attachments",
    )
    # A resident's photo of their need (群众点单, services.intake); shown to the station only.
    intake = models.ForeignKey(
        "Intake",
        verbose_name="群众点单",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="photos",
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="上传人",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    uploaded_at = models.DateTimeField("上传时间", auto_now_add=True)
    content_type = models.CharField("类型", max_length=20)
    file_name = models.CharField("文件", max_length=200, blank=True)
    thumbnail_name = models.CharField("缩略图", max_length=200, blank=True)
    size_bytes = models.PositiveIntegerField("大小（字节）")
    width = models.PositiveIntegerField("宽")
    height = models.PositiveIntegerField("高")
    sha256 = models.CharField("SHA-256", max_length=64)
    taken_at = models.DateTimeField("拍摄时间", null=True, blank=True)
    taken_lat = models.FloatField("拍摄纬度", null=True, blank=True)
    taken_lng = models.FloatField("拍摄经度", null=True, blank=True)
    # 不再向非工作人员提供: set when the owner is withdrawn (a revoked record); staff still see it.
    withheld_at = models.DateTimeField("停止提供时间", null=True, blank=True)
    # 已清除: the files and the GPS position deleted after the retention period.
    purged_at = models.DateTimeField("清除时间", null=True, blank=True)

    class Meta:
        verbose_name = "照片"
        verbose_name_plural = "照片"
        ordering = ["id"]
        indexes = [models.Index(fields=["record", "id"], name="attachment_record")]
        constraints = [
            models.CheckConstraint(
                condition=Q(taken_lat__isnull=True, taken_lng__isnull=True)
                | Q(
                    taken_lat__gte=-90,
                    taken_lat__lte=90,
                    taken_lng__gte=-180,
                    taken_lng__lte=180,
                ),
                name="attachment_position_valid",
            ),
            models.CheckConstraint(
                condition=Q(purged_at__isnull=True) | Q(file_name="", thumbnail_name=""),
                name="attachment_purged_has_no_files",
            ),
        ]

    def __str__(self) -> str:
        owner = f"r{self.record_id}" if self.record_id else f"i{self.intake_id}"
        return f"{owner}#{self.pk} {self.content_type}"


class Certificate(models.Model):
    """志愿服务证明: what a member's verified services in a period were, frozen when issued
    (docs/certificates-and-archive.md).

    The listed services (date, place, content, hours) and the totals are copied into the row
    at issue and never change; ``records`` links the records it lists, so revoking one marks
    the certificate revoked (``status``, ``revoked_at``, the record and its reason). ``serial``
    (``WWQZ-2026-000123``) is the year's running number from ``CertificateSerial``; ``code`` is
    the unguessable verification code behind the public /verify/<code> page.
    """

    class Status(models.TextChoices):
        VALID = "valid", "有效"
        REVOKED = "revoked", "已撤销"

    member = models.ForeignKey(
        Member, verbose_name="委员", on_delete=models.PROTECT, related_name="certificates"
    )
    serial = models.CharField("证明编号", max_length=32, unique=True)
    year = models.PositiveSmallIntegerField("编号年度")
    sequence = models.PositiveIntegerField("年度序号")
    code = models.CharField("验证码", max_length=32, unique=True)
    date_from = models.DateField("起始日期")
    date_to = models.DateField("截止日期")
    # Frozen at issue.
    issuer = models.CharField("出具单位", max_length=100)
    member_name = models.CharField("委员姓名", max_length=50)
    services = models.JSONField("服务明细", default=list)
    service_count = models.PositiveIntegerField("服务次数")
    service_minutes = models.PositiveIntegerField("核实服务时长（分钟）")
    people_served = models.PositiveIntegerField("服务群众人次")
    issued_at = models.DateTimeField("出具时间")
    issued_on = models.DateField("出具日期")
    records = models.ManyToManyField(
        ServiceRecord, verbose_name="所列服务记录", related_name="certificates"
    )
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.VALID)
    revoked_at = models.DateTimeField("撤销时间", null=True, blank=True)
    revoked_record = models.ForeignKey(
        ServiceRecord,
        verbose_name="被撤销核实的记录",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    revoke_reason = models.CharField("撤销原因", max_length=200, blank=True)

    class Meta:
        verbose_name = "志愿服务证明"
        verbose_name_plural = "志愿服务证明"
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["member", "issued_at"], name="certificate_member_issued")]
        constraints = [
            models.UniqueConstraint(fields=["year", "sequence"], name="certificate_year_sequence"),
            models.CheckConstraint(
                condition=Q(date_from__lte=F("date_to")), name="certificate_period_ordered"
            ),
            models.CheckConstraint(
                condition=Q(status="valid", revoked_at__isnull=True)
                | Q(status="revoked", revoked_at__isnull=False),
                name="certificate_revoked_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.serial


class CertificateSerial(models.Model):
    """The last certificate serial number given out in a year (one row per year, moved only by
    a conditional ``UPDATE … SET last = last + 1``, so parallel issues never share a number)."""

    year = models.PositiveSmallIntegerField("年度", primary_key=True)
    last = models.PositiveIntegerField("最后序号", default=0)

    class Meta:
        verbose_name = "证明编号计数"
        verbose_name_plural = "证明编号计数"

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


# ---------------------------------------------------------------- residents' intake (群众点单)


class IntakeCode(models.Model):
    """入口码: the code a station's or village's QR poster carries (docs/intake.md).

    One active code per station (village empty) and per village; a retired code stays, so its
    posters answer with a clear page instead of a 404, and a new code is issued in its place.
    """

    code = models.CharField("入口码", max_length=16, unique=True, editable=False)
    station = models.ForeignKey(
        Station, verbose_name="驿站/工作室", on_delete=models.PROTECT, related_name="intake_codes"
    )
    village = models.ForeignKey(
        Village,
        verbose_name="村/社区",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="intake_codes",
    )
    active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    retired_at = models.DateTimeField("停用时间", null=True, blank=True)

    class Meta:
        verbose_name = "群众点单入口码"
        verbose_name_plural = "群众点单入口码"
        ordering = ["station", "village", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["station"],
                condition=Q(active=True, village__isnull=True),
                name="intake_code_one_per_station",
            ),
            models.UniqueConstraint(
                fields=["village"],
                condition=Q(active=True, village__isnull=False),
                name="intake_code_one_per_village",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Intake(models.Model):
    """群众点单: a resident's need, posted without an account, until a manager triages it."""

    class Status(models.TextChoices):
        NEW = "new", "待受理"
        ACCEPTED = "accepted", "已受理"
        MERGED = "merged", "已合并"
        REFERRED = "referred", "已转交机关"
        DECLINED = "declined", "不予受理"

    class Source(models.TextChoices):
        WEB = "web", "扫码网页"
        MINIPROGRAM = "miniprogram", "小程序"

    # The resident's ticket: the only key to the tracking page (secrets.token_urlsafe).
    ticket = models.CharField("回执码", max_length=32, unique=True, editable=False)
    code = models.ForeignKey(
        IntakeCode, verbose_name="入口码", on_delete=models.PROTECT, related_name="intakes"
    )
    station = models.ForeignKey(
        Station, verbose_name="驿站/工作室", on_delete=models.PROTECT, related_name="intakes"
    )
    village = models.ForeignKey(
        Village,
        verbose_name="村/社区",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="intakes",
    )
    specialty = models.ForeignKey(
        Specialty,
        verbose_name="需求类型",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="intakes",
    )
    description = models.TextField("诉求内容", max_length=1000)
    # PII: in full only to the station's managers and staff; emptied by the retention purge.
    phone = models.CharField("联系电话", max_length=20, blank=True)
    source = models.CharField("来源", max_length=12, choices=Source.choices, default=Source.WEB)
    # A resident who came through the mini-program: a role-less account keyed by openid, so
    # subscribe messages reach them (no member profile, no password).
    resident = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="群众微信账号",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="intakes",
    )
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.NEW)
    # Similar open requests and recent intakes of the station, found at submission (ids).
    possible_duplicates = models.JSONField("疑似重复", default=dict, blank=True)
    request = models.ForeignKey(
        ServiceRequest,
        verbose_name="对应需求",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="intakes",
    )
    # Referred on from another station (it stays new there) or to the office (社情民意).
    referred_from = models.ForeignKey(
        Station,
        verbose_name="转自驿站",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The reason the resident reads (decline, referral).
    reason = models.CharField("处理说明", max_length=200, blank=True)
    triaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="受理人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    triaged_at = models.DateTimeField("受理时间", null=True, blank=True)
    # When it entered its current station's queue (creation, or the last referral).
    queued_at = models.DateTimeField("进入待办时间")
    # When the managers were told it waits past INTAKE_TRIAGE_HOURS (once per queueing).
    overdue_notified_at = models.DateTimeField("超时提醒时间", null=True, blank=True)
    created_at = models.DateTimeField("提交时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "群众点单"
        verbose_name_plural = "群众点单"
        ordering = ["queued_at", "id"]
        indexes = [
            models.Index(fields=["station", "status", "queued_at"], name="intake_station_queue"),
            models.Index(fields=["status", "queued_at"], name="intake_status_queued"),
            models.Index(fields=["phone", "created_at"], name="intake_phone_created"),
            models.Index(fields=["created_at"], name="intake_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status__in=["accepted", "merged"]) | Q(request__isnull=False),
                name="intake_linked_when_accepted",
            ),
        ]

    def __str__(self) -> str:
        return self.ticket


class IntakeRating(models.Model):
    """评单: the resident's 1–5 rating of the service their intake became, one per intake.

    Station, town, team, 三暖 kind and service day are copied from the verified record, so the
    satisfaction breakdowns read this table (and the record's status) only."""

    intake = models.OneToOneField(
        Intake, verbose_name="群众点单", on_delete=models.CASCADE, related_name="rating"
    )
    record = models.ForeignKey(
        ServiceRecord, verbose_name="服务记录", on_delete=models.PROTECT, related_name="ratings"
    )
    score = models.PositiveSmallIntegerField(
        "评分", validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.CharField("评价", max_length=300, blank=True)
    station = models.ForeignKey(
        Station, verbose_name="驿站/工作室", on_delete=models.PROTECT, related_name="+"
    )
    town = models.ForeignKey(
        "stations.Town", verbose_name="镇/街道", on_delete=models.PROTECT, related_name="+"
    )
    team = models.ForeignKey(
        Team, verbose_name="团队", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    campaign_kind = models.CharField("三暖类型", max_length=20, choices=Campaign.Kind.choices)
    service_date = models.DateField("服务日期")
    created_at = models.DateTimeField("评价时间", auto_now_add=True)
    updated_at = models.DateTimeField("修改时间", auto_now=True)

    class Meta:
        verbose_name = "群众评单"
        verbose_name_plural = "群众评单"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["service_date", "station"], name="rating_date_station"),
            models.Index(fields=["team", "service_date"], name="rating_team_date"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1, score__lte=5), name="rating_score_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.intake_id}: {self.score}"


# ---------------------------------------------------------------- 暖企 (enterprises, 诉求)


class Enterprise(models.Model):
    """暖企企业: an enterprise the 暖企 campaign pairs with 暖企专员 (docs/enterprises.md).

    Deactivated, never deleted (its visits and 诉求 stay). ``desk_ticket`` is the enterprise's
    own key: its QR code opens the desk where it raises 诉求 and follows and rates its own."""

    name = models.CharField("企业名称", max_length=100)
    # 统一社会信用代码 (GB 32100-2015), check digit verified by services.enterprises.codes.
    credit_code = models.CharField("统一社会信用代码", max_length=18, unique=True)
    town = models.ForeignKey(
        "stations.Town", verbose_name="镇/街道", on_delete=models.PROTECT, related_name="+"
    )
    # The station that serves it: its managers read it and verify its visits.
    station = models.ForeignKey(
        Station, verbose_name="服务驿站", on_delete=models.PROTECT, related_name="enterprises"
    )
    address = models.CharField("地址", max_length=200, blank=True)
    lat = models.FloatField("纬度")
    lng = models.FloatField("经度")
    industry = models.CharField("行业", max_length=50, blank=True)
    key_project = models.BooleanField("重点项目企业", default=False)
    # PII: masked as members.pii says; emptied by the retention purge once deactivated long ago.
    contact_name = models.CharField("联系人", max_length=50, blank=True)
    contact_phone = models.CharField("联系电话", max_length=20, blank=True)
    desk_ticket = models.CharField("企业服务码", max_length=32, unique=True, editable=False)
    active = models.BooleanField("在册", default=True)
    deactivated_at = models.DateTimeField("停用时间", null=True, blank=True)
    deactivate_reason = models.CharField("停用原因", max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="录入人",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "暖企企业"
        verbose_name_plural = "暖企企业"
        ordering = ["town", "name", "id"]
        indexes = [
            models.Index(fields=["station", "active"], name="enterprise_station_active"),
            models.Index(fields=["town", "active"], name="enterprise_town_active"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(active=True, deactivated_at__isnull=True)
                | Q(active=False, deactivated_at__isnull=False),
                name="enterprise_deactivated_has_time",
            ),
            *coordinate_checks("enterprise"),
        ]

    def __str__(self) -> str:
        return self.name


class EnterpriseLiaison(models.Model):
    """暖企专员: a member paired with an enterprise for a period, as its lead or a deputy.

    Reassigning ends the current row (``ended_at``) and adds a new one: the history stays."""

    class Role(models.TextChoices):
        LEAD = "lead", "牵头专员"
        DEPUTY = "deputy", "协助专员"

    enterprise = models.ForeignKey(
        Enterprise, verbose_name="企业", on_delete=models.PROTECT, related_name="liaisons"
    )
    member = models.ForeignKey(
        Member, verbose_name="委员", on_delete=models.PROTECT, related_name="enterprise_liaisons"
    )
    role = models.CharField("角色", max_length=10, choices=Role.choices)
    starts_on = models.DateField("起始日期")
    ends_on = models.DateField("截止日期", null=True, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="指派人",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField("指派时间", auto_now_add=True)
    # Set when a reassignment replaced this pairing (the row stays as history).
    ended_at = models.DateTimeField("解除时间", null=True, blank=True)

    class Meta:
        verbose_name = "暖企专员"
        verbose_name_plural = "暖企专员"
        ordering = ["enterprise", "-created_at", "-id"]
        indexes = [models.Index(fields=["member", "ended_at"], name="liaison_member_current")]
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise"],
                condition=Q(ended_at__isnull=True, role="lead"),
                name="liaison_one_current_lead",
            ),
            models.UniqueConstraint(
                fields=["enterprise", "member"],
                condition=Q(ended_at__isnull=True),
                name="liaison_one_current_per_member",
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on")),
                name="liaison_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.enterprise_id}: {self.member_id} ({self.role})"


class EnterpriseVisit(models.Model):
    """走访: a 专员's visit to an enterprise. It is a service record of the 暖企 campaign (its
    ``request``, one checked-in ``claim`` and the record submitted on it), so it counts in
    enterprises served and hours once a second party verifies that record."""

    enterprise = models.ForeignKey(
        Enterprise, verbose_name="企业", on_delete=models.PROTECT, related_name="visits"
    )
    member = models.ForeignKey(
        Member, verbose_name="专员", on_delete=models.PROTECT, related_name="enterprise_visits"
    )
    request = models.OneToOneField(
        ServiceRequest, verbose_name="需求", on_delete=models.PROTECT, related_name="visit"
    )
    claim = models.OneToOneField(
        Claim, verbose_name="认领", on_delete=models.PROTECT, related_name="visit"
    )
    visited_at = models.DateTimeField("走访时间")
    duration_minutes = models.PositiveIntegerField("走访时长（分钟）")
    distance_m = models.FloatField("签到距离（米）")
    discussed = models.TextField("走访内容", max_length=2000)
    # 企业邀约: the enterprise asked for this visit (the monthly cap does not apply).
    requested_by_enterprise = models.BooleanField("企业邀约", default=False)
    # Logged inside ENTERPRISE_QUIET_DAYS of the enterprise's previous visit (无事不扰 warning).
    quiet_warning = models.BooleanField("打扰提醒", default=False)
    created_at = models.DateTimeField("登记时间", auto_now_add=True)

    class Meta:
        verbose_name = "企业走访"
        verbose_name_plural = "企业走访"
        ordering = ["-visited_at", "-id"]
        indexes = [
            models.Index(fields=["enterprise", "visited_at"], name="visit_enterprise_time"),
            models.Index(fields=["visited_at"], name="visit_time"),
        ]

    def __str__(self) -> str:
        return f"{self.enterprise_id} @ {self.visited_at:%Y-%m-%d}"


class EnterpriseAppeal(models.Model):
    """企业诉求: what an enterprise asked for, from a visit or its own desk, tracked to 办结."""

    class Status(models.TextChoices):
        ACCEPTED = "accepted", "已受理"
        REFERRED = "referred", "已转办"
        IN_PROGRESS = "in_progress", "办理中"
        RESOLVED = "resolved", "已办结"
        RATED = "rated", "已评价"
        REJECTED = "rejected", "不予受理"

    class Source(models.TextChoices):
        VISIT = "visit", "走访收集"
        DESK = "desk", "企业扫码"
        MINIPROGRAM = "miniprogram", "小程序"

    OPEN = (Status.ACCEPTED, Status.REFERRED, Status.IN_PROGRESS)
    DONE = (Status.RESOLVED, Status.RATED)

    enterprise = models.ForeignKey(
        Enterprise, verbose_name="企业", on_delete=models.PROTECT, related_name="appeals"
    )
    visit = models.ForeignKey(
        EnterpriseVisit,
        verbose_name="走访",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appeals",
    )
    source = models.CharField("来源", max_length=12, choices=Source.choices)
    # The 诉求's own ticket: the key to its progress page (secrets.token_urlsafe).
    ticket = models.CharField("回执码", max_length=32, unique=True, editable=False)
    description = models.TextField("诉求内容", max_length=1000)
    status = models.CharField(
        "状态", max_length=12, choices=Status.choices, default=Status.ACCEPTED
    )
    department = models.CharField("承办部门", max_length=100, blank=True)
    asked = models.CharField("转办事项", max_length=500, blank=True)
    due_on = models.DateField("办理时限", null=True, blank=True)
    outcome = models.TextField("办理结果", max_length=1000, blank=True)
    reason = models.CharField("不予受理原因", max_length=200, blank=True)
    score = models.PositiveSmallIntegerField(
        "企业评价", null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    rating_comment = models.CharField("评价意见", max_length=300, blank=True)
    # Who raised it: the 专员 (from a visit) or the mini-program account of the enterprise.
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="登记人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField("受理时间")
    referred_at = models.DateTimeField("转办时间", null=True, blank=True)
    started_at = models.DateTimeField("开始办理时间", null=True, blank=True)
    resolved_at = models.DateTimeField("办结时间", null=True, blank=True)
    rejected_at = models.DateTimeField("不予受理时间", null=True, blank=True)
    rated_at = models.DateTimeField("评价时间", null=True, blank=True)
    # resolved_at - created_at in seconds: the median time to 办结.
    resolve_seconds = models.FloatField("办结用时（秒）", null=True, blank=True, editable=False)
    # When the 专员 and staff were told it passed due_on (once per due date).
    overdue_notified_at = models.DateTimeField("超期提醒时间", null=True, blank=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "企业诉求"
        verbose_name_plural = "企业诉求"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["enterprise", "status"], name="appeal_enterprise_status"),
            models.Index(fields=["status", "due_on"], name="appeal_status_due"),
            models.Index(fields=["created_at"], name="appeal_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status__in=["resolved", "rated"])
                | (~Q(outcome="") & Q(resolved_at__isnull=False)),
                name="appeal_resolved_has_outcome",
            ),
            models.CheckConstraint(
                condition=~Q(status="rated") | Q(score__gte=1, score__lte=5),
                name="appeal_rated_has_score",
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(status="rated"),
                name="appeal_score_only_when_rated",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(reason=""),
                name="appeal_rejected_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["referred", "in_progress", "resolved", "rated"])
                | (~Q(department="") & Q(due_on__isnull=False)),
                name="appeal_referred_has_department",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.enterprise_id}: {self.get_status_display()}"


class TeamStat(PeriodStat):
    """团队汇总: the verified records' figures per team (the participants' team snapshot, 0 for
    none), period, town (0: all) and 三暖 kind ('': all) — the records' own town and kind.

    People, enterprises and households are the team's participants' shares (each record's
    counts apportioned to its participants, ``services.rollups.shares``), so the teams add up to
    the total. The residents' ratings of verified records count for the rating's team."""

    town_key = models.IntegerField("镇/街道（0 为全部）")
    kind_key = models.CharField("三暖类型（空为全部）", max_length=20, blank=True)
    team_key = models.IntegerField("团队（0 为未加入团队）")
    records = models.IntegerField("已核实记录数", default=0)
    participations = models.IntegerField("参与人次", default=0)
    service_minutes = models.BigIntegerField("核实服务时长（分钟）", default=0)
    people_served = models.BigIntegerField("服务群众人次（份额）", default=0)
    enterprises_served = models.BigIntegerField("服务企业数（份额）", default=0)
    households_visited = models.BigIntegerField("走访户数（份额）", default=0)
    ratings = models.IntegerField("评单数", default=0)
    rating_score = models.BigIntegerField("评分合计", default=0)
    ratings_high = models.IntegerField("4、5 分评单数", default=0)

    class Meta:
        verbose_name = "团队汇总"
        verbose_name_plural = "团队汇总"
        constraints = [
            models.UniqueConstraint(
                fields=["period", "town_key", "kind_key", "starts_on", "team_key"],
                name="team_stat_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period}{self.starts_on} {self.town_key}/{self.kind_key} {self.team_key}"


class MemberStat(PeriodStat):
    """委员汇总: each member's verified services per period, town (0: all), 三暖 kind ('':
    all) and the team they served with (0: none): records, participations, minutes, their
    shares of the people served, and their duty points (net) for the leaderboard."""

    town_key = models.IntegerField("镇/街道（0 为全部）")
    kind_key = models.CharField("三暖类型（空为全部）", max_length=20, blank=True)
    member = models.ForeignKey(
        Member, verbose_name="委员", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    team_key = models.IntegerField("团队（0 为未加入团队）")
    records = models.IntegerField("已核实记录数", default=0)
    participations = models.IntegerField("参与人次", default=0)
    service_minutes = models.BigIntegerField("核实服务时长（分钟）", default=0)
    people_served = models.BigIntegerField("服务群众人次（份额）", default=0)
    enterprises_served = models.BigIntegerField("服务企业数（份额）", default=0)
    households_visited = models.BigIntegerField("走访户数（份额）", default=0)
    points = models.IntegerField("履职积分", default=0)
    point_participations = models.IntegerField("计分参与人次", default=0)

    class Meta:
        verbose_name = "委员汇总"
        verbose_name_plural = "委员汇总"
        constraints = [
            models.UniqueConstraint(
                fields=["period", "town_key", "kind_key", "starts_on", "member", "team_key"],
                name="member_stat_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period}{self.starts_on} {self.town_key}/{self.kind_key} {self.member_id}"


class MapCellStat(models.Model):
    """地图网格汇总: the open and full requests per cell of a fixed grid, at every level the map
    clusters at (``services.rollups.MAP_LEVELS``; a level-k cell is 2^-k degrees on a side,
    counted from 90°S and 180°W), with the sums of their positions in microdegrees for the
    centroid. Kept in the transaction of every status move, edit and post
    (``services.rollups``), so a dense map view reads at most a few dozen rows
    (``services.matching.map``)."""

    level = models.SmallIntegerField("层级")
    cell_row = models.IntegerField("网格行")
    cell_column = models.IntegerField("网格列")
    status = models.CharField("状态", max_length=20, choices=ServiceRequest.Status.choices)
    requests = models.IntegerField("需求数", default=0)
    lat_sum = models.BigIntegerField("纬度之和（自南纬 90° 起，微度）", default=0)
    lng_sum = models.BigIntegerField("经度之和（自西经 180° 起，微度）", default=0)

    class Meta:
        verbose_name = "地图网格汇总"
        verbose_name_plural = "地图网格汇总"
        constraints = [
            models.UniqueConstraint(
                fields=["level", "cell_row", "cell_column", "status"], name="map_cell_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.level}/{self.cell_row}/{self.cell_column} {self.status}"
