"""Admin: campaigns are edited here; requests and claims are read-only (their states change
only through services.workflow, so counters, events and notifications stay right)."""

from django.contrib import admin

from services.models import Campaign, Claim, IdempotencyKey, ServiceRequest


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "starts_on", "ends_on", "target_served"]
    list_filter = ["kind"]
    search_fields = ["name"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by staff, changed only through the API."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ClaimInline(admin.TabularInline):
    model = Claim
    fields = ["member", "team", "status", "claimed_at", "checked_in_at", "late_cancel"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ServiceRequest)
class ServiceRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "title",
        "station",
        "village",
        "campaign",
        "status",
        "claimed",
        "slots",
        "starts_at",
    ]
    list_filter = ["status", "campaign__kind", "station__town"]
    search_fields = ["title", "description", "address"]
    date_hierarchy = "starts_at"
    list_select_related = ["station", "village", "campaign"]
    inlines = [ClaimInline]


@admin.register(Claim)
class ClaimAdmin(ReadOnlyAdmin):
    list_display = ["request", "member", "team", "status", "created_at", "checked_in_at"]
    list_filter = ["status", "late_cancel"]
    search_fields = ["request__title", "member__name"]
    list_select_related = ["request", "member", "team"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ["user", "key", "state", "response_status", "created_at", "expires_at"]
    list_filter = ["state"]
    search_fields = ["key", "user__username"]
