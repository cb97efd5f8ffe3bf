"""Intake codes (入口码) and the QR posters that carry them (docs/intake.md#二维码).

A code is ten characters of an alphabet without look-alikes (0/o, 1/l/i): 31^10 ≈ 8×10^14
codes, so guessing one that a poster carries is hopeless, and a code read aloud over the phone
is still unambiguous. It is stable: issued once per station and per village and kept until it
is retired; a retired code answers with its own page, and the next poster gets a new one.

The QR code is drawn by segno (pure Python, BSD, PNG and SVG writers of its own: no Pillow, no
native library). The SVG poster carries the station or village name and a line of instructions
as SVG text, which any printer or browser sets in a Chinese font; the PNG is the QR code alone
(with a wide quiet zone), because drawing Chinese into a PNG needs a CJK font on the server and
none can be relied on.
"""

from __future__ import annotations

import io
import secrets
from html import escape

import segno
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import record_event
from accounts.models import User
from services.intake import errors
from services.models import IntakeCode
from stations.models import Station, Village

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_LENGTH = 10
INSTRUCTIONS = ("微信扫一扫，说出您的急难愁盼", "驿站派单，委员上门为您服务")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def _current(*, station: Station, village: Village | None) -> IntakeCode | None:
    codes = IntakeCode.objects.filter(active=True, station=station)
    return (
        codes.filter(village=village) if village else codes.filter(village__isnull=True)
    ).first()


def code_for(*, actor: User, station: Station, village: Village | None = None) -> IntakeCode:
    """The active code of ``station`` (or of ``village``, which it serves), issued on first use.

    Two managers printing the first poster at once get one code: the partial unique index
    refuses the second insert and the loser reads the winner's row."""
    found = _current(station=station, village=village)
    if found is not None:
        return found
    try:
        with transaction.atomic():
            issued = IntakeCode.objects.create(code=new_code(), station=station, village=village)
            record_event(
                actor=actor,
                verb="intake_code_issued",
                obj=issued,
                payload={"station": station.pk, "village": village.pk if village else None},
            )
            return issued
    except IntegrityError:
        found = _current(station=station, village=village)
        if found is None:
            raise
        return found


def retire_code(*, actor: User, station: Station, village: Village | None = None) -> IntakeCode:
    """Retire the active code (its posters then show the retired page); the next is new."""
    with transaction.atomic():
        current = _current(station=station, village=village)
        if current is None:
            current = code_for(actor=actor, station=station, village=village)
        IntakeCode.objects.filter(pk=current.pk, active=True).update(
            active=False, retired_at=timezone.now()
        )
        record_event(actor=actor, verb="intake_code_retired", obj=current)
        current.refresh_from_db()
    return current


def lookup(code: str) -> IntakeCode:
    """The code a poster carries, or 404 ``intake_code_unknown`` / 410 ``intake_code_retired``."""
    if not isinstance(code, str) or len(code) != CODE_LENGTH or set(code) - set(ALPHABET):
        raise errors.IntakeCodeUnknown()
    found = IntakeCode.objects.select_related("station", "village").filter(code=code).first()
    if found is None:
        raise errors.IntakeCodeUnknown()
    if not found.active or not found.station.active:
        raise errors.IntakeCodeRetired()
    if found.village is not None and (
        not found.village.active or found.village.station_id != found.station_id
    ):
        raise errors.IntakeCodeRetired()
    return found


def intake_url(code: IntakeCode, request=None) -> str:
    """The absolute address the QR code opens: INTAKE_PUBLIC_BASE_URL + /q/<code>/, or the
    address this request came to when that is not set."""
    path = f"/q/{code.code}/"
    base = settings.INTAKE_PUBLIC_BASE_URL.rstrip("/")
    if base or request is None:
        return base + path
    return request.build_absolute_uri(path)


def place_name(code: IntakeCode) -> str:
    return f"{code.station.name} · {code.village.name}" if code.village else code.station.name


def qr_png(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=12, border=4)
    return buffer.getvalue()


# The SVG poster: an A4-proportioned sheet, title, the QR code, instructions, the code itself.
POSTER_WIDTH = 600
POSTER_HEIGHT = 848
QR_SIZE = 420


def poster_svg(code: IntakeCode, url: str) -> bytes:
    """The printable poster: the place's name, the QR code and a line of instructions."""
    qr = segno.make(url, error="m")
    modules = qr.symbol_size(scale=1, border=2)[0]
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", xmldecl=False, svgns=True, nl=False, border=2, scale=1)
    inner = buffer.getvalue().decode()
    # Nested <svg>: scaled to QR_SIZE by its viewBox, placed in the middle of the sheet.
    inner = inner.replace(
        "<svg ",
        f'<svg x="{(POSTER_WIDTH - QR_SIZE) // 2}" y="190" width="{QR_SIZE}" height="{QR_SIZE}" '
        f'viewBox="0 0 {modules} {modules}" ',
        1,
    )
    inner = inner.replace(f'width="{modules}" height="{modules}" ', "", 1)
    font = "font-family=\"'Noto Sans CJK SC','WenQuanYi Micro Hei','Microsoft YaHei',sans-serif\""
    middle = POSTER_WIDTH // 2
    lines = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{POSTER_WIDTH}" height="{POSTER_HEIGHT}" '
        f'viewBox="0 0 {POSTER_WIDTH} {POSTER_HEIGHT}">',
        f'<rect width="{POSTER_WIDTH}" height="{POSTER_HEIGHT}" fill="#fff"/>',
        f'<rect x="0" y="0" width="{POSTER_WIDTH}" height="120" fill="#b71c1c"/>',
        f'<text x="{middle}" y="75" text-anchor="middle" font-size="40" fill="#fff" {font}>'
        "我为群众办一事</text>",
        f'<text x="{middle}" y="165" text-anchor="middle" font-size="30" fill="#222" {font}>'
        f"{escape(place_name(code))}</text>",
        inner,
        f'<text x="{middle}" y="665" text-anchor="middle" font-size="22" fill="#222" {font}>'
        f"{escape(INSTRUCTIONS[0])}</text>",
        f'<text x="{middle}" y="700" text-anchor="middle" font-size="22" fill="#222" {font}>'
        f"{escape(INSTRUCTIONS[1])}</text>",
        f'<text x="{middle}" y="790" text-anchor="middle" font-size="18" fill="#666" {font}>'
        f"入口码 {code.code}</text>",
        "</svg>",
    ]
    return "\n".join(lines).encode()
