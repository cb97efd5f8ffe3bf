"""Reference data carries ETag / Last-Modified and answers conditional GETs with 304, cheaply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.http import http_date

from stations.models import Station, Town
from tests.factories import SpecialtyFactory, TownFactory

REFERENCE = ["towns/", "villages/", "stations/", "specialties/"]


def age_everything(seconds: int = 60) -> None:
    """Move every updated_at into the past, so Last-Modified is settled (whole seconds)."""
    from members.models import Specialty
    from stations.models import Village

    past = timezone.now() - timedelta(seconds=seconds)
    for model in (Town, Village, Station, Specialty):
        model.objects.update(updated_at=past)


@pytest.mark.parametrize("path", REFERENCE)
def test_lists_carry_validators_and_answer_if_none_match(world, client_for, path):
    client = client_for(world.alice.user)
    first = client.get(f"/api/v1/{path}")
    assert first.status_code == 200
    etag = first["ETag"]
    assert etag.startswith('W/"')
    assert "no-cache" in first["Cache-Control"] and "private" in first["Cache-Control"]
    assert "Authorization" in first["Vary"]
    again = client.get(f"/api/v1/{path}", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    # Strong form and lists of tags match too (weak comparison).
    assert client.get(f"/api/v1/{path}", HTTP_IF_NONE_MATCH=etag[2:]).status_code == 304
    assert client.get(f"/api/v1/{path}", HTTP_IF_NONE_MATCH=f'"nope", {etag}').status_code == 304
    assert client.get(f"/api/v1/{path}", HTTP_IF_NONE_MATCH='"stale"').status_code == 200


@pytest.mark.parametrize("path", REFERENCE)
def test_lists_answer_if_modified_since(world, client_for, path):
    age_everything()
    client = client_for(world.alice.user)
    first = client.get(f"/api/v1/{path}")
    last_modified = first["Last-Modified"]
    assert client.get(f"/api/v1/{path}", HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304
    earlier = http_date((timezone.now() - timedelta(hours=1)).timestamp())
    assert client.get(f"/api/v1/{path}", HTTP_IF_MODIFIED_SINCE=earlier).status_code == 200
    assert client.get(f"/api/v1/{path}", HTTP_IF_MODIFIED_SINCE="garbage").status_code == 200


def test_a_change_invalidates_the_etag(world, client_for):
    client = client_for(world.alice.user)
    etag = client.get("/api/v1/towns/")["ETag"]
    client_for(world.sam).patch(f"/api/v1/towns/{world.town.id}/", {"name": "昌国街道（新）"})
    changed = client.get("/api/v1/towns/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert "昌国街道（新）" in {row["name"] for row in changed.json()["results"]}


def test_a_new_row_invalidates_the_etag_even_with_an_old_timestamp(world, client_for):
    client = client_for(world.alice.user)
    etag = client.get("/api/v1/specialties/")["ETag"]
    specialty = SpecialtyFactory(code="sea", name="海洋渔业")
    type(specialty).objects.filter(pk=specialty.pk).update(
        updated_at=timezone.now() - timedelta(days=365)
    )
    assert client.get("/api/v1/specialties/", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_deactivation_invalidates_if_modified_since(world, client_for):
    age_everything(seconds=3600)
    client = client_for(world.alice.user)
    last_modified = client.get("/api/v1/stations/")["Last-Modified"]
    Station.objects.filter(pk=world.station.pk).update(
        active=False, updated_at=timezone.now() - timedelta(seconds=5)
    )
    response = client.get("/api/v1/stations/", HTTP_IF_MODIFIED_SINCE=last_modified)
    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == {world.other_station.id}


def test_if_none_match_wins_over_if_modified_since(world, client_for):
    age_everything()
    client = client_for(world.alice.user)
    first = client.get("/api/v1/towns/")
    response = client.get(
        "/api/v1/towns/",
        HTTP_IF_NONE_MATCH='"something-else"',
        HTTP_IF_MODIFIED_SINCE=first["Last-Modified"],
    )
    assert response.status_code == 200


def test_last_modified_is_left_out_while_its_second_is_not_over(world, client_for):
    Town.objects.update(updated_at=timezone.now() + timedelta(seconds=5))
    response = client_for(world.alice.user).get("/api/v1/towns/")
    assert "Last-Modified" not in response
    assert response["ETag"]


def test_query_string_and_page_change_the_etag(world, client_for):
    TownFactory.create_batch(3)
    client = client_for(world.alice.user)
    plain = client.get("/api/v1/towns/")["ETag"]
    filtered = client.get("/api/v1/towns/?kind=town")["ETag"]
    page = client.get("/api/v1/towns/?page_size=2&page=2")["ETag"]
    assert len({plain, filtered, page}) == 3
    # Parameter order does not matter.
    a = client.get("/api/v1/villages/?remote=true&kind=island")["ETag"]
    b = client.get("/api/v1/villages/?kind=island&remote=true")["ETag"]
    assert a == b


def test_staff_and_readers_get_different_etags(world, client_for):
    Town.objects.filter(pk=world.other_town.pk).update(active=False)
    reader = client_for(world.alice.user).get("/api/v1/towns/")
    staff = client_for(world.sam).get("/api/v1/towns/", HTTP_IF_NONE_MATCH=reader["ETag"])
    assert staff.status_code == 200
    assert staff.json()["count"] == 2


@pytest.mark.parametrize("path", ["towns/{town}/", "stations/{station}/", "villages/{village}/"])
def test_details_answer_conditional_gets(world, client_for, path):
    age_everything()
    url = "/api/v1/" + path.format(
        town=world.town.id, station=world.station.id, village=world.village.id
    )
    client = client_for(world.lily)
    first = client.get(url)
    assert first.status_code == 200 and first["ETag"] and first["Last-Modified"]
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    client_for(world.sam).patch(url, {"name": "改了名字"})
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200


def test_a_304_costs_one_aggregate_query(world, client_for):
    TownFactory.create_batch(30)
    client = client_for(world.alice.user)
    etag = client.get("/api/v1/towns/")["ETag"]
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/towns/", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    town_queries = [q["sql"] for q in queries.captured_queries if "stations_town" in q["sql"]]
    assert len(town_queries) == 1
    assert "COUNT" in town_queries[0].upper() and "MAX" in town_queries[0].upper()


def test_conditional_gets_still_need_a_login(world, anon):
    response = anon.get("/api/v1/towns/", HTTP_IF_NONE_MATCH="*")
    assert response.status_code == 401


def test_a_row_leaving_a_filter_invalidates_both_validators(world, client_for):
    from stations.models import Village

    age_everything(seconds=3600)
    client = client_for(world.alice.user)
    url = f"/api/v1/villages/?town={world.town.id}"
    first = client.get(url)
    Village.objects.filter(pk=world.village.pk).update(
        town=world.other_town, updated_at=timezone.now() - timedelta(seconds=5)
    )
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 200
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200
