"""Residents' intake queue (群众点单待办): the queue, one intake, accept / merge / refer / decline.

The intake and its photos are shown through the API's ``IntakeSerializer`` (the phone in full
to the station's managers and staff, a staff read leaving its pii_viewed Event; signed photo
links). Each decision calls its write in services/intake/writes.py (``accept_intake``,
``merge_intake``, ``refer_intake``, ``decline_intake``) with the input the API's serializers
parse for POST intake/{id}/accept|merge|refer|decline/.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from members.models import Specialty
from members.pii import viewer_of
from services.console import forms
from services.console.access import act, action, page
from services.intake import selectors, writes
from services.intake.serializers import (
    AcceptInputSerializer,
    IntakeDeclineInputSerializer,
    IntakeSerializer,
    MergeInputSerializer,
    ReferInputSerializer,
)
from services.models import Campaign, Intake, ServiceRequest
from stations.models import Station

IntakeStatus = Intake.Status

PAGE_ROWS = 100


@page
def queue(request: HttpRequest) -> HttpResponse:
    """The user's intakes of one state, oldest in the queue first (new ones by default)."""
    status = request.GET.get("status", IntakeStatus.NEW)
    if status not in IntakeStatus.values:
        status = IntakeStatus.NEW
    now = timezone.now()
    rows = [
        {"intake": intake, "hours": int((now - intake.queued_at).total_seconds() // 3600)}
        for intake in selectors.queue(request.user, status=status)[:PAGE_ROWS]
    ]
    context = {
        "page_rows": PAGE_ROWS,
        "rows": rows,
        "status": status,
        "statuses": IntakeStatus.choices,
    }
    return render(request, "console/intake_list.html", context)


def _intake(request, pk: int) -> Intake:
    # Another station's intake is 404, as in the API (selectors.visible_intakes).
    return get_object_or_404(selectors.visible_intakes(request.user), pk=pk)


def intake_page(
    request, intake: Intake, *, form="", values=None, errors=None, detail="", status=200
):
    context_data = {"request": request, "now": timezone.now(), "viewer": viewer_of(request.user)}
    fresh = selectors.visible_intakes(request.user).filter(pk=intake.pk).first() or intake
    body = IntakeSerializer(fresh, context=context_data).data
    today = timezone.localdate()
    context = {
        "intake": fresh,
        "body": body,
        "pending": fresh.status == IntakeStatus.NEW,
        "campaigns": Campaign.objects.filter(ends_on__gte=today).order_by("starts_on", "id"),
        "specialties": Specialty.objects.filter(active=True).order_by("id"),
        "open_requests": ServiceRequest.objects.filter(
            station_id=fresh.station_id, status__in=writes.OPEN_REQUEST
        ).order_by("-created_at")[:50],
        "stations": Station.objects.filter(active=True).exclude(pk=fresh.station_id).order_by("id"),
        "form": form,
        "values": values or {},
        "errors": errors or {},
        "detail": detail,
    }
    return render(request, "console/intake_detail.html", context, status=status)


@page
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    return intake_page(request, _intake(request, pk))


ACCEPT_FIELDS = ("campaign", "starts_at", "ends_at", "slots", "title", "specialties", "address")


def _decide(request, pk: int, form: str, parse, decision, message):
    """Parse the form, run ``decision(intake, given)`` (one write of services/intake/writes.py)."""
    intake = _intake(request, pk)

    def write():
        return decision(intake, parse(request.POST))

    def done(result):
        target = (
            reverse("console:need", args=[result.request_id])
            if form == "accept" and result.request_id
            else reverse("console:intake")
        )
        return message(result), target

    def again(detail, errors, status):
        return intake_page(
            request,
            intake,
            form=form,
            values=request.POST,
            errors=errors,
            detail=detail,
            status=status,
        )

    return act(request, write, done=done, again=again)


@action
def accept(request: HttpRequest, pk: int) -> HttpResponse:
    """受理: accept_intake posts the need (create_request's rules)."""

    def parse(post):
        data = forms.text_data(
            post,
            (*ACCEPT_FIELDS, "share_phone"),
            times=("starts_at", "ends_at"),
            lists=("specialties",),
            blank=("address",),
            flags=("share_phone",),
        )
        given = forms.validated(AcceptInputSerializer, data)
        if "specialties" not in data:
            # None ticked: the intake's own kind, as when the API's body leaves the key out
            # (a text form reads a missing list as an empty one).
            given.pop("specialties", None)
        return given

    return _decide(
        request,
        pk,
        "accept",
        parse,
        lambda intake, given: writes.accept_intake(
            actor=request.user, intake_id=intake.pk, **given
        ),
        lambda result: f"群众点单 #{result.pk} 已受理，已生成需求 #{result.request_id}。",
    )


@action
def merge(request: HttpRequest, pk: int) -> HttpResponse:
    """合并: merge_intake into an open need of the station."""
    return _decide(
        request,
        pk,
        "merge",
        lambda post: forms.validated(MergeInputSerializer, forms.text_data(post, ("request",))),
        lambda intake, given: writes.merge_intake(
            actor=request.user, intake_id=intake.pk, request_id=given["request"].pk
        ),
        lambda result: f"群众点单 #{result.pk} 已并入需求 #{result.request_id}。",
    )


@action
def refer(request: HttpRequest, pk: int) -> HttpResponse:
    """转交: refer_intake to another station or to the office."""

    def parse(post):
        names = ("station", "office", "reason")
        data = forms.text_data(post, names, flags=("office",))
        return forms.validated(ReferInputSerializer, data)

    return _decide(
        request,
        pk,
        "refer",
        parse,
        lambda intake, given: writes.refer_intake(
            actor=request.user,
            intake_id=intake.pk,
            reason=given["reason"],
            station=given.get("station"),
            office=given.get("office", False),
        ),
        lambda result: (
            f"群众点单 #{result.pk} 已转交政协机关。"
            if result.status == IntakeStatus.REFERRED
            else f"群众点单 #{result.pk} 已转交“{result.station.name}”。"
        ),
    )


@action
def decline(request: HttpRequest, pk: int) -> HttpResponse:
    """不予受理: decline_intake with the reason the resident reads."""
    return _decide(
        request,
        pk,
        "decline",
        lambda post: forms.validated(
            IntakeDeclineInputSerializer, forms.text_data(post, ("reason",))
        ),
        lambda intake, given: writes.decline_intake(
            actor=request.user, intake_id=intake.pk, reason=given["reason"]
        ),
        lambda result: f"群众点单 #{result.pk} 已标记为不予受理。",
    )
