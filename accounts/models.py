"""Users and their roles; the audit trail (Event) and the outbox (Notification) every app writes."""

from __future__ import annotations

from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q

from backend.request_id import current as current_request_id


class Role(models.TextChoices):
    """What a user may act as; one user may hold several."""

    MEMBER = "member", "委员"
    STATION_MANAGER = "station_manager", "驿站/工作室管理员"
    VILLAGE_LIAISON = "village_liaison", "村/社区联络员"
    STAFF = "staff", "政协机关工作人员"
    SUPERUSER = "superuser", "超级管理员"


class User(AbstractUser):
    """A login account. Roles are flags, so a member may also manage a station."""

    name = models.CharField("姓名", max_length=50, blank=True)
    phone = models.CharField("手机号", max_length=20, blank=True)
    is_member = models.BooleanField("委员", default=False)
    is_station_manager = models.BooleanField("驿站/工作室管理员", default=False)
    is_village_liaison = models.BooleanField("村/社区联络员", default=False)
    wechat_openid = models.CharField(
        "微信 openid", max_length=64, null=True, blank=True, unique=True, editable=False
    )
    wechat_bound_at = models.DateTimeField("微信绑定时间", null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "用户"
        verbose_name_plural = "用户"

    def __str__(self) -> str:
        return self.name or self.username

    # A password replaced or disabled ends every session of the user (TokenState.end_all):
    # set_password/set_unusable_password note it, save() acts on it. Setting the first password
    # of an account that had none (activation, a factory) ends nothing, and neither does a hash
    # upgrade at login (Django's check_password clears ``_password`` for it).
    _had_password = False
    _password_disabled = False

    def set_password(self, raw_password) -> None:
        self._had_password = self._has_password()
        super().set_password(raw_password)

    def set_unusable_password(self) -> None:
        self._password_disabled = self._has_password()
        super().set_unusable_password()

    def _has_password(self) -> bool:
        return bool(self.password) and is_password_usable(self.password)

    def save(self, *args, **kwargs) -> None:
        replaced = self._password is not None and self._had_password
        end_sessions = (replaced or self._password_disabled) and not self._state.adding
        self._had_password = self._password_disabled = False
        if not end_sessions:
            super().save(*args, **kwargs)
            return
        with transaction.atomic():
            super().save(*args, **kwargs)
            TokenState.end_all(user_id=self.pk)

    @property
    def roles(self) -> list[str]:
        """The role values this user holds, in a stable order."""
        flags = [
            (self.is_member, Role.MEMBER),
            (self.is_station_manager, Role.STATION_MANAGER),
            (self.is_village_liaison, Role.VILLAGE_LIAISON),
            (self.is_staff, Role.STAFF),
            (self.is_superuser, Role.SUPERUSER),
        ]
        return [role.value for held, role in flags if held]


class TokenState(models.Model):
    """What ends a user's JWTs before they expire (accounts.tokens): the version every token
    carries, raised when the password changes, and the sessions ended by logout.

    A row of its own rather than columns on User, so an ordinary save of a User loaded earlier
    never writes an older version back. No row means version 0 and no session ended."""

    user = models.OneToOneField(
        User,
        verbose_name="用户",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="token_state",
    )
    version = models.PositiveIntegerField("令牌版本", default=0)
    # session id → the Unix time until which it must be remembered (its last refresh token's
    # lifetime); older entries are dropped whenever the row is written.
    ended_sessions = models.JSONField("已退出的会话", default=dict, blank=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "登录令牌状态"
        verbose_name_plural = "登录令牌状态"

    def __str__(self) -> str:
        return f"{self.user_id} v{self.version}"

    @classmethod
    def locked(cls, *, user_id: int) -> TokenState:
        """The user's row, created when missing, locked until the transaction ends."""
        state, _created = cls.objects.select_for_update().get_or_create(user_id=user_id)
        return state

    @classmethod
    def end_all(cls, *, user_id: int) -> None:
        """Raise the version: every token minted so far, access or refresh, stops working."""
        with transaction.atomic():
            state = cls.locked(user_id=user_id)
            state.version += 1
            state.ended_sessions = {}
            state.save(update_fields=["version", "ended_sessions", "updated_at"])


class Event(models.Model):
    """One line of the audit trail: who did what to which object, from which state to which."""

    actor = models.ForeignKey(
        User,
        verbose_name="操作人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    verb = models.CharField("动作", max_length=50)
    content_type = models.ForeignKey(
        ContentType, verbose_name="对象类型", on_delete=models.PROTECT, related_name="+"
    )
    object_id = models.CharField("对象 ID", max_length=64)
    target = GenericForeignKey("content_type", "object_id")
    from_status = models.CharField("原状态", max_length=30, blank=True)
    to_status = models.CharField("新状态", max_length=30, blank=True)
    at = models.DateTimeField("时间", auto_now_add=True, db_index=True)
    payload = models.JSONField("附加信息", default=dict, blank=True)

    class Meta:
        verbose_name = "操作记录"
        verbose_name_plural = "操作记录"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "at"], name="event_object_at")]

    def __str__(self) -> str:
        return f"{self.verb} {self.content_type_id}:{self.object_id}"


class Notification(models.Model):
    """An outbox row: one message to one user, written in the transaction that causes it."""

    class Status(models.TextChoices):
        PENDING = "pending", "待发送"
        SENDING = "sending", "发送中"
        SENT = "sent", "已发送"
        SKIPPED = "skipped", "已跳过"
        FAILED = "failed", "发送失败"

    user = models.ForeignKey(
        User, verbose_name="接收人", on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField("类型", max_length=40)
    title = models.CharField("标题", max_length=100)
    body = models.CharField("内容", max_length=500, blank=True)
    payload = models.JSONField("数据", default=dict, blank=True)
    # Makes "once per claim" style messages unique (e.g. reminder:claim:42).
    dedupe_key = models.CharField("去重键", max_length=100, null=True, blank=True, unique=True)
    status = models.CharField(
        "发送状态", max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField("尝试次数", default=0)
    next_attempt_at = models.DateTimeField("下次尝试", null=True, blank=True)
    provider_msgid = models.CharField("微信消息 ID", max_length=64, blank=True)
    last_error = models.CharField("最后错误", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)
    read_at = models.DateTimeField("已读时间", null=True, blank=True)
    # The X-Request-ID of the request (or task) that wrote the row: its send logs under it.
    request_id = models.CharField(
        "请求 ID", max_length=64, blank=True, default=current_request_id, editable=False
    )

    class Meta:
        verbose_name = "通知"
        verbose_name_plural = "通知"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_user_created"),
            # The oldest pending row, for /readyz and the metrics (backend/metrics.py).
            models.Index(
                fields=["created_at"],
                name="notification_pending_created",
                condition=Q(status="pending"),
            ),
            # What a sender scans: pending rows coming due and sending rows whose lease ran out.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="notification_due",
                condition=Q(status__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.user_id}"
