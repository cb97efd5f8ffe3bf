"""Matching benchmark: the member feed, team matches and the map at 10k / 100k / 1M open requests.

    .venv/bin/python bench/matching.py                      # SQLite: 10k and 100k
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/matching.py --sizes 10000,100000,1000000

For each size a fresh database is built (bench/harness.py): open requests spread over a
Zhejiang-sized area (27–31.2 N, 118–123 E) clustered around weighted "towns", 5,000 teams,
20,000 members, and claim history made by those members (10k live claims, 20k past claims —
verified service and no-shows — the same at every size: people, not the backlog, make claims).
gunicorn serves it and each endpoint is timed over real HTTP, interleaved with the baseline — an
authenticated ``GET /api/v1/campaigns/`` (a two-query paginated list) — and printed as ratios to
it. Also printed: how many candidates the feed and the matcher scored against how many are
truly (geodesic) within the radius / cut-off. Each size runs in its own process, so Django is
set up once per database.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

MIN_LAT, MAX_LAT = 27.0, 31.2
MIN_LNG, MAX_LNG = 118.0, 123.0
TOWNS = 600
SPECIALTIES = [
    ("law", "法律"),
    ("medical", "医疗卫生"),
    ("agritech", "科技农技"),
    ("education", "教育"),
    ("finance", "金融"),
    ("enterprise", "企业服务"),
    ("psychology", "心理"),
    ("culture", "文化"),
    ("environment", "环境"),
    ("elderly", "养老"),
]
FEED_RADIUS_KM = 10.0
SAMPLES = 50
# A town-sized map view: about 8 × 8 km.
MAP_HALF_LAT = 0.036
MAP_HALF_LNG = 0.042


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data


class World:
    """Random but reproducible geography: weighted towns, points clustered around them."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.towns = [
            (rng.uniform(MIN_LAT + 0.1, MAX_LAT - 0.1), rng.uniform(MIN_LNG + 0.1, MAX_LNG - 0.1))
            for _ in range(TOWNS)
        ]
        # Zipf-like sizes: a few county seats, many small townships.
        weights = [1.0 / (rank + 1) ** 0.8 for rank in range(TOWNS)]
        total = sum(weights)
        self.cumulative = []
        acc = 0.0
        for w in weights:
            acc += w / total
            self.cumulative.append(acc)

    def town(self) -> int:
        """A town index, big towns more often."""
        return min(TOWNS - 1, _bisect(self.cumulative, self.rng.random()))

    def near(self, town: int, sigma_deg: float) -> tuple[float, float]:
        lat, lng = self.towns[town]
        rng = self.rng
        lat = min(MAX_LAT, max(MIN_LAT, rng.gauss(lat, sigma_deg)))
        lng = min(MAX_LNG, max(MIN_LNG, rng.gauss(lng, sigma_deg * 1.15)))
        return round(lat, 6), round(lng, 6)

    def anywhere(self) -> tuple[float, float]:
        return (
            round(self.rng.uniform(MIN_LAT, MAX_LAT), 6),
            round(self.rng.uniform(MIN_LNG, MAX_LNG), 6),
        )


