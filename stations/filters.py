"""Query filters of the geography lists (django-filter)."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from stations.models import Station, Town, Village


class _StrictBooleanField(forms.NullBooleanField):
    """true/false/1/0 or absent; anything else is an error rather than "no filter"."""

    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in {"true", "1"}:
            return True
        if text in {"false", "0"}:
            return False
        raise ValidationError("请填写 true 或 false。", code="invalid")

    def validate(self, value):
        return None


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """A row id: a whole number (NumberFilter alone would take 1.5 and round it)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        # Ids beyond a signed 64-bit integer cannot exist, and SQLite raises OverflowError on
        # them (a 500): refuse them as a 400 before they reach SQL.
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class BooleanFilter(django_filters.BooleanFilter):
    """django-filter's BooleanFilter, refusing values it does not understand."""

    field_class = _StrictBooleanField


class TownFilter(django_filters.FilterSet):
    """``?kind=&active=`` (inactive rows are visible to staff only)."""

    kind = django_filters.ChoiceFilter(choices=Town.Kind.choices)
    active = BooleanFilter()

    class Meta:
        model = Town
        fields = ["kind", "active"]


class VillageFilter(django_filters.FilterSet):
    """``?town=&station=&kind=&remote=&active=``."""

    town = IdFilter(field_name="town_id", help_text="镇街 id")
    station = IdFilter(field_name="station_id", help_text="服务驿站 id")
    kind = django_filters.ChoiceFilter(choices=Village.Kind.choices)
    remote = BooleanFilter(help_text="是否偏远（暖岙）")
    active = BooleanFilter()

    class Meta:
        model = Village
        fields = ["town", "station", "kind", "remote", "active"]


class StationFilter(django_filters.FilterSet):
    """``?town=&kind=&manager=&active=``."""

    town = IdFilter(field_name="town_id", help_text="镇街 id")
    kind = django_filters.ChoiceFilter(choices=Station.Kind.choices)
    manager = IdFilter(field_name="managers", distinct=True, help_text="管理员的用户 id")
    active = BooleanFilter()

    class Meta:
        model = Station
        fields = ["town", "kind", "manager", "active"]
