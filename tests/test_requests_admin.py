"""The admin shows campaigns, requests and claims; requests and claims are read-only there."""

from __future__ import annotations

from tests.factories import ClaimFactory, UserFactory


def test_admin_pages_render_and_requests_are_read_only(db, client):
    claim = ClaimFactory()
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    for url in (
        "/admin/services/campaign/",
        "/admin/services/servicerequest/",
        f"/admin/services/servicerequest/{claim.request_id}/change/",
        "/admin/services/claim/",
        f"/admin/services/claim/{claim.pk}/change/",
        "/admin/services/idempotencykey/",
        "/admin/services/campaign/add/",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/services/servicerequest/add/").status_code == 403
    response = client.post(
        f"/admin/services/claim/{claim.pk}/change/", {"status": "cancelled"}, follow=False
    )
    assert response.status_code == 403
    claim.refresh_from_db()
    assert claim.status == "claimed"