def _bisect(values: list[float], x: float) -> int:
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def build(size: int, *, teams: int, members: int, seed: int) -> dict:
    """Fill the (migrated, empty) database; returns what the measurements need.

    Long on purpose: one linear script that writes the benchmark's rows in bulk, step by step."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import User
    from members.models import Member, Specialty, Team
    from services.models import Campaign, Claim, ServiceRequest
    from stations.models import Station, Town

    world = World(seed)
    rng = world.rng
    now = timezone.now()
    today = timezone.localdate()
    insert = harness.bulk_insert

    insert(
        Specialty,
        ["id", "code", "name", "active"],
        [(i + 1, code, name, True) for i, (code, name) in enumerate(SPECIALTIES)],
    )
    specialty_ids = list(range(1, len(SPECIALTIES) + 1))
    insert(
        Town,
        ["id", "name", "code", "kind", "lat", "lng", "active"],
        [
            (i + 1, f"测试镇{i + 1:04d}", "", "town", lat, lng, True)
            for i, (lat, lng) in enumerate(world.towns)
        ],
    )
    insert(
        Station,
        ["id", "name", "kind", "town_id", "address", "lat", "lng", "active"],
        [
            (i + 1, f"测试驿站{i + 1:04d}", "consultation", i + 1, "", lat, lng, True)
            for i, (lat, lng) in enumerate(world.towns)
        ],
    )
    insert(
        Campaign,
        ["id", "kind", "name", "starts_on", "ends_on", "target_served"],
        [
            (
                1,
                "warm_enterprise",
                "暖企行动",
                today - timedelta(days=400),
                today + timedelta(days=400),
                0,
            ),
            (
                2,
                "warm_village",
                "暖岙行动",
                today - timedelta(days=400),
                today + timedelta(days=400),
                0,
            ),
            (
                3,
                "warm_heart",
                "暖心服务月",
                today - timedelta(days=400),
                today + timedelta(days=400),
                0,
            ),
        ],
    )
    kinds = {1: "warm_enterprise", 2: "warm_village", 3: "warm_heart"}

    password = make_password("bench-password-1")
    user_columns = [
        "id",
        "password",
        "username",
        "name",
        "is_member",
        "is_staff",
        "is_superuser",
        "is_active",
        "first_name",
        "last_name",
        "email",
        "date_joined",
    ]
    staff_id = members + 1
    insert(
        User,
        user_columns,
        (
            (
                i + 1,
                password,
                f"m{i + 1}",
                f"委员{i + 1}",
                True,
                False,
                False,
                True,
                "",
                "",
                "",
                now,
            )
            for i in range(members)
        ),
    )
    insert(
        User,
        user_columns,
        [(staff_id, password, "staff", "机关", False, True, False, True, "", "", "", now)],
    )

    team_rows, team_home = [], {}
    for t in range(1, teams + 1):
        town = world.town()
        lat, lng = world.near(town, 0.05)
        team_home[t] = (lat, lng, town)
        team_rows.append((t, f"测试团队{t:05d}", "测试界", town + 1, lat, lng, True))
    insert(
        Team, ["id", "name", "sector", "home_town_id", "home_lat", "home_lng", "active"], team_rows
    )
    insert(
        Team.specialties.through,
        ["team_id", "specialty_id"],
        ((t, s) for t in range(1, teams + 1) for s in rng.sample(specialty_ids, rng.randint(1, 3))),
    )
    member_team = {}
    member_rows = []
    for m in range(1, members + 1):
        team = (m - 1) % teams + 1
        member_team[m] = team
        lat, lng, town = team_home[team]
        home = world.near(town, 0.03)
        member_rows.append((m, m, f"委员{m}", "", "测试界", team, home[0], home[1], True))
    insert(
        Member,
        ["id", "user_id", "name", "phone", "sector", "team_id", "home_lat", "home_lng", "active"],
        member_rows,
    )
    insert(
        Member.specialties.through,
        ["member_id", "specialty_id"],
        (
            (m, s)
            for m in range(1, members + 1)
            for s in rng.sample(specialty_ids, rng.randint(1, 2))
        ),
    )

    # Open requests: 85% around towns (σ ≈ 3 km), 15% anywhere.
    request_columns = [
        "id",
        "station_id",
        "campaign_id",
        "title",
        "description",
        "lat",
        "lng",
        "address",
        "starts_at",
        "ends_at",
        "slots",
        "claimed",
        "status",
        "contact_name",
        "contact_phone",
        "cancel_reason",
    ]
    # Claims come from people, not from the backlog: the same 20k members hold about one live
    # claim per two members and have the same history whatever the number of open requests.
    claimed_on = set(rng.sample(range(1, size + 1), min(size // 2, members // 2)))
    request_station: dict[int, int] = {}

    def requests():
        for r in range(1, size + 1):
            town = world.town()
            lat, lng = world.near(town, 0.03) if rng.random() < 0.85 else world.anywhere()
            starts = now + timedelta(hours=rng.uniform(2, 24 * 60))
            slots = rng.randint(2, 10)
            claimed = 1 if r in claimed_on else 0
            request_station[r] = town + 1
            yield (
                r,
                town + 1,
                rng.randint(1, 3),
                f"测试需求{r}",
                "",
                lat,
                lng,
                "",
                starts,
                starts + timedelta(hours=rng.choice((2, 3, 4))),
                slots,
                claimed,
                "open",
                "",
                "",
                "",
            )

    insert(ServiceRequest, request_columns, requests())
    through = ServiceRequest.specialties.through
    insert(
        through,
        ["servicerequest_id", "specialty_id"],
        (
            (r, s)
            for r in range(1, size + 1)
            for s in (rng.sample(specialty_ids, rng.randint(1, 2)) if rng.random() < 0.9 else ())
        ),
    )

    # History: verified past requests with two claims each (mostly done, some no-shows), over
    # the last four months, so the history and reliability terms have realistic weight.
    past = members // 2
    past_ids = range(size + 1, size + past + 1)
    past_rows = []
    for r in past_ids:
        town = world.town()
        lat, lng = world.near(town, 0.03)
        starts = now - timedelta(hours=rng.uniform(2, 24 * 120))
        request_station[r] = town + 1
        past_rows.append(
            (
                r,
                town + 1,
                rng.randint(1, 3),
                f"往期需求{r}",
                "",
                lat,
                lng,
                "",
                starts,
                starts + timedelta(hours=3),
                3,
                2,
                "verified",
                "",
                "",
                "",
            )
        )
    insert(ServiceRequest, request_columns, past_rows)
    claim_columns = [
        "id",
        "request_id",
        "member_id",
        "team_id",
        "status",
        "created_at",
        "claimed_at",
        "check_in_by",
        "checked_in_at",
        "late_cancel",
        "cancel_reason",
        "reject_reason",
    ]
    claim_rows = []
    claim_id = 0
    for r in (r for r in past_ids for _ in range(2)):
        m = rng.randint(1, members)
        claim_id += 1
        claimed_at = now - timedelta(days=rng.uniform(1, 120))
        status = "done" if rng.random() < 0.9 else "expired"
        claim_rows.append(
            (
                claim_id,
                r,
                m,
                member_team[m],
                status,
                claimed_at,
                claimed_at,
                claimed_at,
                claimed_at if status == "done" else None,
                False,
                "",
                "",
            )
        )
    for r in claimed_on:
        m = rng.randint(1, members)
        claim_id += 1
        claim_rows.append(
            (
                claim_id,
                r,
                m,
                member_team[m],
                "claimed",
                now,
                now,
                now,
                None,
                False,
                "",
                "",
            )
        )
    insert(Claim, claim_columns, claim_rows)
    harness.reset_sequences(
        Specialty, Town, Station, Campaign, User, Team, Member, ServiceRequest, Claim
    )
    # The map's grid cells, as the writes would have kept them (rebuild_stats does this too).
    from django.db import connection, transaction

    from services import rollups

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cells = rollups.fill_map_cells(cursor)
    log(f"  map grid cells: {cells:,} rows in {time.perf_counter() - started:.1f} s")
    harness.analyze()
    return {
        "towns": world.towns,
        "weights": world.cumulative,
        "team_home": team_home,
        "kinds": kinds,
        "staff_id": staff_id,
    }


# ---------------------------------------------------------------- one size


def map_differ(boxes: list[str]) -> int:
    """Boxes whose clusters read from the rollup differ from those grouped from the rows."""
    from services.matching.map import map_box, map_features
    from services.models import ServiceRequest

    differ = 0
    open_requests = ServiceRequest.objects.filter(status=ServiceRequest.Status.OPEN)
    for text in boxes:
        box = map_box(text, coord_type="wgs84")
        counted = map_features(
            queryset=open_requests, box=box, coord_type="wgs84", statuses=["open"]
        )
        grouped = map_features(queryset=open_requests, box=box, coord_type="wgs84")
        differ += (counted.clusters, counted.features) != (grouped.clusters, grouped.features)
    return differ


def within_counts(feed_points, match_requests) -> dict:
    """Candidates scored (from matching itself) against those truly within the radius."""
    from django.conf import settings
    from django.db import connection
    from django.db.models import F
    from django.test import override_settings
    from django.utils import timezone

    from accounts.models import User
    from members.models import Team
    from services.matching import queries
    from services.matching.feed import recommend_for_member
    from services.matching.teams import match_teams
    from services.models import ServiceRequest
    from stations.geo import Point, bounding_box, distance_km

    now = timezone.now()
    feed = []
    # PostgreSQL reads the feed's candidates nearest first from a GiST index; they must be
    # exactly those of the grid rings that SQLite reads (and the facts read by id after).
    feed_differ = None
    if connection.vendor == "postgresql":
        feed_differ = 0
        cap = settings.MATCHING_CANDIDATE_LIMIT
        for _user_id, lat, lng in feed_points:
            point = Point(lat=lat, lng=lng)
            rows = queries.nearest_open_rings(point, FEED_RADIUS_KM, cap)
            rings = (rows, queries.request_facts([row[0] for row in rows]))
            feed_differ += queries.open_candidates(point, FEED_RADIUS_KM, cap) != rings
    for user_id, lat, lng in feed_points:
        point = Point(lat=lat, lng=lng)
        result = recommend_for_member(
            user=User.objects.get(pk=user_id), point=point, radius_km=FEED_RADIUS_KM
        )
        box = bounding_box(point, radius_km=FEED_RADIUS_KM)
        rows = ServiceRequest.objects.filter(
            status="open",
            ends_at__gt=now,
            claimed__lt=F("slots"),
            lat__gte=box.min_lat,
            lat__lte=box.max_lat,
            lng__gte=box.min_lng,
            lng__lte=box.max_lng,
        ).values_list("lat", "lng")
        truly = sum(1 for a, b in rows if distance_km(point, Point(lat=a, lng=b)) <= FEED_RADIUS_KM)
        feed.append((result.candidates, truly))
    teams = list(
        Team.objects.filter(active=True, members__active=True)
        .distinct()
        .values_list("home_lat", "home_lng")
    )
    matches = []
    read_in_full = []
    differ = 0
    cutoff = settings.MATCHING_MAX_DISTANCE_KM
    for request_id in match_requests:
        service_request = ServiceRequest.objects.prefetch_related("specialties").get(pk=request_id)
        result = match_teams(service_request=service_request, limit=10, now=now)
        # The bounds only skip reads: with a margin past every candidate each is read in full,
        # and the ranking must come out the same.
        with override_settings(MATCHING_BOUND_MARGIN=10**6):
            full = match_teams(service_request=service_request, limit=10, now=now)
        differ += result.matches != full.matches
        point = Point(lat=service_request.lat, lng=service_request.lng)
        truly = sum(1 for a, b in teams if distance_km(point, Point(lat=a, lng=b)) <= cutoff)
        matches.append((result.candidates, truly))
        read_in_full.append(result.read_in_full)
    return {
        "feed": feed,
        "feed_differ": feed_differ,
        "matches": matches,
        "read_in_full": read_in_full,
        "differ": differ,
    }


def run_size(size: int, args) -> dict:
    """Build, serve and measure one size (in its own process).

    Long on purpose: one size's measurements and checks, in the order they are printed."""
    url = harness.bench_database_url(f"matching_{size}", keep=args.reuse)
    harness.setup_django(url)
    from django.conf import settings
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.models import User
    from services.models import ServiceRequest

    vendor = "postgresql" if url.startswith("postgres") else "sqlite"
    built = 0.0
    if args.reuse and ServiceRequest.objects.exists():
        log(f"[{size:,}] reusing the {vendor} database of an earlier run")
        harness.analyze()  # migrate may just have added an index
    else:
        log(f"[{size:,}] building on {vendor} ...")
        started = time.perf_counter()
        build(size, teams=args.teams, members=args.members, seed=args.seed)
        built = time.perf_counter() - started
        log(f"[{size:,}] built in {built:.1f} s")

    rng = random.Random(args.seed + 1)
    members = rng.sample(range(1, args.members + 1), SAMPLES)
    from members.models import Member

    homes = {
        m: (lat, lng)
        for m, lat, lng in Member.objects.filter(pk__in=members).values_list(
            "user_id", "home_lat", "home_lng"
        )
    }
    feed_points = [(user_id, *homes[user_id]) for user_id in members]
    match_requests = rng.sample(range(1, size + 1), SAMPLES)
    world = World(args.seed)
    map_towns = [world.town() for _ in range(SAMPLES)]

    tokens = {
        user.pk: str(RefreshToken.for_user(user).access_token)
        for user in User.objects.filter(pk__in=members)
    }
    staff = str(RefreshToken.for_user(User.objects.get(username="staff")).access_token)
    member_calls = list(tokens.items())

    endpoints = [
        harness.Endpoint(
            "baseline: GET campaigns/",
            [("/api/v1/campaigns/", token) for _, token in member_calls],
        ),
        harness.Endpoint(
            "requests/recommended/",
            [
                (
                    f"/api/v1/requests/recommended/?lat={lat}&lng={lng}&radius_km={FEED_RADIUS_KM:g}",
                    tokens[user_id],
                )
                for user_id, lat, lng in feed_points
            ],
        ),
        harness.Endpoint(
            "requests/{id}/matches/",
            [(f"/api/v1/requests/{pk}/matches/?limit=10", staff) for pk in match_requests],
        ),
        harness.Endpoint(
            "requests/map/ (8×8 km)",
            [
                (
                    "/api/v1/requests/map/?bbox="
                    + ",".join(
                        f"{v:.4f}"
                        for v in (
                            world.towns[t][1] - MAP_HALF_LNG,
                            world.towns[t][0] - MAP_HALF_LAT,
                            world.towns[t][1] + MAP_HALF_LNG,
                            world.towns[t][0] + MAP_HALF_LAT,
                        )
                    ),
                    member_calls[i % len(member_calls)][1],
                )
                for i, t in enumerate(map_towns)
            ],
        ),
    ]
    if args.build_only:
        return {"size": size, "built_s": built}
    counts = within_counts(feed_points, match_requests)
    map_boxes = [path.split("bbox=")[1] for path, _ in endpoints[3].calls]
    counts["map_differ"] = (map_differ(map_boxes), len(map_boxes))
    from django.db import connections

    connections.close_all()
    log(f"[{size:,}] measuring over HTTP (gunicorn, {args.workers} workers) ...")
    with harness.Server(url, workers=args.workers) as server:
        timings = harness.measure_interleaved(server, endpoints, n=args.n, rounds=args.rounds)
    return {
        "size": size,
        "vendor": vendor,
        "built_s": built,
        "teams": args.teams,
        "members": args.members,
        "cap": settings.MATCHING_CANDIDATE_LIMIT,
        "cutoff_km": settings.MATCHING_MAX_DISTANCE_KM,
        "timings": [{"name": t.name, "samples": t.samples} for t in timings],
        "counts": counts,
    }


