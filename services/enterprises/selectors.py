"""Who sees which enterprise, its current 暖企专员, and a member's own enterprises.

Staff see every enterprise; a station manager sees the enterprises its stations serve (read
only: managers verify the visits of those stations, they do not steer the pairing); a member
sees the enterprises they are a current 专员 of. Everyone else sees none.
"""

from __future__ import annotations

from datetime import date

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from accounts.permissions import is_staff
from services.models import Enterprise, EnterpriseAppeal, EnterpriseLiaison
from stations.selectors import managed_station_ids


def current(today: date | None = None) -> Q:
    """The pairings in force on ``today``: not replaced, and inside their period."""
    today = today or timezone.localdate()
    return Q(ended_at__isnull=True, starts_on__lte=today) & (
        Q(ends_on__isnull=True) | Q(ends_on__gte=today)
    )


def current_liaisons(enterprise_id: int) -> QuerySet[EnterpriseLiaison]:
    return (
        EnterpriseLiaison.objects.filter(current(), enterprise_id=enterprise_id)
        .select_related("member__user")
        .order_by("-role", "id")  # the lead first ("lead" > "deputy")
    )


def current_liaison_users(enterprise_id: int) -> list[User]:
    return [row.member.user for row in current_liaisons(enterprise_id)]


def is_current_liaison(user: User, enterprise_id: int) -> bool:
    return EnterpriseLiaison.objects.filter(
        current(), enterprise_id=enterprise_id, member__user=user, member__active=True
    ).exists()


def may_steer(user: User, enterprise_id: int) -> bool:
    """Staff and the enterprise's current 专员 move its 诉求."""
    return is_staff(user) or is_current_liaison(user, enterprise_id)


def visible(user: User) -> QuerySet[Enterprise]:
    """The enterprises ``user`` may read."""
    rows = Enterprise.objects.select_related("town", "station")
    if is_staff(user):
        return rows
    if not user.is_authenticated:
        return rows.none()
    rule = Q(
        pk__in=EnterpriseLiaison.objects.filter(current(), member__user=user).values(
            "enterprise_id"
        )
    )
    stations = managed_station_ids(user) if user.is_station_manager else set()
    if stations:
        rule |= Q(station_id__in=stations)
    return rows.filter(rule)


def with_progress(rows: QuerySet[Enterprise]) -> QuerySet[Enterprise]:
    """Each enterprise with its last visit (by anyone) and its open 诉求."""
    return rows.annotate(
        last_visit_at=Max("visits__visited_at"),
        open_appeals=Count(
            "appeals", filter=Q(appeals__status__in=EnterpriseAppeal.OPEN), distinct=True
        ),
    )


def my_enterprises(user: User) -> QuerySet[Enterprise]:
    """The member's current enterprises (我的企业), with the last visit and open 诉求."""
    ids = EnterpriseLiaison.objects.filter(current(), member__user=user).values("enterprise_id")
    return with_progress(
        Enterprise.objects.select_related("town", "station").filter(pk__in=ids, active=True)
    ).order_by("name", "id")


def appeals_visible(user: User) -> QuerySet[EnterpriseAppeal]:
    return EnterpriseAppeal.objects.select_related("enterprise").filter(
        enterprise__in=visible(user).values("pk")
    )
