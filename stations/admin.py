"""Django admin of towns, villages and stations (Chinese labels come from the models)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.admin_audit import AuditedModelAdmin
from accounts.audit import record_event
from stations.api_keys import api_key_issue, api_key_revoke
from stations.models import Station, StationApiKey, Town, Village


@admin.action(description="停用所选项")
def deactivate(modeladmin, request, queryset):
    """Deactivate instead of delete; one Event per row."""
    count = 0
    for obj in queryset.filter(active=True):
        obj.active = False
        obj.save()
        record_event(
            actor=request.user,
            verb=f"{obj._meta.model_name}.updated",
            obj=obj,
            payload={"source": "admin", "active": False},
        )
        count += 1
    modeladmin.message_user(request, f"已停用 {count} 项。", messages.SUCCESS)


class AuditedAdmin(AuditedModelAdmin):
    """No deletes (rows are referred to: deactivate them); every save leaves an Event."""

    actions = [deactivate]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Town)
class TownAdmin(AuditedAdmin):
    list_display = ["name", "kind", "code", "lat", "lng", "active", "updated_at"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "code"]


@admin.register(Station)
class StationAdmin(AuditedAdmin):
    list_display = ["name", "kind", "town", "address", "active", "updated_at"]
    list_filter = ["kind", "town", "active"]
    search_fields = ["name", "address", "town__name", "managers__username", "managers__name"]
    filter_horizontal = ["managers"]
    list_select_related = ["town"]


@admin.register(Village)
class VillageAdmin(AuditedAdmin):
    list_display = ["name", "kind", "town", "station", "remote", "active", "updated_at"]
    list_filter = ["kind", "remote", "town", "active"]
    search_fields = ["name", "town__name", "station__name"]
    filter_horizontal = ["liaisons"]
    list_select_related = ["town", "station"]
    autocomplete_fields = ["station"]


@admin.action(description="停用所选密钥")
def revoke_keys(modeladmin, request, queryset):
    """Switch keys off; one Event per key that was on."""
    count = sum(api_key_revoke(key=key, actor=request.user) for key in queryset.filter(active=True))
    modeladmin.message_user(request, f"已停用 {count} 个密钥。", messages.SUCCESS)


@admin.register(StationApiKey)
class StationApiKeyAdmin(admin.ModelAdmin):
    """Open311 keys: adding one shows the full key once; keys are revoked, never edited."""

    list_display = [
        "name",
        "station",
        "prefix",
        "active",
        "created_by",
        "created_at",
        "last_used_at",
    ]
    list_filter = ["active", "station"]
    search_fields = ["name", "prefix", "station__name"]
    list_select_related = ["station", "created_by"]
    autocomplete_fields = ["station"]
    actions = [revoke_keys]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["station", "name"]
        return ["station", "name", "prefix", "active", "created_by", "created_at", "last_used_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return  # every field is read-only once issued
        issued = api_key_issue(station=obj.station, name=obj.name, created_by=request.user)
        # The admin logs and redirects with obj: make it the saved row.
        obj.__dict__.update(issued.row.__dict__)
        obj._issued_key = issued.key

    def response_add(self, request, obj, post_url_continue=None):
        # The key is rendered into this one response, never put in a message (messages may
        # travel in a cookie) and never stored.
        response = TemplateResponse(
            request,
            "admin/stations/stationapikey/issued.html",
            {
                **self.admin_site.each_context(request),
                "key_row": obj,
                "key": obj._issued_key,
                "changelist_url": reverse("admin:stations_stationapikey_changelist"),
                "title": "新 Open311 API 密钥",
            },
        )
        response["Cache-Control"] = "no-store"
        return response