# ---------------------------------------------------------------- report


def report(result: dict) -> None:
    timings = [harness.Timing(t["name"], t["samples"]) for t in result["timings"]]
    harness.print_ratios(
        f"== {result['size']:,} open requests on {result['vendor']}, {result['teams']:,} teams, "
        f"{result['members']:,} members — built in {result['built_s']:.1f} s",
        timings[0],
        timings[1:],
    )
    for name, radius in (
        ("feed", f"{FEED_RADIUS_KM:g} km"),
        ("matches", f"{result['cutoff_km']:g} km"),
    ):
        pairs = result["counts"][name]
        scored = [s for s, _ in pairs]
        truly = [t for _, t in pairs]
        worst = max((s / t if t else (0 if s == 0 else math.inf)) for s, t in pairs)
        print(
            f"{name:<8} candidates scored: mean {statistics.mean(scored):.0f}, max {max(scored)}"
            f" (cap {result['cap']}) | truly within {radius}: mean {statistics.mean(truly):.0f},"
            f" max {max(truly)} | worst scored/within {worst:.2f}"
        )
    feed_differ = result["counts"].get("feed_differ")
    if feed_differ is not None:
        print(
            f"feed     candidates and facts differing from the grid rings' (the nearest-first"
            f" index's exactness): {feed_differ} of {len(result['counts']['feed'])}"
        )
    differ = result["counts"].get("map_differ")
    if differ is not None:
        print(
            f"map      boxes whose clusters from the grid cells' rollup differ from those"
            f" grouped from the rows: {differ[0]} of {differ[1]}"
        )
    read = result["counts"].get("read_in_full")
    if read:
        print(
            f"matches  members and claims read for: mean {statistics.mean(read):.0f}, max"
            f" {max(read)} of the candidates | rankings differing from reading every candidate"
            f" in full: {result['counts']['differ']} of {len(read)}"
        )


