"""Admin: campaigns are edited here; requests and claims are read-only (their states change
only through the capabilities' writes, so counters, events and notifications stay right).
Records are verified here through ``records.writes.verify_record``, the API's own write."""

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from accounts.admin_access import SuperuserOnlyAdmin
from accounts.admin_audit import AuditedModelAdmin
from accounts.errors import ApplicationError
from services.models import (
    Assignment,
    Attachment,
    CalendarFeed,
    Campaign,
    Certificate,
    Claim,
    IdempotencyKey,
    ServiceRequest,
    ServiceSeries,
)


@admin.register(Campaign)
class CampaignAdmin(AuditedModelAdmin):
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


# Place and 三暖 columns shared by the lists of requests, claims and records.
@admin.display(description="镇/街道", ordering="station__town__name")
def request_town(obj):
    return obj.station.town.name


@admin.display(description="三暖", ordering="campaign__kind")
def request_kind(obj):
    return obj.campaign.get_kind_display()


class AdminListStyle:
    """The lists' stylesheet: titles get room instead of wrapping to a column of characters."""

    class Media:
        css = {"all": ["admin/services/lists.css"]}


@admin.register(ServiceRequest)
class ServiceRequestAdmin(AdminListStyle, ReadOnlyAdmin):
    list_display = [
        "title",
        "station",
        request_town,
        request_kind,
        "status",
        "places",
        "starts_at",
        "created_at",
    ]
    list_filter = ["status", "campaign__kind", "station__town"]
    search_fields = [
        "title",
        "description",
        "address",
        "station__name",
        "village__name",
        "station__town__name",
    ]
    date_hierarchy = "starts_at"
    # Newest first: what was posted lately is what staff look for.
    ordering = ["-created_at", "-id"]
    list_select_related = ["station__town", "village", "campaign"]
    inlines = [ClaimInline]

    @admin.display(description="已认领/名额", ordering="claimed")
    def places(self, obj):
        return f"{obj.claimed}/{obj.slots}"


@admin.register(Claim)
class ClaimAdmin(AdminListStyle, ReadOnlyAdmin):
    list_display = [
        "request_title",
        "member",
        "team",
        "station",
        "status",
        "created_at",
        "checked_in_at",
    ]
    list_filter = ["status", "late_cancel", "request__station__town"]
    search_fields = [
        "request__title",
        "member__name",
        "request__station__name",
        "request__village__name",
    ]
    ordering = ["-created_at", "-id"]
    list_select_related = ["request__station", "member", "team"]

    @admin.display(description="需求", ordering="request__title")
    def request_title(self, obj):
        return obj.request.title

    @admin.display(description="驿站", ordering="request__station__name")
    def station(self, obj):
        return obj.request.station.name


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(SuperuserOnlyAdmin):
    """Replay protection of the API's writes: machinery, for superusers only."""

    list_display = ["user", "key", "state", "response_status", "created_at", "expires_at"]
    list_filter = ["state"]
    search_fields = ["key", "user__username"]


# ---------------------------------------------------------------- records and duty points
# Records and the ledger are read-only here (verification and revocation go through the API so
# claims, requests, points and notices move together); the scoring table is edited here.
from services.models import PointEntry, PointRule, ServiceRecord  # noqa: E402
from services.records.writes import verify_record  # noqa: E402


class RecordParticipantInline(admin.TabularInline):
    model = ServiceRecord.participants.through
    verbose_name = "参与认领"
    verbose_name_plural = "参与认领"
    readonly_fields = ["claim"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ServiceRecord)
