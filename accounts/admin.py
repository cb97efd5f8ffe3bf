from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import Event, Notification, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
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
    list_display = ["created_at", "user", "kind", "title", "status", "attempts", "read_at"]
    list_filter = ["status", "kind"]
    search_fields = ["user__username", "user__name", "title"]
    readonly_fields = ["provider_msgid", "attempts", "sent_at", "last_error"]
