"""seed_demo loads the demo logins and residents' needs and can run twice: the second run
changes nothing."""

from io import StringIO

from django.apps import apps
from django.core.management import call_command

from accounts.demo import DEMO_PASSWORD, DEMO_USERS
from accounts.models import User
from services.demo.enterprises import DEMO_ENTERPRISES, VISIT_DAYS
from services.demo.intakes import DECLINE_REASON, DEMO_NEEDS
from services.models import Enterprise, EnterpriseAppeal, EnterpriseVisit, Intake
from tests.conftest import bearer
from tests.demo_fixtures import fingerprint


def counts() -> dict[str, int]:
    """Rows per model of the project's apps."""
    return {
        model._meta.label: model.objects.count()
        for app in ("accounts", "stations", "members", "services")
        for model in apps.get_app_config(app).get_models()
    }


def test_seed_demo_is_idempotent(db, anon):
    call_command("seed_demo", stdout=StringIO())
    first, rows = counts(), fingerprint()
    call_command("seed_demo", stdout=StringIO())
    assert counts() == first
    assert fingerprint() == rows
    assert first["services.ServiceRequest"] > 36
    assert User.objects.filter(username__in=DEMO_USERS).count() == len(DEMO_USERS)
    for username in DEMO_USERS:
        response = anon.post(
            "/api/v1/auth/token/", {"username": username, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 200, username

    # The demo manager's triage queue: new needs oldest first, one past the triage threshold,
    # one accepted into a request of its station, one declined with the resident's reason.
    manager = User.objects.get(username="demo_manager")
    queue = anon.get("/api/v1/intake/?status=new", HTTP_AUTHORIZATION=bearer(manager)).json()[
        "results"
    ]
    assert len(queue) == len(DEMO_NEEDS)
    ages = [row["age_seconds"] for row in queue]
    assert ages == sorted(ages, reverse=True) and ages[0] > 24 * 3600
    accepted = Intake.objects.get(station__managers=manager, status="accepted")
    assert accepted.request.station_id == accepted.station_id
    declined = Intake.objects.get(station__managers=manager, status="declined")
    assert declined.reason == DECLINE_REASON
    assert Intake.objects.exclude(station__managers=manager).filter(status="new").count() == 4

    # 暖企: demo_member is the lead 专员 of two enterprises, visited; the figures count them.
    member = User.objects.get(username="demo_member")
    mine = anon.get("/api/v1/me/enterprises/", HTTP_AUTHORIZATION=bearer(member)).json()
    rows = mine["results"] if isinstance(mine, dict) else mine
    assert len(rows) == 2
    assert Enterprise.objects.count() == len(DEMO_ENTERPRISES)
    assert EnterpriseVisit.objects.count() == len(VISIT_DAYS)
    assert set(EnterpriseAppeal.objects.values_list("status", flat=True)) == {
        "accepted",
        "referred",
        "in_progress",
        "rated",
    }
