"""The staff dashboard (/dashboard/): session login with the API's accounts, one page of figures.

Staff and station managers only (a manager sees the towns of their stations, as in the API).
Every figure comes from ``stats.selectors`` (and the leaderboard from ``records.points``), the
same functions the API calls, so the page and the API never disagree.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.errors import ApplicationError
from accounts.throttles import client_address, hit
from members.pii import viewer_of
from services.enterprises import figures as enterprise_figures
from services.models import Campaign
from services.records import points
from services.records.hours import as_hours
from services.stats import exports, panels
from services.stats import selectors as stats
from services.stats.serializers import ExportQuerySerializer, StatsQuerySerializer
from stations.models import Town

app_name = "dashboard"

LOGIN_URL = "dashboard:login"


class DashboardLoginForm(AuthenticationForm):
    """The admin's login form, open to staff and station managers only."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "用户名或密码错误，或账号已停用。",
        "not_allowed": "统计看板仅对政协机关工作人员和驿站/工作室管理员开放。",
        "throttled": "登录尝试过于频繁，请一分钟后再试。",
    }

    def clean(self):
        self._check_rate()
        return super().clean()

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not stats.can_read_stats(user):
            raise ValidationError(self.error_messages["not_allowed"], code="not_allowed")

    def _check_rate(self) -> None:
        # The same per-client rate as the API's password login (THROTTLE_LOGIN), the client and
        # the count as the API's throttles have them (behind nginx REMOTE_ADDR is nginx's).
        count, period = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"].split("/")
        allowed, seconds = int(count), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
        address = client_address(self.request) if self.request else ""
        if hit(cache, f"dashboard-login:{address}", allowed, seconds, time.time()) is not None:
            raise ValidationError(self.error_messages["throttled"], code="throttled")


class LoginView(auth_views.LoginView):
    """GET: the form; POST: sign in and go to the dashboard."""

    template_name = "dashboard/login.html"
    authentication_form = DashboardLoginForm
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return reverse("dashboard:index")


class LogoutView(auth_views.LogoutView):
    """POST only (Django's rule): sign out and back to the login page."""

    def get_success_url(self):
        return reverse(LOGIN_URL)


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/forbidden.html", status=403)


def _reader(view):
    """Signed-in staff and managers; others to the login page, or a 403 page."""

    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(f"{reverse(LOGIN_URL)}?next={quote(request.get_full_path())}")
        if not stats.can_read_stats(request.user):
            return _forbidden(request)
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _filters(request: HttpRequest, serializer_class=StatsQuerySerializer):
    """The page's filters from the query string; bad ones are reported and dropped."""
    query = serializer_class(data=request.GET)
    problems: list[str] = []
    data: dict = {}
    if query.is_valid():
        data = dict(query.validated_data)
    else:
        problems = [f"{name}：{messages[0]}" for name, messages in query.errors.items()]
    try:
        filters = _resolve(request, data)
    except ApplicationError as exc:
        problems.append(str(exc.detail))
        filters = stats.resolve_filters(user=request.user)
    return filters, data, problems


def _resolve(request: HttpRequest, data: dict) -> stats.StatsFilter:
    """resolve_filters with the parsed query (its filter keys are taken out of ``data``)."""
    return stats.resolve_filters(
        user=request.user,
        date_from=data.pop("date_from", None),
        date_to=data.pop("date_to", None),
        town=data.pop("town", None),
        campaign_kind=data.pop("campaign_kind", None),
    )


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} 分"


def _hours(value: float | None) -> str:
    """Hours to one decimal, the API's HoursField format ("4.0", "51.9"); "—" for none."""
    return "—" if value is None else f"{round(value, 1):.1f}"


def _change_text(change: dict | None, *, points: bool = False) -> str:
    """较上期 +12（+24.0%）, 较上期 持平, or "" when there is nothing to compare."""
    if change is None:
        return ""
    delta = change["delta"]
    if not delta:
        return "较上期 持平"
    if points:
        return f"较上期 {delta * 100:+.1f} 个百分点"
    shown = f"{delta:+.1f}" if isinstance(delta, float) else f"{delta:+d}"
    if change["percent"] is None:
        return f"较上期 {shown}"
    return f"较上期 {shown}（{change['percent']:+.1f}%）"


