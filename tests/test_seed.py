"""seed_demo loads the demo logins and can run twice: the second run changes nothing."""

from io import StringIO

from django.apps import apps
from django.core.management import call_command

from accounts.demo import DEMO_PASSWORD, DEMO_USERS
from accounts.models import User
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
