"""Every write made in the Django admin leaves an Event: who, when, and each changed field's
value before and after.

Why the project's own ``Event`` and not a history library (django-simple-history,
django-reversion): the API's writes already leave Events in the same table, so one query gives
an object's whole trail whichever door a change came through; a second history would have to be
joined, shown and purged apart (personal data retention). A library's strength, restoring old
versions, is what an audit record must not offer here.

Personal data is not copied into the trail (docs/geography-and-members.md): fields named in
``audit_hidden_fields`` are listed as changed with their values left out, passwords always.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models

from accounts.audit import record_event

HIDDEN = "（不记录内容）"
ALWAYS_HIDDEN = frozenset({"password"})


def _value(obj: models.Model, name: str) -> Any:
    """A field's value as the trail stores it: ids for relations, lists of ids for m2m."""
    field = obj._meta.get_field(name)
    if field.many_to_many:
        if obj.pk is None:
            return []
        return sorted(getattr(obj, name).values_list("pk", flat=True))
    value = getattr(obj, field.attname)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _fields(obj: models.Model, names) -> list[str]:
    concrete = {f.name for f in obj._meta.get_fields() if f.concrete}
    return [name for name in names if name in concrete]


class AuditedModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose saves (change form and list_editable alike) and deletes leave Events
    ``<model>.created|updated|deleted`` with ``source: admin`` and the changes."""

    audit_hidden_fields: frozenset[str] = frozenset()

    def _hidden(self) -> frozenset[str]:
        return ALWAYS_HIDDEN | frozenset(self.audit_hidden_fields)

    def save_model(self, request, obj, form, change) -> None:
        names = _fields(obj, form.changed_data)
        before = None
        if change and obj.pk is not None:
            stored = type(obj)._default_manager.filter(pk=obj.pk).first()
            if stored is not None:
                before = {name: _value(stored, name) for name in names}
        obj._audit_before = before
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        # Called after save_model, also by the changelist's list_editable: m2m values are final.
        super().save_related(request, form, formsets, change)
        obj = form.instance
        names = _fields(obj, form.changed_data)
        before = getattr(obj, "_audit_before", None) or {}
        hidden = self._hidden()
        changes = {
            name: (HIDDEN if name in hidden else [before.get(name), _value(obj, name)])
            for name in names
        }
        record_event(
            actor=request.user,
            verb=f"{obj._meta.model_name}.{'updated' if change else 'created'}",
            obj=obj,
            payload={"source": "admin", "fields": names, "changes": changes},
        )

    def delete_model(self, request, obj) -> None:
        self._record_delete(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            self._record_delete(request, obj)
        super().delete_queryset(request, queryset)

    def _record_delete(self, request, obj) -> None:
        hidden = self._hidden()
        names = _fields(obj, [f.name for f in obj._meta.concrete_fields])
        record_event(
            actor=request.user,
            verb=f"{obj._meta.model_name}.deleted",
            obj=obj,
            payload={
                "source": "admin",
                "before": {n: HIDDEN if n in hidden else _value(obj, n) for n in names},
            },
        )
