"""The review queue (核实): submitted records of my stations, one record's page, the decision.

The page shows what GET records/{id}/ shows a verifier: the counts and summary, the anomaly
flags, the photos (signed links from ``services.attachments.storage`` through the API's
attachment serializer) and each participant's check-in, check-out and minutes. The decision
calls ``services.records.writes.verify_record`` (approved, or rejected with a note) with the
participants' corrected minutes as ``services.records.hours.Correction`` — the body
``VerifyInputSerializer`` and ``HoursInputSerializer`` parse for POST records/{id}/verify/.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from members.pii import shown_name, viewer_of
from services.console import forms
from services.console.access import Refused, act, action, one, page, scoped
from services.models import ServiceRecord
from services.records import hours
from services.records.attachment_serializers import (
    RecordAttachmentSerializer,
    attachment_context,
)
from services.records.attachments import visible_attachments
from services.records.serializers import HoursInputSerializer, VerifyInputSerializer
from services.records.writes import verify_record
from services.requests.checkout import window_minutes

RecordStatus = ServiceRecord.Status

PAGE_ROWS = 100


def _records(user):
    return scoped(ServiceRecord.objects.all(), user)


@page
def queue(request: HttpRequest) -> HttpResponse:
    """Records awaiting review, oldest first; flagged ones say so."""
    status = request.GET.get("status", RecordStatus.SUBMITTED)
    if status not in RecordStatus.values:
        status = RecordStatus.SUBMITTED
    rows = (
        _records(request.user)
        .filter(status=status)
        .select_related("request", "station", "submitted_by")
        .order_by("submitted_at", "id")[:PAGE_ROWS]
    )
    context = {
        "page_rows": PAGE_ROWS,
        "rows": rows,
        "status": status,
        "statuses": RecordStatus.choices,
        "viewer": viewer_of(request.user),
    }
    return render(request, "console/records_list.html", context)


def _participants(record: ServiceRecord, viewer, values, errors) -> list[dict]:
    """Each participant with their check-in, check-out, minutes and the form's inputs."""
    entries = {}
    for entry in record.hours.order_by("claim_id", "id"):
        if entry.current:
            entries[entry.claim_id] = entry
    return [
        {
            "claim": claim,
            "name": shown_name(viewer, claim.member.user_id, claim.member.user.name),
            "team": claim.team.name if claim.team else "",
            "minutes": claim.duration_minutes,
            "entry": entries.get(claim.pk),
            "value": values.get(f"minutes_{claim.pk}", claim.duration_minutes or ""),
            "reason": values.get(f"reason_{claim.pk}", ""),
            "error": errors.get(f"minutes_{claim.pk}", ""),
        }
        for claim in record.participants.select_related("member__user", "team").order_by("id")
    ]


def record_page(request, record: ServiceRecord, *, values=None, errors=None, detail="", status=200):
    viewer = viewer_of(request.user)
    photos = shown_photos(
        RecordAttachmentSerializer(
            visible_attachments(record, request.user).select_related("uploaded_by"),
            many=True,
            context=attachment_context(request),
        ).data
    )
    context = {
        "record": record,
        "need": record.request,
        "submitter": shown_name(viewer, record.submitted_by_id, record.submitted_by.name)
        if record.submitted_by
        else "",
        "participants": _participants(record, viewer, values or {}, errors or {}),
        "photos": photos,
        "max_minutes": window_minutes(record.request),
        "pending": record.status == RecordStatus.SUBMITTED,
        "values": values or {},
        "errors": errors or {},
        "detail": detail,
    }
    return render(request, "console/record_detail.html", context, status=status)


def shown_photos(photos) -> list[dict]:
    """The serializer's photos, each with its capture time as the page shows it."""
    shown = []
    for photo in photos:
        taken = photo.get("taken_at")
        when = timezone.localtime(datetime.fromisoformat(taken)) if taken else None
        shown.append({**photo, "taken": f"{when:%Y-%m-%d %H:%M}" if when else ""})
    return shown


def _record(request, pk: int) -> ServiceRecord:
    return one(
        ServiceRecord.objects.select_related("request", "station", "submitted_by", "verified_by"),
        request.user,
        pk,
    )


@page
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    return record_page(request, _record(request, pk))


def corrections(post: QueryDict, record: ServiceRecord) -> list[hours.Correction]:
    """The participants whose minutes the form changes, each checked by the API's
    HoursInputSerializer; a participant left as recorded is confirmed (not sent)."""
    found = []
    # Only managers and staff use the console, and they see members' names (members.pii).
    for claim in record.participants.select_related("member__user").order_by("id"):
        minutes = post.get(f"minutes_{claim.pk}", "").strip()
        reason = post.get(f"reason_{claim.pk}", "")
        if not minutes or minutes == str(claim.duration_minutes):
            continue
        data = QueryDict(mutable=True)
        data.update({"claim": str(claim.pk), "minutes": minutes, "reason": reason})
        try:
            given = forms.validated(HoursInputSerializer, data)
        except Refused as exc:
            raise Refused(
                f"{claim.member.user.name} 的服务时长：{exc.fields.get('minutes') or exc.detail}",
                {f"minutes_{claim.pk}": exc.fields.get("minutes") or exc.detail},
            ) from None
        found.append(hours.Correction(**given))
    return found


@action
def verify(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve (with the corrected minutes) or reject (with a note) through verify_record."""
    record = _record(request, pk)

    def write():
        decision = request.POST.get("decision", "")
        if decision not in ("approve", "reject"):
            raise Refused("请选择通过或退回。", {"decision": "请选择通过或退回。"})
        data = QueryDict(mutable=True)
        data.update({"approved": "true" if decision == "approve" else "false"})
        data["note"] = request.POST.get("note", "")
        given = forms.validated(VerifyInputSerializer, data)
        given_hours = corrections(request.POST, record) if given["approved"] else []
        return verify_record(
            actor=request.user,
            record_id=record.pk,
            approved=given["approved"],
            note=given["note"],
            hours_given=given_hours,
        )

    def done(result):
        if result.status == RecordStatus.VERIFIED:
            total = hours.as_hours(result.service_minutes)
            message = f"服务记录 #{result.pk} 已核实通过，服务时长 {total:g} 小时。"
        else:
            message = f"服务记录 #{result.pk} 已退回，提交人会收到通知。"
        return message, reverse("console:records")

    def again(detail, errors, status):
        record.refresh_from_db()
        return record_page(
            request, record, values=request.POST, errors=errors, detail=detail, status=status
        )

    return act(request, write, done=done, again=again)
