"""GET requests/recommended/: the member's feed of requests they may claim, ranked for them."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import errors as common
from members.models import Member
from services import errors
from services.errors import LOCATION_REQUIRED
from services.matching import queries
from services.matching.feed import feed_page, recommend_for_member
from services.matching.serializers import RecommendedRequestSerializer
from services.models import Claim, ServiceRequest
from stations import errors as geo_errors
from stations.geo import BBox, Point, distance_km, wgs84_to_gcj02
from tests import services_fixtures
from tests.factories import ClaimFactory, MemberFactory, ServiceRequestFactory, UserFactory
from tests.test_errors import assert_error
from tests.test_matching import KM, assert_shape

campaign = services_fixtures.campaign

URL = "/api/v1/requests/recommended/"
# alice's home (MemberFactory's default) and a point near it.
HOME = Point(lat=30.0194, lng=122.1028)


def near(world, campaign, title, *, km_north=1.0, specialties=(), **extra):
    """An open request ``km_north`` of alice's home."""
    return ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        title=title,
        lat=HOME.lat + km_north * KM,
        lng=HOME.lng,
        specialties=list(specialties),
        **extra,
    )


def feed(client, **query) -> dict:
    response = client.get(URL, query)
    assert response.status_code == 200, response.content
    return response.json()


def titles(body) -> list[str]:
    return [row["title"] for row in body["results"]]


