"""Django admin of geography and roster: Chinese labels, search, filters, no deletes."""

from __future__ import annotations

import pytest
from django.contrib import admin

from accounts.models import Event
from members.models import Member, Specialty, Team
from stations.models import Station, Town, Village
from tests.factories import UserFactory

MODELS = [Town, Village, Station, Specialty, Team, Member]


@pytest.fixture
def admin_client(client, world):
    boss = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(boss)
    return client


@pytest.mark.parametrize("model", MODELS)
def test_every_model_is_registered_with_chinese_names_search_and_filters(model):
    model_admin = admin.site._registry[model]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in str(model._meta.verbose_name))
    assert model_admin.search_fields and model_admin.list_filter
    assert not model_admin.has_delete_permission(request=None)


@pytest.mark.parametrize("model", MODELS)
def test_changelists_search_filter_and_change_pages_render(admin_client, world, model):
    base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    assert admin_client.get(base).status_code == 200
    assert admin_client.get(base, {"q": "王"}).status_code == 200
    assert admin_client.get(base, {"active__exact": "1"}).status_code == 200
    obj = model.objects.first()
    page = admin_client.get(f"{base}{obj.pk}/change/")
    assert page.status_code == 200
    assert admin_client.get(f"{base}{obj.pk}/delete/").status_code == 403


def test_the_deactivate_action_leaves_rows_and_events(admin_client, world):
    response = admin_client.post(
        "/admin/stations/station/",
        {"action": "deactivate", "_selected_action": [world.station.pk]},
    )
    assert response.status_code == 302
    world.station.refresh_from_db()
    assert world.station.active is False
    assert Station.objects.filter(pk=world.station.pk).exists()
    assert Event.objects.filter(verb="station.updated", payload__source="admin").count() == 1


def test_an_admin_edit_of_a_member_keeps_the_account_in_step(admin_client, world):
    alice = world.alice
    response = admin_client.post(
        f"/admin/members/member/{alice.pk}/change/",
        {
            "user": alice.user.pk,
            "name": "王丽娟",
            "sector": alice.sector,
            "team": alice.team_id,
            "specialties": [world.law.pk],
            "home_lat": "30.01",
            "home_lng": "122.1",
            "active": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    alice.user.refresh_from_db()
    assert (alice.user.name, alice.user.is_member) == ("王丽娟", False)
    assert Event.objects.filter(verb="member.updated", payload__source="admin").exists()


def test_admin_refuses_out_of_range_coordinates(admin_client, world):
    response = admin_client.post(
        f"/admin/stations/town/{world.town.pk}/change/",
        {"name": world.town.name, "code": "", "kind": "subdistrict", "lat": "95", "lng": "122"},
    )
    assert response.status_code == 200  # the form again, with the error
    world.town.refresh_from_db()
    assert world.town.lat == 30.02
