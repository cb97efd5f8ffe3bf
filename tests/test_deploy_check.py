"""Production settings pass ``manage.py check --deploy`` without warnings; local ones stay HTTP.

Settings are read from the environment at start-up, so each case runs in a fresh process.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DEBUG": "0",
    "HTTPS": "1",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "api.example.org",
}


def _env(**extra: str) -> dict[str, str]:
    # Only what the process needs: no settings leaking in from the test run or the shell.
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    return {**env, "DJANGO_SETTINGS_MODULE": "backend.settings", **extra}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(*names: str, **env: str) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_settings_pass_the_deploy_check_without_warnings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_check_does_fail_without_https():
    # The check above means something: drop HTTPS=1 and it fails on the HTTPS warnings.
    env = {k: v for k, v in PRODUCTION.items() if k != "HTTPS"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    for code in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert code in result.stderr


def test_https_turns_on_redirect_secure_cookies_and_hsts():
    values = _settings(
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_REDIRECT_EXEMPT",
        **PRODUCTION,
        HSTS_SECONDS="600",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
    )
    assert values == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_REDIRECT_EXEMPT": ["^healthz$", "^readyz$"],
    }


def test_num_proxies_is_passed_to_drf_only_when_set():
    assert (
        _settings("REST_FRAMEWORK", SECRET_KEY="k", NUM_PROXIES="1")["REST_FRAMEWORK"][
            "NUM_PROXIES"
        ]
        == 1
    )
    assert "NUM_PROXIES" not in _settings("REST_FRAMEWORK", SECRET_KEY="k")["REST_FRAMEWORK"]


def test_local_settings_stay_plain_http():
    # What `make run` uses: DEBUG off, a secret key, nothing else.
    values = _settings(
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
        SECRET_KEY="local-key",
    )
    assert values == {
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_PROXY_SSL_HEADER": None,
    }


@pytest.mark.parametrize(
    "env",
    [
        {"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"},
        {"HTTPS": "maybe"},
        {"HTTPS": "1", "HSTS_SECONDS": "-1"},
        {"PERSONAL_DATA_RETENTION_DAYS": "0"},
        {"OPEN311_DEFAULT_START_HOUR": "24"},
        {"NUM_PROXIES": "-1"},
    ],
)
def test_bad_values_stop_start_up(env):
    result = _manage("check", SECRET_KEY="local-key", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def test_the_redirect_spares_the_health_check(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    assert client.get("/healthz").status_code == 200
    response = client.get("/api/v1/me/")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    assert client.get("/api/v1/me/", secure=True).status_code == 401
