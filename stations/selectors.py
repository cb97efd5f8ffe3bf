"""Reads of geography: what each user may see."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from accounts.permissions import is_staff
from stations.models import Station, Town, Village


def town_list(*, user: User) -> QuerySet[Town]:
    """Towns visible to ``user``: staff see inactive ones too."""
    towns = Town.objects.all()
    return towns if is_staff(user) else towns.filter(active=True)


def village_list(*, user: User) -> QuerySet[Village]:
    """Villages visible to ``user``, with their liaisons loaded."""
    villages = Village.objects.prefetch_related("liaisons")
    return villages if is_staff(user) else villages.filter(active=True)


def station_list(*, user: User) -> QuerySet[Station]:
    """Stations visible to ``user``, with their managers loaded."""
    stations = Station.objects.prefetch_related("managers")
    return stations if is_staff(user) else stations.filter(active=True)


def stations_managed(*, user: User) -> QuerySet[Station]:
    """The active stations ``user`` manages."""
    return Station.objects.filter(managers=user, active=True).order_by("id")


def villages_liaised(*, user: User) -> QuerySet[Village]:
    """The active villages ``user`` is liaison of."""
    return Village.objects.filter(liaisons=user, active=True).order_by("id")


def managed_station_ids(user: User) -> set[int]:
    """Stations ``user`` manages (empty unless they hold the manager role)."""
    if not (user.is_authenticated and user.is_station_manager):
        return set()
    return set(Station.objects.filter(managers=user).values_list("id", flat=True))


def manages_station(user: User, station_id: int) -> bool:
    """Whether ``user`` holds the manager role and manages that station."""
    return bool(
        user.is_authenticated
        and user.is_station_manager
        and Station.managers.through.objects.filter(station_id=station_id, user_id=user.pk).exists()
    )
