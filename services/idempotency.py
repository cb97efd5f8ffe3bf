"""Idempotency-Key support for POSTs that must not run twice (claims, later records).

The first request with a key inserts an in-flight row (committed at once, so a parallel
replay sees it), runs, and stores its response in the same transaction as its work. A replay
with the same key and payload gets the stored status and body; one with another payload gets
422 ``idempotency_mismatch``. The unique (user, key) constraint means two parallel first requests
cannot both execute.

**The lease** (docs/hardening.md, 幂等键 / Idempotency keys). An attempt in flight owns its row
by a random token and renews ``locked_at`` every third of ``IDEMPOTENCY_LEASE_SECONDS`` from a
small thread on its own connection while it works. So:

- a replay while the owner lives answers at once 409 ``idempotency_in_progress`` with
  ``Retry-After`` — it never holds a server thread waiting;
- a key whose lease ran out belongs to a dead process (a worker killed mid-request): the next
  replay takes it over (a conditional UPDATE, so only one replay can) and runs the request;
- the owner's final write is fenced on its token, in the transaction of its work: an owner that
  was taken for dead (frozen longer than the lease) finds the key no longer its own and rolls its
  work back, so the request still runs once;
- an unexpected failure forgets the key so the client can retry; when the failure broke the
  database connection (the database restarted) the forget runs on a fresh one, and if even that
  fails the lease, no longer renewed, frees the key within seconds.

On SQLite the owner holds the database's write lock for its whole transaction, so a replay's
takeover waits for it like any other write and then finds the stored answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
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
# Rounds of "insert, or read what is there" before a replay gives up with 409: each further
# round means the key changed hands in between (forgotten, taken over), which is rare.
_ROUNDS = 5

# Pauses before each try of forgetting a failed attempt's key: a database that restarts under
# the request is usually back within a second or two (the request is failing anyway).
_FORGET_PAUSES = (0, 0.2, 0.5, 1.0)

logger = logging.getLogger(__name__)


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
    for _ in range(_ROUNDS):
        now = timezone.now()
        owner = secrets.token_hex(16)
        row = _start(user=user, key=key, fingerprint=fingerprint, owner=owner, now=now)
        if row is None:
            existing = IdempotencyKey.objects.filter(user=user, key=key).first()
            if existing is None:
                continue  # the first attempt failed and removed its row: run it ourselves
            if existing.fingerprint != fingerprint:
                raise IdempotencyMismatch()
            if existing.state == IdempotencyKey.State.DONE:
                return _replay(existing)
            if _lease_alive(existing, now=now):
                raise _in_progress()
            if not _take_over(existing, owner=owner, now=now):
                continue  # renewed, taken or finished meanwhile: look again
            row = existing
        return _execute(row, owner, execute)
    raise _in_progress()


def _in_progress() -> IdempotencyInProgress:
    return IdempotencyInProgress(wait=settings.IDEMPOTENCY_RETRY_AFTER_SECONDS)


def _start(
    *, user: User, key: str, fingerprint: str, owner: str, now: datetime
) -> IdempotencyKey | None:
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
                    owner=owner,
                    locked_at=now,
                    expires_at=now + ttl,
                )
        except IntegrityError:
            return None


def _lease_alive(row: IdempotencyKey, *, now: datetime) -> bool:
    """Whether the row's owner renewed its lease recently enough to be alive."""
    return row.locked_at > now - timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)


def _take_over(row: IdempotencyKey, *, owner: str, now: datetime) -> bool:
    """Make an in-flight row whose lease ran out (its owner died) ours; False if it moved."""
    taken = IdempotencyKey.objects.filter(
        pk=row.pk,
        state=IdempotencyKey.State.IN_FLIGHT,
        owner=row.owner,
        locked_at=row.locked_at,
    ).update(owner=owner, locked_at=now)
    if taken:
        logger.warning(
            "idempotency: key %s of user %s taken over after its lease ran out (owner died)",
            row.pk,
            row.user_id,
            extra={"use": "idempotency_takeover"},
        )
        row.owner, row.locked_at = owner, now
    return bool(taken)


