"""Query filters of specialties, teams and members (django-filter)."""

from __future__ import annotations

from django.db.models import Q

from members.models import Member, Specialty, Team
from members.pii import sees_name, viewer_of
from stations.filters import BooleanFilter, IdFilter, StrictFilterSet, text_filter


class SpecialtyFilter(StrictFilterSet):
    """``?active=``."""

    active = BooleanFilter()

    class Meta:
        model = Specialty
        fields = ["active"]


class TeamFilter(StrictFilterSet):
    """``?sector=&home_town=&specialty=&active=``."""

    sector = text_filter(max_length=50, help_text="界别")
    home_town = IdFilter(field_name="home_town_id", help_text="所在镇街 id")
    specialty = IdFilter(field_name="specialties", distinct=True, help_text="专长 id")
    active = BooleanFilter()

    class Meta:
        model = Team
        fields = ["sector", "home_town", "specialty", "active"]


class MemberFilter(StrictFilterSet):
    """``?team=&sector=&specialty=&active=&search=``.

    ``search`` matches what the viewer may see in full (members.pii): staff search names and
    phones, station managers names, everyone else only sector and team name. Otherwise a
    search for a full name or number would reveal what masking hides.
    """

    team = IdFilter(field_name="team_id", help_text="团队 id")
    sector = text_filter(max_length=50, help_text="界别")
    specialty = IdFilter(field_name="specialties", distinct=True, help_text="专长 id")
    active = BooleanFilter()
    search = text_filter(
        method="filter_search",
        max_length=50,
        help_text="搜索（可见范围内的姓名、手机号、界别、团队）",
    )

    class Meta:
        model = Member
        fields = ["team", "sector", "specialty", "active"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        viewer = viewer_of(getattr(self.request, "user", None))
        query = Q(sector__icontains=value) | Q(team__name__icontains=value)
        if sees_name(viewer, None):
            query |= Q(name__icontains=value)
        if viewer.staff:
            query |= Q(phone__contains=value)
        return queryset.filter(query)
