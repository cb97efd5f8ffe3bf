"""Hours (服务时长): check-out clamped to the window plus grace, the automatic check-out, the
verifier's confirmation or correction, and verified hours in every statistic
(docs/records-and-points.md#hours)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from accounts.models import Event
from services import errors
from services.models import Claim, ServiceHours, ServiceRecord
from services.records.writes import submit_record
from services.requests.expiry import expire_overdue
from tests import records_fixtures
from tests.factories import UserFactory
from tests.records_fixtures import record_url, submit_url
from tests.test_claim_concurrency import post as threaded_post
from tests.test_claim_concurrency import run_together
from tests.test_errors import assert_error

SUMMARY_URL = "/api/v1/stats/summary/"
BREAKDOWN_URL = "/api/v1/stats/breakdown/"
GRACE = 30  # SERVICES_HOURS_GRACE_MINUTES' default

rules = records_fixtures.rules
service = records_fixtures.service


def _submit(client, svc, **overrides):
    response = client.post(submit_url(svc.request), svc.payload(**overrides), format="json")
    assert response.status_code == 201, response.content
    return ServiceRecord.objects.get(pk=response.json()["id"])


def _verify(client, record, **body):
    return client.post(record_url(record, "verify/"), {"approved": True, **body}, format="json")


def _period(record) -> dict:
    return {"from": record.service_date.isoformat(), "to": record.service_date.isoformat()}


def _sql_minutes(where: str = "", params=()) -> int:
    """The verified minutes, summed by hand over the hours table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(h.minutes), 0) FROM services_servicehours h "  # noqa: S608 - test's own text
            "JOIN services_servicerecord r ON r.id = h.record_id "
            "WHERE r.status = 'verified' AND h.current " + where,
            list(params),
        )
        return cursor.fetchone()[0]


# ---------------------------------------------------------------- check-out


def test_a_check_out_ten_days_late_counts_the_window_and_grace_only(service, client_for):
    claim = service.alice
    Claim.objects.filter(pk=claim.pk).update(checked_in_at=service.request.starts_at)
    late = service.request.ends_at + timedelta(days=10)
    from services.requests.claims import check_out

    checked = check_out(user=claim.member.user, claim_id=claim.pk, now=late)
    # A three-hour window plus the 30 minutes' grace after it.
    assert checked.duration_minutes == 180 + GRACE
    assert checked.auto_checked_out is False


def test_an_early_check_in_counts_from_the_start_less_grace(service):
    from services.requests.claims import check_out

    start = service.request.starts_at
    Claim.objects.filter(pk=service.alice.pk).update(checked_in_at=start - timedelta(minutes=55))
    checked = check_out(
        user=service.alice.member.user, claim_id=service.alice.pk, now=start + timedelta(hours=1)
    )
    assert checked.duration_minutes == GRACE + 60


@override_settings(SERVICES_HOURS_GRACE_MINUTES=0)
def test_the_grace_is_a_setting(service):
    from services.requests.claims import check_out

    Claim.objects.filter(pk=service.alice.pk).update(checked_in_at=service.request.starts_at)
    checked = check_out(
        user=service.alice.member.user,
        claim_id=service.alice.pk,
        now=service.request.ends_at + timedelta(hours=5),
    )
    assert checked.duration_minutes == 180


def test_the_sweep_checks_out_whoever_is_still_in_at_window_end_plus_grace(service):
    closes = service.request.ends_at + timedelta(minutes=GRACE)
    # Before the close: nobody moves.
    assert expire_overdue(now=closes - timedelta(minutes=1)).checked_out == 0
    assert not Claim.objects.filter(checked_out_at__isnull=False).exists()

    report = expire_overdue(now=closes + timedelta(hours=2))
    assert report.checked_out == 2
    for claim in (service.alice, service.bob):
        claim.refresh_from_db()
        assert claim.checked_out_at == closes
        assert claim.auto_checked_out is True
        # Checked in five minutes after the start (records_fixtures.checked_in).
        assert claim.duration_minutes == 180 + GRACE - 5
        assert claim.status == Claim.Status.CHECKED_IN
    events = Event.objects.filter(verb="claim_auto_checked_out")
    assert events.count() == 2 and {e.actor_id for e in events} == {None}
    assert events.first().payload["duration_minutes"] == 180 + GRACE - 5
    # Idempotent.
    assert expire_overdue(now=closes + timedelta(hours=3)).checked_out == 0


def test_a_member_who_checked_out_is_left_alone_by_the_sweep(service, client_for):
    from services.requests.claims import check_out

    check_out(
        user=service.alice.member.user,
        claim_id=service.alice.pk,
        now=service.request.starts_at + timedelta(hours=1),
    )
    expire_overdue(now=service.request.ends_at + timedelta(days=1))
    service.alice.refresh_from_db()
    assert service.alice.auto_checked_out is False and service.alice.duration_minutes == 55


# ---------------------------------------------------------------- verification