def _kpis(summary: stats.Summary, before: stats.Summary) -> list[dict]:
    """The tiles: key, label, value, unit, and the change against the previous period."""

    def tile(key, label, value, unit="", now=None, then=None, points=False):
        found = panels.change(now, then)
        return {
            "key": key,
            "label": label,
            "value": value,
            "unit": unit if value != "—" else "",
            "change": found,
            "change_text": _change_text(found, points=points),
        }

    hours_now, hours_then = as_hours(summary.service_minutes), as_hours(before.service_minutes)
    sat, sat_then = summary.satisfaction, before.satisfaction
    return [
        tile(
            "people_served",
            "服务群众人次",
            summary.people_served,
            "人次",
            summary.people_served,
            before.people_served,
        ),
        tile(
            "enterprises_served",
            "服务企业",
            summary.enterprises_served,
            "家",
            summary.enterprises_served,
            before.enterprises_served,
        ),
        tile(
            "households_visited",
            "走访户数",
            summary.households_visited,
            "户",
            summary.households_visited,
            before.households_visited,
        ),
        tile(
            "participations",
            "委员参与",
            summary.participations,
            "人次",
            summary.participations,
            before.participations,
        ),
        tile("service_hours", "核实服务时长", _hours(hours_now), "小时", hours_now, hours_then),
        tile(
            "active_members",
            "参与委员",
            summary.active_members,
            "人",
            summary.active_members,
            before.active_members,
        ),
        tile(
            "records_verified",
            "已核实服务",
            summary.records_verified,
            "次",
            summary.records_verified,
            before.records_verified,
        ),
        tile(
            "requests_posted",
            "期内需求",
            summary.requests_posted,
            "项",
            summary.requests_posted,
            before.requests_posted,
        ),
        tile(
            "completion_rate",
            "需求完成率",
            _percent(summary.completion_rate),
            "",
            summary.completion_rate,
            before.completion_rate,
            points=True,
        ),
        tile(
            "median_hours_to_claim",
            "认领用时（中位）",
            _hours(summary.median_hours_to_claim),
            "小时",
        ),
        tile(
            "median_hours_to_verify",
            "核实用时（中位）",
            _hours(summary.median_hours_to_verify),
            "小时",
        ),
        # Residents' ratings (评单, docs/intake.md).
        tile(
            "satisfaction_share",
            "群众满意率",
            _percent(sat["share_4_5"]),
            "",
            sat["share_4_5"],
            sat_then["share_4_5"],
            points=True,
        ),
        tile("satisfaction_mean", "平均评分", _score(sat["mean"])),
        tile(
            "satisfaction_ratings",
            "群众评价",
            sat["ratings"],
            "条",
            sat["ratings"],
            sat_then["ratings"],
        ),
        tile(
            "people_served_confirmed",
            "群众确认服务",
            summary.people_served_confirmed,
            "人次",
            summary.people_served_confirmed,
            before.people_served_confirmed,
        ),
    ]


def _scope_label(filters: stats.StatsFilter, town: Town | None) -> str:
    """What the figures cover: the town asked for, the manager's towns, or the district."""
    if town is not None:
        return town.name
    return "全区" if filters.town_ids is None else "所管驿站所在镇街"


def _period_query(request: HttpRequest, start, end) -> str:
    """The page's query string with the period replaced (town and kind kept)."""
    query = request.GET.copy()
    query["from"], query["to"] = f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}"
    return query.urlencode()


