"""GET/POST campaigns/, GET/PATCH campaigns/{id}/: everyone signed in reads, staff write."""

from __future__ import annotations

import pytest

from accounts import errors as common
from accounts.models import Event
from services.models import Campaign
from tests.factories import CampaignFactory
from tests.test_errors import assert_error

URL = "/api/v1/campaigns/"

NEW = {
    "kind": "warm_enterprise",
    "name": "2026 暖企专员行动",
    "starts_on": "2026-01-01",
    "ends_on": "2026-12-31",
    "target_served": 500,
}


def test_everyone_signed_in_lists_campaigns(world, client_for):
    CampaignFactory(kind="warm_heart", name="暖心月")
    CampaignFactory(kind="warm_village", name="暖岙行")
    for user in (world.alice.user, world.mary, world.lily, world.sam):
        body = client_for(user).get(URL).json()
        assert body["count"] == 2
    rows = client_for(world.alice.user).get(f"{URL}?kind=warm_heart").json()["results"]
    assert [r["name"] for r in rows] == ["暖心月"]
    assert set(rows[0]) == {
        "id",
        "kind",
        "name",
        "starts_on",
        "ends_on",
        "target_served",
        "created_at",
    }


def test_anonymous_cannot_read_campaigns(anon, db):
    assert_error(anon.get(URL), 401, common.NOT_AUTHENTICATED)


def test_staff_create_and_edit_campaigns(world, client_for):
    client = client_for(world.sam)
    response = client.post(URL, NEW, format="json")
    assert response.status_code == 201, response.content
    campaign = Campaign.objects.get(pk=response.json()["id"])
    assert (campaign.kind, campaign.target_served) == ("warm_enterprise", 500)
    assert Event.objects.get(verb="campaign_created").actor == world.sam

    response = client.patch(f"{URL}{campaign.pk}/", {"target_served": 650}, format="json")
    assert response.status_code == 200 and response.json()["target_served"] == 650
    assert Event.objects.get(verb="campaign_updated").payload["changed"] == {
        "target_served": ["500", "650"]
    }
    assert client.get(f"{URL}{campaign.pk}/").json()["name"] == "2026 暖企专员行动"


@pytest.mark.parametrize("who", ["alice", "mary", "lily"])
def test_others_cannot_write_campaigns(world, client_for, who):
    user = {"alice": world.alice.user, "mary": world.mary, "lily": world.lily}[who]
    assert_error(client_for(user).post(URL, NEW, format="json"), 403, common.PERMISSION_DENIED)
    existing = CampaignFactory()
    response = client_for(user).patch(f"{URL}{existing.pk}/", {"name": "改"}, format="json")
    assert_error(response, 403, common.PERMISSION_DENIED)
    assert Campaign.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "warm_sea"}, "kind"),
        ({"name": ""}, "name"),
        ({"name": "长" * 101}, "name"),
        ({"ends_on": "2025-12-31"}, "ends_on"),
        ({"starts_on": "not a date"}, "starts_on"),
        ({"target_served": -1}, "target_served"),
        ({"target_served": 10**12}, "target_served"),
    ],
)
def test_bad_campaigns_are_400(world, client_for, changes, field):
    body = assert_error(
        client_for(world.sam).post(URL, {**NEW, **changes}, format="json"),
        400,
        common.VALIDATION_ERROR,
    )
    assert field in body["fields"]
    assert not Campaign.objects.exists()


def test_campaign_names_are_unique(world, client_for):
    CampaignFactory(name=NEW["name"])
    body = assert_error(
        client_for(world.sam).post(URL, NEW, format="json"), 400, common.VALIDATION_ERROR
    )
    assert "name" in body["fields"]


def test_a_patch_cannot_end_a_campaign_before_it_starts(world, client_for):
    campaign = CampaignFactory()
    response = client_for(world.sam).patch(
        f"{URL}{campaign.pk}/", {"ends_on": "2000-01-01"}, format="json"
    )
    assert_error(response, 400, common.VALIDATION_ERROR)


@pytest.mark.parametrize("bad", ["424242", "99999999999999999999999", "x"])
def test_unknown_campaigns_are_404(world, client_for, bad):
    assert_error(client_for(world.sam).get(f"{URL}{bad}/"), 404, common.NOT_FOUND)


def test_campaigns_are_not_deleted_over_the_api(world, client_for):
    campaign = CampaignFactory()
    response = client_for(world.sam).delete(f"{URL}{campaign.pk}/")
    assert_error(response, 405, common.METHOD_NOT_ALLOWED)
