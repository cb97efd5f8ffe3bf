"""seed_demo loads the demo logins and can run twice."""

from django.core.management import call_command

from accounts.demo import DEMO_PASSWORD, DEMO_USERS
from accounts.models import User


def test_seed_demo_is_idempotent(db, anon):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert User.objects.filter(username__in=DEMO_USERS).count() == len(DEMO_USERS)
    for username in DEMO_USERS:
        response = anon.post(
            "/api/v1/auth/token/", {"username": username, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 200, username
