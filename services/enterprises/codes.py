"""The 统一社会信用代码 check (GB 32100-2015) and the enterprise's own QR code.

A code is 18 characters of ``0-9 A-H J-N P-R T-U W-Y`` (no I, O, Z, S, V): registration
authority, kind, the six-digit division code, the nine-character organisation code and one
check character. Each of the first 17 characters has the value of its place in the charset
(0–30); the check is ``31 - (Σ value × weight mod 31)``, 31 written as ``0``.

The enterprise's QR code opens its desk (``/api/v1/enterprise-desk/<ticket>/``): the ticket is
an intake ticket (``services.intake.writes.new_ticket``), the picture is drawn by the intake
posters' ``qr_png``.
"""

from __future__ import annotations

from django.conf import settings

from services.intake.codes import qr_png
from services.intake.tracking import TICKET_RE
from services.intake.writes import new_ticket

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
LENGTH = 18

__all__ = [
    "CHARSET",
    "TICKET_RE",
    "check_character",
    "credit_code_error",
    "desk_url",
    "new_ticket",
    "qr_png",
]


def check_character(first17: str) -> str:
    """The check character of the first 17 characters (all in ``CHARSET``)."""
    total = sum(CHARSET.index(char) * weight for char, weight in zip(first17, WEIGHTS, strict=True))
    value = 31 - total % 31
    return CHARSET[0 if value == 31 else value]


def credit_code_error(code: str) -> str | None:
    """Why ``code`` is no valid credit code (a Chinese sentence), or None when it is one."""
    if len(code) != LENGTH:
        return f"统一社会信用代码应为 {LENGTH} 位。"
    wrong = sorted({char for char in code if char not in CHARSET})
    if wrong:
        return f"统一社会信用代码含有不允许的字符：{'、'.join(wrong)}（不使用 I、O、Z、S、V）。"
    if check_character(code[:17]) != code[17]:
        return "统一社会信用代码校验位不正确，请核对。"
    return None


def normalise(code: str) -> str:
    """Upper case, surrounding and inner blanks removed (as people copy them from licences)."""
    return "".join(code.split()).upper()


def desk_url(ticket: str, request=None) -> str:
    """The address the enterprise's QR code opens (INTAKE_PUBLIC_BASE_URL as posters use)."""
    path = f"/api/v1/enterprise-desk/{ticket}/"
    base = settings.INTAKE_PUBLIC_BASE_URL.rstrip("/")
    if base or request is None:
        return base + path
    return request.build_absolute_uri(path)
