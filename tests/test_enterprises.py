"""暖企 per persona and every bad input of the issue: a clear error, nothing written.

Personas: alice the enterprise's lead 专员 (bob her deputy), charlie another member, mary the
manager of the station serving it (oscar of another), sam staff, and the enterprise itself
through its desk code.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Event, Notification
from services import errors as service_errors
from services.enterprises import appeals, errors
from services.enterprises.selectors import current_liaisons
from services.models import (
    Claim,
    Enterprise,
    EnterpriseAppeal,
    EnterpriseLiaison,
    EnterpriseVisit,
    ServiceRecord,
    ServiceRequest,
)
from services.retention import purge_personal_data
from tests import enterprise_fixtures
from tests.enterprise_fixtures import SITE, VALID_CODES, assign, make_enterprise, visit_body
from tests.fake_wechat import ok

pytestmark = pytest.mark.django_db

enterprise = enterprise_fixtures.enterprise
warm_campaign = enterprise_fixtures.warm_campaign


def visits_url(target) -> str:
    return f"/api/v1/enterprises/{target.pk}/visits/"


def desk_url(target) -> str:
    return f"/api/v1/enterprise-desk/{target.desk_ticket}/"


def written() -> tuple[int, ...]:
    """What a visit writes: if a refusal leaves these as they were, it wrote nothing."""
    return (
        EnterpriseVisit.objects.count(),
        ServiceRequest.objects.count(),
        Claim.objects.count(),
        ServiceRecord.objects.count(),
        EnterpriseAppeal.objects.count(),
    )


def accepted_appeal(world, enterprise) -> EnterpriseAppeal:
    return appeals.raise_appeal(
        actor=world.alice.user, enterprise=enterprise, description="希望协调招工", source="visit"
    )


def resolved_appeal(world, enterprise) -> EnterpriseAppeal:
    appeal = accepted_appeal(world, enterprise)
    appeals.refer_appeal(
        actor=world.sam,
        appeal_id=appeal.pk,
        department="区人社局",
        asked="协调招工",
        due_on=timezone.localdate() + timedelta(days=5),
    )
    appeals.start_appeal(actor=world.sam, appeal_id=appeal.pk)
    return appeals.resolve_appeal(actor=world.sam, appeal_id=appeal.pk, outcome="已协调招工 20 人")


# ---------------------------------------------------------------- personas


def test_the_lead_liaison_sees_their_enterprise_in_full_and_logs_a_visit(
    world,
    client_for,
    enterprise,
):
    alice = client_for(world.alice.user)
    body = alice.get(f"/api/v1/enterprises/{enterprise.pk}/").json()
    assert (body["contact_name"], body["contact_phone"]) == ("张经理", "13900001234")
    assert [(row["member"], row["role"]) for row in body["liaisons"]] == [
        (world.alice.pk, "lead"),
        (world.bob.pk, "deputy"),
    ]
    response = alice.post(visits_url(enterprise), visit_body(), format="json")
    assert response.status_code == 201, response.json()
    # The deputy may log one too (inside the quiet period: warned, still logged).
    second = client_for(world.bob.user).post(visits_url(enterprise), visit_body(), format="json")
    assert second.status_code == 201
    assert [w["code"] for w in second.json()["warnings"]] == ["quiet_period"]
    assert EnterpriseVisit.objects.get(member=world.bob).quiet_warning is True


def test_another_member_neither_sees_nor_visits_the_enterprise(world, client_for, enterprise):
    charlie = client_for(world.charlie.user)
    before = written()
    assert charlie.get(f"/api/v1/enterprises/{enterprise.pk}/").status_code == 404
    assert charlie.get("/api/v1/enterprises/").json()["results"] == []
    assert charlie.get("/api/v1/me/enterprises/").json()["results"] == []
    response = charlie.post(visits_url(enterprise), visit_body(), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == errors.NOT_ENTERPRISE_LIAISON
    appeal = accepted_appeal(world, enterprise)
    before = written()
    moved = charlie.post(f"/api/v1/appeals/{appeal.pk}/reject/", {"reason": "无"}, format="json")
    assert moved.status_code == 404
    assert written() == before and EnterpriseAppeal.objects.get().status == "accepted"


def test_the_stations_manager_reads_masked_and_steers_nothing(world, client_for, enterprise):
    mary = client_for(world.mary)
    listed = mary.get("/api/v1/enterprises/").json()["results"]
    assert [row["id"] for row in listed] == [enterprise.pk]
    assert listed[0]["contact_phone"] == "139****1234" and listed[0]["contact_name"] == "张经理"
    appeal = accepted_appeal(world, enterprise)
    refused = mary.post(f"/api/v1/appeals/{appeal.pk}/reject/", {"reason": "无"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == errors.NOT_ENTERPRISE_LIAISON
    assert mary.post(visits_url(enterprise), visit_body(), format="json").status_code == 403
    assert mary.get(f"/api/v1/enterprises/{enterprise.pk}/desk-code/").status_code == 403
    # Another station's manager does not see it at all.
    assert client_for(world.oscar).get(f"/api/v1/enterprises/{enterprise.pk}/").status_code == 404
    assert EnterpriseAppeal.objects.get().status == "accepted"


def test_staff_see_the_contact_and_their_look_is_audited(world, client_for, enterprise):
    body = client_for(world.sam).get(f"/api/v1/enterprises/{enterprise.pk}/").json()
    assert body["contact_phone"] == "13900001234"
    assert Event.objects.filter(verb="pii_viewed", actor=world.sam).exists()


def test_staff_reassign_and_the_history_stays(world, client_for, enterprise):
    sam = client_for(world.sam)
    response = sam.post(
        f"/api/v1/enterprises/{enterprise.pk}/liaisons/",
        {"lead": world.charlie.pk, "starts_on": timezone.localdate().isoformat()},
        format="json",
    )
    assert response.status_code == 201
    assert [row.member_id for row in current_liaisons(enterprise.pk)] == [world.charlie.pk]
    history = sam.get(f"/api/v1/enterprises/{enterprise.pk}/liaisons/").json()
    assert len(history) == 3 and sum(1 for row in history if row["ended_at"] is None) == 1
    # alice no longer visits it.
    refused = client_for(world.alice.user).post(visits_url(enterprise), visit_body(), format="json")
    assert refused.status_code == 403
    assert client_for(world.charlie.user).get("/api/v1/me/enterprises/").json()["count"] == 1


def test_staff_deactivate_rather_than_delete(world, client_for, enterprise):
    sam = client_for(world.sam)
    url = f"/api/v1/enterprises/{enterprise.pk}/deactivate/"
    assert sam.post(url, {"reason": "企业已迁出"}, format="json").status_code == 200
    again = sam.post(url, {"reason": "企业已迁出"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == errors.ENTERPRISE_INACTIVE
    assert Enterprise.objects.get().active is False
    assert not EnterpriseLiaison.objects.filter(ended_at__isnull=True).exists()
    before = written()
    refused = client_for(world.alice.user).post(visits_url(enterprise), visit_body(), format="json")
    assert refused.status_code == 403 and written() == before


def test_members_cannot_create_or_import(world, client_for, warm_campaign):
    alice = client_for(world.alice.user)
    assert alice.post("/api/v1/enterprises/", {}, format="json").status_code == 403
    assert alice.get("/api/v1/enterprises/import/template/").status_code == 403
    assert Enterprise.objects.count() == 0


def test_the_enterprise_sees_only_its_own_appeals_through_its_desk(world, anon, enterprise):
    other = make_enterprise(world, code=VALID_CODES[1], name="另一家企业")
    appeals.raise_appeal(actor=None, enterprise=other, description="别家的诉求", source="desk")
    mine = anon.post(
        desk_url(enterprise) + "appeals/", {"description": "希望协调用地"}, format="json"
    )
    assert mine.status_code == 201 and mine.json()["source"] == "desk"
    seen = anon.get(desk_url(enterprise)).json()
    assert [row["description"] for row in seen["appeals"]] == ["希望协调用地"]
    # Alice and Bob, its 专员, were told.
    assert Notification.objects.filter(kind="enterprise_appeal", user=world.alice.user).exists()
    # Another enterprise's 诉求 through this desk: unknown.
    theirs = EnterpriseAppeal.objects.get(enterprise=other)
    response = anon.post(
        f"{desk_url(enterprise)}appeals/{theirs.pk}/rating/", {"score": 1}, format="json"
    )
    assert response.status_code == 404 and response.json()["code"] == errors.APPEAL_TICKET_UNKNOWN
    for bad in ("nope", "x" * 40, "a%00b"):
        assert anon.get(f"/api/v1/enterprise-desk/{bad}/").status_code == 404


def test_the_desk_code_goes_to_staff_and_the_liaison(world, client_for, enterprise):
    body = (
        client_for(world.alice.user).get(f"/api/v1/enterprises/{enterprise.pk}/desk-code/").json()
    )
    assert enterprise.desk_ticket in body["desk_url"]
    assert body["qr_png"].startswith("data:image/png;base64,")


# ---------------------------------------------------------------- bad input, nothing written


@pytest.mark.parametrize(
    "code", ["91350100M000100Y44", "91350100I000100Y43", "91350100M000100Y4", ""]
)
def test_an_invalid_credit_code_is_refused(world, client_for, code, warm_campaign):
    response = client_for(world.sam).post(
        "/api/v1/enterprises/",
        {"name": "测试企业", "credit_code": code, "town": world.town.pk,
         "station": world.station.pk, "lat": 30.03, "lng": 122.11},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["code"] in (errors.CREDIT_CODE_INVALID, "validation_error")
    assert Enterprise.objects.count() == 0


def test_a_duplicate_credit_code_is_refused(world, client_for, enterprise):
    response = client_for(world.sam).post(
        "/api/v1/enterprises/",
        {"name": "重复企业", "credit_code": VALID_CODES[0], "town": world.town.pk,
         "station": world.station.pk, "lat": 30.03, "lng": 122.11},
        format="json",
    )  # fmt: skip
    assert response.status_code == 409 and response.json()["code"] == errors.CREDIT_CODE_TAKEN
    assert Enterprise.objects.count() == 1


def test_a_station_of_another_town_is_refused(world, client_for, warm_campaign):
    response = client_for(world.sam).post(
        "/api/v1/enterprises/",
        {"name": "测试企业", "credit_code": VALID_CODES[2], "town": world.town.pk,
         "station": world.other_station.pk, "lat": 30.03, "lng": 122.11},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400 and "station" in response.json()["fields"]
    assert Enterprise.objects.count() == 0


def test_gcj02_coordinates_are_stored_as_wgs84(world, client_for, warm_campaign):
    response = client_for(world.sam).post(
        "/api/v1/enterprises/",
        {"name": "测试企业", "credit_code": VALID_CODES[2], "town": world.town.pk,
         "station": world.station.pk, "lat": 30.03, "lng": 122.11, "coord_type": "gcj02"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201
    stored = Enterprise.objects.get()
    assert stored.lat != 30.03 and abs(stored.lat - 30.03) < 0.01


def test_a_check_in_far_from_the_enterprise_is_refused(world, client_for, enterprise):
    before = written()
    response = client_for(world.alice.user).post(
        visits_url(enterprise), visit_body(lat=SITE[0] + 0.05), format="json"
    )
    assert response.status_code == 422 and response.json()["code"] == service_errors.TOO_FAR
    assert response.json()["distance_m"] > 5000
    assert written() == before


def test_a_check_in_in_gcj02_at_the_site_is_accepted(world, client_for, enterprise):
    from stations.geo import wgs84_to_gcj02

    lat, lng = wgs84_to_gcj02(*SITE)
    response = client_for(world.alice.user).post(
        visits_url(enterprise), visit_body(lat=lat, lng=lng, coord_type="gcj02"), format="json"
    )
    assert response.status_code == 201, response.json()
    assert EnterpriseVisit.objects.get().distance_m < 5


def test_over_the_monthly_cap_is_refused_unless_the_enterprise_asked(
    world,
    client_for,
    enterprise,
    settings,
):
    settings.ENTERPRISE_VISITS_PER_MONTH = 1
    alice = client_for(world.alice.user)
    started = timezone.now() - timedelta(hours=2)
    if timezone.localtime(started).day != timezone.localtime(timezone.now()).day:
        started = timezone.now() - timedelta(minutes=70)
    body = visit_body(started_at=started.replace(microsecond=0).isoformat())
    assert alice.post(visits_url(enterprise), body, format="json").status_code == 201
    before = written()
    refused = alice.post(
        visits_url(enterprise), {**body, "issues": ["顺便说一件事"]}, format="json"
    )
    assert refused.status_code == 409 and refused.json()["code"] == errors.VISIT_CAP_REACHED
    assert refused.json()["cap"] == 1
    assert written() == before
    asked = alice.post(
        visits_url(enterprise), {**body, "requested_by_enterprise": True}, format="json"
    )
    assert asked.status_code == 201
    assert [w["code"] for w in asked.json()["warnings"]] == ["quiet_period"]


@pytest.mark.parametrize(
    "change",
    [
        {"started_at": (timezone.now() + timedelta(hours=1)).isoformat()},  # not over yet
        {"started_at": (timezone.now() - timedelta(days=3)).isoformat()},  # too long ago
        {"duration_minutes": 5},
        {"duration_minutes": 10_000},
        {"discussed": ""},
        {"lat": None},
        {"issues": "not a list"},
    ],
)
def test_bad_visit_input_writes_nothing(world, client_for, enterprise, change):
    before = written()
    body = {key: value for key, value in {**visit_body(), **change}.items() if value is not None}
    response = client_for(world.alice.user).post(visits_url(enterprise), body, format="json")
    assert response.status_code == 400, response.json()
    assert written() == before


def test_a_visit_without_a_running_campaign_is_refused(world, client_for):
    found = make_enterprise(world)
    assign(world, found)
    before = written()
    response = client_for(world.alice.user).post(visits_url(found), visit_body(), format="json")
    assert response.status_code == 409 and response.json()["code"] == errors.NO_ENTERPRISE_CAMPAIGN
    assert written() == before


@pytest.mark.parametrize(
    ("move", "body"),
    [
        ("start", {}),  # skipping 转办
        ("resolve", {"outcome": "已办"}),  # skipping 转办 and 办理
    ],
)
def test_an_appeal_cannot_skip_a_step(world, client_for, enterprise, move, body):
    appeal = accepted_appeal(world, enterprise)
    events = Event.objects.count()
    response = client_for(world.alice.user).post(
        f"/api/v1/appeals/{appeal.pk}/{move}/", body, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == errors.APPEAL_WRONG_STATE
    assert EnterpriseAppeal.objects.get().status == "accepted" and Event.objects.count() == events


@pytest.mark.parametrize(
    ("move", "body"),
    [
        ("refer", {"department": "区发改局", "asked": "再办一次", "due_on": "2099-01-01"}),
        ("start", {}),
        ("reject", {"reason": "改为不予受理"}),
    ],
)
def test_a_resolved_appeal_cannot_move_backwards(world, client_for, enterprise, move, body):
    appeal = resolved_appeal(world, enterprise)
    events = Event.objects.count()
    response = client_for(world.sam).post(
        f"/api/v1/appeals/{appeal.pk}/{move}/", body, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == errors.APPEAL_WRONG_STATE
    assert EnterpriseAppeal.objects.get().status == "resolved" and Event.objects.count() == events


@pytest.mark.parametrize("body", [{}, {"outcome": ""}, {"outcome": "   "}])
def test_an_appeal_is_not_closed_without_an_outcome(world, client_for, enterprise, body):
    appeal = accepted_appeal(world, enterprise)
    appeals.refer_appeal(actor=world.sam, appeal_id=appeal.pk, department="区人社局", asked="招工",
                         due_on=timezone.localdate() + timedelta(days=3))  # fmt: skip
    appeals.start_appeal(actor=world.sam, appeal_id=appeal.pk)
    response = client_for(world.sam).post(
        f"/api/v1/appeals/{appeal.pk}/resolve/", body, format="json"
    )
    assert response.status_code == 400
    stored = EnterpriseAppeal.objects.get()
    assert (stored.status, stored.outcome, stored.resolved_at) == ("in_progress", "", None)


@pytest.mark.parametrize(
    "body",
    [
        {"department": "", "asked": "x", "due_on": "2099-01-01"},
        {"department": "区人社局", "asked": "x"},
        {"department": "区人社局", "asked": "x", "due_on": "2000-01-01"},
    ],
)
def test_a_referral_needs_a_department_and_a_future_due_date(world, client_for, enterprise, body):
    appeal = accepted_appeal(world, enterprise)
    response = client_for(world.sam).post(
        f"/api/v1/appeals/{appeal.pk}/refer/", body, format="json"
    )
    assert response.status_code == 400
    assert EnterpriseAppeal.objects.get().status == "accepted"


def test_a_rating_before_resolution_is_refused(world, anon, enterprise):
    appeal = accepted_appeal(world, enterprise)
    response = anon.post(
        f"{desk_url(enterprise)}appeals/{appeal.pk}/rating/", {"score": 5}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == errors.APPEAL_NOT_RATEABLE
    assert EnterpriseAppeal.objects.get().score is None


def test_a_rating_is_given_once(world, anon, enterprise):
    appeal = resolved_appeal(world, enterprise)
    url = f"{desk_url(enterprise)}appeals/{appeal.pk}/rating/"
    assert anon.post(url, {"score": 4}, format="json").status_code == 201
    again = anon.post(url, {"score": 1}, format="json")
    assert again.status_code == 409 and EnterpriseAppeal.objects.get().score == 4


@pytest.mark.parametrize("body", [{"score": 0}, {"score": 6}, {"score": "5"}, {}])
def test_a_bad_score_is_refused(world, anon, enterprise, body):
    appeal = resolved_appeal(world, enterprise)
    response = anon.post(f"{desk_url(enterprise)}appeals/{appeal.pk}/rating/", body, format="json")
    assert response.status_code == 400
    assert EnterpriseAppeal.objects.get().status == "resolved"


def test_only_the_wechat_user_who_raised_it_rates_a_miniprogram_appeal(
    world,
    anon,
    enterprise,
    wechat,
):
    raised = anon.post(
        desk_url(enterprise) + "appeals/",
        {"description": "希望协调用电", "wechat_code": ok("o-enterprise")},
        format="json",
    )
    assert raised.status_code == 201 and raised.json()["source"] == "miniprogram"
    appeal = EnterpriseAppeal.objects.get()
    # Its progress reaches that WeChat account as a subscribe message.
    assert Notification.objects.filter(
        kind="enterprise_appeal_step", user=appeal.raised_by
    ).exists()
    resolved = resolved_appeal(world, enterprise)
    EnterpriseAppeal.objects.filter(pk=resolved.pk).delete()
    appeals.refer_appeal(actor=world.sam, appeal_id=appeal.pk, department="供电公司", asked="增容",
                         due_on=timezone.localdate() + timedelta(days=3))  # fmt: skip
    appeals.start_appeal(actor=world.sam, appeal_id=appeal.pk)
    appeals.resolve_appeal(actor=world.sam, appeal_id=appeal.pk, outcome="已增容")
    url = f"{desk_url(enterprise)}appeals/{appeal.pk}/rating/"
    for body in ({"score": 5}, {"score": 5, "wechat_code": ok("o-someone-else")}):
        response = anon.post(url, body, format="json")
        assert response.status_code == 403 and response.json()["code"] == errors.NOT_APPEAL_OWNER
    assert EnterpriseAppeal.objects.get(pk=appeal.pk).score is None
    done = anon.post(url, {"score": 5, "wechat_code": ok("o-enterprise")}, format="json")
    assert done.status_code == 201


# ---------------------------------------------------------------- sweep and retention


def test_overdue_appeals_notify_the_liaisons_and_staff_once(world, enterprise):
    appeal = accepted_appeal(world, enterprise)
    appeals.refer_appeal(actor=world.sam, appeal_id=appeal.pk, department="区人社局", asked="招工",
                         due_on=timezone.localdate())  # fmt: skip
    later = timezone.now() + timedelta(days=2)
    assert appeals.notify_overdue(now=later) == 1
    assert appeals.notify_overdue(now=later) == 0
    told = set(
        Notification.objects.filter(kind="enterprise_appeal_overdue").values_list("user", flat=True)
    )
    assert told == {world.alice.user.pk, world.bob.user.pk, world.sam.pk}
    call_command("notify_overdue_appeals", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_the_contact_of_a_long_deactivated_enterprise_is_purged(world, enterprise, settings):
    settings.ENTERPRISE_CONTACT_RETENTION_DAYS = 30
    Enterprise.objects.filter(pk=enterprise.pk).update(
        active=False, deactivated_at=timezone.now() - timedelta(days=31)
    )
    kept = make_enterprise(world, code=VALID_CODES[1])
    report = purge_personal_data()
    assert report.enterprises == 1
    assert Enterprise.objects.filter(contact_phone="", contact_name="").count() == 1
    assert Enterprise.objects.get(pk=kept.pk).contact_phone == "13900001234"
    assert purge_personal_data().enterprises == 0