class _LeaseLost(Exception):
    """The row is no longer ours: another attempt took it over while we worked."""


class _Renewal:
    """Renews the lease of ``owner``'s row every third of the lease, from a thread with its own
    database connection (the request's is busy with the work), until stopped."""

    def __init__(self, pk: int, owner: str) -> None:
        self.pk, self.owner = pk, owner
        self.interval = settings.IDEMPOTENCY_LEASE_SECONDS / 3
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="idempotency-lease", daemon=True)

    def __enter__(self) -> _Renewal:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        # Quick unless a renewal is under way; it then ends once the work has committed.
        self.thread.join(timeout=self.interval)

    def _run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    renewed = IdempotencyKey.objects.filter(
                        pk=self.pk, owner=self.owner, state=IdempotencyKey.State.IN_FLIGHT
                    ).update(locked_at=timezone.now())
                except DatabaseError:
                    # The database is away: try again next time; the work itself fails too.
                    logger.warning("idempotency: renewing the lease of key %s failed", self.pk)
                    connection.close()
                    continue
                if not renewed:
                    return
        finally:
            connections.close_all()  # this thread's connection only


def _execute(row: IdempotencyKey, owner: str, execute: Callable[[], tuple[int, Any]]) -> Outcome:
    """Run the work and store its response in one transaction, while renewing the lease."""
    failure: ApplicationError | None = None
    try:
        with _Renewal(row.pk, owner), transaction.atomic():
            try:
                status, body = execute()
            except ApplicationError as exc:
                # A refusal (409 request_full ...) is an answer too: replays get the same one.
                failure = exc
                status, body = exc.status_code, error_body(exc)
            stored = IdempotencyKey.objects.filter(
                pk=row.pk, owner=owner, state=IdempotencyKey.State.IN_FLIGHT
            ).update(
                state=IdempotencyKey.State.DONE,
                response_status=status,
                # Stored as text so a replay keeps the key order of the first response.
                response_body=json.dumps(body, ensure_ascii=False, default=str),
            )
            if not stored:
                raise _LeaseLost()  # rolls the work back: the new owner runs it
    except _LeaseLost:
        logger.warning(
            "idempotency: key %s was taken over while its request ran; its work is rolled back",
            row.pk,
            extra={"use": "idempotency_lease_lost"},
        )
        current = IdempotencyKey.objects.filter(pk=row.pk).first()
        if current is not None and current.state == IdempotencyKey.State.DONE:
            return _replay(current)
        raise _in_progress() from None
    except Exception:
        # Unexpected failures are not answers: forget the key so the client can retry.
        _forget(row.pk, owner)
        raise
    if failure is not None:
        raise failure
    return Outcome(status=status, body=body, replayed=False)


def _forget(pk: int, owner: str) -> None:
    """Delete a failed attempt's row, on a fresh connection when the failure broke this one
    (the database restarted under the request)."""
    for pause in _FORGET_PAUSES:
        time.sleep(pause)
        try:
            if not connection.in_atomic_block:
                connection.close_if_unusable_or_obsolete()
            IdempotencyKey.objects.filter(
                pk=pk, owner=owner, state=IdempotencyKey.State.IN_FLIGHT
            ).delete()
            return
        except DatabaseError:
            if connection.in_atomic_block:
                break
            connection.close()  # the next query connects again
    logger.warning(
        "idempotency: key %s of a failed request could not be forgotten; it is retried once its "
        "lease (%ss) runs out",
        pk,
        settings.IDEMPOTENCY_LEASE_SECONDS,
        extra={"use": "idempotency_forget"},
    )


def _replay(row: IdempotencyKey) -> Outcome:
    """The stored response; stored errors are raised so the handler shapes them again."""
    body = json.loads(row.response_body) if row.response_body else None
    status = row.response_status or 200
    if status >= 400:
        raise StoredError(status_code=status, body=body or {})
    return Outcome(status=status, body=body, replayed=True)
