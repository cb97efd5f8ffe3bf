"""Idempotency-Key support for POSTs that must not run twice (claims, later records).

The first request with a key inserts an in-flight row (committed at once, so a parallel
replay sees it), runs, and stores its response in the same transaction as its work. A replay
with the same key and payload gets the stored status and body; one with another payload gets
422 ``idempotency_mismatch``; one arriving while the first still runs waits up to
``IDEMPOTENCY_WAIT_SECONDS`` for it, then gets 409 ``idempotency_in_progress``. The unique
(user, key) constraint means two parallel first requests cannot both execute.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from accounts.errors import ApplicationError
from accounts.models import User
from services.errors import (
    IdempotencyInProgress,
    IdempotencyMismatch,
    InvalidIdempotencyKey,
    StoredError,
)
from services.models import IdempotencyKey

HEADER = "Idempotency-Key"
# Visible ASCII only: keys are usually UUIDs; anything else is a client bug worth reporting.
_KEY_RE = re.compile(r"[\x21-\x7e]{1,100}")
# How often a replay looks again at a key still in flight.
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Outcome:
    """The response to send: status, body, and whether it was replayed from storage."""

    status: int
    body: Any
    replayed: bool


def parse_key(raw: str | None) -> str | None:
    """Return the header's key, None when absent; 400 when malformed."""
    if raw is None:
        return None
    if not _KEY_RE.fullmatch(raw):
        raise InvalidIdempotencyKey()
    return raw


def fingerprint(*, method: str, path: str, body: Any, query: Mapping[str, Any]) -> str:
    """sha256 over what makes two requests "the same": method, path, query and JSON body."""
    canonical = json.dumps(
        {"method": method, "path": path, "query": dict(sorted(query.items())), "body": body},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def error_body(exc: ApplicationError) -> dict[str, Any]:
    """The body backend's handler gives ``exc``, so a replay can be shaped the same way."""
    body: dict[str, Any] = {"code": exc.code, "detail": str(exc.detail)}
    if exc.fields:
        body["fields"] = exc.fields
    body.update(exc.extra)
    return body


def purge_expired(*, now: datetime | None = None) -> int:
    """Delete keys past their 24 h; returns how many (run by ``expire_overdue``)."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


def respond(request, execute: Callable[[], tuple[int, Any]]) -> Response:
    """Run ``execute`` under the DRF request's Idempotency-Key (if any) and build the response."""
    key = parse_key(request.headers.get(HEADER))
    outcome = run_idempotent(
        user=request.user,
        key=key,
        fingerprint=fingerprint(
            method=request.method,
            path=request.path,
            body=request.data,
            query=request.query_params.dict(),
        ),
        execute=execute,
    )
    response = Response(outcome.body, status=outcome.status)
    if outcome.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def run_idempotent(
    *,
    user: User,
    key: str | None,
    fingerprint: str,
    execute: Callable[[], tuple[int, Any]],
) -> Outcome:
    """Run ``execute`` once per (user, key); replays get the stored response."""
    if key is None:
        status, body = execute()
        return Outcome(status=status, body=body, replayed=False)
    deadline = time.monotonic() + settings.IDEMPOTENCY_WAIT_SECONDS
    while True:
        now = timezone.now()
        row = _start(user=user, key=key, fingerprint=fingerprint, now=now)
        if row is None:
            existing = IdempotencyKey.objects.filter(user=user, key=key).first()
            if existing is None:
                continue  # the first attempt failed and removed its row: run it ourselves
            if existing.fingerprint != fingerprint:
                raise IdempotencyMismatch()
            if existing.state == IdempotencyKey.State.DONE:
                return _replay(existing)
            row = _take_over_if_abandoned(existing, now=now)
            if row is None:
                if time.monotonic() >= deadline:
                    raise IdempotencyInProgress()
                time.sleep(_POLL_SECONDS)
                continue
        return _execute(row, execute)


def _start(*, user: User, key: str, fingerprint: str, now: datetime) -> IdempotencyKey | None:
    """Insert and commit the in-flight row; None when the key is already there."""
    ttl = timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    with transaction.atomic():
        # A key past its 24 h is forgotten: the client may use it again for anything.
        IdempotencyKey.objects.filter(user=user, key=key, expires_at__lte=now).delete()
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(
                    user=user,
                    key=key,
                    fingerprint=fingerprint,
                    locked_at=now,
                    expires_at=now + ttl,
                )
        except IntegrityError:
            return None


def _take_over_if_abandoned(row: IdempotencyKey, *, now: datetime) -> IdempotencyKey | None:
    """Claim an in-flight row whose attempt outlived the lease (its process died)."""
    stale = now - timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)
    if row.locked_at > stale:
        return None
    taken = IdempotencyKey.objects.filter(
        pk=row.pk, state=IdempotencyKey.State.IN_FLIGHT, locked_at=row.locked_at
    ).update(locked_at=now)
    return row if taken else None


def _execute(row: IdempotencyKey, execute: Callable[[], tuple[int, Any]]) -> Outcome:
    """Run the work and store its response in one transaction."""
    failure: ApplicationError | None = None
    try:
        with transaction.atomic():
            try:
                status, body = execute()
            except ApplicationError as exc:
                # A refusal (409 request_full ...) is an answer too: replays get the same one.
                failure = exc
                status, body = exc.status_code, error_body(exc)
            IdempotencyKey.objects.filter(pk=row.pk).update(
                state=IdempotencyKey.State.DONE,
                response_status=status,
                # Stored as text so a replay keeps the key order of the first response.
                response_body=json.dumps(body, ensure_ascii=False, default=str),
            )
    except Exception:
        # Unexpected failures are not answers: forget the key so the client can retry.
        IdempotencyKey.objects.filter(pk=row.pk, state=IdempotencyKey.State.IN_FLIGHT).delete()
        raise
    if failure is not None:
        raise failure
    return Outcome(status=status, body=body, replayed=False)


def _replay(row: IdempotencyKey) -> Outcome:
    """The stored response; stored errors are raised so the handler shapes them again."""
    body = json.loads(row.response_body) if row.response_body else None
    status = row.response_status or 200
    if status >= 400:
        raise StoredError(status_code=status, body=body or {})
    return Outcome(status=status, body=body, replayed=True)
