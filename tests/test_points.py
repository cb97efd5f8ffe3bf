"""Duty points (履职积分): which rules apply, the ledger's rules in the database, the admin
table, and the member's total on GET me/."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from services.models import PointEntry, PointRule
from services.records.writes import revoke_record, submit_record, verify_record
from tests import records_fixtures
from tests.factories import CampaignFactory, TeamFactory, UserFactory, VillageFactory
from tests.records_fixtures import checked_in, under_way

rules = records_fixtures.rules
service = records_fixtures.service


def verified_service(*, submitter, verifier, service_request, claims, people=10):
    record = submit_record(
        user=submitter,
        request_id=service_request.pk,
        people_served=people,
        summary="服务",
        participants=[c.pk for c in claims],
    )
    return verify_record(actor=verifier, record_id=record.pk, approved=True, note="ok")


def ledger(record) -> list[tuple[str, str, int]]:
    return sorted(
        PointEntry.objects.filter(record=record).values_list("member__name", "rule__kind", "points")
    )


def test_the_migration_seeds_the_default_table(db):
    table = sorted(PointRule.objects.values_list("code", "kind", "points", "active"))
    assert table == [
        ("participation", "participation", 5, True),
        ("remote_village", "remote_village", 2, True),
        ("team_leader", "team_leader", 1, True),
    ]


def test_a_remote_village_warm_village_service_earns_the_bonus(world, rules):
    # world.other_village is a remote island served by oscar's station.
    campaign = CampaignFactory(kind="warm_village")
    trip = under_way(station=world.other_station, village=world.other_village, campaign=campaign)
    claim = checked_in(trip, world.charlie)
    record = verified_service(
        submitter=world.charlie.user, verifier=world.oscar, service_request=trip, claims=[claim]
    )
    assert ledger(record) == [("陈晨", "participation", 5), ("陈晨", "remote_village", 2)]


def test_no_bonus_outside_warm_village_or_away_from_remote_villages(world, rules):
    heart = CampaignFactory(kind="warm_heart")
    trip = under_way(station=world.other_station, village=world.other_village, campaign=heart)
    record = verified_service(
        submitter=world.oscar,
        verifier=world.sam,
        service_request=trip,
        claims=[checked_in(trip, world.charlie)],
    )
    assert ledger(record) == [("陈晨", "participation", 5)]
    near = VillageFactory(town=world.town, station=world.station, remote=False)
    village_trip = under_way(
        station=world.station, village=near, campaign=CampaignFactory(kind="warm_village")
    )
    record = verified_service(
        submitter=world.mary,
        verifier=world.sam,
        service_request=village_trip,
        claims=[checked_in(village_trip, world.charlie)],
    )
    assert ledger(record) == [("陈晨", "participation", 5)]


def test_the_leader_bonus_follows_the_team_claimed_with(world, service):
    # bob leads world.team and claimed with it; alice does not lead.
    record = verified_service(
        submitter=world.alice.user,
        verifier=world.mary,
        service_request=service.request,
        claims=[service.alice, service.bob],
    )
    assert ledger(record) == [
        ("王丽", "participation", 5),
        ("鲍勃", "participation", 5),
        ("鲍勃", "team_leader", 1),
    ]


def test_rules_edited_or_switched_off_apply_to_later_awards_only(world, service, rules):
    rules["participation"].points = 8
    rules["participation"].save()
    rules["team_leader"].active = False
    rules["team_leader"].save()
    record = verified_service(
        submitter=world.alice.user,
        verifier=world.mary,
        service_request=service.request,
        claims=[service.alice, service.bob],
    )
    assert ledger(record) == [("王丽", "participation", 8), ("鲍勃", "participation", 8)]
    # A rule worth 0 writes no empty lines.
    rules["participation"].points = 0
    rules["participation"].save()
    trip = under_way(station=world.station, campaign=service.campaign)
    later = verified_service(
        submitter=world.mary,
        verifier=world.sam,
        service_request=trip,
        claims=[checked_in(trip, world.charlie)],
    )
    assert ledger(later) == []
    assert PointEntry.objects.filter(points=8).count() == 2


def test_the_database_refuses_a_second_award_and_wrong_signs(world, service):
    record = verified_service(
        submitter=world.alice.user,
        verifier=world.mary,
        service_request=service.request,
        claims=[service.alice],
    )
    award = PointEntry.objects.get(record=record)
    copy = {
        "member_id": award.member_id,
        "rule_id": award.rule_id,
        "record_id": record.pk,
        "reason": "again",
        "service_date": award.service_date,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        PointEntry.objects.create(points=5, award=True, **copy)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointEntry.objects.create(points=-5, award=True, **copy)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointEntry.objects.create(points=5, award=False, **copy)
    PointEntry.objects.create(points=-5, award=False, **copy)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointEntry.objects.create(points=-5, award=False, **copy)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointRule.objects.filter(kind="participation").update(points=101)


# ---------------------------------------------------------------- GET me/


def test_me_shows_the_total_and_recent_entries(world, client_for, service, settings):
    settings.POINTS_RECENT_ENTRIES = 2
    record = verified_service(
        submitter=world.alice.user,
        verifier=world.mary,
        service_request=service.request,
        claims=[service.alice, service.bob],
    )
    revoke_record(actor=world.sam, record_id=record.pk, reason="重复")
    trip = under_way(station=world.station, campaign=service.campaign, title="海岛义诊")
    verified_service(
        submitter=world.mary,
        verifier=world.sam,
        service_request=trip,
        claims=[checked_in(trip, world.bob)],
    )

    body = client_for(world.bob.user).get("/api/v1/me/").json()

    # 6 earned, 6 reversed, 6 earned again.
    assert body["points_total"] == 6
    recent = body["points_recent"]
    assert len(recent) == 2
    assert {e["request"]["title"] for e in recent} == {"海岛义诊"}
    assert sorted(e["points"] for e in recent) == [1, 5]
    first = recent[0]
    assert set(first) == {
        "id",
        "points",
        "award",
        "rule",
        "reason",
        "record",
        "request",
        "service_date",
        "created_at",
    }
    assert first["award"] is True and first["rule"] in {"participation", "team_leader"}


def test_me_for_people_without_points(world, client_for):
    for user in (world.charlie.user, world.mary, world.sam):
        body = client_for(user).get("/api/v1/me/").json()
        assert body["points_total"] == 0 and body["points_recent"] == []


# ---------------------------------------------------------------- the scoring table


def test_everyone_signed_in_reads_the_scoring_table(world, client_for, anon, rules):
    body = client_for(world.alice.user).get("/api/v1/points/rules/").json()
    assert [(r["kind"], r["points"]) for r in body["results"]] == [
        ("participation", 5),
        ("remote_village", 2),
        ("team_leader", 1),
    ]
    assert anon.get("/api/v1/points/rules/").status_code == 401


def test_staff_edit_the_table_in_the_admin(world, client, rules):
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    rule = rules["participation"]
    page = client.get(f"/admin/services/pointrule/{rule.pk}/change/")
    assert page.status_code == 200
    response = client.post(
        f"/admin/services/pointrule/{rule.pk}/change/",
        {"name": "参与服务", "points": 6, "active": "on"},
    )
    assert response.status_code == 302, response.content
    rule.refresh_from_db()
    assert (rule.points, rule.kind) == (6, "participation")
    # Out of range is a form error, not a database error.
    response = client.post(
        f"/admin/services/pointrule/{rule.pk}/change/",
        {"name": "参与服务", "points": 500, "active": "on"},
    )
    assert response.status_code == 200 and "100" in response.content.decode()
    rule.refresh_from_db()
    assert rule.points == 6
    assert client.get("/admin/services/pointrule/").status_code == 200
    assert client.post(f"/admin/services/pointrule/{rule.pk}/delete/").status_code == 403


def test_records_and_the_ledger_are_read_only_in_the_admin(world, client, service):
    record = verified_service(
        submitter=world.alice.user,
        verifier=world.mary,
        service_request=service.request,
        claims=[service.alice],
    )
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for url in (
        "/admin/services/servicerecord/",
        f"/admin/services/servicerecord/{record.pk}/change/",
        "/admin/services/pointentry/",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/services/servicerecord/add/").status_code == 403
    assert client.get("/admin/services/pointentry/add/").status_code == 403
    entry = PointEntry.objects.get()
    response = client.post(f"/admin/services/pointentry/{entry.pk}/delete/")
    assert response.status_code == 403
    assert PointEntry.objects.count() == 1


def test_team_snapshot_on_the_ledger(world, service):
    # alice moves team after claiming; her points stay with the team she served with.
    new_team = TeamFactory()
    world.alice.team = new_team
    world.alice.save(update_fields=["team"])
    record = verified_service(
        submitter=world.alice.user,
        verifier=world.mary,
        service_request=service.request,
        claims=[service.alice],
    )
    assert PointEntry.objects.get(record=record).team == world.team
