"""The service archive (履职档案): my verified services and their totals, one member's for staff
and their team leader, and the annual workbook (docs/certificates-and-archive.md)."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook

from accounts.errors import VALIDATION_ERROR
from services import errors
from services.models import Campaign
from tests import archive_fixtures
from tests.archive_fixtures import ANNUAL_URL, HISTORY_URL, SPECS, member_history_url
from tests.factories import ClaimFactory, MemberFactory
from tests.test_errors import assert_error

archive = archive_fixtures.archive


def _figures(body: dict) -> dict:
    return {
        k: body[k]
        for k in ("services", "service_minutes", "service_hours", "people_served", "points")
    }


# ---------------------------------------------------------------- my history


def test_my_history_lists_verified_services_newest_first(archive, client_for):
    w = archive.world
    body = client_for(w.alice.user).get(HISTORY_URL).json()
    newest_first = sorted(SPECS, key=lambda s: s.day, reverse=True)
    assert body["count"] == len(SPECS)
    assert [row["service_date"] for row in body["results"]] == [
        s.day.isoformat() for s in newest_first
    ]
    by_record = {r.pk: r for r in archive.records}
    for row, spec in zip(body["results"], newest_first, strict=True):
        record = by_record[row["record"]]
        assert row["service_minutes"] == spec.minutes
        assert row["service_hours"] == round(spec.minutes / 60, 1)
        assert row["people_served"] == spec.people
        assert row["points"] == spec.points
        assert row["campaign_kind"] == spec.kind
        assert row["request"] == {"id": record.request_id, "title": spec.title}
        assert row["summary"] == f"{spec.title}：现场服务。"
        station = w.other_station if spec.other_station else w.station
        assert row["station"] == {"id": station.pk, "name": station.name}
        assert row["town"]["id"] == station.town_id
        assert row["corrected"] is False
    # Neither the revoked record nor the one awaiting verification is listed.
    listed = {row["record"] for row in body["results"]}
    assert archive.revoked.pk not in listed and archive.pending.pk not in listed
    assert body["member"] == {"id": w.alice.pk, "name": w.alice.name}


def test_totals_per_year_and_kind_over_the_whole_history(archive, client_for):
    body = client_for(archive.world.alice.user).get(HISTORY_URL).json()
    assert _figures(body["totals"]) == archive.expected()
    years = sorted({s.day.year for s in SPECS}, reverse=True)
    assert [row["year"] for row in body["by_year"]] == years
    for row in body["by_year"]:
        assert _figures(row) == archive.expected(year=row["year"])
    assert [row["campaign_kind"] for row in body["by_kind"]] == [
        k for k, _ in Campaign.Kind.choices
    ]
    for row in body["by_kind"]:
        assert _figures(row) == archive.expected(kind=row["campaign_kind"])
        assert row["label"] == Campaign.Kind(row["campaign_kind"]).label


@pytest.mark.parametrize("year", sorted({s.day.year for s in SPECS}))
def test_a_year_filters_the_list_and_the_totals(archive, client_for, year):
    body = client_for(archive.world.alice.user).get(HISTORY_URL, {"year": year}).json()
    assert (
        body["year"] == year and body["from"] == f"{year}-01-01" and body["to"] == f"{year}-12-31"
    )
    assert {row["service_date"][:4] for row in body["results"]} == {str(year)}
    assert _figures(body["totals"]) == archive.expected(year=year)
    assert [row["year"] for row in body["by_year"]] == [year]


def test_from_and_to_filter_by_service_day(archive, client_for):
    first, second = SPECS[0], SPECS[1]
    query = {"from": first.day.isoformat(), "to": second.day.isoformat()}
    body = client_for(archive.world.alice.user).get(HISTORY_URL, query).json()
    assert body["count"] == 2
    assert body["totals"]["service_minutes"] == first.minutes + second.minutes
    # One end open.
    body = client_for(archive.world.alice.user).get(HISTORY_URL, {"from": SPECS[2].day}).json()
    assert body["count"] == 1 and body["to"] is None


def test_a_corrected_hour_shows_as_corrected(archive, client_for):
    from services.models import ServiceHours

    record = archive.records[0]
    entry = ServiceHours.objects.get(record=record, member=archive.world.alice)
    ServiceHours.objects.filter(pk=entry.pk).update(current=False, counted=False)
    ServiceHours.objects.create(
        record=record,
        claim_id=entry.claim_id,
        member_id=entry.member_id,
        team_id=entry.team_id,
        minutes=entry.minutes + 30,
        source=ServiceHours.Source.CORRECTED,
        reason="现场核实延长",
        created_at=entry.created_at,
        current=True,
        counted=True,
        service_date=entry.service_date,
        station_id=entry.station_id,
        town_id=entry.town_id,
        campaign_kind=entry.campaign_kind,
    )
    body = client_for(archive.world.alice.user).get(HISTORY_URL).json()
    row = next(r for r in body["results"] if r["record"] == record.pk)
    assert row["corrected"] is True and row["service_minutes"] == entry.minutes + 30
    assert body["totals"]["service_minutes"] == archive.expected()["service_minutes"] + 30


def test_a_member_without_service_gets_an_empty_archive(world, client_for):
    body = client_for(world.charlie.user).get(HISTORY_URL).json()
    assert body["count"] == 0 and body["results"] == []
    assert body["totals"] == {
        "services": 0,
        "service_minutes": 0,
        "service_hours": 0.0,
        "people_served": 0,
        "points": 0,
    }
    assert body["by_year"] == [] and len(body["by_kind"]) == len(Campaign.Kind.choices)


def test_pages_as_every_list_does(archive, client_for):
    client = client_for(archive.world.alice.user)
    first = client.get(HISTORY_URL, {"page_size": 2}).json()
    assert first["count"] == len(SPECS) and len(first["results"]) == 2
    assert first["next"] and first["previous"] is None
    second = client.get(first["next"]).json()
    assert len(second["results"]) == len(SPECS) - 2 and second["next"] is None
    # The totals cover the period, not the page.
    assert second["totals"] == first["totals"]


def _many_services(world, count: int):
    from tests.stats_fixtures import served

    campaign = Campaign.objects.create(
        kind="warm_heart", name="暖心月", starts_on=date(2025, 1, 1), ends_on=date(2025, 12, 31)
    )
    for i in range(count):
        served(
            station=world.station,
            campaign=campaign,
            day=date(2025, 1 + i % 12, 1 + i % 27),
            people=i + 1,
            members=[world.alice],
        )


@pytest.mark.parametrize("page_size", [5, 40])
def test_one_query_per_page_plus_the_totals(
    world, client_for, django_assert_num_queries, page_size
):
    _many_services(world, 45)
    client = client_for(world.alice.user)
    # The user (token), the member, the count, the page (records, requests, villages, places and
    # points joined in), the totals by year and kind, the points by year and kind: whatever the
    # page size.
    with django_assert_num_queries(6):
        response = client.get(HISTORY_URL, {"page_size": page_size})
    assert response.status_code == 200 and len(response.json()["results"]) == page_size


# ---------------------------------------------------------------- one member's history: personas


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("sam", 200),  # staff
        ("alice", 200),  # herself
        ("bob", 200),  # her team's leader
        ("charlie", 403),  # another member
        ("mary", 403),  # a station manager
        ("oscar", 403),  # another station's manager
        ("lily", 403),  # a village liaison
    ],
)
def test_who_reads_a_members_history(archive, client_for, persona, status):
    w = archive.world
    user = getattr(w, persona)
    user = getattr(user, "user", user)
    response = client_for(user).get(member_history_url(w.alice))
    if status == 200:
        assert response.status_code == 200
        assert _figures(response.json()["totals"]) == archive.expected()
    else:
        assert_error(response, 403, errors.NOT_HISTORY_VIEWER)


def test_another_teams_leader_may_not_read_it(archive, client_for):
    w = archive.world
    w.other_team.leader = w.charlie.user
    w.other_team.save(update_fields=["leader"])
    assert_error(
        client_for(w.charlie.user).get(member_history_url(w.alice)), 403, errors.NOT_HISTORY_VIEWER
    )
    # ... but reads his own team's member.
    dora = MemberFactory(team=w.other_team)
    assert client_for(w.charlie.user).get(member_history_url(dora)).status_code == 200


def test_a_team_leader_sees_a_member_only_while_they_lead_the_team(archive, client_for):
    w = archive.world
    w.alice.team = w.other_team
    w.alice.save(update_fields=["team"])
    assert client_for(w.bob.user).get(member_history_url(w.alice)).status_code == 403


def test_unknown_members_are_404_and_anonymous_401(archive, client_for, anon):
    w = archive.world
    assert client_for(w.sam).get("/api/v1/members/999999/service-history/").status_code == 404
    assert client_for(w.sam).get(f"/api/v1/members/{2**64}/service-history/").status_code == 404
    assert anon.get(member_history_url(w.alice)).status_code == 401
    assert anon.get(HISTORY_URL).status_code == 401


def test_my_history_needs_a_member_profile(world, client_for):
    assert_error(client_for(world.mary).get(HISTORY_URL), 403, errors.MEMBER_PROFILE_REQUIRED)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"year": "abc"}, VALIDATION_ERROR),
        ({"year": "2025.5"}, VALIDATION_ERROR),
        ({"year": "1999"}, VALIDATION_ERROR),
        ({"year": "99999"}, VALIDATION_ERROR),
        ({"from": "2025-13-01"}, VALIDATION_ERROR),
        ({"to": "yesterday"}, VALIDATION_ERROR),
        ({"from": "2025-06-01T00:00:00+08:00"}, VALIDATION_ERROR),
        ({"from": "2025-06-02", "to": "2025-06-01"}, errors.INVALID_PERIOD),
        ({"year": "2025", "from": "2025-01-01"}, errors.INVALID_PERIOD),
        ({"page_size": "many"}, VALIDATION_ERROR),
        ({"page": "99"}, "not_found"),
    ],
)
def test_bad_periods_are_400(archive, client_for, query, code):
    response = client_for(archive.world.alice.user).get(HISTORY_URL, query)
    if code == "not_found":
        assert response.status_code == 404
    else:
        assert_error(response, 400, code)


# ---------------------------------------------------------------- annual export


def _sheet(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = load_workbook(io.BytesIO(response.content))
    (sheet,) = book.worksheets
    rows = list(sheet.iter_rows(values_only=True))
    return sheet, rows[0], {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}


@pytest.mark.parametrize("year", sorted({s.day.year for s in SPECS}))
def test_the_annual_workbook_holds_every_members_year(archive, client_for, year):
    w = archive.world
    sheet, _, rows = _sheet(client_for(w.sam).get(ANNUAL_URL, {"year": year}))
    assert sheet.title == f"{year}年度履职服务"
    assert set(rows) >= {w.alice.name, w.bob.name, w.charlie.name}
    alice = rows[w.alice.name]
    expected = archive.expected(year=year)
    assert alice["服务次数"] == expected["services"]
    assert alice["核实服务时长（小时）"] == expected["service_hours"]
    assert alice["服务群众人次"] == expected["people_served"]
    assert alice["履职积分"] == expected["points"]
    assert alice["委员团队"] == w.team.name
    for kind, label in Campaign.Kind.choices:
        figures = archive.expected(year=year, kind=kind)
        assert alice[f"{label}·服务次数"] == figures["services"]
        assert alice[f"{label}·服务时长（小时）"] == figures["service_hours"]
        assert alice[f"{label}·服务群众人次"] == figures["people_served"]
    # Bob and charlie served beside alice once each, in their own year.
    for name, member in (("bob", w.bob), ("charlie", w.charlie)):
        theirs = [(s, m) for s in SPECS for n, m in s.others if n == name and s.day.year == year]
        assert rows[member.name]["服务次数"] == len(theirs)
        assert rows[member.name]["核实服务时长（小时）"] == round(sum(m for _, m in theirs) / 60, 1)


def test_the_annual_workbook_quotes_formula_like_names(world, client_for):
    MemberFactory(name="=HYPERLINK(1)")
    _, _, rows = _sheet(client_for(world.sam).get(ANNUAL_URL, {"year": 2026}))
    assert "'=HYPERLINK(1)" in rows


@pytest.mark.parametrize("persona", ["alice", "bob", "mary", "oscar", "lily"])
def test_the_annual_workbook_is_for_staff_only(world, client_for, persona):
    user = getattr(world, persona)
    response = client_for(getattr(user, "user", user)).get(ANNUAL_URL)
    assert_error(response, 403, "permission_denied")


def test_the_annual_workbook_defaults_to_this_year(world, client_for, anon):
    from django.utils import timezone

    sheet, _, _ = _sheet(client_for(world.sam).get(ANNUAL_URL))
    assert sheet.title == f"{timezone.localdate().year}年度履职服务"
    assert anon.get(ANNUAL_URL).status_code == 401


@pytest.mark.parametrize(
    ("year", "code"),
    [("twenty", VALIDATION_ERROR), ("", VALIDATION_ERROR), ("1999", VALIDATION_ERROR),
     ("2101", VALIDATION_ERROR), ("-1", VALIDATION_ERROR)],
)  # fmt: skip
def test_a_bad_year_is_400(world, client_for, year, code):
    assert_error(client_for(world.sam).get(ANNUAL_URL, {"year": year}), 400, code)


def test_a_claim_not_yet_verified_is_nowhere(world, client_for):
    from tests.records_fixtures import under_way

    ClaimFactory(
        request=under_way(station=world.station, campaign=Campaign.objects.create(
            kind="warm_village", name="暖岙", starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31)
        )),
        member=world.alice,
    )  # fmt: skip
    assert client_for(world.alice.user).get(HISTORY_URL).json()["count"] == 0
