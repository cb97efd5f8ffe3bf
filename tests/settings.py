"""Test settings: the real settings, with fast hashing and a private cache."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use")
os.environ.setdefault("WECHAT_APPID", "wx-test-appid")
os.environ.setdefault("WECHAT_SECRET", "test-wechat-secret")

from backend.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
WECHAT_TIMEOUT = 1.0
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "CRITICAL"}}
