"""GET me/notifications/, POST me/notifications/{id}/read/, POST me/notifications/read-all/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import errors
from accounts.audit import notify
from accounts.models import Notification
from tests.test_errors import assert_error

LIST = "/api/v1/me/notifications/"
READ_ALL = "/api/v1/me/notifications/read-all/"

PERSONAS = ["alice", "bob", "charlie", "mary", "oscar", "lily", "leo", "sam"]


def read_url(pk: int) -> str:
    return f"/api/v1/me/notifications/{pk}/read/"


def user_of(world, name: str):
    persona = getattr(world, name)
    return getattr(persona, "user", persona)


def note(user, title: str = "通知", **fields) -> Notification:
    return notify(user=user, kind=fields.pop("kind", "claim_promoted"), title=title, **fields)


@pytest.fixture
def inboxes(world):
    """Two notifications for every persona, the older one already read."""
    rows = {}
    for name in PERSONAS:
        user = user_of(world, name)
        older = note(user, f"{name} 旧", payload={"request_id": 1})
        Notification.objects.filter(pk=older.pk).update(
            created_at=timezone.now() - timedelta(hours=1), read_at=timezone.now()
        )
        newer = note(user, f"{name} 新", body="请查看", payload={"request_id": 2})
        rows[name] = (older.pk, newer.pk)
    return rows


@pytest.mark.parametrize("name", PERSONAS)
def test_each_persona_lists_only_their_own_newest_first(world, inboxes, client_for, name):
    response = client_for(user_of(world, name)).get(LIST)
    assert response.status_code == 200, response.content
    body = response.json()
    older, newer = inboxes[name]
    assert body["count"] == 2
    assert body["unread_count"] == 1
    assert [row["id"] for row in body["results"]] == [newer, older]
    first = body["results"][0]
    assert first == {
        "id": newer,
        "kind": "claim_promoted",
        "title": f"{name} 新",
        "body": "请查看",
        "payload": {"request_id": 2},
        "created_at": first["created_at"],
        "read": False,
        "read_at": None,
    }
    assert first["created_at"].endswith("+08:00")
    assert body["results"][1]["read"] is True


def test_staff_do_not_see_other_peoples_notifications(world, inboxes, client_for):
    body = client_for(world.sam).get(LIST).json()
    assert {row["title"] for row in body["results"]} == {"sam 旧", "sam 新"}


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("?unread=1", ["alice 新"]),
        ("?unread=true", ["alice 新"]),
        ("?unread=0", ["alice 旧"]),
        ("?unread=false", ["alice 旧"]),
        ("", ["alice 新", "alice 旧"]),
    ],
)
def test_unread_filter(world, inboxes, client_for, query, titles):
    body = client_for(world.alice.user).get(LIST + query).json()
    assert [row["title"] for row in body["results"]] == titles
    assert body["unread_count"] == 1  # the total, whatever the filter


@pytest.mark.parametrize("value", ["maybe", "2", ""])
def test_a_bad_unread_value_is_a_validation_error(world, client_for, value):
    body = assert_error(
        client_for(world.alice.user).get(LIST, {"unread": value}), 400, errors.VALIDATION_ERROR
    )
    assert "unread" in body["fields"]


def test_pages_are_capped_at_100(world, client_for):
    user = world.alice.user
    Notification.objects.bulk_create(
        Notification(user=user, kind="reminder", title=f"提醒 {n}") for n in range(105)
    )
    client = client_for(user)
    first = client.get(LIST, {"page_size": 500}).json()
    assert (first["count"], len(first["results"]), first["unread_count"]) == (105, 100, 105)
    assert first["next"] is not None
    default = client.get(LIST).json()
    assert len(default["results"]) == 20
    second = client.get(LIST, {"page": 6}).json()
    assert len(second["results"]) == 5
    assert_error(client.get(LIST, {"page": 99}), 404, errors.NOT_FOUND)
    assert_error(client.get(LIST, {"page": "x"}), 404, errors.NOT_FOUND)


def test_the_list_costs_a_fixed_number_of_queries(world, client_for, django_assert_max_num_queries):
    user = world.alice.user
    for n in range(30):
        note(user, f"通知 {n}")
    client = client_for(user)
    with django_assert_max_num_queries(4):
        assert client.get(LIST).status_code == 200


def test_marking_read_sets_read_at_once(world, inboxes, client_for):
    _, newer = inboxes["alice"]
    client = client_for(world.alice.user)
    response = client.post(read_url(newer))
    assert response.status_code == 200, response.content
    assert response.json()["id"] == newer
    assert response.json()["read"] is True
    row = Notification.objects.get(pk=newer)
    first_read = row.read_at
    assert first_read is not None
    # Idempotent: again is fine and keeps the first time.
    again = client.post(read_url(newer))
    assert again.status_code == 200
    assert Notification.objects.get(pk=newer).read_at == first_read
    assert client.get(LIST).json()["unread_count"] == 0


@pytest.mark.parametrize("other", ["bob", "charlie", "mary", "sam"])
def test_another_users_notification_is_not_found(world, inboxes, client_for, other):
    _, theirs = inboxes[other]
    assert_error(client_for(world.alice.user).post(read_url(theirs)), 404, errors.NOT_FOUND)
    assert Notification.objects.get(pk=theirs).read_at is None


def test_unknown_ids_are_not_found(world, client_for):
    client = client_for(world.alice.user)
    assert_error(client.post(read_url(999999)), 404, errors.NOT_FOUND)
    assert_error(client.post(read_url(2**63)), 404, errors.NOT_FOUND)
    assert_error(client.post(read_url(0)), 404, errors.NOT_FOUND)
    assert_error(client.post("/api/v1/me/notifications/abc/read/"), 404, errors.NOT_FOUND)


def test_read_all_marks_only_ones_own(world, inboxes, client_for):
    note(world.alice.user, "另一条")
    client = client_for(world.alice.user)
    response = client.post(READ_ALL)
    assert response.status_code == 200, response.content
    assert response.json() == {"marked": 2, "unread_count": 0}
    assert not Notification.objects.filter(user=world.alice.user, read_at__isnull=True).exists()
    assert Notification.objects.filter(read_at__isnull=True).count() == len(PERSONAS) - 1
    # Idempotent.
    assert client.post(READ_ALL).json() == {"marked": 0, "unread_count": 0}


def test_reading_does_not_touch_the_sending_state(world, client_for):
    row = note(world.alice.user, "待发送")
    client_for(world.alice.user).post(read_url(row.pk))
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Notification.Status.PENDING, 0)


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", LIST), ("post", read_url(1)), ("post", READ_ALL)],
)
def test_anonymous_is_401(anon, db, method, url):
    assert_error(getattr(anon, method)(url), 401, errors.NOT_AUTHENTICATED)


@pytest.mark.parametrize(
    ("method", "url"),
    [("post", LIST), ("delete", LIST), ("get", read_url(1)), ("get", READ_ALL)],
)
def test_wrong_methods_are_405(world, client_for, method, url):
    response = getattr(client_for(world.alice.user), method)(url)
    assert_error(response, 405, errors.METHOD_NOT_ALLOWED)
