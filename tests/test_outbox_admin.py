"""The outbox in the Django admin: staff see rows and requeue failed or skipped ones."""

from __future__ import annotations

from accounts.audit import notify
from accounts.models import Notification
from tests.factories import UserFactory

CHANGELIST = "/admin/accounts/notification/"


def test_staff_list_rows_and_requeue_failed_and_skipped_only(client, db):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    user = UserFactory(wechat_openid="openid-x")
    rows = {
        status: notify(user=user, kind="reminder", title=f"提醒 {status}")
        for status in ("failed", "skipped", "sent", "sending")
    }
    for status, row in rows.items():
        Notification.objects.filter(pk=row.pk).update(
            status=status, attempts=3, last_error="errcode -1"
        )
    client.force_login(admin)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "提醒 failed" in page.content.decode()
    assert client.get(f"{CHANGELIST}add/").status_code == 403

    response = client.post(
        CHANGELIST,
        {"action": "requeue", "_selected_action": [row.pk for row in rows.values()]},
    )
    assert response.status_code == 302
    after = {s: Notification.objects.get(pk=r.pk) for s, r in rows.items()}
    for status in ("failed", "skipped"):
        assert (after[status].status, after[status].attempts, after[status].last_error) == (
            "pending",
            0,
            "",
        )
    assert after["sent"].status == "sent"
    assert after["sending"].status == "sending"


def test_members_cannot_open_the_outbox_admin(client, db):
    client.force_login(UserFactory(is_member=True))
    assert client.get(CHANGELIST).status_code == 302  # to the admin login
