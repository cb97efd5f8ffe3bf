"""Reads of certificates: whose a user may fetch, and the one a verification code names."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.permissions import is_staff
from services.certificates import codes
from services.models import Certificate


def my_certificates(user) -> QuerySet[Certificate]:
    """The user's own certificates, newest first."""
    return Certificate.objects.filter(member__user=user).order_by("-issued_at", "-id")


def fetchable(user) -> QuerySet[Certificate]:
    """Certificates whose PDF ``user`` may fetch: their own; staff any."""
    if is_staff(user):
        return Certificate.objects.all()
    return my_certificates(user)


def by_code(text: str) -> Certificate | None:
    """The certificate a code names, or None (malformed, forged or unknown alike)."""
    code = codes.normalise(text)
    if code is None:
        return None
    return Certificate.objects.filter(code=code).first()
