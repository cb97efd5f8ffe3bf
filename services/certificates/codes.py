"""Serial numbers and verification codes of certificates."""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.db.models import F

from services.models import CertificateSerial

# 31 letters and digits that cannot be mistaken for one another when read off paper (no 0/O,
# 1/I/L); 16 of them are 79 bits, beyond guessing through a throttled page.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 16
_CODE_RE = re.compile(rf"^[{ALPHABET}]{{{CODE_LENGTH}}}$")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def grouped(code: str) -> str:
    """``K7QM3XPA9RTDWF2H`` → ``K7QM-3XPA-9RTD-WF2H`` (as printed)."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise(text: str) -> str | None:
    """A code as typed or scanned (any case, with or without the dashes), or None when it
    cannot be one."""
    code = (text or "").replace("-", "").strip().upper()
    return code if _CODE_RE.match(code) else None


def verify_url(code: str) -> str:
    """The public page the QR code and the printed link point at."""
    return f"{settings.CERTIFICATE_VERIFY_BASE_URL.rstrip('/')}/verify/{code}"


def next_sequence(year: int) -> int:
    """The year's next running number, inside the caller's transaction: the counter row is
    created if missing (``ON CONFLICT DO NOTHING``, so parallel first issues do not collide)
    and moved by one conditional UPDATE, whose row lock makes parallel issues queue, so no
    two transactions ever read the same number."""
    CertificateSerial.objects.bulk_create([CertificateSerial(year=year)], ignore_conflicts=True)
    CertificateSerial.objects.filter(year=year).update(last=F("last") + 1)
    return CertificateSerial.objects.filter(year=year).values_list("last", flat=True).get()


def serial(year: int, sequence: int) -> str:
    """``WWQZ-2026-000123``."""
    return f"{settings.CERTIFICATE_SERIAL_PREFIX}-{year}-{sequence:06d}"
