"""The demo's campaigns (三暖) and what their requests are called.

Every demo request, past or coming, belongs to a campaign of its kind whose period holds its
day (the rule ``create_request`` checks), so the campaigns come first. 2026's three are the
district's plan; another year gets the same three under its name, running the whole year, so
the demo works on any date. ``TITLES`` are the needs each kind posts, shared by the demo
requests and the history so both read alike.
"""

from __future__ import annotations

from datetime import date

from services.models import Campaign

Kind = Campaign.Kind
KINDS = [Kind.WARM_ENTERPRISE, Kind.WARM_VILLAGE, Kind.WARM_HEART]

# (kind, name, starts, ends, target_served) for 2026.
CAMPAIGNS_2026: list[tuple[str, str, date, date, int]] = [
    (Kind.WARM_ENTERPRISE, "2026 暖企专员·助企服务行动", date(2026, 1, 1), date(2026, 12, 31), 600),
    (Kind.WARM_VILLAGE, "2026 暖岙·三下乡服务", date(2026, 3, 1), date(2026, 12, 31), 1200),
    (Kind.WARM_HEART, "2026 促共富“暖心”主题服务", date(2026, 1, 1), date(2026, 12, 31), 800),
]

# Titles per kind, with the specialties they want; {place} is the village (or the town).
TITLES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    Kind.WARM_ENTERPRISE: [
        ("{place}小微企业政策宣讲", ("enterprise", "finance")),
        ("{place}企业融资对接会", ("finance",)),
        ("走访{place}园区企业解难题", ("enterprise", "law")),
        ("{place}企业用工法律体检", ("law", "social_security")),
    ],
    Kind.WARM_VILLAGE: [
        ("送法律进{place}", ("law",)),
        ("送医卫进{place}：健康义诊", ("medical", "elderly_care")),
        ("送科技下乡：{place}农技讲座", ("agritech", "fishery")),
        ("{place}渔民安全生产普法", ("law", "fishery")),
    ],
    Kind.WARM_HEART: [
        ("{place}暖心服务月：老人健康体检", ("medical", "elderly_care")),
        ("{place}青少年心理关爱", ("psychology", "education")),
        ("{place}养老服务咨询", ("elderly_care", "social_security")),
        ("{place}文化惠民进驿站", ("culture",)),
    ],
}


def plans_of(year: int) -> list[tuple[str, str, date, date, int]]:
    """2026's campaigns as planned; another year's, the same three under that year's name,
    running the whole year (so a demo request of any day of it finds one)."""
    if year == 2026:
        return list(CAMPAIGNS_2026)
    return [
        (kind, name.replace("2026", str(year)), date(year, 1, 1), date(year, 12, 31), target)
        for kind, name, _, _, target in CAMPAIGNS_2026
    ]


def seed_campaigns(*, first: date, last: date) -> dict[str, Campaign]:
    """The campaigns of 2026 and of every year from ``first`` to ``last``, found by name or
    made; the 2026 one of each kind, by kind."""
    found: dict[str, Campaign] = {}
    for year in sorted({2026, *range(first.year, last.year + 1)}, key=lambda y: (y != 2026, y)):
        for kind, name, starts, ends, target in plans_of(year):
            campaign, _ = Campaign.objects.get_or_create(
                name=name,
                defaults={
                    "kind": kind,
                    "starts_on": starts,
                    "ends_on": ends,
                    "target_served": target,
                },
            )
            found.setdefault(kind, campaign)
    return found


def campaign_for(kind: str, day: date) -> Campaign | None:
    """The earliest campaign of ``kind`` whose period holds ``day``."""
    return (
        Campaign.objects.filter(kind=kind, starts_on__lte=day, ends_on__gte=day)
        .order_by("starts_on", "id")
        .first()
    )