def test_a_member_gets_open_requests_near_them_ranked(world, client_for, campaign):
    near(world, campaign, "近处法律", km_north=1, specialties=[world.law])
    near(world, campaign, "近处医疗", km_north=1, specialties=[world.medical])
    near(world, campaign, "远处法律", km_north=8, specialties=[world.law])
    body = feed(client_for(world.alice.user), lat=HOME.lat, lng=HOME.lng)
    assert body["count"] == 3
    assert body["next"] is None and body["previous"] is None
    assert titles(body) == ["近处法律", "远处法律", "近处医疗"]
    first = body["results"][0]
    assert first["matched_specialties"] == [{"id": world.law.pk, "code": "law", "name": "法律"}]
    expected = distance_km(HOME, Point(lat=HOME.lat + KM, lng=HOME.lng))
    assert first["distance_km"] == pytest.approx(expected, abs=0.001)
    assert first["reasons"][:3] == ["专长匹配：法律", f"距离 {expected:.1f} 公里", "该时段空闲"]
    assert first["station"] == {"id": world.station.pk, "name": "昌国协商驿站"}
    assert first["town"] == {"id": world.town.pk, "name": "昌国街道"}
    assert first["available"] == 5
    scores = [row["score"] for row in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert_shape(body["results"], RecommendedRequestSerializer(many=True))
    # Contact details are not part of the feed (they follow a claim).
    assert "contact_phone" not in first


def test_the_members_team_specialties_count_partly(world, client_for, campaign, settings):
    # alice holds law herself; her team holds law; a request for medical matches neither.
    world.alice.specialties.clear()
    near(world, campaign, "法律咨询", km_north=1, specialties=[world.law])
    row = feed(client_for(world.alice.user))["results"][0]
    assert row["parts"]["specialty"] == pytest.approx(settings.MATCHING_SECONDARY_SPECIALTY_CREDIT)


def test_without_a_point_the_feed_uses_the_members_home(world, client_for, campaign):
    near(world, campaign, "家门口", km_north=0.5)
    body = feed(client_for(world.alice.user))
    assert titles(body) == ["家门口"]
    assert body["results"][0]["distance_km"] == pytest.approx(0.5, abs=0.01)


def test_without_a_point_or_a_home_the_feed_asks_for_one(world, client_for, campaign):
    Member.objects.filter(pk=world.alice.pk).update(home_lat=None, home_lng=None)
    body = assert_error(client_for(world.alice.user).get(URL), 400, LOCATION_REQUIRED)
    assert "lat" in body["detail"]
    assert feed(client_for(world.alice.user), lat=HOME.lat, lng=HOME.lng)["count"] == 0


def test_only_requests_the_member_may_claim_are_listed(world, client_for, campaign):
    now = timezone.now()

    def on_day(title, day, **extra):
        # A day each, so no two of them overlap in time unless a test means them to.
        return near(world, campaign, title, starts_at=now + timedelta(days=day), **extra)

    on_day("可认领", 1)
    full = on_day("已满", 2, slots=1)
    ClaimFactory(request=full, member=world.bob)
    on_day("已取消", 3, status=ServiceRequest.Status.CANCELLED)
    near(
        world,
        campaign,
        "已结束",
        starts_at=now - timedelta(hours=3),
        ends_at=now - timedelta(hours=1),
    )
    mine = on_day("我已认领", 4)
    ClaimFactory(request=mine, member=world.alice)
    waiting = on_day("我在候补", 5)
    ClaimFactory(request=waiting, member=world.alice, status=Claim.Status.WAITLISTED)
    rejected = on_day("被拒绝过", 6)
    ClaimFactory(request=rejected, member=world.alice, status=Claim.Status.REJECTED)
    given_up = on_day("我取消过", 7)
    ClaimFactory(request=given_up, member=world.alice, status=Claim.Status.CANCELLED)
    # Overlaps "我已认领" and "我在候补": claiming them would be a time conflict.
    near(world, campaign, "与认领冲突", starts_at=mine.starts_at + timedelta(hours=1))
    near(world, campaign, "与候补冲突", starts_at=waiting.starts_at - timedelta(hours=1))
    on_day("太远", 8, km_north=30)
    assert sorted(titles(feed(client_for(world.alice.user)))) == sorted(["可认领", "我取消过"])
    # bob holds the only place of "已满" and nothing else: he sees the rest.
    assert sorted(titles(feed(client_for(world.bob.user)))) == sorted(
        ["可认领", "我已认领", "我在候补", "被拒绝过", "我取消过", "与认领冲突", "与候补冲突"]
    )


def test_what_is_listed_can_be_claimed(world, client_for, campaign):
    near(world, campaign, "甲")
    near(world, campaign, "乙", km_north=2, starts_at=timezone.now() + timedelta(days=4))
    client = client_for(world.alice.user)
    for row in feed(client)["results"]:
        response = client.post(f"/api/v1/requests/{row['id']}/claims/")
        assert response.status_code == 201, response.content
        client.post(f"/api/v1/claims/{response.json()['id']}/cancel/", {"reason": "测试"})


def test_the_invite_window_is_honoured(world, client_for, campaign):
    now = timezone.now()
    reserved = near(
        world,
        campaign,
        "医卫团优先",
        invited_team=world.other_team,
        invite_until=now + timedelta(hours=5),
    )
    ours = near(
        world,
        campaign,
        "法律团优先",
        invited_team=world.team,
        invite_until=now + timedelta(hours=5),
    )
    assert titles(feed(client_for(world.alice.user))) == ["法律团优先"]
    charlie = feed(client_for(world.charlie.user), lat=HOME.lat, lng=HOME.lng)
    assert titles(charlie) == ["医卫团优先"]
    assert charlie["results"][0]["invited_team"] == {
        "id": world.other_team.pk,
        "name": "医卫服务团",
    }
    # Once the window has passed, everyone sees both.
    ServiceRequest.objects.filter(pk__in=[reserved.pk, ours.pk]).update(
        invite_until=now - timedelta(minutes=1)
    )
    assert sorted(titles(feed(client_for(world.alice.user)))) == ["医卫团优先", "法律团优先"]
    response = client_for(world.alice.user).post(f"/api/v1/requests/{reserved.pk}/claims/")
    assert response.status_code == 201, response.content


def test_a_commitment_close_in_time_lowers_the_load_term(world, client_for, campaign, settings):
    settings.MATCHING_LOAD_PADDING_HOURS = 2
    mine = near(world, campaign, "已认领的")
    ClaimFactory(request=mine, member=world.alice)
    near(world, campaign, "紧接着的", starts_at=mine.ends_at + timedelta(hours=1))
    near(world, campaign, "第二天的", starts_at=mine.starts_at + timedelta(days=1))
    rows = {row["title"]: row for row in feed(client_for(world.alice.user))["results"]}
    assert rows["紧接着的"]["parts"]["load"] == 0
    assert "该时段已有 1 项任务" in rows["紧接着的"]["reasons"]
    assert rows["第二天的"]["parts"]["load"] == 1
    assert rows["第二天的"]["score"] > rows["紧接着的"]["score"]


def test_service_at_a_station_shows_in_the_reasons(world, client_for, campaign):
    now = timezone.now()
    past = ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        starts_at=now - timedelta(days=3),
        ends_at=now - timedelta(days=3) + timedelta(hours=2),
        status="verified",
    )
    ClaimFactory(request=past, member=world.alice, status=Claim.Status.DONE)
    near(world, campaign, "老地方")
    row = feed(client_for(world.alice.user))["results"][0]
    assert "近30天在该驿站已服务 1 次" in row["reasons"]
    assert row["parts"]["history"] > 0