class ServiceRecordAdmin(AdminListStyle, ReadOnlyAdmin):
    list_display = [
        "request_title",
        "version",
        "status",
        "people_served",
        "participants_count",
        "flag_count",
        "station",
        "town",
        "campaign_kind",
        "service_date",
        "submitted_at",
    ]
    list_filter = ["status", "campaign_kind", "town"]
    search_fields = ["request__title", "summary", "station__name", "request__village__name"]
    date_hierarchy = "service_date"
    ordering = ["-submitted_at", "-id"]
    list_select_related = ["request", "station", "town"]
    exclude = ["participants"]
    inlines = [RecordParticipantInline]
    actions = ["verify"]

    @admin.display(description="需求", ordering="request__title")
    def request_title(self, obj):
        return obj.request.title

    @admin.action(description="核实所选服务记录（通过或退回）")
    def verify(self, request, queryset):
        """A confirmation page (decision and note), then ``verify_record`` per record with
        the signed-in user as the verifier: the API's write, its rules and its error texts."""
        if request.POST.get("apply") != "1":
            return TemplateResponse(
                request,
                "admin/services/servicerecord/verify.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "核实服务记录",
                    "records": queryset.select_related("request", "station"),
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                    "opts": self.model._meta,
                },
            )
        approved = request.POST.get("decision") != "reject"
        note = request.POST.get("note", "")
        done = 0
        for record in queryset.select_related("request").order_by("id"):
            try:
                verify_record(actor=request.user, record_id=record.pk, approved=approved, note=note)
            except ApplicationError as exc:
                self.message_user(
                    request, f"「{record.request.title}」未能核实：{exc.detail}", messages.ERROR
                )
            else:
                done += 1
        if done:
            verb = "核实通过" if approved else "退回"
            self.message_user(request, f"已{verb} {done} 条服务记录。", messages.SUCCESS)
        return None


@admin.register(PointRule)
class PointRuleAdmin(AuditedModelAdmin):
    """积分规则: staff change points and switch rules on or off; new awards use the new values,
    lines already written stay as they were (the ledger is append-only)."""

    list_display = ["name", "kind", "code", "points", "active", "updated_at"]
    list_editable = ["points", "active"]

    def get_readonly_fields(self, request, obj=None):
        # The kind decides what a rule rewards (records.points.applies): fixed once created.
        return ["code", "kind"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PointEntry)
class PointEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "member",
        "points",
        "rule",
        "award",
        "record",
        "team",
        "service_date",
        "created_at",
    ]
    list_filter = ["award", "rule"]
    search_fields = ["member__name", "reason"]
    date_hierarchy = "service_date"
    list_select_related = ["member", "rule", "record", "team"]


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    """Photos' facts for staff's audit; the images themselves only through the API's signed
    links (docs/attachments.md). GPS positions are not shown here either."""

    list_display = [
        "id",
        "record",
        "content_type",
        "size_bytes",
        "width",
        "height",
        "taken_at",
        "uploaded_by",
        "uploaded_at",
        "withheld_at",
        "purged_at",
    ]
    list_filter = ["content_type"]
    list_select_related = ["record", "uploaded_by"]
    exclude = ["taken_lat", "taken_lng", "file_name", "thumbnail_name"]


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    """志愿服务证明: issued by members through the API, revoked with a listed record; never
    edited (docs/certificates-and-archive.md)."""

    list_display = [
        "serial",
        "member_name",
        "date_from",
        "date_to",
        "service_count",
        "service_minutes",
        "status",
        "issued_at",
        "revoked_at",
    ]
    list_filter = ["status", "year"]
    search_fields = ["serial", "member_name", "code"]
    date_hierarchy = "issued_on"
    list_select_related = ["member"]
    exclude = ["records"]


@admin.register(ServiceSeries)
class ServiceSeriesAdmin(ReadOnlyAdmin):
    """周期服务: posted, edited and cancelled through the API (each occurrence is a request)."""

    list_display = ["title", "station", "frequency", "starts_on", "until", "count", "created_at"]
    list_filter = ["frequency"]
    search_fields = ["title", "station__name"]
    list_select_related = ["station"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    """派单: answered by the member through the API."""

    list_display = ["request", "member", "team", "status", "created_at", "answered_at"]
    list_filter = ["status"]
    search_fields = ["request__title", "member__name", "team__name", "request__station__name"]
    list_select_related = ["request", "member", "team"]


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ReadOnlyAdmin):
    """日历订阅: issued and revoked by the member; only the token's hash is kept."""

    list_display = ["member", "created_at", "revoked_at"]
    exclude = ["token_hash"]
    list_select_related = ["member"]
