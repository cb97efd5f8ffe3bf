"""暖企 figures per town, industry, key-project flag or month, computed by the database.

For a period (Asia/Shanghai days): enterprises on the books, enterprises covered (visited at
least once in the period), visits and the verified ones (their record verified: what counts
in enterprises served and hours), 诉求 raised, 办结 among them, the 办结率, the median time
to 办结 (hours), the overdue ones (open past their due date today) and satisfaction (mean
score, ratings). The median is read by the database too: per group, the middle rows of the
resolved 诉求 in resolve-time order (``OFFSET``), never by loading them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Avg, Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.utils import timezone

from services.models import Enterprise, EnterpriseAppeal, EnterpriseVisit, ServiceRecord
from services.stats.selectors import SHANGHAI, StatsFilter

BY_CHOICES = ("town", "industry", "key_project", "month")


@dataclass
class Figures:
    key: str
    label: str
    enterprises: int = 0
    covered: int = 0
    visits: int = 0
    verified_visits: int = 0
    appeals: int = 0
    resolved: int = 0
    resolution_rate: float | None = None
    median_hours_to_resolve: float | None = None
    overdue: int = 0
    ratings: int = 0
    satisfaction: float | None = None


def _scoped(rows: QuerySet, filters: StatsFilter, prefix: str) -> QuerySet:
    if filters.town_ids is not None:
        rows = rows.filter(**{f"{prefix}town_id__in": filters.town_ids})
    if filters.town_id is not None:
        rows = rows.filter(**{f"{prefix}town_id": filters.town_id})
    return rows


def _group(by: str, prefix: str, *, moment: str) -> tuple[str, dict]:
    """The grouping expression (its alias ``g``) for a table reached through ``prefix``."""
    if by == "month":
        return "g", {"g": TruncMonth(moment, tzinfo=SHANGHAI)}
    field = {"town": "town_id", "industry": "industry", "key_project": "key_project"}[by]
    return "g", {"g": F(prefix + field)}


def _key(by: str, value) -> str:
    if by == "month":
        return f"{value:%Y-%m}" if value else ""
    if by == "key_project":
        return "1" if value else "0"
    return "" if value is None else str(value)


def _label(by: str, value, towns: dict[int, str]) -> str:
    if by == "town":
        return towns.get(value, "")
    if by == "industry":
        return value or "未填行业"
    if by == "key_project":
        return "重点项目企业" if value else "其他企业"
    return f"{value:%Y年%m月}" if value else ""


def _median_hours(rows: QuerySet) -> float | None:
    count = rows.count()
    if not count:
        return None
    ordered = rows.order_by("resolve_seconds").values_list("resolve_seconds", flat=True)
    middle = list(ordered[(count - 1) // 2 : count // 2 + 1])
    return round(sum(middle) / len(middle) / 3600, 1)


def enterprise_figures(
    filters: StatsFilter, *, by: str, today: date | None = None
) -> list[Figures]:
    """One row per group with anything to show, in key order."""
    today = today or timezone.localdate()
    verified = ServiceRecord.objects.filter(
        request_id=OuterRef("request_id"), status=ServiceRecord.Status.VERIFIED
    )
    visits = _scoped(
        EnterpriseVisit.objects.filter(visited_at__gte=filters.starts, visited_at__lt=filters.ends),
        filters,
        "enterprise__",
    )
    alias, group = _group(by, "enterprise__", moment="visited_at")
    visit_rows = (
        visits.annotate(**group, verified=Exists(verified))
        .values(alias)
        .annotate(
            visits=Count("id"),
            covered=Count("enterprise_id", distinct=True),
            verified_visits=Count("id", filter=Q(verified=True)),
        )
    )
    appeals = _scoped(
        EnterpriseAppeal.objects.filter(
            created_at__gte=filters.starts, created_at__lt=filters.ends
        ),
        filters,
        "enterprise__",
    )
    alias, group = _group(by, "enterprise__", moment="created_at")
    appeal_rows = (
        appeals.annotate(**group)
        .values(alias)
        .annotate(
            appeals=Count("id"),
            resolved=Count("id", filter=Q(status__in=EnterpriseAppeal.DONE)),
            overdue=Count("id", filter=Q(status__in=EnterpriseAppeal.OPEN, due_on__lt=today)),
            ratings=Count("id", filter=Q(status=EnterpriseAppeal.Status.RATED)),
            satisfaction=Avg("score", filter=Q(status=EnterpriseAppeal.Status.RATED)),
        )
    )
    out: dict[str, Figures] = {}
    towns = dict(Enterprise.objects.values_list("town_id", "town__name").distinct())

    def row(value) -> Figures:
        key = _key(by, value)
        if key not in out:
            out[key] = Figures(key=key, label=_label(by, value, towns))
        return out[key]

    if by != "month":
        alias, group = _group(by, "", moment="created_at")
        books = _scoped(Enterprise.objects.filter(active=True), filters, "")
        for item in books.annotate(**group).values(alias).annotate(n=Count("id")):
            row(item["g"]).enterprises = item["n"]
    for item in visit_rows:
        figures = row(item["g"])
        figures.visits, figures.covered = item["visits"], item["covered"]
        figures.verified_visits = item["verified_visits"]
    for item in appeal_rows:
        figures = row(item["g"])
        figures.appeals, figures.resolved = item["appeals"], item["resolved"]
        figures.overdue, figures.ratings = item["overdue"], item["ratings"]
        if item["satisfaction"] is not None:
            figures.satisfaction = round(item["satisfaction"], 2)
        if figures.appeals:
            figures.resolution_rate = round(figures.resolved / figures.appeals, 4)
        resolved = appeals.filter(status__in=EnterpriseAppeal.DONE, resolve_seconds__isnull=False)
        alias, group = _group(by, "enterprise__", moment="created_at")
        figures.median_hours_to_resolve = _median_hours(
            resolved.annotate(**group).filter(g=item["g"])
        )
    return [out[key] for key in sorted(out)]


def totals(filters: StatsFilter, *, today: date | None = None) -> Figures:
    """The whole period in one row (the dashboard panel's figures)."""
    rows = enterprise_figures(filters, by="key_project", today=today)
    total = Figures(key="all", label="全部企业")
    for item in rows:
        for name in ("enterprises", "covered", "visits", "verified_visits", "appeals",
                     "resolved", "overdue", "ratings"):  # fmt: skip
            setattr(total, name, getattr(total, name) + getattr(item, name))
    if total.appeals:
        total.resolution_rate = round(total.resolved / total.appeals, 4)
    rated = [item for item in rows if item.satisfaction is not None]
    if rated:
        total.satisfaction = round(
            sum(item.satisfaction * item.ratings for item in rated)
            / sum(item.ratings for item in rated),
            2,
        )
    appeals = _scoped(
        EnterpriseAppeal.objects.filter(
            created_at__gte=filters.starts,
            created_at__lt=filters.ends,
            status__in=EnterpriseAppeal.DONE,
            resolve_seconds__isnull=False,
        ),
        filters,
        "enterprise__",
    )
    total.median_hours_to_resolve = _median_hours(appeals)
    return total


def panel_context(filters: StatsFilter) -> dict:
    """What ``dashboard/_enterprises_panel.html`` shows: the totals and the towns."""
    return {
        "enterprise_totals": totals(filters),
        "enterprise_towns": enterprise_figures(filters, by="town"),
    }


SHEETS = {"town": "按镇街", "industry": "按行业", "key_project": "按重点项目", "month": "按月份"}
HEADERS = {
    "enterprises": "在册企业",
    "covered": "走访覆盖企业",
    "visits": "走访次数",
    "verified_visits": "已核实走访",
    "appeals": "诉求数",
    "resolved": "已办结",
    "resolution_rate": "办结率",
    "median_hours_to_resolve": "办结用时中位数（小时）",
    "overdue": "超期未办结",
    "ratings": "企业评价数",
    "satisfaction": "平均评分",
}


def export_workbook(filters: StatsFilter) -> bytes:
    """The 暖企 workbook: one sheet per grouping, in the statistics exports' format."""
    from services.stats.exports import Table, to_xlsx

    rate_column = 1 + list(HEADERS).index("resolution_rate")
    tables = [
        Table(
            name=title,
            headers=[
                {"town": "镇/街道", "industry": "行业", "key_project": "类别", "month": "月份"}[by],
                *HEADERS.values(),
            ],
            rows=[
                [item.label, *(getattr(item, name) for name in HEADERS)]
                for item in enterprise_figures(filters, by=by)
            ],
            percent_columns=(rate_column,),
        )
        for by, title in SHEETS.items()
    ]
    return to_xlsx(tables)