def test_verifying_confirms_the_recorded_hours(world, service, client_for):
    Claim.objects.filter(pk=service.alice.pk).update(
        checked_out_at=service.request.starts_at + timedelta(minutes=125), duration_minutes=120
    )
    record = _submit(client_for(world.alice.user), service)
    response = _verify(client_for(world.mary), record)
    assert response.status_code == 200, response.content
    body = response.json()
    # Bob had not checked out: the verification checks him out at once, as the sweep would.
    bob = Claim.objects.get(pk=service.bob.pk)
    assert bob.auto_checked_out is True and bob.duration_minutes > 0
    entries = {e["claim"]: e for e in body["hours"]}
    assert entries[service.alice.pk]["minutes"] == 120
    assert entries[service.alice.pk]["source"] == "recorded"
    assert entries[service.alice.pk]["counted"] is True
    assert entries[service.bob.pk]["minutes"] == bob.duration_minutes
    assert body["service_minutes"] == 120 + bob.duration_minutes
    assert body["service_hours"] == round((120 + bob.duration_minutes) / 60, 1)
    participants = {p["claim"]: p for p in body["participants"]}
    assert participants[service.bob.pk]["auto_checked_out"] is True
    assert participants[service.alice.pk]["duration_minutes"] == 120


def test_a_correction_is_a_new_entry_and_the_original_stays(world, service, client_for):
    for claim in (service.alice, service.bob):
        Claim.objects.filter(pk=claim.pk).update(
            checked_out_at=service.request.starts_at + timedelta(minutes=95), duration_minutes=90
        )
    record = _submit(client_for(world.alice.user), service)
    response = _verify(
        client_for(world.mary),
        record,
        hours=[
            {
                "claim": service.alice.pk,
                "minutes": 150,
                "reason": "签退时手机没电，现场核实至 11 点",
            },
            {"claim": service.bob.pk, "minutes": 90},
        ],
    )
    assert response.status_code == 200, response.content
    rows = ServiceHours.objects.filter(record=record).order_by("claim_id", "id")
    alice = [
        (r.minutes, r.source, r.current, r.counted) for r in rows if r.claim_id == service.alice.pk
    ]
    assert alice == [(90, "recorded", False, False), (150, "corrected", True, True)]
    bob = [(r.minutes, r.source, r.current) for r in rows if r.claim_id == service.bob.pk]
    assert bob == [(90, "recorded", True)]
    correction = rows.get(source="corrected")
    assert correction.reason == "签退时手机没电，现场核实至 11 点"
    assert correction.entered_by == world.mary
    record.refresh_from_db()
    assert record.service_minutes == 240
    summary = client_for(world.sam).get(SUMMARY_URL, _period(record)).json()
    assert summary["service_minutes"] == 240 == _sql_minutes()
    assert summary["service_hours"] == 4.0


@pytest.mark.parametrize(
    ("hours", "status", "code"),
    [
        ([{"claim": 999999, "minutes": 60, "reason": "x"}], 400, errors.INVALID_HOURS),
        ("alice-twice", 400, errors.INVALID_HOURS),
        ([{"claim": "alice", "minutes": 10_000, "reason": "多算"}], 400, errors.HOURS_ABOVE_WINDOW),
        ([{"claim": "alice", "minutes": -5, "reason": "负数"}], 400, "validation_error"),
        ([{"claim": "alice", "minutes": "两小时", "reason": "文字"}], 400, "validation_error"),
        ([{"claim": "alice", "minutes": 1.5, "reason": "小数"}], 400, "validation_error"),
        ([{"claim": "alice", "minutes": 75}], 400, errors.INVALID_HOURS),
        ([{"claim": "alice", "minutes": 75, "reason": "   "}], 400, errors.INVALID_HOURS),
        ([{"claim": "alice", "minutes": 75, "reason": "x" * 201}], 400, "validation_error"),
        ([{"claim": "alice", "minutes": 75, "reason": "x", "extra": 1}], 400, "unknown_field"),
        ([{"minutes": 75, "reason": "x"}], 400, "validation_error"),
        ({"claim": "alice"}, 400, "validation_error"),
    ],
)
def test_bad_hours_are_refused_and_nothing_is_written(
    world, service, client_for, hours, status, code
):
    Claim.objects.filter(pk__in=[service.alice.pk, service.bob.pk]).update(
        checked_out_at=service.request.starts_at + timedelta(minutes=65), duration_minutes=60
    )
    record = _submit(client_for(world.alice.user), service)

    def resolve(value):
        if value == "alice-twice":
            return [
                {"claim": service.alice.pk, "minutes": 70, "reason": "a"},
                {"claim": service.alice.pk, "minutes": 80, "reason": "b"},
            ]
        if isinstance(value, list):
            return [
                {**e, "claim": service.alice.pk} if e.get("claim") == "alice" else e for e in value
            ]
        return value

    response = _verify(client_for(world.mary), record, hours=resolve(hours))
    assert response.status_code == status, response.content
    assert response.json()["code"] == code, response.json()
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.SUBMITTED and record.service_minutes == 0
    assert not ServiceHours.objects.exists()
    assert not Event.objects.filter(verb="record_verified").exists()


