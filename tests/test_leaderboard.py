"""GET points/leaderboard/: members by points for a period, names masked for the viewer."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import errors as common
from services import errors, rollups
from tests.factories import (
    MemberFactory,
    PointEntryFactory,
    PointRuleFactory,
    ServiceRecordFactory,
    TeamFactory,
)
from tests.records_fixtures import LEADERBOARD_URL, ensure_rules
from tests.test_errors import assert_error

DAY = date(2026, 3, 15)


@pytest.fixture
def table(world):
    """Points on DAY: alice 10, bob 10 (ties), charlie 4; an older award of charlie's; a
    reversed award of alice's that nets to nothing."""
    rules = ensure_rules()
    participation = rules["participation"]

    def award(member, points, *, day=DAY, team=None, reverse=False):
        record = ServiceRecordFactory(service_date=day)
        PointEntryFactory(
            member=member,
            rule=participation,
            points=points,
            record=record,
            service_date=day,
            team=team or member.team,
        )
        if reverse:
            PointEntryFactory(
                member=member,
                rule=participation,
                points=-points,
                award=False,
                record=record,
                service_date=day,
                team=team or member.team,
            )
        # Ledger lines written around the workflow: the member rollup is rebuilt from them.
        rollups.rebuild()

    award(world.alice, 5)
    award(world.alice, 5)
    award(world.alice, 7, reverse=True)
    award(world.bob, 10)
    award(world.charlie, 4)
    award(world.charlie, 50, day=DAY - timedelta(days=90))
    return award


def board(client, **params):
    response = client.get(LEADERBOARD_URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_members_ranked_by_points_in_the_period(world, client_for, table):
    body = board(client_for(world.sam), **{"from": "2026-03-01", "to": "2026-03-31"})

    assert (body["from"], body["to"], body["team"]) == ("2026-03-01", "2026-03-31", None)
    rows = [
        (r["rank"], r["member"]["name"], r["points"], r["participations"]) for r in body["results"]
    ]
    # Ties share a rank; the reversed award counts for nothing, in points and participations.
    assert rows == [(1, "王丽", 10, 2), (1, "鲍勃", 10, 1), (3, "陈晨", 4, 1)]
    assert body["results"][0]["team"] == {"id": world.team.pk, "name": "法律服务团"}
    # A wider period takes in charlie's older award.
    body = board(client_for(world.sam), **{"from": "2025-12-01", "to": "2026-03-31"})
    assert body["results"][0]["member"]["name"] == "陈晨" and body["results"][0]["points"] == 54


def test_the_period_defaults_to_the_year_of_to(world, client_for, table):
    body = board(client_for(world.sam), to="2026-03-15")
    assert body["from"] == "2026-01-01"
    assert [r["points"] for r in body["results"]] == [10, 10, 4]
    body = board(client_for(world.sam))
    today = timezone.localdate()
    assert (body["from"], body["to"]) == (f"{today.year}-01-01", today.isoformat())


def test_the_team_filter_counts_points_earned_with_that_team(world, client_for, table):
    body = board(
        client_for(world.sam), **{"from": "2026-01-01", "to": "2026-12-31", "team": world.team.pk}
    )
    assert [r["member"]["name"] for r in body["results"]] == ["王丽", "鲍勃"]
    empty = board(client_for(world.sam), **{"from": "2026-01-01", "to": "2026-12-31", "team": 999})
    assert empty["results"] == []


def test_limit(world, client_for, table, settings):
    body = board(client_for(world.sam), **{"from": "2026-03-01", "to": "2026-03-31", "limit": 2})
    assert len(body["results"]) == 2
    settings.POINTS_LEADERBOARD_LIMIT = 1
    body = board(client_for(world.sam), **{"from": "2026-03-01", "to": "2026-03-31"})
    assert len(body["results"]) == 1


def test_names_are_masked_for_members_but_not_their_own(world, client_for, table):
    period = {"from": "2026-03-01", "to": "2026-03-31"}
    seen_by_alice = [
        r["member"]["name"] for r in board(client_for(world.alice.user), **period)["results"]
    ]
    assert seen_by_alice == ["王丽", "鲍*", "陈*"]
    seen_by_liaison = [
        r["member"]["name"] for r in board(client_for(world.lily), **period)["results"]
    ]
    assert seen_by_liaison == ["王*", "鲍*", "陈*"]
    seen_by_manager = [
        r["member"]["name"] for r in board(client_for(world.mary), **period)["results"]
    ]
    assert seen_by_manager == ["王丽", "鲍勃", "陈晨"]


def test_anonymous_is_401(anon, db):
    assert_error(anon.get(LEADERBOARD_URL), 401, common.NOT_AUTHENTICATED)


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"from": "2026-04-01", "to": "2026-03-01"}, errors.INVALID_PERIOD, "from"),
        ({"from": "2026-13-01"}, common.VALIDATION_ERROR, "from"),
        ({"to": "yesterday"}, common.VALIDATION_ERROR, "to"),
        ({"limit": 0}, common.VALIDATION_ERROR, "limit"),
        ({"limit": 101}, common.VALIDATION_ERROR, "limit"),
        ({"limit": "ten"}, common.VALIDATION_ERROR, "limit"),
        ({"team": "x"}, common.VALIDATION_ERROR, "team"),
        ({"team": 0}, common.VALIDATION_ERROR, "team"),
        ({"team": 2**63}, common.VALIDATION_ERROR, "team"),
    ],
)
def test_bad_parameters_are_400(world, client_for, params, code, field):
    body = assert_error(client_for(world.alice.user).get(LEADERBOARD_URL, params), 400, code)
    assert field in body["fields"]


def test_one_query_whatever_the_size(world, client_for):
    rule = PointRuleFactory(kind="participation")
    client = client_for(world.sam)
    counts = []
    for extra in (3, 30):
        for _ in range(extra):
            member = MemberFactory(team=TeamFactory())
            PointEntryFactory(member=member, rule=rule, points=5, service_date=DAY)
        rollups.rebuild()
        with CaptureQueriesContext(connection) as queries:
            body = board(client, **{"from": "2026-03-01", "to": "2026-03-31", "limit": 100})
        counts.append(len(queries))
        assert len(body["results"]) >= extra
    assert counts[0] == counts[1], counts
