"""The read replica router (docs/operations.md, 只读副本 / Read replica).

With ``DATABASE_REPLICA_URL`` set there is a second alias, ``replica``: a streaming standby of the
primary. Reads go there only when all of these hold, and everything else stays on the primary:

- the request is a GET or HEAD of a reporting route (:data:`REPLICA_ROUTES`: statistics and
  exports, the dashboard, Open311's reads), marked by :class:`ReplicaReadsMiddleware` for the
  view's run (a contextvar, so a Celery task or a command never reads the replica);
- the model belongs to the domain apps of :data:`REPLICA_APPS` (never users, sessions, tokens or
  the cache table: who may do what is decided on the primary, from its latest state);
- no transaction is open on the primary (code that wrote, or locks, reads its own writes).

Every write goes to the primary; so does every workflow read (claims, check-ins, records,
matching, the mini-program's feeds), whatever the route. Without the variable the router answers
"the primary" to everything, as before.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"
# Route templates (resolver_match.route) whose GETs read from the replica.
REPLICA_ROUTES = ("api/v1/stats/", "dashboard/", "open311/v2/")
REPLICA_APPS = frozenset({"services", "stations", "members"})
READ_METHODS = frozenset({"GET", "HEAD"})

_reporting: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_reads", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextlib.contextmanager
def replica_reads() -> Iterator[None]:
    """Mark a block as a reporting read: its domain reads may go to the replica."""
    token = _reporting.set(True)
    try:
        yield
    finally:
        _reporting.reset(token)


def is_reporting_route(method: str, route: str) -> bool:
    return method in READ_METHODS and route.startswith(REPLICA_ROUTES)


class ReplicaRouter:
    """``DATABASE_ROUTERS``: the rules of the module docstring."""

    def db_for_read(self, model, **hints):
        if (
            _reporting.get()
            and model._meta.app_label in REPLICA_APPS
            and replica_configured()
            and not connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            return REPLICA
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # Both aliases hold the same rows: a replica-read object may relate to a primary one.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The standby replays the primary's migrations; nothing is migrated on it directly.
        return db == DEFAULT_DB_ALIAS


class ReplicaReadsMiddleware:
    """Marks the view run of a reporting GET (:func:`is_reporting_route`) as replica reads."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _reporting.set(False)
        try:
            return self.get_response(request)
        finally:
            _reporting.reset(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match is not None and is_reporting_route(request.method, match.route or ""):
            _reporting.set(True)
        return None
