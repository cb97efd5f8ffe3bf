"""Helpers of the console tests (import what you use): a signed-in browser-like client that
enforces CSRF, the token of a page, a datetime-local value."""

from __future__ import annotations

import re
from datetime import timedelta

from django.test import Client
from django.utils import timezone

CONSOLE = "/console/"


def desk(user=None) -> Client:
    """A client that enforces Django's CSRF check, signed in as ``user`` (None: anonymous)."""
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    return client


def token(client: Client, page: str = CONSOLE) -> str:
    """The CSRF token of a page (the cookie is set by the same GET)."""
    response = client.get(page)
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', response.content)
    assert match, response.content[:300]
    return match.group(1).decode()


def post(client: Client, url: str, data: dict, *, page: str = CONSOLE):
    """POST ``data`` with the CSRF token a page of the console carries."""
    return client.post(url, {"csrfmiddlewaretoken": token(client, page), **data})


def local(**delta) -> str:
    """A datetime-local value (Beijing time, to the minute) ``delta`` from now."""
    return timezone.localtime(timezone.now() + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M")


def flashes(response) -> list[str]:
    """The flash messages of a page."""
    return [str(m) for m in response.context["messages"]] if response.context else []


def text(response) -> str:
    return response.content.decode()
