"""Django admin of towns, villages and stations (Chinese labels come from the models)."""

from __future__ import annotations

from django.contrib import admin, messages

from accounts.audit import record_event
from stations.models import Station, Town, Village


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


class AuditedAdmin(admin.ModelAdmin):
    """No deletes (rows are referred to: deactivate them); every save leaves an Event."""

    actions = [deactivate]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        record_event(
            actor=request.user,
            verb=f"{obj._meta.model_name}.{'updated' if change else 'created'}",
            obj=obj,
            payload={"source": "admin", "fields": list(form.changed_data)},
        )


@admin.register(Town)
class TownAdmin(AuditedAdmin):
    list_display = ["name", "kind", "code", "lat", "lng", "active", "updated_at"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "code"]


@admin.register(Station)
class StationAdmin(AuditedAdmin):
    list_display = ["name", "kind", "town", "address", "active", "updated_at"]
    list_filter = ["kind", "town", "active"]
    search_fields = ["name", "address", "managers__username", "managers__name"]
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
