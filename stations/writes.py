"""Every write of geography: towns, villages, stations. One transaction and one Event each.

Nothing here deletes: rows other rows refer to are deactivated (``active=False``) instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import IntegrityError, models, transaction

from accounts.audit import record_event
from accounts.models import User
from accounts.permissions import is_staff
from stations.errors import DuplicateCode, DuplicateName, StationFieldNotEditable
from stations.geo import Point
from stations.models import Station, Town, Village

# What a station manager may change on a station they manage; the rest is staff's.
MANAGER_EDITABLE_STATION_FIELDS = frozenset({"address", "point"})


def jsonable(changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` made fit for an Event payload (points as lat/lng, rows as ids)."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if isinstance(value, Point):
            out[key] = {"lat": value.lat, "lng": value.lng}
        elif isinstance(value, models.Model):
            out[key] = value.pk
        elif isinstance(value, (list, tuple, set, frozenset)):
            out[key] = sorted(item.pk if isinstance(item, models.Model) else item for item in value)
        else:
            out[key] = value
    return out


def _apply(obj: models.Model, changes: Mapping[str, Any], *, point_fields=("lat", "lng")) -> None:
    """Set plain fields of ``changes`` on ``obj``; a Point sets both coordinates."""
    for key, value in changes.items():
        if key == "point":
            setattr(obj, point_fields[0], value.lat if value else None)
            setattr(obj, point_fields[1], value.lng if value else None)
        elif not isinstance(value, (list, tuple, set, frozenset)):
            setattr(obj, key, value)


def save_unique(obj: models.Model, *, duplicate: type[Exception], message: str) -> None:
    """Save ``obj``; a unique constraint the database refuses becomes ``duplicate``."""
    # The savepoint keeps the outer transaction usable on PostgreSQL after the failure; the
    # database, not a prior SELECT, decides, so two concurrent creates cannot both win.
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        raise duplicate(message, fields={"name": [message]}) from exc


def _save_town(town: Town) -> None:
    try:
        with transaction.atomic():
            town.save()
    except IntegrityError as exc:
        if town.code and Town.objects.filter(code=town.code).exclude(pk=town.pk).exists():
            message = f"行政区划代码“{town.code}”已被其他镇街使用。"
            raise DuplicateCode(message, fields={"code": [message]}) from exc
        message = f"镇街“{town.name}”已存在。"
        raise DuplicateName(message, fields={"name": [message]}) from exc


def _grant(users: Iterable[User], flag: str) -> None:
    """Give users the role a station or village assignment implies (never taken away here)."""
    ids = [user.pk for user in users if not getattr(user, flag)]
    if ids:
        User.objects.filter(pk__in=ids).update(**{flag: True})


@transaction.atomic
def town_create(
    *,
    actor: User,
    name: str,
    point: Point,
    kind: str = Town.Kind.SUBDISTRICT,
    code: str = "",
    active: bool = True,
) -> Town:
    """Create a town (镇/街道)."""
    town = Town(name=name, kind=kind, code=code, lat=point.lat, lng=point.lng, active=active)
    _save_town(town)
    record_event(actor=actor, verb="town.created", obj=town, payload={"name": name})
    return town


@transaction.atomic
def town_update(*, actor: User, town: Town, changes: Mapping[str, Any]) -> Town:
    """Change a town's fields; ``active=False`` deactivates it."""
    _apply(town, changes)
    _save_town(town)
    record_event(actor=actor, verb="town.updated", obj=town, payload=jsonable(changes))
    return town


@transaction.atomic
def village_create(
    *,
    actor: User,
    town: Town,
    name: str,
    point: Point,
    kind: str = Village.Kind.VILLAGE,
    remote: bool = False,
    station: Station | None = None,
    liaisons: Iterable[User] = (),
    active: bool = True,
) -> Village:
    """Create a village (村/社区); its liaisons get the liaison role."""
    village = Village(
        town=town,
        name=name,
        kind=kind,
        lat=point.lat,
        lng=point.lng,
        remote=remote,
        station=station,
        active=active,
    )
    save_unique(village, duplicate=DuplicateName, message=f"{town.name}已有名为“{name}”的村社。")
    liaisons = list(liaisons)
    village.liaisons.set(liaisons)
    _grant(liaisons, "is_village_liaison")
    record_event(
        actor=actor,
        verb="village.created",
        obj=village,
        payload=jsonable({"name": name, "town": town, "liaisons": liaisons}),
    )
    return village


@transaction.atomic
def village_update(*, actor: User, village: Village, changes: Mapping[str, Any]) -> Village:
    """Change a village's fields or liaisons; ``active=False`` deactivates it."""
    _apply(village, changes)
    name = changes.get("name", village.name)
    save_unique(
        village, duplicate=DuplicateName, message=f"{village.town.name}已有名为“{name}”的村社。"
    )
    if "liaisons" in changes:
        village.liaisons.set(changes["liaisons"])
        _grant(changes["liaisons"], "is_village_liaison")
    record_event(actor=actor, verb="village.updated", obj=village, payload=jsonable(changes))
    return village


@transaction.atomic
def station_create(
    *,
    actor: User,
    name: str,
    kind: str,
    town: Town,
    point: Point,
    address: str = "",
    managers: Iterable[User] = (),
    active: bool = True,
) -> Station:
    """Create a station (驿站/工作室); its managers get the manager role."""
    station = Station(
        name=name,
        kind=kind,
        town=town,
        address=address,
        lat=point.lat,
        lng=point.lng,
        active=active,
    )
    save_unique(station, duplicate=DuplicateName, message=f"驿站/工作室“{name}”已存在。")
    managers = list(managers)
    station.managers.set(managers)
    _grant(managers, "is_station_manager")
    record_event(
        actor=actor,
        verb="station.created",
        obj=station,
        payload=jsonable({"name": name, "town": town, "managers": managers}),
    )
    return station


@transaction.atomic
def station_update(*, actor: User, station: Station, changes: Mapping[str, Any]) -> Station:
    """Change a station; a manager (not staff) may change only its address and coordinates."""
    if not is_staff(actor):
        refused = sorted(set(changes) - MANAGER_EDITABLE_STATION_FIELDS)
        if refused:
            names = "、".join("lat/lng" if key == "point" else key for key in refused)
            raise StationFieldNotEditable(
                f"驿站管理员只能修改地址和坐标，不能修改：{names}。",
                fields={key: ["仅政协机关工作人员可以修改。"] for key in refused},
            )
    _apply(station, changes)
    name = changes.get("name", station.name)
    save_unique(station, duplicate=DuplicateName, message=f"驿站/工作室“{name}”已存在。")
    if "managers" in changes:
        station.managers.set(changes["managers"])
        _grant(changes["managers"], "is_station_manager")
    record_event(actor=actor, verb="station.updated", obj=station, payload=jsonable(changes))
    return station
