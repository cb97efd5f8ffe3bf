"""Django admin of specialties, teams and members (Chinese labels come from the models)."""

from __future__ import annotations

from django.contrib import admin

from members.models import Member, Specialty, Team
from stations.admin import AuditedAdmin


@admin.register(Specialty)
class SpecialtyAdmin(AuditedAdmin):
    list_display = ["name", "code", "active", "updated_at"]
    list_filter = ["active"]
    search_fields = ["name", "code"]


class MemberInline(admin.TabularInline):
    model = Member
    fields = ["name", "phone", "sector", "active"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ["name", "sector", "home_town", "leader", "active", "updated_at"]
    list_filter = ["sector", "home_town", "specialties", "active"]
    search_fields = ["name", "sector", "leader__name"]
    filter_horizontal = ["specialties"]
    list_select_related = ["home_town", "leader"]
    raw_id_fields = ["leader"]
    inlines = [MemberInline]


@admin.register(Member)
class MemberAdmin(AuditedAdmin):
    # Who changed what is kept; a member's name and phone are not copied into the trail.
    audit_hidden_fields = frozenset({"name", "phone", "home_lat", "home_lng"})
    list_display = ["name", "phone", "sector", "team", "active", "updated_at"]
    list_filter = ["sector", "team", "specialties", "active"]
    search_fields = ["name", "phone", "user__username", "team__name"]
    filter_horizontal = ["specialties"]
    list_select_related = ["team"]
    raw_id_fields = ["user"]
    autocomplete_fields = ["team"]

    def get_readonly_fields(self, request, obj=None):
        # The phone is also the login name: change it through the API, which keeps both in step.
        return ["phone"] if obj is not None else []

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        user = obj.user
        user.name, user.phone, user.is_member = obj.name, obj.phone, obj.active
        user.save(update_fields=["name", "phone", "is_member"])