def test_hours_with_a_rejection_are_refused(world, service, client_for):
    record = _submit(client_for(world.alice.user), service)
    response = client_for(world.mary).post(
        record_url(record, "verify/"),
        {
            "approved": False,
            "note": "人数不符",
            "hours": [{"claim": service.alice.pk, "minutes": 30, "reason": "x"}],
        },
        format="json",
    )
    assert_error(response, 400, errors.INVALID_HOURS)
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.SUBMITTED


def test_a_revoked_verification_stops_counting_and_keeps_its_entries(world, service, client_for):
    record = _submit(client_for(world.alice.user), service)
    assert _verify(client_for(world.mary), record).status_code == 200
    staff = client_for(world.sam)
    before = staff.get(SUMMARY_URL, _period(record)).json()["service_minutes"]
    assert before > 0 and before == _sql_minutes()
    response = staff.post(record_url(record, "revoke/"), {"reason": "重复录入"}, format="json")
    assert response.status_code == 200, response.content
    assert staff.get(SUMMARY_URL, _period(record)).json()["service_minutes"] == 0
    assert ServiceHours.objects.filter(record=record).count() == 2
    assert not ServiceHours.objects.filter(counted=True).exists()
    assert _sql_minutes() == 0


def test_hours_in_every_breakdown_equal_the_hand_written_sum(world, service, client_for):
    record = _submit(client_for(world.alice.user), service)
    assert _verify(client_for(world.mary), record).status_code == 200
    staff = client_for(world.sam)
    total = _sql_minutes()
    assert total > 0
    assert staff.get(SUMMARY_URL, _period(record)).json()["service_minutes"] == total
    for by in ("town", "station", "team", "campaign_kind", "month", "member"):
        rows = staff.get(BREAKDOWN_URL, {**_period(record), "by": by}).json()["rows"]
        assert sum(r["service_minutes"] for r in rows) == total, by
    members = {
        r["key"]: r["service_minutes"]
        for r in staff.get(BREAKDOWN_URL, {**_period(record), "by": "member"}).json()["rows"]
    }
    for claim in (service.alice, service.bob):
        assert members[str(claim.member_id)] == _sql_minutes(
            "AND h.member_id = %s", [claim.member_id]
        )
    town = staff.get(BREAKDOWN_URL, {**_period(record), "by": "town"}).json()["rows"][0]
    assert town["service_minutes"] == _sql_minutes("AND r.town_id = %s", [world.town.pk])


def test_the_leaderboard_shows_hours_beside_points(world, service, client_for):
    for claim, minutes in ((service.alice, 100), (service.bob, 40)):
        Claim.objects.filter(pk=claim.pk).update(
            checked_out_at=service.request.starts_at + timedelta(minutes=minutes + 5),
            duration_minutes=minutes,
        )
    record = _submit(client_for(world.alice.user), service)
    assert _verify(client_for(world.mary), record).status_code == 200
    body = (
        client_for(world.sam)
        .get("/api/v1/points/leaderboard/", {**_period(record)})
        .json()["results"]
    )
    rows = {row["member"]["id"]: row for row in body}
    assert rows[service.alice.member_id]["service_minutes"] == 100
    assert rows[service.alice.member_id]["service_hours"] == 1.7
    assert rows[service.bob.member_id]["service_minutes"] == 40


# ---------------------------------------------------------------- concurrency


@pytest.mark.django_db(transaction=True)
def test_parallel_verifications_with_different_hours_write_one_set(world, rules, client_for):
    from tests.factories import CampaignFactory
    from tests.records_fixtures import Service, checked_in, under_way

    campaign = CampaignFactory(kind="warm_village")
    request = under_way(station=world.station, village=world.village, campaign=campaign)
    svc = Service(
        request=request,
        alice=checked_in(request, world.alice),
        bob=checked_in(request, world.bob),
        campaign=campaign,
    )
    record = submit_record(
        user=world.alice.user,
        request_id=request.pk,
        people_served=10,
        summary="走访",
        participants=[svc.alice.pk, svc.bob.pk],
    )
    reviewers = [world.mary, *[UserFactory(is_staff=True) for _ in range(7)]]
    calls = [
        threaded_post(
            client_for(reviewers[i % len(reviewers)]),
            record_url(record, "verify/"),
            {
                "approved": True,
                "hours": [{"claim": svc.alice.pk, "minutes": 60 + i, "reason": f"核实 {i}"}],
            },
        )
        for i in range(16)
    ]
    results = run_together(calls, workers=16)
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 1, 409: 15}, results
    # One recorded entry each, one correction: exactly the winner's.
    assert ServiceHours.objects.filter(record=record).count() == 3
    assert ServiceHours.objects.filter(record=record, current=True).count() == 2
    (winner,) = [body for status, body in results if status == 200]
    corrected = ServiceHours.objects.get(record=record, source="corrected")
    assert {e["minutes"] for e in winner["hours"] if e["source"] == "corrected"} == {
        corrected.minutes
    }
    record.refresh_from_db()
    assert record.service_minutes == _sql_minutes()
    assert timezone.now() > request.starts_at
