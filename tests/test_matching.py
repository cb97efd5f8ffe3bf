"""GET requests/{id}/matches/: teams ranked for a need; the scoring model behind it."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.serializers import ListSerializer, Serializer

from accounts import errors as common
from services.matching.scoring import (
    TERMS,
    Actor,
    Facts,
    ScoringModel,
    distance_term,
    history_term,
    load_term,
    reliability_term,
    score,
)
from services.matching.serializers import MatchSerializer
from services.matching.teams import match_teams
from services.models import Claim
from stations.geo import Point, distance_km, geodesic_km
from tests import services_fixtures
from tests.factories import (
    ClaimFactory,
    MemberFactory,
    ServiceRequestFactory,
    SpecialtyFactory,
    TeamFactory,
)
from tests.services_fixtures import request_url
from tests.test_errors import assert_error

campaign = services_fixtures.campaign
open_request = services_fixtures.open_request

# One degree of latitude is about 111.2 km.
KM = 1 / 111.2


def team_at(world, name, *, km_north=0.0, specialties=(), member_specialties=(), members=1):
    """A team whose home lies ``km_north`` of world.village, with active members."""
    team = TeamFactory(
        name=name,
        home_town=world.town,
        home_lat=world.village.lat + km_north * KM,
        home_lng=world.village.lng,
        specialties=list(specialties),
    )
    for _ in range(members):
        MemberFactory(team=team, specialties=list(member_specialties))
    return team


def matches(client, service_request, **query):
    response = client.get(request_url(service_request, "matches/"), query)
    assert response.status_code == 200, response.content
    return response.json()


def names(rows) -> list[str]:
    return [row["team"]["name"] for row in rows]


def assert_shape(data, serializer) -> None:
    """``data`` has exactly the fields ``serializer`` documents, nested ones included, and
    null only where the schema allows it: the hand-built responses cannot drift from it."""
    if isinstance(serializer, ListSerializer):
        assert isinstance(data, list)
        for item in data:
            assert_shape(item, serializer.child)
        return
    assert isinstance(data, dict), data
    assert set(data) == set(serializer.fields), set(data) ^ set(serializer.fields)
    for name, field in serializer.fields.items():
        value = data[name]
        if value is None:
            assert field.allow_null, name
        elif isinstance(field, (Serializer, ListSerializer)):
            assert_shape(value, field)


# ---------------------------------------------------------------- the endpoint


def test_manager_gets_teams_ranked_with_reasons(world, client_for, open_request):
    rows = matches(client_for(world.mary), open_request)
    assert names(rows) == ["法律服务团", "医卫服务团"]
    best = rows[0]
    assert best["team"] == {
        "id": world.team.pk,
        "name": "法律服务团",
        "sector": "法律界",
        "home_town": {"id": world.town.pk, "name": "昌国街道"},
        "member_count": 2,
    }
    assert best["matched_specialties"] == [{"id": world.law.pk, "code": "law", "name": "法律"}]
    expected_km = distance_km(
        Point(lat=open_request.lat, lng=open_request.lng), Point(lat=30.02, lng=122.10)
    )
    assert best["distance_km"] == pytest.approx(expected_km, abs=0.001)
    assert best["reasons"] == [
        "专长匹配：法律",
        f"距离 {expected_km:.1f} 公里",
        "该时段空闲",
        "近90天无爽约",
        "近30天未在该驿站服务",
    ]
    assert set(best["parts"]) == {"specialty", "distance", "load", "reliability", "history"}
    assert all(0 <= value <= 1 for row in rows for value in row["parts"].values())
    assert rows[1]["matched_specialties"] == []
    assert rows[1]["reasons"][0] == "专长不匹配（需要：法律）"
    assert rows[0]["score"] > rows[1]["score"]
    assert_shape(rows, MatchSerializer(many=True))


def test_staff_gets_matches_too(world, client_for, open_request):
    assert names(matches(client_for(world.sam), open_request))[0] == "法律服务团"


def test_a_closer_team_with_the_same_specialties_ranks_higher(world, client_for, open_request):
    team_at(world, "远处法律团", km_north=15, specialties=[world.law])
    team_at(world, "近处法律团", km_north=0.5, specialties=[world.law])
    ranked = names(matches(client_for(world.mary), open_request))
    assert ranked.index("近处法律团") < ranked.index("远处法律团")


def test_a_team_without_the_specialty_ranks_below_one_with_it(world, client_for, open_request):
    team_at(world, "同处医疗团", km_north=1, specialties=[world.medical])
    team_at(world, "同处法律团", km_north=1, specialties=[world.law])
    rows = matches(client_for(world.mary), open_request)
    ranked = names(rows)
    assert ranked.index("同处法律团") < ranked.index("同处医疗团")
    medical = rows[ranked.index("同处医疗团")]
    assert medical["parts"]["specialty"] == 0
    assert medical["matched_specialties"] == []


def test_a_specialty_held_only_by_members_counts_partly(world, client_for, open_request, settings):
    team_at(world, "团队有专长", km_north=1, specialties=[world.law])
    team_at(world, "委员有专长", km_north=1, member_specialties=[world.law])
    team_at(world, "都没有专长", km_north=1)
    rows = {row["team"]["name"]: row for row in matches(client_for(world.mary), open_request)}
    assert rows["团队有专长"]["parts"]["specialty"] == 1
    credit = settings.MATCHING_SECONDARY_SPECIALTY_CREDIT
    assert rows["委员有专长"]["parts"]["specialty"] == pytest.approx(credit, abs=0.001)
    assert rows["委员有专长"]["reasons"][0] == "专长匹配：法律"
    assert rows["都没有专长"]["parts"]["specialty"] == 0
    assert rows["团队有专长"]["score"] > rows["委员有专长"]["score"] > rows["都没有专长"]["score"]


def test_a_team_overbooked_in_the_window_drops(world, client_for, open_request):
    free = team_at(world, "空闲团", km_north=2, specialties=[world.law], members=2)
    busy = team_at(world, "忙碌团", km_north=2, specialties=[world.law], members=2)
    # Both members of the busy team hold claims overlapping the request's window.
    for member in busy.members.all():
        other = ServiceRequestFactory(
            station=world.other_station,
            starts_at=open_request.starts_at + timedelta(hours=1),
            ends_at=open_request.ends_at + timedelta(hours=1),
        )
        ClaimFactory(request=other, member=member)
    rows = {row["team"]["name"]: row for row in matches(client_for(world.mary), open_request)}
    assert rows["空闲团"]["score"] > rows["忙碌团"]["score"]
    assert rows["忙碌团"]["parts"]["load"] == 0
    assert "该时段已有 2 项任务" in rows["忙碌团"]["reasons"]
    assert "该时段空闲" in rows["空闲团"]["reasons"]
    assert free.pk != busy.pk


def test_claims_far_from_the_window_do_not_count_as_busy(world, client_for, open_request):
    team = team_at(world, "隔天有任务", km_north=2, specialties=[world.law])
    later = ServiceRequestFactory(
        station=world.other_station,
        starts_at=open_request.starts_at + timedelta(days=1),
        ends_at=open_request.ends_at + timedelta(days=1),
    )
    ClaimFactory(request=later, member=team.members.get())
    rows = {row["team"]["name"]: row for row in matches(client_for(world.mary), open_request)}
    assert rows["隔天有任务"]["parts"]["load"] == 1


def test_history_at_the_station_and_no_shows_show_in_reasons(world, client_for, open_request):
    served = team_at(world, "常来团", km_north=3, specialties=[world.law])
    flaky = team_at(world, "爽约团", km_north=3, specialties=[world.law])
    now = timezone.now()
    for days in (5, 12):
        past = ServiceRequestFactory(
            station=world.station,
            starts_at=now - timedelta(days=days),
            ends_at=now - timedelta(days=days) + timedelta(hours=2),
            status="verified",
        )
        ClaimFactory(
            request=past,
            member=served.members.get(),
            status=Claim.Status.DONE,
            claimed_at=now - timedelta(days=days + 1),
            checked_in_at=now - timedelta(days=days),
        )
    missed = ServiceRequestFactory(
        station=world.other_station,
        starts_at=now - timedelta(days=3),
        ends_at=now - timedelta(days=3) + timedelta(hours=2),
        status="expired",
    )
    ClaimFactory(
        request=missed,
        member=flaky.members.get(),
        status=Claim.Status.EXPIRED,
        claimed_at=now - timedelta(days=4),
    )
    rows = {row["team"]["name"]: row for row in matches(client_for(world.mary), open_request)}
    assert "近30天已服务 2 次" in rows["常来团"]["reasons"]
    assert rows["常来团"]["parts"]["history"] > 0
    assert "近90天爽约 1 次" in rows["爽约团"]["reasons"]
    assert rows["爽约团"]["parts"]["reliability"] < 1
    names_ranked = list(rows)
    assert names_ranked.index("常来团") < names_ranked.index("爽约团")


def test_teams_beyond_the_cut_off_are_not_ranked(world, client_for, open_request, settings):
    team_at(world, "岛外法律团", km_north=60, specialties=[world.law])
    assert "岛外法律团" not in names(matches(client_for(world.mary), open_request))
    settings.MATCHING_MAX_DISTANCE_KM = 10
    ranked = names(matches(client_for(world.mary), open_request))
    assert ranked == ["法律服务团"]  # the medical team is 21.7 km away


def test_inactive_teams_and_teams_without_active_members_are_not_ranked(
    world, client_for, open_request
):
    inactive = team_at(world, "停用团", km_north=1, specialties=[world.law])
    inactive.active = False
    inactive.save()
    empty = team_at(world, "空壳团", km_north=1, specialties=[world.law], members=0)
    gone = team_at(world, "离册团", km_north=1, specialties=[world.law])
    gone.members.update(active=False)
    ranked = names(matches(client_for(world.mary), open_request))
    assert not {"停用团", "空壳团", "离册团"} & set(ranked)
    assert empty.pk


def test_a_team_without_a_home_stands_at_its_home_town(world, client_for, open_request):
    team = TeamFactory(
        name="无驻地团", home_town=world.town, home_lat=None, home_lng=None, specialties=[world.law]
    )
    MemberFactory(team=team)
    rows = {row["team"]["name"]: row for row in matches(client_for(world.mary), open_request)}
    expected = distance_km(
        Point(lat=open_request.lat, lng=open_request.lng),
        Point(lat=world.town.lat, lng=world.town.lng),
    )
    assert rows["无驻地团"]["distance_km"] == pytest.approx(expected, abs=0.001)


def test_a_request_naming_no_specialty_fits_every_team(world, client_for, campaign):
    service_request = ServiceRequestFactory(station=world.station, campaign=campaign)
    rows = matches(client_for(world.mary), service_request)
    assert all(row["parts"]["specialty"] == 1 for row in rows)
    assert all(row["reasons"][0] == "需求不限专长" for row in rows)
    assert names(rows) == ["法律服务团", "医卫服务团"]  # then by distance


def test_weights_come_from_settings(world, client_for, open_request, settings):
    # A specialist far away against a generalist next door: distance decides when it is
    # the only weight, specialty when it is.
    team_at(world, "远方专家团", km_north=30, specialties=[world.law])
    team_at(world, "隔壁团", km_north=0.2)
    settings.MATCHING_WEIGHTS = {**settings.MATCHING_WEIGHTS, "specialty": 0, "distance": 1}
    ranked = names(matches(client_for(world.mary), open_request))
    assert ranked.index("隔壁团") < ranked.index("远方专家团")
    settings.MATCHING_WEIGHTS = {
        "specialty": 1,
        "distance": 0,
        "load": 0,
        "reliability": 0,
        "history": 0,
    }
    ranked = names(matches(client_for(world.mary), open_request))
    assert ranked.index("远方专家团") < ranked.index("隔壁团")


def test_limit(world, client_for, open_request, settings):
    for i in range(5):
        team_at(world, f"附近团{i}", km_north=i + 1, specialties=[world.law])
    client = client_for(world.mary)
    assert len(matches(client, open_request)) == 7
    assert len(matches(client, open_request, limit=3)) == 3
    settings.MATCHING_MATCHES_DEFAULT_LIMIT = 4
    assert len(matches(client, open_request)) == 4


@pytest.mark.parametrize("limit", ["0", "-1", "51", "abc", "1.5", "1e3", "9" * 30, "true"])
def test_bad_limits_are_refused(world, client_for, open_request, limit):
    response = client_for(world.mary).get(request_url(open_request, "matches/"), {"limit": limit})
    body = assert_error(response, 400, common.VALIDATION_ERROR)
    assert "limit" in body["fields"]


def test_only_the_stations_managers_and_staff_may_ask(world, client_for, anon, open_request):
    url = request_url(open_request, "matches/")
    for user in (world.alice.user, world.oscar, world.lily, world.charlie.user):
        body = assert_error(client_for(user).get(url), 403, common.PERMISSION_DENIED)
        assert "法律服务团" not in str(body)
    assert_error(anon.get(url), 401, common.NOT_AUTHENTICATED)
    # A bad limit from someone who may not ask is still a 403: nothing about the request leaks.
    assert_error(client_for(world.oscar).get(url, {"limit": "0"}), 403, common.PERMISSION_DENIED)


def test_unknown_requests_are_404(world, client_for):
    for pk in (999999, 2**63, 10**30):
        response = client_for(world.sam).get(f"/api/v1/requests/{pk}/matches/")
        assert_error(response, 404, common.NOT_FOUND)


def test_matches_is_read_only(world, client_for, open_request):
    response = client_for(world.mary).post(request_url(open_request, "matches/"), {})
    assert_error(response, 405, common.METHOD_NOT_ALLOWED)


def _crowd(world, count: int) -> None:
    """``count`` teams near world.village, each with members, specialties and claims."""
    past = ServiceRequestFactory(
        station=world.station,
        starts_at=timezone.now() - timedelta(days=2),
        ends_at=timezone.now() - timedelta(days=2) + timedelta(hours=2),
        status="verified",
        slots=100,
    )
    for i in range(count):
        team = team_at(
            world,
            f"人群团{count}-{i}",
            km_north=i * 0.3,
            specialties=[world.law],
            member_specialties=[world.medical],
            members=2,
        )
        ClaimFactory(request=past, member=team.members.first(), status=Claim.Status.DONE)


def test_query_count_does_not_grow_with_teams_or_limit(world, client_for, open_request):
    client = client_for(world.mary)
    url = request_url(open_request, "matches/")
    _crowd(world, 2)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url, {"limit": 2}).status_code == 200
    _crowd(world, 15)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url, {"limit": 15})
    assert len(response.json()) == 15
    assert len(many) == len(few), [q["sql"][:80] for q in many.captured_queries]


def _varied_crowd(world, open_request, count: int, seed: int) -> None:
    """Teams near the request that differ in every term: distance, own and member-held
    specialties, live claims in the request's window, no-shows, service at the station."""
    rng = random.Random(seed)
    now = timezone.now()
    served = ServiceRequestFactory(
        station=world.station,
        starts_at=now - timedelta(days=4),
        ends_at=now - timedelta(days=4) + timedelta(hours=2),
        status="verified",
        slots=count,
    )
    expired = ServiceRequestFactory(
        station=world.other_station,
        starts_at=now - timedelta(days=3),
        ends_at=now - timedelta(days=3) + timedelta(hours=2),
        status="expired",
        slots=count,
    )
    overlapping = ServiceRequestFactory(
        station=world.other_station,
        starts_at=open_request.starts_at,
        ends_at=open_request.ends_at,
        slots=count * 3,
    )
    for i in range(count):
        team = team_at(
            world,
            f"多样团{seed}-{i}",
            km_north=rng.uniform(0, 30),
            specialties=[world.law] if rng.random() < 0.5 else [],
            member_specialties=[world.law] if rng.random() < 0.5 else [],
            members=rng.randint(1, 3),
        )
        members = list(team.members.all())
        for member in members[: rng.randint(0, len(members))]:
            ClaimFactory(request=overlapping, member=member)
        if rng.random() < 0.3:
            ClaimFactory(
                request=served,
                member=members[0],
                status=Claim.Status.DONE,
                claimed_at=now - timedelta(days=5),
                checked_in_at=now - timedelta(days=4),
            )
        elif rng.random() < 0.3:
            ClaimFactory(
                request=expired,
                member=members[0],
                status=Claim.Status.EXPIRED,
                claimed_at=now - timedelta(days=4),
            )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bounds_skip_reads_but_never_change_the_ranking(world, open_request, settings, seed):
    """Members and claims are read only for teams whose best possible score can still rank;
    reading every candidate in full gives exactly the same answer, at every limit."""
    _varied_crowd(world, open_request, 40, seed)
    now = timezone.now()
    for limit in (1, 3, 10, 50):
        settings.MATCHING_BOUND_MARGIN = 0
        bounded = match_teams(service_request=open_request, limit=limit, now=now)
        settings.MATCHING_BOUND_MARGIN = 10**6
        full = match_teams(service_request=open_request, limit=limit, now=now)
        assert bounded.matches == full.matches
        assert full.read_in_full == full.candidates
        assert bounded.candidates == full.candidates > 40
        if limit == 1:
            assert bounded.read_in_full < bounded.candidates


