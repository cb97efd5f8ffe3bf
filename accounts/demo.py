"""Demo logins, one per role (used by ``manage.py seed_demo``)."""

from __future__ import annotations

from accounts.models import User

DEMO_PASSWORD = "wwqz-demo-2026"  # noqa: S105 - published demo login, never for production

# username → (name, role flags). Later seeders attach these users to stations, villages, teams.
DEMO_USERS: dict[str, tuple[str, dict[str, bool]]] = {
    "demo_staff": ("政协机关·沈明", {"is_staff": True, "is_superuser": True}),
    "demo_manager": ("驿站管理员·马芸", {"is_station_manager": True}),
    "demo_liaison": ("村联络员·李莉", {"is_village_liaison": True}),
    "demo_member": ("委员·王丽", {"is_member": True}),
}


def seed_users() -> dict[str, User]:
    """Create or refresh the demo logins; idempotent."""
    users = {}
    for username, (name, flags) in DEMO_USERS.items():
        user, created = User.objects.get_or_create(
            username=username, defaults={"name": name, **flags}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        users[username] = user
    return users