@pytest.mark.parametrize(
    ("lat", "lng"),
    [
        (30.0194, 122.1028),
        (30.025, 122.075),  # on cell edges: x.5 after scaling
        (29.975, 121.925),
        (30.0249999999, 122.0750000001),
        (-33.8688, 151.2093),
        (0.0, -0.025),
        (89.99, 179.99),
    ],
)
def test_the_feed_reads_the_grid_cell_the_database_gives_a_request(world, campaign, lat, lng):
    made = ServiceRequestFactory(station=world.station, campaign=campaign, lat=lat, lng=lng)
    stored = ServiceRequest.objects.values_list("grid", flat=True).get(pk=made.pk)
    box = BBox(min_lat=lat, min_lng=lng, max_lat=lat, max_lng=lng)
    assert queries.grid_cells(box) == [stored]


def test_the_ranking_total_is_the_score_shown(world, campaign, settings):
    """The feed ranks by a total summed without building every term's dict; it must be the
    very score the page shows (same products, same order), bit for bit."""
    now = timezone.now()
    past = ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        starts_at=now - timedelta(days=3),
        ends_at=now - timedelta(days=3) + timedelta(hours=2),
        status="verified",
    )
    ClaimFactory(request=past, member=world.alice, status=Claim.Status.DONE)
    expired = ServiceRequestFactory(station=world.other_station, campaign=campaign)
    ClaimFactory(
        request=expired,
        member=world.alice,
        status=Claim.Status.EXPIRED,
        claimed_at=now - timedelta(days=5),
    )
    mine = near(world, campaign, "已认领的", km_north=0.2)
    ClaimFactory(request=mine, member=world.alice)
    near(world, campaign, "紧接着的", km_north=1.3, starts_at=mine.ends_at + timedelta(hours=1))
    later = mine.starts_at + timedelta(days=1)
    near(world, campaign, "法律", km_north=2.1, specialties=[world.law], starts_at=later)
    near(world, campaign, "医疗", km_north=3.7, specialties=[world.medical], starts_at=later)
    ServiceRequestFactory(
        station=world.other_station,
        campaign=campaign,
        title="别的驿站",
        lat=HOME.lat + 4.4 * KM,
        lng=HOME.lng,
        starts_at=later + timedelta(days=1),
    )
    result = recommend_for_member(user=world.alice.user, now=now)
    items = feed_page(result, result.entries)
    assert len(items) == 4
    assert [entry.total for entry in result.entries] == [item.score for item in items]
    assert [item.score for item in items] == sorted((item.score for item in items), reverse=True)


def test_the_radius(world, client_for, campaign, settings):
    near(world, campaign, "十五公里外", km_north=15)
    client = client_for(world.alice.user)
    assert feed(client)["count"] == 0  # default radius 10 km
    assert titles(feed(client, radius_km=20)) == ["十五公里外"]
    settings.MATCHING_FEED_DEFAULT_RADIUS_KM = 16
    assert feed(client)["count"] == 1


def test_a_gcj02_point_is_converted(world, client_for, campaign):
    near(world, campaign, "附近", km_north=1)
    lat, lng = wgs84_to_gcj02(HOME.lat, HOME.lng)
    body = feed(client_for(world.alice.user), lat=lat, lng=lng, coord_type="gcj02")
    expected = distance_km(HOME, Point(lat=HOME.lat + KM, lng=HOME.lng))
    assert body["results"][0]["distance_km"] == pytest.approx(expected, abs=0.002)


def test_pages(world, client_for, campaign):
    for i in range(5):
        near(world, campaign, f"需求{i}", km_north=i + 1)
    client = client_for(world.alice.user)
    first = feed(client, page_size=2)
    assert first["count"] == 5
    assert titles(first) == ["需求0", "需求1"]
    assert "page=2" in first["next"]
    assert titles(feed(client, page_size=2, page=3)) == ["需求4"]
    assert_error(client.get(URL, {"page": 9}), 404, common.NOT_FOUND)


