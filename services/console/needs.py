"""Needs (需求): my stations' needs by state, posting and editing one, a need's page.

Posting calls ``create_request`` and editing ``update_request`` (services/requests/writes.py)
with the input ``RequestInputSerializer`` / ``RequestUpdateSerializer`` parse, as
POST/PATCH requests/ do; the possible duplicates ``create_request`` finds are shown as a
warning after the post (the need is created anyway, as in the API).
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from members.models import Specialty
from members.pii import shown_name, viewer_of
from services.console import forms, teams
from services.console.access import act, form_page, one, page, scoped, station_ids
from services.models import Campaign, Claim, ServiceRecord, ServiceRequest
from services.requests.expiry import expire_overdue
from services.requests.serializers import RequestInputSerializer, RequestUpdateSerializer
from services.requests.writes import create_request, update_request
from stations.models import Station, Town, Village

Status = ServiceRequest.Status

# The state tabs of the list, in the order a manager works through them.
TABS = [
    Status.OPEN,
    Status.FULL,
    Status.IN_PROGRESS,
    Status.COMPLETED,
    Status.VERIFIED,
    Status.CANCELLED,
    Status.EXPIRED,
]

NEED_FIELDS = (
    "station",
    "village",
    "campaign",
    "title",
    "description",
    "specialties",
    "address",
    "starts_at",
    "ends_at",
    "slots",
    "contact_name",
    "contact_phone",
)
TEXTS = ("description", "address", "contact_name", "contact_phone")
TIMES = ("starts_at", "ends_at")
PAGE_ROWS = 100


def _stations(user):
    return scoped(Station.objects.filter(active=True), user, "id").order_by("id")


def _needs(user):
    return scoped(ServiceRequest.objects.all(), user)


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _month_span(text: str) -> tuple[datetime, datetime] | None:
    """``2026-03`` → its first instant and the next month's, Beijing time; else None."""
    match = _MONTH.match(text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    start = timezone.make_aware(datetime(year, month, 1))
    end = timezone.make_aware(datetime(year + month // 12, month % 12 + 1, 1))
    return start, end


def _filtered(request: HttpRequest, needs, stations) -> tuple[object, dict[str, str], list[str]]:
    """The list's filters from the query string (links from the dashboard use them): station,
    town, month (``YYYY-MM`` of the start) and ``unclaimed=1``. Unknown or out-of-reach values
    are dropped. Returns the needs, the filters kept and their labels."""
    kept: dict[str, str] = {}
    labels: list[str] = []
    station = request.GET.get("station", "")
    found = stations.filter(pk=int(station)).first() if station.isdigit() else None
    if found is not None:
        needs = needs.filter(station_id=found.pk)
        kept["station"], labels = station, [*labels, found.name]
    town = request.GET.get("town", "")
    found_town = (
        Town.objects.filter(pk=int(town), stations__in=stations).distinct().first()
        if town.isdigit()
        else None
    )
    if found_town is not None:
        needs = needs.filter(station__town_id=found_town.pk)
        kept["town"], labels = town, [*labels, found_town.name]
    month = request.GET.get("month", "")
    span = _month_span(month)
    if span is not None:
        needs = needs.filter(starts_at__gte=span[0], starts_at__lt=span[1])
        kept["month"] = month
        labels.append(f"{span[0]:%Y年%m月}开始")
    if request.GET.get("unclaimed") == "1":
        needs = needs.filter(claimed=0)
        kept["unclaimed"] = "1"
        labels.append("无人认领")
    return needs, kept, labels


@page
def index(request: HttpRequest) -> HttpResponse:
    """My stations' needs, one tab per state (staff: every station), with the filters."""
    expire_overdue()
    stations = _stations(request.user)
    needs, kept, labels = _filtered(request, _needs(request.user), stations)
    counts = dict(needs.values_list("status").annotate(n=Count("id")).order_by())
    status = request.GET.get("status", Status.OPEN)
    if status not in Status.values:
        status = Status.OPEN
    rows = (
        needs.filter(status=status)
        .select_related("station", "village", "campaign", "invited_team")
        .order_by("starts_at", "id")[:PAGE_ROWS]
    )
    context = {
        "page_rows": PAGE_ROWS,
        "tabs": [(s, Status(s).label, counts.get(s, 0)) for s in TABS],
        "status": status,
        "status_label": Status(status).label,
        "rows": rows,
        "stations": stations,
        "station": kept.get("station", ""),
        "kept": kept,
        "filter_query": urlencode(kept),
        "filter_labels": labels,
        "staff": station_ids(request.user) is None,
    }
    return render(request, "console/needs_list.html", context)


def _choices(user) -> dict:
    stations = list(_stations(user))
    today = timezone.localdate()
    return {
        "stations": stations,
        "villages": Village.objects.filter(active=True, station__in=stations)
        .select_related("station")
        .order_by("station_id", "name"),
        "campaigns": Campaign.objects.filter(ends_on__gte=today).order_by("starts_on", "id"),
        "specialties": Specialty.objects.filter(active=True).order_by("id"),
    }


def _form(request, *, need=None, values, errors=None, detail="", status=200) -> HttpResponse:
    context = {
        **_choices(request.user),
        "need": need,
        "values": values,
        "errors": errors or {},
        "detail": detail,
    }
    return render(request, "console/need_form.html", context, status=status)


def _posted_values(post) -> dict:
    values = {name: post.get(name, "") for name in NEED_FIELDS}
    values["specialties"] = post.getlist("specialties")
    return values


@form_page
def new(request: HttpRequest) -> HttpResponse:
    """GET: the form; POST: ``create_request``, then the need's page with any duplicates."""
    if request.method == "GET":
        stations = list(_stations(request.user))
        values = {"station": str(stations[0].pk) if len(stations) == 1 else "", "slots": "2"}
        return _form(request, values=values)

    def write():
        data = forms.text_data(
            request.POST, NEED_FIELDS, times=TIMES, lists=("specialties",), blank=TEXTS
        )
        return create_request(actor=request.user, **forms.validated(RequestInputSerializer, data))

    def done(created):
        need = created.request
        for duplicate in created.possible_duplicates:
            messages.warning(
                request,
                f"可能重复：需求 #{duplicate.id}“{duplicate.title}”"
                f"（相似度 {duplicate.similarity:.0%}，{Status(duplicate.status).label}），"
                "请核对是否为同一件事。",
            )
        return f"需求“{need.title}”已发布。", reverse("console:need", args=[need.pk])

    def again(detail, errors, status):
        values = _posted_values(request.POST)
        return _form(request, values=values, errors=errors, detail=detail, status=status)

    return act(request, write, done=done, again=again)


def _need_values(need: ServiceRequest) -> dict:
    return {
        "station": str(need.station_id),
        "village": str(need.village_id or ""),
        "campaign": str(need.campaign_id),
        "title": need.title,
        "description": need.description,
        "specialties": [str(pk) for pk in need.specialties.values_list("id", flat=True)],
        "address": need.address,
        "starts_at": forms.for_input(need.starts_at),
        "ends_at": forms.for_input(need.ends_at),
        "slots": str(need.slots),
        "contact_name": need.contact_name,
        "contact_phone": need.contact_phone,
    }


def _changes(need: ServiceRequest, given: dict) -> dict:
    """Only what the form changed, as a PATCH with those keys would send."""
    changes = {}
    for name, value in given.items():
        if name == "specialties":
            if {s.pk for s in value} != set(need.specialties.values_list("id", flat=True)):
                changes[name] = value
        elif name == "campaign":
            if value.pk != need.campaign_id:
                changes[name] = value
        elif name in TIMES:
            # The form shows times to the minute: the same minute is no change.
            if forms.for_input(getattr(need, name)) != forms.for_input(value):
                changes[name] = value
        elif getattr(need, name) != value:
            changes[name] = value
    return changes


EDIT_FIELDS = tuple(name for name in NEED_FIELDS if name not in ("station", "village"))


@form_page
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the need's form; POST: ``update_request`` with what changed."""
    need = one(ServiceRequest.objects.select_related("station", "village"), request.user, pk)
    if request.method == "GET":
        return _form(request, need=need, values=_need_values(need))

    def write():
        data = forms.text_data(
            request.POST, EDIT_FIELDS, times=TIMES, lists=("specialties",), blank=TEXTS
        )
        given = forms.validated(RequestUpdateSerializer, data)
        # Every box unticked clears them (a partial text form would read it as left out).
        given.setdefault("specialties", [])
        return update_request(actor=request.user, request_id=need.pk, changes=_changes(need, given))

    def done(updated):
        return f"需求“{updated.title}”已保存。", reverse("console:need", args=[updated.pk])

    def again(detail, errors, status):
        values = {**_posted_values(request.POST), "station": str(need.station_id)}
        values["village"] = str(need.village_id or "")
        return _form(request, need=need, values=values, errors=errors, detail=detail, status=status)

    return act(request, write, done=done, again=again)


def need_page(request, need: ServiceRequest, *, invite=None, status=200) -> HttpResponse:
    """The need, its claims, its records and the ranked teams (with an invite form)."""
    viewer = viewer_of(request.user)
    claims = [
        {
            "claim": claim,
            "name": shown_name(viewer, claim.member.user_id, claim.member.user.name),
            "team": claim.team.name if claim.team else "",
        }
        for claim in Claim.objects.filter(request=need)
        .select_related("member__user", "team")
        .order_by("id")
    ]
    context = {
        "need": need,
        "specialties": need.specialties.order_by("id"),
        "claims": claims,
        "records": ServiceRecord.objects.filter(request=need).order_by("-version"),
        "editable": need.status in (Status.OPEN, Status.FULL),
        **teams.ranked(request, need, invite=invite),
    }
    return render(request, "console/need_detail.html", context, status=status)


@page
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One need of the user's stations (another station's: 404)."""
    expire_overdue(request_ids=[pk])
    need = one(
        ServiceRequest.objects.select_related("station", "village", "campaign", "invited_team"),
        request.user,
        pk,
    )
    return need_page(request, need)
