"""Audit of unmasked phone reads: who saw whose full number, where.

The serializer fields that decide to show a phone in full (members.pii.PhoneField, the contact
fields of services' request serializer) call :func:`note_view` for staff viewers; nothing is
written then. :class:`PiiAuditMiddleware` collects the notes of one HTTP request and, when the
response is a success, writes them as ``pii_viewed`` Events in one bulk INSERT — one Event per
(object, field) shown, whatever the number of rows on the page. Outside an HTTP request (shell,
commands) there is no collector and nothing is recorded.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.db import models

from accounts.models import Event

VERB = "pii_viewed"


@dataclass
class _Views:
    """The unmasked reads of one HTTP request, in the order they were shown."""

    seen: dict[tuple[int, type[models.Model], str, str], None] = field(default_factory=dict)


_current: ContextVar[_Views | None] = ContextVar("pii_audit_views", default=None)


def note_view(*, actor_id: int | None, obj: models.Model, field_name: str) -> None:
    """Remember that ``actor_id`` was shown ``obj.field_name`` in full (recorded at response)."""
    views = _current.get()
    if views is None or actor_id is None:
        return
    views.seen.setdefault((actor_id, type(obj), str(obj.pk), field_name), None)


def write_events(views: _Views, *, endpoint: str, method: str) -> int:
    """Write one Event per noted read, in one INSERT; the number written."""
    if not views.seen:
        return 0
    events = [
        Event(
            actor_id=actor_id,
            verb=VERB,
            content_type=ContentType.objects.get_for_model(model),
            object_id=object_id,
            payload={"field": field_name, "endpoint": endpoint, "method": method},
        )
        for actor_id, model, object_id, field_name in views.seen
    ]
    Event.objects.bulk_create(events)
    return len(events)


class PiiAuditMiddleware:
    """Collect the unmasked phone reads of each request; record them when it succeeds."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        views = _Views()
        token = _current.set(views)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        # Only a response that went out with the data counts as a read; an error body holds
        # none (a failed request's serializers may still have run).
        if response.status_code < 400:
            write_events(views, endpoint=request.path, method=request.method)
        return response
