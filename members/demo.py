"""Demo roster: 12 specialties, 32 teams and 180 members with fictional names and phones.

Deterministic (a seeded random generator), idempotent (found by code, name or phone; only
missing rows are created) and fast (bulk inserts). Phones are 1390000xxxx, a block used for
nothing real here. Demo members get no usable password: only the demo logins can sign in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password

from accounts.models import User
from members.models import Member, Specialty, Team
from stations.models import Town

SPECIALTIES: list[tuple[str, str]] = [
    ("law", "法律"),
    ("medical", "医疗卫生"),
    ("agritech", "科技农技"),
    ("education", "教育"),
    ("finance", "金融"),
    ("enterprise", "企业服务"),
    ("psychology", "心理"),
    ("culture", "文化"),
    ("environment", "环境"),
    ("elderly_care", "养老"),
    ("fishery", "海洋渔业"),
    ("social_security", "社会保障"),
]

# (team name suffix, sector 界别, specialty codes)
THEMES: list[tuple[str, str, tuple[str, ...]]] = [
    ("法律服务团", "社会和法制界", ("law", "social_security")),
    ("医卫健康服务队", "医药卫生界", ("medical", "elderly_care")),
    ("科技农技服务队", "农业和农村界", ("agritech", "environment")),
    ("暖企专员团", "经济界", ("enterprise", "finance")),
    ("教育关爱服务队", "教育界", ("education", "psychology")),
    ("文化惠民服务队", "文化艺术界", ("culture", "education")),
    ("海洋渔业服务队", "农业和农村界", ("fishery", "agritech")),
    ("民生保障服务团", "社会福利和社会保障界", ("social_security", "elderly_care")),
    ("生态环保服务队", "科学技术界", ("environment", "fishery")),
    ("心理健康服务队", "医药卫生界", ("psychology", "medical")),
]
SECTORS = [
    "中共",
    "民革",
    "民盟",
    "民建",
    "民进",
    "农工党",
    "致公党",
    "九三学社",
    "无党派人士",
    "工商联",
    "经济界",
    "教育界",
    "医药卫生界",
    "农业和农村界",
    "社会和法制界",
    "文化艺术界",
]
SURNAMES = (
    "王李张刘陈杨黄赵周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋"
    "蔡贾丁魏薛叶余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆孔崔毛邱秦江史顾侯邵孟万钱汤乐翁"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华慧建国平红霞玲峰刚兰海燕波宁辉鹏晨婷浩宇欣怡舟定岱"

TEAM_COUNT = 32
MEMBER_COUNT = 180
SEED = 20260601
DEMO_MEMBER_PHONE = "13900009999"


@dataclass
class Roster:
    """The demo rows, by key."""

    specialties: dict[str, Specialty]
    teams: list[Team]
    members: dict[str, Member]


def _rng(offset: int) -> random.Random:
    """A seeded generator: the same demo data on every machine (not for anything secret)."""
    return random.Random(SEED + offset)  # noqa: S311


def seed_specialties() -> dict[str, Specialty]:
    """Create the 12 specialties that are missing."""
    existing = set(Specialty.objects.values_list("code", flat=True))
    Specialty.objects.bulk_create(
        [Specialty(code=code, name=name) for code, name in SPECIALTIES if code not in existing]
    )
    return {s.code: s for s in Specialty.objects.filter(code__in=[c for c, _ in SPECIALTIES])}


def _team_plan(towns: list[Town]) -> list[tuple[str, str, Town, tuple[str, ...]]]:
    """32 (name, sector, town, specialties) picked from town × theme, always the same ones."""
    pairs = [(town, theme) for town in towns for theme in THEMES]
    _rng(0).shuffle(pairs)
    plan = []
    for town, (suffix, sector, codes) in pairs[:TEAM_COUNT]:
        short = town.name.removesuffix("街道").removesuffix("镇")
        plan.append((f"{short}{suffix}", sector, town, codes))
    return plan


def seed_teams(towns: dict[str, Town], specialties: dict[str, Specialty]) -> list[Team]:
    """Create the missing demo teams with their specialties; homes near their towns."""
    rng = _rng(1)
    plan = _team_plan(sorted(towns.values(), key=lambda town: town.name))
    existing = set(
        Team.objects.filter(name__in=[p[0] for p in plan]).values_list("name", flat=True)
    )
    new = []
    for name, sector, town, _ in plan:
        # Draw even for existing teams so the positions never depend on what exists.
        dlat, dlng = rng.uniform(-0.01, 0.01), rng.uniform(-0.01, 0.01)
        if name not in existing:
            new.append(
                Team(
                    name=name,
                    sector=sector,
                    home_town=town,
                    home_lat=round(town.lat + dlat, 6),
                    home_lng=round(town.lng + dlng, 6),
                )
            )
    Team.objects.bulk_create(new)
    teams = {team.name: team for team in Team.objects.filter(name__in=[p[0] for p in plan])}
    created = {team.name for team in new}
    Through = Team.specialties.through
    Through.objects.bulk_create(
        [
            Through(team_id=teams[name].pk, specialty_id=specialties[code].pk)
            for name, _, _, codes in plan
            if name in created
            for code in codes
        ],
        ignore_conflicts=True,
    )
    return [teams[name] for name, _, _, _ in plan]


def _name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
    return rng.choice(SURNAMES) + given


def seed_members(teams: list[Team], specialties: dict[str, Specialty]) -> dict[str, Member]:
    """Create the missing 180 members (and their accounts), 5-6 per team; leaders set."""
    rng = _rng(2)
    team_codes = {team.pk: [s.code for s in team.specialties.all()] for team in teams}
    all_codes = list(specialties)
    plan = []
    for index in range(MEMBER_COUNT):
        team = teams[index % len(teams)]
        codes = list(team_codes[team.pk][: rng.randint(1, 2)])
        if rng.random() < 0.3:
            codes.append(rng.choice(all_codes))
        plan.append(
            {
                "phone": f"1390000{index + 1:04d}",
                "name": _name(rng),
                "sector": rng.choice([team.sector, *SECTORS]),
                "team": team,
                "codes": sorted(set(codes)),
                "home_lat": round((team.home_lat or 30.0194) + rng.uniform(-0.02, 0.02), 6),
                "home_lng": round((team.home_lng or 122.1028) + rng.uniform(-0.02, 0.02), 6),
            }
        )
    phones = [row["phone"] for row in plan]
    existing = set(Member.objects.filter(phone__in=phones).values_list("phone", flat=True))
    todo = [row for row in plan if row["phone"] not in existing]
    if todo:
        taken = set(
            User.objects.filter(username__in=[r["phone"] for r in todo]).values_list(
                "username", flat=True
            )
        )
        User.objects.bulk_create(
            [
                User(
                    username=row["phone"],
                    name=row["name"],
                    phone=row["phone"],
                    is_member=True,
                    password=make_password(None),
                )
                for row in todo
                if row["phone"] not in taken
            ]
        )
        users = {
            u.username: u for u in User.objects.filter(username__in=[r["phone"] for r in todo])
        }
        Member.objects.bulk_create(
            [
                Member(
                    user=users[row["phone"]],
                    name=row["name"],
                    phone=row["phone"],
                    sector=row["sector"],
                    team=row["team"],
                    home_lat=row["home_lat"],
                    home_lng=row["home_lng"],
                )
                for row in todo
            ]
        )
        members = {m.phone: m for m in Member.objects.filter(phone__in=[r["phone"] for r in todo])}
        Through = Member.specialties.through
        Through.objects.bulk_create(
            [
                Through(member_id=members[row["phone"]].pk, specialty_id=specialties[code].pk)
                for row in todo
                for code in row["codes"]
            ],
            ignore_conflicts=True,
        )
    members = {m.phone: m for m in Member.objects.select_related("user").filter(phone__in=phones)}
    # The first member of each team leads it, unless someone already does.
    for index, team in enumerate(teams):
        if team.leader_id is None:
            team.leader = members[phones[index]].user
            team.save(update_fields=["leader", "updated_at"])
    return members


def seed_roster(towns: dict[str, Town]) -> Roster:
    """Specialties, teams and members of the demo; safe to run again."""
    specialties = seed_specialties()
    teams = seed_teams(towns, specialties)
    members = seed_members(teams, specialties)
    return Roster(specialties=specialties, teams=teams, members=members)


def attach_demo_member(roster: Roster, *, user: User) -> Member:
    """demo_member: a member of the first demo team, with that team's specialties."""
    member = Member.objects.filter(user=user).first()
    if member is None:
        team = roster.teams[0]
        member = Member.objects.create(
            user=user,
            name=user.name.split("·")[-1] or user.username,
            phone=DEMO_MEMBER_PHONE,
            sector=team.sector,
            team=team,
            home_lat=team.home_lat,
            home_lng=team.home_lng,
        )
        member.specialties.set(team.specialties.all())
    return member
