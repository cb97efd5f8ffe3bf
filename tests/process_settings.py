"""Settings of the server processes some tests start (tests/servers.py): the real settings —
the database cache of backend/cache.py, the throttles, NUM_PROXIES from the environment — with
fast password hashing, so a wrong password costs microseconds instead of a PBKDF2 run."""

from backend.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