def test_only_the_nearest_candidates_are_scored(world, client_for, campaign, settings):
    settings.MATCHING_CANDIDATE_LIMIT = 3
    for i in range(6):
        near(world, campaign, f"第{i}近", km_north=0.5 + i)
    body = feed(client_for(world.alice.user))
    assert body["count"] == 3
    assert sorted(titles(body)) == ["第0近", "第1近", "第2近"]


@pytest.mark.parametrize(
    ("kms", "circles"),
    [
        ((0.5, 1, 1.5, 2, 7), 1),  # the 2.5 km circle holds 4: enough
        ((0.5, 3, 4, 6, 9), 2),  # 1 within 2.5 km, 3 within 5 km
        ((0.5, 6, 9, 12), 3),  # 3 only within the whole 10 km
        ((0.5, 12), 3),  # fewer than the cap within 10 km: those
        ((), 3),
    ],
)
def test_rings_give_the_nearest_within_the_radius(world, campaign, settings, kms, circles):
    """The circles of ¼, ½ and the whole radius give exactly the nearest ``cap`` open requests
    within the radius, reading no circle past the first that fills (one statement each)."""
    settings.MATCHING_CANDIDATE_LIMIT = 3
    made = {near(world, campaign, f"环{km}", km_north=km).pk: km for km in kms}
    with CaptureQueriesContext(connection) as reads:
        rows = queries.nearest_open_rings(HOME, 10.0, 3)
    expected = sorted((km, pk) for pk, km in made.items() if km <= 10)[:3]
    assert [row[0] for row in rows] == [pk for _km, pk in expected]
    assert len(reads) == circles


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the nearest-first GiST index: PostgreSQL"
)


def _scattered(world, campaign, seed: int) -> None:
    """Open requests scattered around alice's home, dense near it and sparse further out,
    with ties (several at one point), full ones, specialties and some not open."""
    rng = random.Random(seed)
    points = [(rng.uniform(-0.13, 0.13), rng.uniform(-0.15, 0.15)) for _ in range(45)]
    points += [(rng.gauss(0, 0.004), rng.gauss(0, 0.004)) for _ in range(25)]
    points += points[:6]  # ties: the same place twice
    for i, (dlat, dlng) in enumerate(points):
        slots = rng.randint(1, 3)
        ServiceRequestFactory(
            station=world.station,
            campaign=campaign,
            title=f"散{i}",
            lat=HOME.lat + dlat,
            lng=HOME.lng + dlng,
            slots=slots,
            claimed=rng.choice([0, slots]),
            specialties=rng.sample([world.law, world.medical], rng.randint(0, 2)),
            status=rng.choice(["open"] * 5 + ["cancelled"]),
        )


@postgresql_only
@pytest.mark.parametrize("seed", [1, 2])
def test_postgresql_reads_the_candidates_of_the_grid_rings_nearest_first(world, campaign, seed):
    """The nearest-first read gives exactly the rows and facts of the grid rings and the read
    by id — at every limit and radius, and when the first read is too short to prove it and
    is made again (``first_read``); one statement when it is not."""
    _scattered(world, campaign, seed)
    again = 0
    for limit in (1, 4, 20, 100):
        for radius in (0.3, 2.0, 10.0, 30.0):
            rows = queries.nearest_open_rings(HOME, radius, limit)
            expected = (rows, queries.request_facts([row[0] for row in rows]))
            for first_read in (None, 1, limit):
                with CaptureQueriesContext(connection) as reads:
                    got = queries.nearest_open_knn(HOME, radius, limit, first_read=first_read)
                assert got == expected, (limit, radius, first_read)
                if first_read is None:
                    assert len(reads) == 1
                again += len(reads) > 1
    assert again > 0  # the second read was exercised


@postgresql_only
def test_postgresql_feed_reads_its_candidates_in_one_statement(world, client_for, campaign):
    _scattered(world, campaign, 3)
    with CaptureQueriesContext(connection) as reads:
        body = feed(client_for(world.alice.user), lat=HOME.lat, lng=HOME.lng)
    assert body["count"] >= 10
    candidates = [q["sql"] for q in reads.captured_queries if "<->" in q["sql"]]
    assert len(candidates) == 1
    assert not any("r.grid" in q["sql"] for q in reads.captured_queries)