def test_reads_stay_bounded_when_bounds_prune_nothing(world, client_for, open_request, settings):
    """With no margin, the second read takes every team left that can still rank: two reads
    of members and claims at most, however many teams there are."""
    settings.MATCHING_BOUND_MARGIN = 0
    client = client_for(world.mary)
    url = request_url(open_request, "matches/")
    _crowd(world, 2)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url, {"limit": 1}).status_code == 200
    _varied_crowd(world, open_request, 30, 4)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(url, {"limit": 50}).json()) > 30
    assert len(many) <= len(few) + 1, [q["sql"][:80] for q in many.captured_queries]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
def test_postgresql_prepares_the_fixed_reads_and_answers_the_same(
    world, client_for, open_request, settings
):
    _varied_crowd(world, open_request, 10, 5)
    client = client_for(world.mary)
    first = matches(client, open_request)
    for _ in range(settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"] + 2):
        assert matches(client, open_request) == first
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    # The request's side, the candidate teams, their members and claims.
    for start in (
        "SELECT 'request' AS kind, r.id, r.station_id",
        "SELECT t.id, t.name, t.sector",
        "SELECT 'member' AS kind, m.team_id",
    ):
        assert any(sql.startswith(start) for sql in prepared), (start, prepared)


# ---------------------------------------------------------------- the model


def test_terms_stay_in_range_and_the_score_is_their_weighted_mean(settings):
    model = ScoringModel.from_settings()
    rng = random.Random(5)
    for _ in range(500):
        required = tuple(rng.sample(range(1, 8), rng.randint(0, 3)))
        actor = Actor(
            primary=frozenset(rng.sample(range(1, 8), rng.randint(0, 3))),
            secondary=frozenset(rng.sample(range(1, 8), rng.randint(0, 3))),
            capacity=rng.randint(0, 5),
        )
        facts = Facts(
            required=required,
            km=rng.uniform(0, 60),
            busy=rng.randint(0, 6),
            no_shows=rng.randint(0, 4),
            kept=rng.randint(0, 9),
            served=rng.randint(0, 6),
        )
        result = score(model, actor, facts)
        assert all(0 <= value <= 1 for value in result.parts.values())
        weights = settings.MATCHING_WEIGHTS
        expected = sum(weights[t] * result.parts[t] for t in TERMS) / sum(weights.values())
        assert result.total == pytest.approx(expected)
        assert set(result.matched) <= set(required)


def test_the_distance_term_halves_every_half_distance(settings):
    settings.MATCHING_DISTANCE_HALF_KM = 10
    assert distance_term(0, 10) == 1
    assert distance_term(10, 10) == pytest.approx(0.5)
    assert distance_term(30, 10) == pytest.approx(0.125)


def test_reliability_and_history_terms():
    assert reliability_term(0, 0) == 1
    assert reliability_term(1, 0) == 0.5
    assert reliability_term(1, 9) == pytest.approx(10 / 11)
    assert history_term(0, 3) == 0
    assert history_term(2, 3) == pytest.approx(2 / 3)
    assert history_term(7, 3) == 1
    assert load_term(0, 0) == 0
    assert load_term(1, 4) == 0.75


def test_displayed_distances_are_geodesic():
    rng = random.Random(9)
    for _ in range(300):
        a = Point(lat=rng.uniform(27, 31.2), lng=rng.uniform(118, 123))
        b = Point(lat=rng.uniform(27, 31.2), lng=rng.uniform(118, 123))
        assert geodesic_km(a, b) == pytest.approx(distance_km(a, b), abs=1e-6)
    # Nearly antipodal: Vincenty does not converge there; the Karney fallback answers.
    a, b = Point(lat=0.0, lng=0.0), Point(lat=0.5, lng=179.7)
    assert geodesic_km(a, b) == pytest.approx(distance_km(a, b), abs=1e-6)
    assert geodesic_km(a, a) == 0


def test_a_new_specialty_shows_its_name(world, client_for, campaign):
    elderly = SpecialtyFactory(code="elderly", name="养老")
    service_request = ServiceRequestFactory(
        station=world.station, campaign=campaign, specialties=[elderly, world.law]
    )
    team_at(world, "养老服务团", km_north=1, specialties=[elderly])
    rows = {row["team"]["name"]: row for row in matches(client_for(world.mary), service_request)}
    assert rows["养老服务团"]["reasons"][0] == "专长匹配：养老"
    assert rows["法律服务团"]["reasons"][0] == "专长匹配：法律"
    assert rows["医卫服务团"]["reasons"][0] == "专长不匹配（需要：法律、养老）"
