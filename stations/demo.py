"""Demo geography of Dinghai District, Zhoushan: 13 towns, their villages, 21 stations.

The towns and their rough coordinates come from ``stations/data/dinghai_towns.csv`` (copied
from the project's reference data; about ±2 km, not survey points). 行政区划 codes are left
blank: the official ones were not found and are not invented. Village and station names are
realistic demo names, not an official register. Everything is idempotent: rows are found by
name and only missing ones are created.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from accounts.models import User
from stations.models import Station, Town, Village

TOWNS_CSV = Path(__file__).resolve().parent / "data" / "dinghai_towns.csv"

# Short names keep the table below readable.
VIL, COM, FISH, ISL = (
    Village.Kind.VILLAGE,
    Village.Kind.COMMUNITY,
    Village.Kind.FISHING_VILLAGE,
    Village.Kind.ISLAND,
)

# town → [(village, kind, remote, north offset, east offset in degrees from the town)]
VILLAGES: dict[str, list[tuple[str, str, bool, float, float]]] = {
    "昌国街道": [
        ("东门社区", COM, False, 0.004, 0.006),
        ("芙蓉洲社区", COM, False, -0.006, 0.002),
        ("卫东社区", COM, False, 0.008, -0.004),
        ("城西社区", COM, False, 0.002, -0.009),
    ],
    "环南街道": [
        ("南珍社区", COM, False, -0.004, 0.003),
        ("檀枫社区", COM, False, 0.003, -0.006),
        ("盘峙村", ISL, True, -0.030, -0.015),
        ("刺山村", ISL, True, -0.042, 0.010),
    ],
    "城东街道": [
        ("东山社区", COM, False, 0.004, 0.004),
        ("海山社区", COM, False, -0.005, 0.008),
        ("岑山村", VIL, False, 0.015, 0.012),
    ],
    "盐仓街道": [
        ("虹桥社区", COM, False, 0.003, 0.005),
        ("洞岙村", VIL, False, 0.020, -0.008),
        ("叉河村", VIL, False, 0.010, 0.012),
        ("蒲岙村", VIL, True, 0.028, -0.020),
    ],
    "临城街道": [
        ("长峙社区", COM, False, -0.020, -0.015),
        ("新城社区", COM, False, 0.006, 0.004),
        ("摘箬山村", ISL, True, -0.060, 0.020),
    ],
    "千岛街道": [
        ("海天社区", COM, False, 0.004, -0.004),
        ("翁山社区", COM, False, -0.003, 0.006),
        ("小干村", ISL, True, -0.035, 0.030),
    ],
    "岑港街道": [
        ("马目村", VIL, False, 0.012, -0.030),
        ("烟墩村", VIL, False, -0.008, 0.010),
        ("册子村", ISL, True, -0.020, -0.070),
        ("富翅村", ISL, True, 0.010, -0.060),
        ("桃夭门村", FISH, True, -0.035, -0.085),
    ],
    "马岙街道": [
        ("马岙村", VIL, False, 0.002, 0.002),
        ("北岙村", VIL, False, 0.015, -0.005),
        ("三江村", FISH, True, 0.020, 0.025),
        ("长春岭村", VIL, True, -0.010, -0.020),
    ],
    "双桥街道": [
        ("紫窑村", VIL, False, 0.008, 0.006),
        ("石礁村", FISH, True, 0.020, -0.015),
        ("临港社区", COM, False, -0.006, 0.004),
    ],
    "小沙街道": [
        ("庙桥村", VIL, False, 0.004, 0.006),
        ("毛峙村", VIL, True, 0.018, -0.012),
        ("光华村", VIL, False, -0.008, 0.010),
        ("大沙村", FISH, True, 0.022, 0.020),
    ],
    "金塘镇": [
        ("沥港社区", COM, False, 0.030, -0.020),
        ("大浦村", VIL, False, -0.010, 0.015),
        ("柳行村", VIL, False, 0.008, 0.005),
        ("大丰村", VIL, False, -0.020, -0.010),
        ("和建村", VIL, True, 0.040, 0.010),
        ("大鹏村", ISL, True, 0.050, -0.045),
    ],
    "白泉镇": [
        ("浪西村", VIL, False, 0.006, 0.010),
        ("皋泄村", VIL, True, 0.025, 0.020),
        ("北蝉村", VIL, False, -0.008, -0.012),
        ("金山村", VIL, False, 0.012, -0.004),
    ],
    "干览镇": [
        ("新建村", VIL, False, 0.004, 0.004),
        ("西码头村", FISH, True, 0.015, 0.030),
        ("龙潭村", VIL, False, -0.010, -0.008),
        ("长白村", ISL, True, 0.060, -0.090),
    ],
}

# The 11 member workstations (委员工作室): one per town except 千岛 and 干览, which are served
# by consultation stations.
WORKSTATION_TOWNS = [
    "昌国街道",
    "环南街道",
    "城东街道",
    "盐仓街道",
    "临城街道",
    "岑港街道",
    "马岙街道",
    "双桥街道",
    "小沙街道",
    "金塘镇",
    "白泉镇",
]

# (name, kind, town, villages it serves, north/east offset from the town)
OTHER_STATIONS: list[tuple[str, str, str, tuple[str, ...], float, float]] = [
    ("千岛街道协商驿站", Station.Kind.CONSULTATION, "千岛街道", (), 0.001, 0.001),
    ("干览镇协商驿站", Station.Kind.CONSULTATION, "干览镇", (), 0.001, 0.001),
    ("沥港协商驿站", Station.Kind.CONSULTATION, "金塘镇", ("沥港社区", "和建村"), 0.028, -0.018),
    ("三江渔港协商驿站", Station.Kind.CONSULTATION, "马岙街道", ("三江村",), 0.019, 0.024),
    ("册子岛协商驿站", Station.Kind.CONSULTATION, "岑港街道", ("册子村", "富翅村"), -0.019, -0.068),
    ("盘峙岛协商驿站", Station.Kind.CONSULTATION, "环南街道", ("盘峙村", "刺山村"), -0.029, -0.014),
    ("皋泄协商驿站", Station.Kind.CONSULTATION, "白泉镇", ("皋泄村",), 0.024, 0.019),
    (
        "长峙协商驿站",
        Station.Kind.CONSULTATION,
        "临城街道",
        ("长峙社区", "摘箬山村"),
        -0.019,
        -0.014,
    ),
    ("小沙农业科技服务基地", Station.Kind.SERVICE_BASE, "小沙街道", ("毛峙村",), 0.017, -0.011),
    ("双桥民生议事堂", Station.Kind.COUNCIL, "双桥街道", ("石礁村",), 0.019, -0.014),
]

# What the demo logins hold (see accounts.demo): demo_manager runs this station, demo_liaison
# posts for this village, which that station serves.
DEMO_STATION = "昌国街道委员工作室"
DEMO_VILLAGE = ("昌国街道", "东门社区")

_ROADS = ["人民", "解放", "环城", "海山", "昌国", "东海", "文化", "和平", "新桥", "沿港"]


@dataclass
class Geography:
    """The demo rows, by name."""

    towns: dict[str, Town]
    stations: dict[str, Station]
    villages: dict[tuple[str, str], Village]


def _short(town: str) -> str:
    return town.removesuffix("街道").removesuffix("镇")


def _address(town: str, road: int, number: int) -> str:
    return f"定海区{_short(town)}{_ROADS[road % len(_ROADS)]}路{number}号"


def town_rows() -> list[dict[str, str]]:
    """The 13 towns of the reference CSV."""
    with TOWNS_CSV.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def seed_towns() -> dict[str, Town]:
    """Create the 13 towns that are missing; code left blank."""
    existing = {town.name: town for town in Town.objects.all()}
    missing = [
        Town(
            name=row["name"],
            kind=Town.Kind.TOWN if row["kind"] == "镇" else Town.Kind.SUBDISTRICT,
            lat=float(row["lat"]),
            lng=float(row["lng"]),
        )
        for row in town_rows()
        if row["name"] not in existing
    ]
    Town.objects.bulk_create(missing)
    return {
        town.name: town for town in Town.objects.filter(name__in=[r["name"] for r in town_rows()])
    }


def seed_stations(towns: dict[str, Town]) -> dict[str, Station]:
    """Create the 11 workstations and the other stations that are missing."""
    wanted: list[Station] = []
    for index, town_name in enumerate(WORKSTATION_TOWNS):
        town = towns[town_name]
        wanted.append(
            Station(
                name=f"{town_name}委员工作室",
                kind=Station.Kind.WORKSTATION,
                town=town,
                address=_address(town_name, index, index * 7 + 11),
                lat=round(town.lat + 0.0015, 6),
                lng=round(town.lng - 0.0012, 6),
            )
        )
    for index, (name, kind, town_name, _, dlat, dlng) in enumerate(OTHER_STATIONS):
        town = towns[town_name]
        wanted.append(
            Station(
                name=name,
                kind=kind,
                town=town,
                address=_address(town_name, index + 3, index * 5 + 2),
                lat=round(town.lat + dlat, 6),
                lng=round(town.lng + dlng, 6),
            )
        )
    existing = set(
        Station.objects.filter(name__in=[s.name for s in wanted]).values_list("name", flat=True)
    )
    Station.objects.bulk_create([station for station in wanted if station.name not in existing])
    return {
        station.name: station
        for station in Station.objects.filter(name__in=[s.name for s in wanted])
    }


def _serving_station(town_name: str, village: str, stations: dict[str, Station]) -> Station:
    for name, _, station_town, served, _, _ in OTHER_STATIONS:
        if station_town == town_name and village in served:
            return stations[name]
    workstation = stations.get(f"{town_name}委员工作室")
    if workstation is not None:
        return workstation
    return next(
        stations[name]
        for name, _, station_town, _, _, _ in OTHER_STATIONS
        if station_town == town_name
    )


def seed_villages(
    towns: dict[str, Town], stations: dict[str, Station]
) -> dict[tuple[str, str], Village]:
    """Create the missing villages, each served by a station of its town."""
    existing = {(v.town.name, v.name) for v in Village.objects.select_related("town")}
    missing = []
    for town_name, villages in VILLAGES.items():
        town = towns[town_name]
        for name, kind, remote, dlat, dlng in villages:
            if (town_name, name) in existing:
                continue
            missing.append(
                Village(
                    town=town,
                    name=name,
                    kind=kind,
                    remote=remote,
                    lat=round(town.lat + dlat, 6),
                    lng=round(town.lng + dlng, 6),
                    station=_serving_station(town_name, name, stations),
                )
            )
    Village.objects.bulk_create(missing)
    return {
        (village.town.name, village.name): village
        for village in Village.objects.select_related("town").filter(town__in=towns.values())
    }


def seed_geography() -> Geography:
    """Towns, stations and villages of the demo; safe to run again."""
    towns = seed_towns()
    stations = seed_stations(towns)
    villages = seed_villages(towns, stations)
    return Geography(towns=towns, stations=stations, villages=villages)


def attach_demo_users(geography: Geography, *, manager: User, liaison: User) -> None:
    """demo_manager manages DEMO_STATION; demo_liaison is liaison of DEMO_VILLAGE it serves."""
    geography.stations[DEMO_STATION].managers.add(manager)
    geography.villages[DEMO_VILLAGE].liaisons.add(liaison)
