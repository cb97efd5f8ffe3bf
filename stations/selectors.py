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
