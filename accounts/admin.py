from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.admin_access import SuperuserOnlyAdmin
from accounts.admin_audit import AuditedModelAdmin
from accounts.audit import record_event
from accounts.models import Event, Notification, User

# Login tokens (simplejwt's blacklist app, its names translated in locale/): superusers only,
# read-only, with Chinese columns.
admin.site.unregister(OutstandingToken)
admin.site.unregister(BlacklistedToken)


@admin.register(OutstandingToken)
class OutstandingTokenAdmin(SuperuserOnlyAdmin):
    list_display = ["jti_shown", "user", "created_shown", "expires_shown"]
    search_fields = ["user__username", "jti"]
    list_select_related = ["user"]
    ordering = ["-created_at"]
    exclude = ["token"]

    @admin.display(description="令牌编号", ordering="jti")
    def jti_shown(self, obj):
        return obj.jti

    @admin.display(description="签发时间", ordering="created_at")
    def created_shown(self, obj):
        return obj.created_at

    @admin.display(description="到期时间", ordering="expires_at")
    def expires_shown(self, obj):
        return obj.expires_at


@admin.register(BlacklistedToken)
class BlacklistedTokenAdmin(SuperuserOnlyAdmin):
    list_display = ["jti_shown", "user_shown", "blacklisted_shown"]
    search_fields = ["token__user__username", "token__jti"]
    list_select_related = ["token__user"]
    ordering = ["-blacklisted_at"]

    @admin.display(description="令牌编号", ordering="token__jti")
    def jti_shown(self, obj):
        return obj.token.jti

    @admin.display(description="用户", ordering="token__user")
    def user_shown(self, obj):
        return obj.token.user

    @admin.display(description="作废时间", ordering="blacklisted_at")
    def blacklisted_shown(self, obj):
        return obj.blacklisted_at


@admin.register(User)
class UserAdmin(AuditedModelAdmin, BaseUserAdmin):
    # Roles and is_staff are kept before and after; personal data only as "changed".
    audit_hidden_fields = frozenset({"name", "phone", "email"})
    list_display = [
        "username",
        "name",
        "phone",
        "is_member",
        "is_station_manager",
        "is_village_liaison",
        "is_staff",
        "is_active",
    ]
    list_filter = ["is_member", "is_station_manager", "is_village_liaison", "is_staff", "is_active"]
    search_fields = ["username", "name", "phone"]
    readonly_fields = ["wechat_openid", "wechat_bound_at", "last_login", "date_joined"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("个人信息", {"fields": ("name", "phone", "email")}),
        (
            "角色",
            {
                "fields": (
                    "is_member",
                    "is_station_manager",
                    "is_village_liaison",
                    "is_staff",
                    "is_superuser",
                    "is_active",
                )
            },
        ),
        ("微信", {"fields": ("wechat_openid", "wechat_bound_at")}),
        ("时间", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "name", "phone", "password1", "password2"),
            },
        ),
    )

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            record_event(
                actor=request.user,
                verb="user.password_changed",
                obj=User.objects.get(pk=id),
                payload={"source": "admin"},
            )
        return response


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "verb", "content_type", "object_id", "from_status", "to_status"]
    list_filter = ["verb", "content_type"]
    search_fields = ["object_id", "actor__username", "actor__name"]
    date_hierarchy = "at"

    # The audit trail is append-only, in the admin too.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """The outbox as staff see it: what was sent, skipped or failed, and why."""

    list_display = [
        "created_at",
        "user",
        "kind",
        "title",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "read_at",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__name", "title", "provider_msgid", "dedupe_key"]
    date_hierarchy = "created_at"
    # Rows are written by the workflow and changed by senders only; the admin looks and requeues.
    readonly_fields = [
        "user",
        "kind",
        "title",
        "body",
        "payload",
        "dedupe_key",
        "status",
        "attempts",
        "next_attempt_at",
        "provider_msgid",
        "last_error",
        "created_at",
        "sent_at",
        "read_at",
    ]
    actions = ["requeue"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="重新发送所选的失败/已跳过通知")
    def requeue(self, request, queryset):
        # Only finished rows that did not go out: a pending or sending row is a sender's.
        finished = [Notification.Status.FAILED, Notification.Status.SKIPPED]
        with transaction.atomic():
            rows = list(
                queryset.select_for_update().filter(status__in=finished).values("id", "status")
            )
            count = Notification.objects.filter(
                pk__in=[row["id"] for row in rows], status__in=finished
            ).update(
                status=Notification.Status.PENDING, attempts=0, next_attempt_at=None, last_error=""
            )
            for row in rows:
                record_event(
                    actor=request.user,
                    verb="notification.requeued",
                    obj=Notification(pk=row["id"]),
                    from_status=row["status"],
                    to_status=Notification.Status.PENDING,
                    payload={"source": "admin"},
                )
        self.message_user(request, f"已重新排队 {count} 条通知。")
