"""暖企 end to end through HTTP: assign → visit → 诉求 → 转办 → 办结 → rating → the figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Event, Notification
from services.models import (
    EnterpriseAppeal,
    EnterpriseLiaison,
    EnterpriseVisit,
    ServiceHours,
    ServiceRecord,
)
from tests import enterprise_fixtures
from tests.enterprise_fixtures import VALID_CODES, visit_body

pytestmark = pytest.mark.django_db

warm_campaign = enterprise_fixtures.warm_campaign


def test_the_campaign_walks_from_assignment_to_the_figures(world, client_for, anon, warm_campaign):
    sam, alice = client_for(world.sam), client_for(world.alice.user)
    created = sam.post(
        "/api/v1/enterprises/",
        {
            "name": "舟山示例船舶修造有限公司",
            "credit_code": VALID_CODES[0].lower(),
            "town": world.town.pk,
            "station": world.station.pk,
            "lat": 30.03,
            "lng": 122.11,
            "industry": "船舶修造",
            "key_project": True,
            "contact_name": "张经理",
            "contact_phone": "13900001234",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    enterprise = created.json()
    assert enterprise["credit_code"] == VALID_CODES[0]
    pk = enterprise["id"]

    assigned = sam.post(
        f"/api/v1/enterprises/{pk}/liaisons/",
        {
            "lead": world.alice.pk,
            "deputies": [world.bob.pk],
            "starts_on": (timezone.localdate() - timedelta(days=1)).isoformat(),
        },
        format="json",
    )
    assert assigned.status_code == 201, assigned.json()
    assert Notification.objects.filter(kind="enterprise_assigned", user=world.alice.user).exists()

    mine = alice.get("/api/v1/me/enterprises/").json()["results"]
    assert [(row["id"], row["last_visit_at"], row["open_appeals"]) for row in mine] == [
        (pk, None, 0)
    ]
    # The 专员 sees the contact in full; another member does not even see the enterprise.
    assert mine[0]["contact_phone"] == "13900001234"
    assert client_for(world.charlie.user).get(f"/api/v1/enterprises/{pk}/").status_code == 404

    visited = alice.post(
        f"/api/v1/enterprises/{pk}/visits/",
        visit_body(issues=["希望协调解决码头用电增容。"]),
        format="json",
    )
    assert visited.status_code == 201, visited.json()
    result = visited.json()
    assert result["warnings"] == []
    (appeal,) = result["appeals"]
    assert appeal["status"] == "accepted" and appeal["source"] == "visit"
    record = ServiceRecord.objects.get(pk=result["record"])
    assert (record.status, record.enterprises_served, record.campaign_kind) == (
        "submitted",
        1,
        "warm_enterprise",
    )
    visit = EnterpriseVisit.objects.get()
    assert visit.request_id == record.request_id and visit.claim.member_id == world.alice.pk
    assert visit.request.first_claimed_at is None  # not in the time-to-claim figures

    # A second party verifies the visit's record through the records workflow: hours count.
    verified = client_for(world.mary).post(
        f"/api/v1/records/{record.pk}/verify/",
        {"approved": True, "note": "核实无误"},
        format="json",
    )
    assert verified.status_code == 200, verified.json()
    assert ServiceHours.objects.get(record=record, counted=True).minutes == 60

    appeal_id = appeal["id"]
    due = (timezone.localdate() + timedelta(days=10)).isoformat()
    moves = [
        ("refer", {"department": "区发改局", "asked": "协调供电公司增容", "due_on": due}),
        ("start", {}),
        ("resolve", {"outcome": "供电公司已完成增容。"}),
    ]
    for move, body in moves:
        response = alice.post(f"/api/v1/appeals/{appeal_id}/{move}/", body, format="json")
        assert response.status_code == 200, (move, response.json())
    assert EnterpriseAppeal.objects.get().status == "resolved"
    verbs = set(
        Event.objects.filter(verb__startswith="enterprise_appeal").values_list("verb", flat=True)
    )
    assert verbs == {
        "enterprise_appeal_raised",
        "enterprise_appeal_referred",
        "enterprise_appeal_started",
        "enterprise_appeal_resolved",
    }
    assert Notification.objects.filter(kind="enterprise_appeal", user=world.bob.user).count() == 4

    # The enterprise, through its own desk code, sees and rates its 诉求.
    desk = EnterpriseLiaison.objects.first().enterprise.desk_ticket
    seen = anon.get(f"/api/v1/enterprise-desk/{desk}/").json()
    assert [row["status"] for row in seen["appeals"]] == ["resolved"]
    assert "王丽" not in str(seen)
    rated = anon.post(
        f"/api/v1/enterprise-desk/{desk}/appeals/{appeal_id}/rating/",
        {"score": 5, "comment": "办得快"},
        format="json",
    )
    assert rated.status_code == 201, rated.json()
    assert rated.json()["status"] == "rated"

    figures = sam.get("/api/v1/stats/enterprises/?by=town").json()
    (row,) = figures
    assert row["label"] == world.town.name
    assert (row["enterprises"], row["covered"], row["visits"], row["verified_visits"]) == (
        1,
        1,
        1,
        1,
    )
    assert (row["appeals"], row["resolved"], row["resolution_rate"], row["overdue"]) == (
        1,
        1,
        1.0,
        0,
    )
    assert row["median_hours_to_resolve"] is not None and row["satisfaction"] == 5.0
    by_key = sam.get("/api/v1/stats/enterprises/?by=key_project").json()
    assert [(r["key"], r["visits"]) for r in by_key] == [("1", 1)]
    by_month = sam.get("/api/v1/stats/enterprises/?by=month").json()
    assert [r["visits"] for r in by_month] == [1]
    export = sam.get("/api/v1/stats/enterprises/export/")
    assert export.status_code == 200 and export.content.startswith(b"PK")
    mine = alice.get("/api/v1/me/enterprises/").json()["results"]
    assert mine[0]["last_visit_at"] is not None and mine[0]["open_appeals"] == 0


def test_the_dashboard_panel_renders_the_figures(world, warm_campaign):
    """The 暖企 panel template with its context function (wired into the dashboard at merge)."""
    from django.template.loader import render_to_string

    from services.enterprises import figures
    from services.stats.selectors import resolve_filters
    from tests.enterprise_fixtures import assign, make_enterprise

    assign(world, make_enterprise(world))
    html = render_to_string(
        "dashboard/_enterprises_panel.html", figures.panel_context(resolve_filters(user=world.sam))
    )
    assert 'id="enterprises-panel"' in html
    assert f'data-town="{world.town.pk}"' in html and world.town.name in html
    # A manager's panel holds their towns only.
    other = figures.panel_context(resolve_filters(user=world.oscar))
    assert other["enterprise_totals"].enterprises == 0 and other["enterprise_towns"] == []