def growth(results: list[dict]) -> None:
    if len(results) < 2:
        return
    names = [t["name"] for t in results[0]["timings"]]
    print("\n== growth of p50 with the table (ms, and × the smallest size)")
    header = f"{'endpoint':<28}" + "".join(f"{r['size']:>14,}" for r in results)
    print(header)
    for i, name in enumerate(names):
        p50s = [statistics.median(r["timings"][i]["samples"]) for r in results]
        cells = "".join(f"{p:>8.2f} ×{p / p50s[0]:<4.2f}" for p in p50s)
        print(f"{name:<28}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="open requests per run")
    parser.add_argument("--teams", type=int, default=5000)
    parser.add_argument("--members", type=int, default=20000)
    parser.add_argument("-n", type=int, default=300, help="timed requests per endpoint")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure again on the databases an earlier run built (same sizes and seed)",
    )
    parser.add_argument("--build-only", action="store_true", help="build, do not measure")
    parser.add_argument("--run-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_size:
        print(json.dumps(run_size(args.run_size, args)))
        return
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        child = subprocess.run(
            [sys.executable, __file__, "--run-size", str(size), *sys.argv[1:]],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ,
            check=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        if args.build_only:
            print(f"{size:,} open requests built in {result['built_s']:.1f} s")
            continue
        report(result)
        results.append(result)
    growth(results)


if __name__ == "__main__":
    main()