@require_GET
@_reader
def index(request: HttpRequest) -> HttpResponse:
    """KPI tiles against the previous period, charts per 三暖 kind, town (or the town's
    stations) and month, campaign targets, unclaimed, leaders and the map; every panel follows
    the filters."""
    filters, _, problems = _filters(request)
    town = Town.objects.filter(pk=filters.town_id).first()
    summary = stats.stats_summary(filters=filters)
    before_filters = panels.previous_filters(filters)
    before = stats.stats_summary(filters=before_filters)
    # A town asked for: its stations; else the towns.
    by_station = town is not None
    places = stats.stats_breakdown(
        filters=filters, by=stats.BY_STATION if by_station else stats.BY_TOWN
    )
    for row in places:
        row["link"] = panels.console_needs(**{"station" if by_station else "town": row["key"]})
    months = stats.stats_breakdown(filters=filters, by=stats.BY_MONTH)
    for row in months:
        row["link"] = panels.console_needs(town=filters.town_id, month=row["key"])
    now = timezone.now()
    unclaimed = stats.unclaimed_requests(
        user=request.user,
        hours=settings.STATS_UNCLAIMED_HOURS,
        town=town,
        campaign_kind=filters.campaign_kind,
        now=now,
    )
    unclaimed_rows = [
        {
            "request": r,
            "link": panels.CONSOLE_NEED.format(pk=r.pk),
        }
        for r in unclaimed[: settings.DASHBOARD_UNCLAIMED_ROWS]
    ]
    leaders = points.leaderboard(
        viewer=viewer_of(request.user),
        period=points.Period(start=filters.date_from, end=filters.date_to),
        town_ids=stats.towns_in(filters),
        campaign_kind=filters.campaign_kind,
        limit=settings.DASHBOARD_LEADERBOARD_SIZE,
    )
    town_choices = Town.objects.order_by("id")
    if filters.town_ids is not None:
        town_choices = town_choices.filter(pk__in=filters.town_ids)
    scope_label = _scope_label(filters, town)
    quick = [
        {
            **p,
            "query": _period_query(request, p["from"], p["to"]),
            "active": (p["from"], p["to"]) == (filters.date_from, filters.date_to),
        }
        for p in panels.quick_periods()
    ]
    kind_label = dict(Campaign.Kind.choices).get(filters.campaign_kind, "")
    context = {
        "filters": filters,
        "problems": problems,
        "summary": summary,
        "kpis": _kpis(summary, before),
        "before": before_filters,
        "quick_periods": quick,
        "places": places,
        "by_station": by_station,
        "months": months,
        "campaigns": [
            {**c, "percent": min(100.0, (c["progress"] or 0) * 100)} for c in summary.campaigns
        ],
        "unclaimed": unclaimed_rows,
        "unclaimed_count": unclaimed.count(),
        "unclaimed_link": panels.console_needs(town=filters.town_id, status="open", unclaimed="1"),
        "unclaimed_hours": settings.STATS_UNCLAIMED_HOURS,
        "leaders": leaders,
        "town_choices": town_choices,
        "kind_choices": Campaign.Kind.choices,
        "kind_label": kind_label,
        "all_label": "全区" if filters.town_ids is None else "所管驿站所在镇街",
        "scope_label": scope_label,
        "export_query": request.GET.urlencode(),
        "now": now,
        "map": panels.map_panel(filters),
        "chart_data": {
            "kinds": {
                "keys": [row["kind"] for row in summary.by_kind],
                "labels": [row["label"] for row in summary.by_kind],
                "values": [row["people_served"] for row in summary.by_kind],
            },
            "places": {
                "by": stats.BY_STATION if by_station else stats.BY_TOWN,
                "labels": [row["label"] for row in places],
                "values": [row["people_served"] for row in places],
                "links": [row["link"] for row in places],
            },
            "months": {
                "labels": [row["label"] for row in months],
                "values": [row["people_served"] for row in months],
                "participations": [row["participations"] for row in months],
                "links": [row["link"] for row in months],
            },
        },
    }
    context.update(enterprise_figures.panel_context(filters))
    return render(request, "dashboard/index.html", context)


@require_GET
@_reader
def export(request: HttpRequest) -> HttpResponse:
    """The API's export for the signed-in dashboard user (session instead of a token)."""
    query = ExportQuerySerializer(data=request.GET)
    if not query.is_valid():
        return redirect(reverse("dashboard:index"))
    data = dict(query.validated_data)
    try:
        filters = _resolve(request, data)
        body, content_type, name = exports.export_file(filters=filters, **data)
    except ApplicationError as exc:
        return render(
            request,
            "dashboard/forbidden.html",
            {"message": str(exc.detail)},
            status=exc.status_code,
        )
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


urlpatterns = [
    path("", index, name="index"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("export/", export, name="export"),
]
