"""Query filters of the geography lists (django-filter)."""

from __future__ import annotations

import re

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import BaseCSVField
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, filters

from accounts.fields import MAX_ID, NO_NUL_PATTERN
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


# The schema states the range the filter enforces, so a generated 0 is known to be invalid.
@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """A row id: a whole number (NumberFilter alone would take 1.5 and round it)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


# A plain decimal or scientific number, as stations.geo reads coordinates (no "nan", no "1_0").
NUMBER_PATTERN = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
NEAR_PATTERN = rf"^{NUMBER_PATTERN},{NUMBER_PATTERN}$"
BBOX_PATTERN = rf"^{NUMBER_PATTERN},{NUMBER_PATTERN},{NUMBER_PATTERN},{NUMBER_PATTERN}$"


def full_match(pattern: str, value: str) -> bool:
    """Whether all of ``value`` matches ``pattern`` (as the schema's ECMA regex reads it)."""
    return re.fullmatch(pattern, value) is not None


@extend_schema_field({"type": "string", "pattern": NEAR_PATTERN})
class NearFilter(django_filters.CharFilter):
    """``lat,lng``: two numbers, no spaces; the filterset parses and judges it (it is not
    stripped, so what the code reads is what the schema's pattern describes)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("strip", False)
        super().__init__(*args, **kwargs)


class SearchFilter(filters.SearchFilter):
    """DRF's ``?search=``, refusing U+0000 with a 400 (PostgreSQL text cannot hold it, and the
    schema's pattern says so)."""

    def get_search_terms(self, request):
        if "\x00" in request.query_params.get(self.search_param, ""):
            raise exceptions.ValidationError({self.search_param: ["不能包含空字符（U+0000）。"]})
        return super().get_search_terms(request)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["pattern"] = NO_NUL_PATTERN
        return parameters


_TEXT_FILTERS: dict[int, type[django_filters.CharFilter]] = {}


def text_filter(*, max_length: int, **kwargs) -> django_filters.CharFilter:
    """A free-text filter (``?x=`` means no filter) whose schema states its length limit and
    that U+0000 is refused, as Django's form field does."""
    if max_length not in _TEXT_FILTERS:
        schema = {"type": "string", "maxLength": max_length, "pattern": NO_NUL_PATTERN}
        _TEXT_FILTERS[max_length] = extend_schema_field(schema)(
            type(f"TextFilter{max_length}", (django_filters.CharFilter,), {})
        )
    return _TEXT_FILTERS[max_length](max_length=max_length, **kwargs)


class BooleanFilter(django_filters.BooleanFilter):
    """django-filter's BooleanFilter, refusing values it does not understand."""

    field_class = _StrictBooleanField


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet where ``?x=`` of a non-text filter is an error, not silently "no filter".

    The schema types these parameters (integer, boolean, enum, date-time); an empty value is
    none of them, and a client sending it has a bug it should hear about.
    """

    def is_valid(self):
        valid = super().is_valid()
        if not self.is_bound:
            return valid
        for name, field in self.form.fields.items():
            # A comma-separated list cannot be written empty either ("?ordering=" is one empty
            # item; the schema states minItems: 1).
            if (
                isinstance(field, forms.CharField) and not isinstance(field, BaseCSVField)
            ) or name not in self.data:
                continue
            values = self.data.getlist(name) if hasattr(self.data, "getlist") else [self.data[name]]
            if any(value == "" for value in values):
                self.form.add_error(name, "请填写有效的值，或不传此参数。")
        return self.form.is_valid()


class TownFilter(StrictFilterSet):
    """``?kind=&active=`` (inactive rows are visible to staff only)."""

    kind = django_filters.ChoiceFilter(choices=Town.Kind.choices)
    active = BooleanFilter()

    class Meta:
        model = Town
        fields = ["kind", "active"]


class VillageFilter(StrictFilterSet):
    """``?town=&station=&kind=&remote=&active=``."""

    town = IdFilter(field_name="town_id", help_text="镇街 id")
    station = IdFilter(field_name="station_id", help_text="服务驿站 id")
    kind = django_filters.ChoiceFilter(choices=Village.Kind.choices)
    remote = BooleanFilter(help_text="是否偏远（暖岙）")
    active = BooleanFilter()

    class Meta:
        model = Village
        fields = ["town", "station", "kind", "remote", "active"]


class StationFilter(StrictFilterSet):
    """``?town=&kind=&manager=&active=``."""

    town = IdFilter(field_name="town_id", help_text="镇街 id")
    kind = django_filters.ChoiceFilter(choices=Station.Kind.choices)
    manager = IdFilter(field_name="managers", distinct=True, help_text="管理员的用户 id")
    active = BooleanFilter()

    class Meta:
        model = Station
        fields = ["town", "kind", "manager", "active"]
