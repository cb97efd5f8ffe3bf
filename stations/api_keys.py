"""Open311 API keys of stations: issue (the key is shown once), check, revoke.

A key is ``<prefix>.<secret>``: the prefix finds the row with one indexed lookup, and the SHA-256
of the whole key is compared in constant time. Issuing and revoking leave an Event; a use only
moves ``last_used_at``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.audit import record_event
from accounts.errors import InvalidInput
from accounts.models import User
from accounts.permissions import is_staff
from stations.models import Station, StationApiKey

PREFIX_BYTES = 6  # 12 hex characters: a short handle, safe to show and to log
SECRET_BYTES = 32  # 256 random bits


@dataclass(frozen=True)
class IssuedKey:
    """A new key row and the full key, which exists only in this object."""

    row: StationApiKey
    key: str


def hash_key(key: str) -> str:
    """The stored digest of a full key."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_issue(*, station: Station, name: str, created_by: User) -> IssuedKey:
    """Make a key for ``station``; the caller shows ``key`` once and then forgets it."""
    name = name.strip()
    if not name:
        raise InvalidInput("请填写密钥名称。", fields={"name": ["请填写密钥名称。"]})
    if not is_staff(created_by) or not created_by.is_active:
        # Posts made with the key act as this account, which must be allowed to post anywhere.
        message = "签发人必须是在职的政协机关工作人员账号。"
        raise InvalidInput(message, fields={"created_by": [message]})
    prefix = secrets.token_hex(PREFIX_BYTES)
    key = f"{prefix}.{secrets.token_urlsafe(SECRET_BYTES)}"
    with transaction.atomic():
        row = StationApiKey.objects.create(
            station=station,
            name=name[:100],
            prefix=prefix,
            secret_hash=hash_key(key),
            created_by=created_by,
        )
        record_event(
            actor=created_by,
            verb="api_key_issued",
            obj=row,
            payload={"station": station.pk, "prefix": prefix, "name": row.name},
        )
    return IssuedKey(row=row, key=key)


def api_key_revoke(*, key: StationApiKey, actor: User | None) -> bool:
    """Switch a key off (conditional UPDATE); False when it already was."""
    with transaction.atomic():
        changed = StationApiKey.objects.filter(pk=key.pk, active=True).update(active=False)
        if changed:
            key.active = False
            record_event(
                actor=actor,
                verb="api_key_revoked",
                obj=key,
                payload={"station": key.station_id, "prefix": key.prefix},
            )
    return bool(changed)


def api_key_check(raw: str, *, now: datetime | None = None) -> StationApiKey | None:
    """The active key row ``raw`` names, its station and issuer loaded; None when it is not one.

    A key of an inactive station, or whose issuer is no longer active staff, does not work.
    """
    prefix, dot, _ = raw.partition(".")
    if not dot or not prefix or len(raw) > 200:
        return None
    row = (
        StationApiKey.objects.select_related("station", "created_by")
        .filter(prefix=prefix, active=True)
        .first()
    )
    # compare_digest on the digests: the time taken does not tell how much of a key was right.
    if row is None or not hmac.compare_digest(row.secret_hash, hash_key(raw)):
        return None
    if not row.station.active or not (row.created_by.is_active and is_staff(row.created_by)):
        return None
    now = now or timezone.now()
    StationApiKey.objects.filter(pk=row.pk).update(last_used_at=now)
    row.last_used_at = now
    return row