@postgresql_only
def test_postgresql_walks_the_nearest_first_index(world, campaign):
    """The read's expression and predicate are the index's (migration services/0007), so the
    index can serve it nearest first: a mismatch would fall back to sorting every open row."""
    _scattered(world, campaign, 4)
    statements = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        queries.nearest_open_knn(HOME, 10.0, 20)
    ((sql, params),) = statements
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Index Only Scan using {queries.KNN_INDEX}" in plan, plan
    assert "Order By: ((point(lng, lat)) <-> " in plan, plan


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ({"radius_km": "0"}, geo_errors.INVALID_RADIUS, "radius_km"),
        ({"radius_km": "-3"}, geo_errors.INVALID_RADIUS, "radius_km"),
        ({"radius_km": "50.1"}, geo_errors.INVALID_RADIUS, "radius_km"),
        ({"radius_km": "nan"}, geo_errors.INVALID_RADIUS, "radius_km"),
        ({"radius_km": "inf"}, geo_errors.INVALID_RADIUS, "radius_km"),
        ({"radius_km": "abc"}, geo_errors.INVALID_RADIUS, "radius_km"),
        ({"radius_km": "1" * 400}, geo_errors.INVALID_RADIUS, "radius_km"),
        ({"radius_km": "1_0"}, geo_errors.INVALID_RADIUS, "radius_km"),
        ({"radius_km": "0x10"}, geo_errors.INVALID_RADIUS, "radius_km"),
        ({"lat": "91", "lng": "122"}, geo_errors.INVALID_COORDINATES, "lat"),
        ({"lat": "30", "lng": "181"}, geo_errors.INVALID_COORDINATES, "lng"),
        ({"lat": "nan", "lng": "122"}, geo_errors.INVALID_COORDINATES, "lat"),
        ({"lat": "30", "lng": "abc"}, geo_errors.INVALID_COORDINATES, "lng"),
        ({"lat": "30"}, geo_errors.INVALID_COORDINATES, "lng"),
        ({"lng": "122"}, geo_errors.INVALID_COORDINATES, "lat"),
        ({"coord_type": "bd09"}, geo_errors.UNKNOWN_COORD_TYPE, "coord_type"),
        (
            {"lat": "30", "lng": "122", "coord_type": "x"},
            geo_errors.UNKNOWN_COORD_TYPE,
            "coord_type",
        ),
        ({"lat": "60", "lng": "10", "coord_type": "gcj02"}, geo_errors.OUTSIDE_CHINA, "lng"),
        ({"coord_type": "w" * 50}, common.VALIDATION_ERROR, "coord_type"),
    ],
)
def test_bad_input_is_refused_clearly(world, client_for, query, code, field):
    body = assert_error(client_for(world.alice.user).get(URL, query), 400, code)
    assert field in body["fields"]


def test_only_members_have_a_feed(world, client_for, anon, campaign):
    near(world, campaign, "需求")
    for user in (world.mary, world.sam, world.lily, world.oscar):
        assert_error(client_for(user).get(URL), 403, common.PERMISSION_DENIED)
    assert_error(anon.get(URL), 401, common.NOT_AUTHENTICATED)
    no_profile = UserFactory(is_member=True)
    assert_error(client_for(no_profile).get(URL), 403, errors.MEMBER_PROFILE_REQUIRED)
    retired = MemberFactory(active=False)
    assert_error(client_for(retired.user).get(URL), 403, errors.MEMBER_PROFILE_REQUIRED)


def test_query_count_does_not_grow_with_candidates_or_page_size(world, client_for, campaign):
    client = client_for(world.alice.user)
    mine = near(world, campaign, "已认领", km_north=0.1, starts_at=timezone.now() + timedelta(5))
    ClaimFactory(request=mine, member=world.alice)
    for i in range(2):
        near(world, campaign, f"少{i}", km_north=i + 1, specialties=[world.law])
    with CaptureQueriesContext(connection) as few:
        assert feed(client, page_size=1)["count"] == 2
    for i in range(25):
        near(world, campaign, f"多{i}", km_north=(i % 9) + 0.5, specialties=[world.medical])
    with CaptureQueriesContext(connection) as many:
        body = feed(client, page_size=20)
    assert body["count"] == 27 and len(body["results"]) == 20
    assert len(many) == len(few), [q["sql"][:80] for q in many.captured_queries]
