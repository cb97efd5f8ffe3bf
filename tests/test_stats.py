"""GET stats/summary/ and stats/breakdown/: figures, scope per persona, bad input."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone

from accounts import errors as common_errors
from services import errors
from services.models import Campaign
from services.stats import selectors as stats
from tests import stats_fixtures
from tests.factories import CampaignFactory, StationFactory, UserFactory
from tests.stats_fixtures import (
    BREAKDOWN_URL,
    PERIOD,
    SUMMARY_URL,
    YEAR,
    served,
)
from tests.test_errors import assert_error

# The shared ledger of verified services (pytest finds fixtures among module attributes).
ledger = stats_fixtures.ledger


def summary(client, **params):
    response = client.get(SUMMARY_URL, {**PERIOD, **params})
    assert response.status_code == 200, response.content
    return response.json()


def breakdown(client, by, **params):
    response = client.get(BREAKDOWN_URL, {**PERIOD, "by": by, **params})
    assert response.status_code == 200, response.content
    return response.json()


def rows_by_key(body):
    return {row["key"]: row for row in body["rows"]}


# ---------------------------------------------------------------- summary


def test_staff_summary_counts_only_verified_records_of_the_period(world, ledger, client_for):
    body = summary(client_for(world.sam))

    assert body["from"] == f"{YEAR}-01-01" and body["to"] == f"{YEAR}-12-31"
    assert body["town"] is None and body["campaign_kind"] is None
    assert body["people_served"] == ledger.people_served == 62
    assert body["enterprises_served"] == 4
    assert body["households_visited"] == 13
    assert body["records_verified"] == 3
    assert body["participations"] == 5
    assert body["active_members"] == 3
    assert body["requests_posted"] == 8
    assert body["requests_completed"] == 5
    assert body["requests_verified"] == 3
    assert body["requests_cancelled"] == 1
    assert body["requests_expired"] == 1
    assert body["completion_rate"] == pytest.approx(5 / 7, abs=1e-4)
    assert body["median_hours_to_claim"] == 4.0
    assert body["median_hours_to_verify"] == 3.0


def test_summary_splits_by_kind_and_tracks_campaign_targets(world, ledger, client_for):
    body = summary(client_for(world.sam))

    kinds = {row["kind"]: row for row in body["by_kind"]}
    assert list(kinds) == ["warm_enterprise", "warm_village", "warm_heart"]
    assert kinds["warm_village"] == {
        "kind": "warm_village",
        "label": "暖岙",
        "records": 2,
        "people_served": 50,
        "enterprises_served": 0,
        "households_visited": 13,
        "participations": 4,
        "service_minutes": 450,
        "service_hours": 7.5,
    }
    assert kinds["warm_enterprise"]["people_served"] == 12
    assert kinds["warm_heart"]["people_served"] == 0
    assert sum(row["people_served"] for row in body["by_kind"]) == body["people_served"]

    campaigns = {row["name"]: row for row in body["campaigns"]}
    village = campaigns[ledger.village_campaign.name]
    assert village["target_served"] == 1000 and village["people_served"] == 50
    assert village["progress"] == 0.05
    assert campaigns[ledger.enterprise_campaign.name]["progress"] == 0.12
    # Last year's campaign does not run in the period.
    assert len(campaigns) == 2


def test_summary_filters_by_town_and_kind(world, ledger, client_for):
    staff = client_for(world.sam)

    other = summary(staff, town=world.other_town.pk)
    assert other["town"] == world.other_town.pk
    assert other["people_served"] == 20 and other["active_members"] == 2
    assert other["requests_posted"] == 3  # r3, the rejected one's request, the open one

    enterprise = summary(staff, campaign_kind="warm_enterprise")
    assert enterprise["people_served"] == 12 and enterprise["participations"] == 1
    assert [row["kind"] for row in enterprise["by_kind"]] == ["warm_enterprise"]
    assert [row["name"] for row in enterprise["campaigns"]] == [ledger.enterprise_campaign.name]

    march = summary(staff, **{"from": f"{YEAR}-03-01", "to": f"{YEAR}-03-31"})
    assert march["people_served"] == 42 and march["records_verified"] == 2


def test_dates_are_shanghai_calendar_days(world, ledger, client_for):
    # r1 took place at 09:00 on 10 March in Shanghai: 01:00 UTC, the same day either way; a
    # service at 07:00 Shanghai is still the previous day in UTC and must count on its own day.
    from tests.stats_fixtures import at

    record = served(
        station=world.station,
        campaign=ledger.village_campaign,
        day=date(YEAR, 7, 1),
        people=9,
        members=[world.alice],
    )
    record.request.starts_at = at(date(YEAR, 7, 1), 7)
    record.request.save(update_fields=["starts_at"])
    staff = client_for(world.sam)

    july_first = summary(staff, **{"from": f"{YEAR}-07-01", "to": f"{YEAR}-07-01"})
    assert july_first["people_served"] == 9 and july_first["requests_posted"] == 1
    june_30 = summary(staff, **{"from": f"{YEAR}-06-30", "to": f"{YEAR}-06-30"})
    assert june_30["people_served"] == 0 and june_30["requests_posted"] == 0


def test_median_of_an_even_count_is_the_mean_of_the_middle_two(world, ledger, client_for):
    served(
        station=world.station,
        campaign=ledger.village_campaign,
        day=date(YEAR, 8, 1),
        people=1,
        members=[world.alice],
        hours_to_claim=20,
        hours_to_verify=7,
    )
    body = summary(client_for(world.sam))
    assert body["median_hours_to_claim"] == 7.0  # 2, 4, 10, 20
    assert body["median_hours_to_verify"] == 4.0  # 1, 3, 5, 7


def test_an_empty_period_has_zeros_and_no_rates(world, client_for):
    body = summary(client_for(world.sam), **{"from": "2001-01-01", "to": "2001-12-31"})
    assert body["people_served"] == 0 and body["active_members"] == 0
    assert body["completion_rate"] is None
    assert body["median_hours_to_claim"] is None and body["median_hours_to_verify"] is None
    assert all(row["people_served"] == 0 for row in body["by_kind"])


def test_the_default_period_is_this_calendar_year(world, client_for):
    campaign = CampaignFactory(kind=Campaign.Kind.WARM_HEART)
    today = timezone.localdate()
    served(station=world.station, campaign=campaign, day=today, people=6, members=[world.alice])

    response = client_for(world.sam).get(SUMMARY_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["from"] == f"{today.year}-01-01" and body["to"] == f"{today.year}-12-31"
    assert body["people_served"] == 6
    only_to = client_for(world.sam).get(SUMMARY_URL, {"to": f"{YEAR}-06-30"}).json()
    assert only_to["from"] == f"{YEAR}-01-01"


# ---------------------------------------------------------------- scope per persona


def test_a_manager_sees_only_the_towns_of_their_stations(world, ledger, client_for):
    mary = summary(client_for(world.mary))
    assert mary["people_served"] == 42 and mary["records_verified"] == 2
    assert mary["active_members"] == 2  # alice, bob
    assert mary["requests_posted"] == 5
    assert sum(row["people_served"] for row in mary["campaigns"]) == 42

    oscar = summary(client_for(world.oscar))
    assert oscar["people_served"] == 20

    own_town = summary(client_for(world.mary), town=world.town.pk)
    assert own_town["people_served"] == 42


def test_a_manager_asking_for_another_town_gets_403(world, ledger, client_for):
    for url, extra in ((SUMMARY_URL, {}), (BREAKDOWN_URL, {"by": "town"})):
        response = client_for(world.mary).get(url, {**PERIOD, **extra, "town": world.other_town.pk})
        assert_error(response, 403, errors.TOWN_OUT_OF_SCOPE)


def test_a_manager_of_several_towns_sees_each(world, ledger, client_for):
    StationFactory(town=world.other_town, managers=[world.mary])
    assert summary(client_for(world.mary))["people_served"] == 62


def test_a_manager_without_stations_sees_nothing(world, ledger, client_for):
    lonely = UserFactory(is_station_manager=True)
    body = summary(client_for(lonely))
    assert body["people_served"] == 0 and body["requests_posted"] == 0
    assert breakdown(client_for(lonely), "town")["rows"] == []


@pytest.mark.parametrize("persona", ["alice", "lily", "charlie"])
def test_members_and_liaisons_get_403(world, ledger, client_for, persona):
    user = getattr(world, persona)
    user = user.user if hasattr(user, "user") else user
    for url, extra in ((SUMMARY_URL, {}), (BREAKDOWN_URL, {"by": "town"})):
        response = client_for(user).get(url, {**PERIOD, **extra})
        assert_error(response, 403, common_errors.PERMISSION_DENIED)


def test_anonymous_gets_401(anon, db):
    assert_error(anon.get(SUMMARY_URL), 401, common_errors.NOT_AUTHENTICATED)
    assert_error(anon.get(BREAKDOWN_URL, {"by": "town"}), 401, common_errors.NOT_AUTHENTICATED)


def test_a_member_who_also_manages_a_station_reads_as_a_manager(world, ledger, client_for):
    world.alice.user.is_station_manager = True
    world.alice.user.save(update_fields=["is_station_manager"])
    world.other_station.managers.add(world.alice.user)
    assert summary(client_for(world.alice.user))["people_served"] == 20


def test_stats_are_read_only(world, client_for):
    response = client_for(world.sam).post(SUMMARY_URL, {})
    assert_error(response, 405, common_errors.METHOD_NOT_ALLOWED)


# ---------------------------------------------------------------- breakdowns


def test_breakdown_by_town(world, ledger, client_for):
    body = breakdown(client_for(world.sam), "town")
    assert body["by"] == "town" and body["from"] == f"{YEAR}-01-01"
    rows = rows_by_key(body)
    assert rows[str(world.town.pk)] == {
        "key": str(world.town.pk),
        "label": "昌国街道",
        "records": 2,
        "people_served": 42,
        "enterprises_served": 4,
        "households_visited": 5,
        "participations": 3,
        "service_minutes": 255,
        "service_hours": 4.2,
        "satisfaction": {"ratings": 0, "mean": None, "share_4_5": None},
    }
    assert rows[str(world.other_town.pk)]["people_served"] == 20
    assert rows[str(world.other_town.pk)]["service_minutes"] == 240
    assert [row["people_served"] for row in body["rows"]] == [42, 20]  # largest first


def test_breakdown_by_station_and_kind(world, ledger, client_for):
    staff = client_for(world.sam)
    stations = rows_by_key(breakdown(staff, "station"))
    assert stations[str(world.station.pk)]["label"] == "昌国协商驿站"
    assert stations[str(world.station.pk)]["people_served"] == 42
    assert stations[str(world.other_station.pk)]["participations"] == 2

    kinds = rows_by_key(breakdown(staff, "campaign_kind"))
    assert set(kinds) == {"warm_village", "warm_enterprise"}
    assert kinds["warm_village"]["label"] == "暖岙"
    assert kinds["warm_village"]["people_served"] == 50


def test_breakdown_by_team_shares_people_and_counts_participations_exactly(
    world, ledger, client_for
):
    rows = rows_by_key(breakdown(client_for(world.sam), "team"))
    law, medical = rows[str(world.team.pk)], rows[str(world.other_team.pk)]
    # law: r1 (alice+bob: all 30), r2 (alice: 12), r3 (bob: half of 20); medical: half of r3.
    assert law["people_served"] == 52 and law["participations"] == 4 and law["records"] == 3
    assert medical["people_served"] == 10 and medical["participations"] == 1
    assert law["households_visited"] == 5 + 4 and medical["households_visited"] == 4
    assert law["label"] == "法律服务团"
    assert sum(row["people_served"] for row in rows.values()) == 62
    assert sum(row["participations"] for row in rows.values()) == 5
    # law: alice 120 + 45, bob 90 + 60; medical: charlie 180.
    assert law["service_minutes"] == 315 and medical["service_minutes"] == 180


def test_breakdown_by_team_uses_the_team_when_claimed(world, ledger, client_for):
    # Bob moves to the medical team: his past participations stay with the law team.
    world.bob.team = world.other_team
    world.bob.save(update_fields=["team"])
    rows = rows_by_key(breakdown(client_for(world.sam), "team"))
    assert rows[str(world.team.pk)]["participations"] == 4


def test_members_without_a_team_get_their_own_row(world, ledger, client_for):
    from tests.factories import MemberFactory

    loner = MemberFactory(team=None)
    served(
        station=world.station,
        campaign=ledger.village_campaign,
        day=date(YEAR, 9, 9),
        people=8,
        members=[loner],
    )
    rows = rows_by_key(breakdown(client_for(world.sam), "team"))
    assert rows[stats.NO_TEAM_KEY]["label"] == stats.NO_TEAM_LABEL
    assert rows[stats.NO_TEAM_KEY]["people_served"] == 8


def test_breakdown_by_month_lists_every_month_of_the_period(world, ledger, client_for):
    body = breakdown(client_for(world.sam), "month")
    assert [row["key"] for row in body["rows"]] == [f"{YEAR}-{m:02d}" for m in range(1, 13)]
    rows = rows_by_key(body)
    assert rows[f"{YEAR}-03"]["people_served"] == 42 and rows[f"{YEAR}-03"]["label"] == "2025年3月"
    assert rows[f"{YEAR}-04"]["people_served"] == 20
    assert rows[f"{YEAR}-05"]["people_served"] == 0  # the rejected record


def test_a_manager_breakdown_is_scoped(world, ledger, client_for):
    mary = client_for(world.mary)
    assert set(rows_by_key(breakdown(mary, "town"))) == {str(world.town.pk)}
    teams = rows_by_key(breakdown(mary, "team"))
    assert teams[str(world.team.pk)]["participations"] == 3
    assert str(world.other_team.pk) not in teams


def test_breakdown_rows_add_up_to_the_summary(world, ledger, client_for):
    staff = client_for(world.sam)
    total = summary(staff)
    for by in stats.BREAKDOWNS:
        rows = breakdown(staff, by)["rows"]
        for name in ("people_served", "participations", "service_minutes"):
            assert sum(row[name] for row in rows) == total[name], (by, name)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2025-01-01T00:00:00"}, "from"),
        ({"town": "abc"}, "town"),
        ({"town": "99999999"}, "town"),
        ({"town": "-1"}, "town"),
        ({"town": "99999999999999999999999"}, "town"),
        ({"campaign_kind": "warm_everything"}, "campaign_kind"),
    ],
)
def test_bad_filters_are_400(world, client_for, params, field):
    for url, extra in ((SUMMARY_URL, {}), (BREAKDOWN_URL, {"by": "town"})):
        response = client_for(world.sam).get(url, {**extra, **params})
        body = assert_error(response, 400, common_errors.VALIDATION_ERROR)
        assert field in body["fields"]


def test_from_after_to_is_400(world, client_for):
    for url, extra in ((SUMMARY_URL, {}), (BREAKDOWN_URL, {"by": "month"})):
        response = client_for(world.sam).get(
            url, {**extra, "from": "2025-06-02", "to": "2025-06-01"}
        )
        assert_error(response, 400, errors.INVALID_DATE_RANGE)


def test_a_period_longer_than_the_limit_is_400(world, client_for, settings):
    settings.STATS_MAX_RANGE_DAYS = 366
    ok = client_for(world.sam).get(SUMMARY_URL, {"from": "2024-01-01", "to": "2024-12-31"})
    assert ok.status_code == 200
    response = client_for(world.sam).get(SUMMARY_URL, {"from": "2024-01-01", "to": "2025-01-01"})
    assert_error(response, 400, errors.DATE_RANGE_TOO_LONG)


@pytest.mark.parametrize("by", ["", "village", "TOWN", "town,station"])
def test_unknown_or_missing_by_is_400(world, client_for, by):
    response = client_for(world.sam).get(BREAKDOWN_URL, {"by": by} if by else {})
    body = assert_error(response, 400, common_errors.VALIDATION_ERROR)
    assert "by" in body["fields"]


def test_stats_module_rejects_non_readers(world):
    with pytest.raises(errors.StatsForbidden):
        stats.stats_scope(world.alice.user)
    assert stats.stats_scope(world.sam) is None
    assert stats.stats_scope(world.mary) == frozenset({world.town.pk})
