"""Serializer fields that take JSON types at their word (schemathesis; docs/hardening.md).

DRF is lenient: ``0`` is accepted as ``false``, ``0`` as the string ``"0"``, ``"5"`` as the
number 5. The schema promises JSON types, and a client that sends the wrong one has a bug it
should hear about, so in a JSON body these fields refuse any other type. Text inputs (query
strings, form-encoded and multipart bodies) carry only strings, so there the usual parsing
stays: ``?active=true``, ``slots=3`` in an Open311 form.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator, RegexValidator
from django.utils.datastructures import MultiValueDict
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS
from rest_framework.utils import html

from accounts.errors import ReadOnlyField, UnknownField

# Ids beyond a signed 64-bit integer cannot exist (SQLite raises OverflowError on them): every
# id a client sends is refused beyond it, before it reaches SQL.
MAX_ID = 2**63 - 1

# What ``str.strip()`` (so DRF's ``trim_whitespace``) removes, spelled out: the schema's regex
# dialect is ECMA-262, whose ``\s`` is not Python's (it lacks U+001C-U+001F and U+0085).
_WHITESPACE = r"\t-\r\u001c- \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Characters that take no room on a screen (format characters: zero-width spaces and joiners,
# bidi marks, the BOM, the soft hyphen): text made only of them and whitespace is blank.
_INVISIBLE = r"\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
_VISIBLE = re.compile(rf"[^{_WHITESPACE}{_INVISIBLE}]")
# Every CharField refuses U+0000 (PostgreSQL text cannot hold it).
NO_NUL_PATTERN = r"^[^\u0000]*$"
# Non-empty text without U+0000 (a blank-allowed field's schema adds "" as its own branch).
SOME_TEXT_PATTERN = r"^[^\u0000]+$"
# A field that may not be blank and trims: at least one character that is not whitespace.
VISIBLE_TEXT_PATTERN = rf"^[^\u0000]*[^\u0000{_WHITESPACE}{_INVISIBLE}][^\u0000]*$"
# The only forms of time and date the API takes (docs/api.md): ISO 8601 with an offset, and
# YYYY-MM-DD. Python's fromisoformat would also take "20261212T0900" and a date for a time.
DATETIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def text_pattern(field: serializers.CharField) -> str:
    """The pattern stating which strings ``field`` accepts besides its length limits."""
    if field.allow_blank:
        return SOME_TEXT_PATTERN
    if field.trim_whitespace:
        return VISIBLE_TEXT_PATTERN
    return NO_NUL_PATTERN


class CharFieldSchema(OpenApiSerializerFieldExtension):
    """Request schemas of text fields say what DRF's CharField refuses (schemathesis holds
    the API to it): U+0000 always, and whitespace-only text where blank is not allowed."""

    target_class = "rest_framework.fields.CharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        schema = auto_schema._map_serializer_field(field, direction, bypass_extensions=True)
        typed = {"enum", "format", "pattern", "allOf", "oneOf", "$ref"} & schema.keys()
        if (
            direction == "request"
            and schema.get("type") == "string"
            and not typed
            and not any(isinstance(v, RegexValidator) for v in field.validators)
        ):
            schema["pattern"] = text_pattern(field)
        return schema


class DateTimeFieldSchema(OpenApiSerializerFieldExtension):
    """Request schemas of times and dates state the one form the fields take."""

    target_class = "rest_framework.fields.DateTimeField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request" and isinstance(self.target, DateTimeField):
            schema["pattern"] = DATETIME_PATTERN
        return schema


class DateFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "rest_framework.fields.DateField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request" and isinstance(self.target, DateField):
            schema["pattern"] = DATE_PATTERN
        return schema


def setting_max(name: str, message: str) -> MaxValueValidator:
    """At most ``settings.<name>``, read on every use (an operator's or a test's change applies)
    and stated as the schema's ``maximum`` (the value when openapi.yaml was generated).

    ``message`` may use ``%(limit_value)s``.
    """
    return MaxValueValidator(lambda: getattr(settings, name), message=message)


def from_text(field: serializers.Field) -> bool:
    """Whether ``field``'s input came as text (a QueryDict: query string, form, multipart)."""
    return isinstance(getattr(field.root, "initial_data", None), MultiValueDict)


def _is_number(data) -> bool:
    return isinstance(data, (int, float)) and not isinstance(data, bool)


class StrictFieldMixin:
    """Refuse ``data`` of the wrong JSON type before the field's own parsing."""

    def accepts(self, data) -> bool:
        raise NotImplementedError

    # A non-text field given as ``?x=`` was typed wrong, not left out (DRF would drop it).
    blank_text_is_missing = False

    def __init__(self, *args, blank_text_is_missing: bool | None = None, **kwargs):
        if blank_text_is_missing is not None:
            self.blank_text_is_missing = blank_text_is_missing
        super().__init__(*args, **kwargs)

    def get_value(self, dictionary):
        if (
            not self.blank_text_is_missing
            and html.is_html_input(dictionary)
            and dictionary.get(self.field_name) == ""
        ):
            return ""
        return super().get_value(dictionary)

    def to_internal_value(self, data):
        if not from_text(self) and not self.accepts(data):
            self.fail("strict_type")
        return super().to_internal_value(data)


class CharField(StrictFieldMixin, serializers.CharField):
    """A string, never a number or a boolean; invisible characters alone count as blank."""

    blank_text_is_missing = True
    default_error_messages = {"strict_type": "请填写字符串。"}

    def accepts(self, data) -> bool:
        return isinstance(data, str)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value and not self.allow_blank and self.trim_whitespace and not _VISIBLE.search(value):
            self.fail("blank")
        return value


class RegexField(StrictFieldMixin, serializers.RegexField):
    blank_text_is_missing = True
    default_error_messages = {"strict_type": "请填写字符串。"}

    def accepts(self, data) -> bool:
        return isinstance(data, str)


class EmailField(StrictFieldMixin, serializers.EmailField):
    blank_text_is_missing = True
    default_error_messages = {"strict_type": "请填写字符串。"}

    def accepts(self, data) -> bool:
        return isinstance(data, str)


class URLField(StrictFieldMixin, serializers.URLField):
    blank_text_is_missing = True
    default_error_messages = {"strict_type": "请填写字符串。"}

    def accepts(self, data) -> bool:
        return isinstance(data, str)


class SlugField(StrictFieldMixin, serializers.SlugField):
    blank_text_is_missing = True
    default_error_messages = {"strict_type": "请填写字符串。"}

    def accepts(self, data) -> bool:
        return isinstance(data, str)


class ChoiceField(StrictFieldMixin, serializers.ChoiceField):
    """One of the choices, of the choices' own type (``"1"`` is not ``1``); ``?x=`` is no
    choice (an error), as for every non-text parameter."""

    default_error_messages = {"strict_type": "请从可选值中选择。"}

    def accepts(self, data) -> bool:
        return isinstance(data, str) if self._string_choices() else not isinstance(data, bool)

    def _string_choices(self) -> bool:
        return all(isinstance(key, str) for key in self.choices)


class BooleanField(StrictFieldMixin, serializers.BooleanField):
    """JSON ``true``/``false`` only; ``"true"``/``"false"`` only from text inputs."""

    default_error_messages = {"strict_type": "请填写 true 或 false。"}
    # DRF reads a boolean missing from a form as an unticked checkbox (false); our forms and
    # query strings have no checkboxes, so missing means missing.
    default_empty_html = serializers.empty

    def accepts(self, data) -> bool:
        return isinstance(data, bool)


class IntegerField(StrictFieldMixin, serializers.IntegerField):
    """A JSON number with no fraction; strings only from text inputs."""

    default_error_messages = {"strict_type": "请填写整数。"}

    def accepts(self, data) -> bool:
        return (isinstance(data, int) and not isinstance(data, bool)) or (
            isinstance(data, float) and data.is_integer()
        )


class FloatField(StrictFieldMixin, serializers.FloatField):
    """A JSON number; strings only from text inputs."""

    default_error_messages = {"strict_type": "请填写数字。"}

    def accepts(self, data) -> bool:
        return _is_number(data)


class DecimalField(StrictFieldMixin, serializers.DecimalField):
    default_error_messages = {"strict_type": "请填写数字。"}

    def accepts(self, data) -> bool:
        return _is_number(data)


class DateField(StrictFieldMixin, serializers.DateField):
    """A date as ``YYYY-MM-DD``, in a JSON body and a query string alike."""

    default_error_messages = {"strict_type": "请填写 YYYY-MM-DD 格式的日期。"}

    def accepts(self, data) -> bool:
        return isinstance(data, str)

    def to_internal_value(self, data):
        if isinstance(data, str) and not re.fullmatch(DATE_PATTERN, data.strip()):
            self.fail("strict_type")
        return super().to_internal_value(data)


class DateTimeField(StrictFieldMixin, serializers.DateTimeField):
    """A time as ISO 8601 with an offset (``2026-12-12T09:00:00+08:00``), shown in
    Asia/Shanghai to the second."""

    default_error_messages = {
        "strict_type": "请填写带时区的 ISO 8601 时间，例如 2026-12-12T09:00:00+08:00。"
    }

    def accepts(self, data) -> bool:
        return isinstance(data, str)

    def to_internal_value(self, data):
        if isinstance(data, str) and not re.fullmatch(DATETIME_PATTERN, data.strip()):
            self.fail("strict_type")
        return super().to_internal_value(data)

    def to_representation(self, value):
        if isinstance(value, datetime):
            value = value.replace(microsecond=0)
        return super().to_representation(value)


class PrimaryKeyRelatedField(StrictFieldMixin, serializers.PrimaryKeyRelatedField):
    """An integer id; ``"5"`` and ``true`` (which Python reads as 1) are refused in JSON."""

    default_error_messages = {"strict_type": "请填写整数 ID。"}

    def accepts(self, data) -> bool:
        return isinstance(data, int) and not isinstance(data, bool)

    @classmethod
    def many_init(cls, *args, **kwargs):
        max_length = kwargs.pop("max_length", None)
        list_kwargs = {"child_relation": cls(*args, **kwargs), "max_length": max_length}
        for key in kwargs:
            if key in MANY_RELATION_KWARGS:
                list_kwargs[key] = kwargs[key]
        return ManyRelatedField(**list_kwargs)


class ManyRelatedField(serializers.ManyRelatedField):
    """A JSON array of ids; DRF would take ``{}`` (iterable) as an empty list. ``max_length``
    limits the items sent (the schema's ``maxItems``)."""

    default_error_messages = {"strict_type": "请填写 ID 数组。"}

    def __init__(self, *args, max_length: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if max_length is not None:
            message = f"最多 {max_length} 项。"
            self.validators.append(MaxLengthValidator(max_length, message=message))

    def to_internal_value(self, data):
        if not from_text(self) and not isinstance(data, list):
            self.fail("strict_type")
        return super().to_internal_value(data)


def check_keys(serializer: serializers.Serializer, data: dict) -> None:
    """Every key of a JSON object must be a field ``serializer`` writes: 400 ``unknown_field``
    for the others (named), 400 ``read_only_field`` for fields it only shows."""
    fields = serializer.fields
    model = getattr(serializer, "shown_model", None) or getattr(
        getattr(serializer, "Meta", None), "model", None
    )
    # Columns of the model the serializer writes that it does not take (status, counters, who
    # posted): the API shows them, so a client sending one is told it cannot write it.
    columns = {f.name for f in model._meta.get_fields()} if model is not None else set()
    unknown = [key for key in data if key not in fields and key not in columns]
    if unknown:
        raise UnknownField(
            f"不认识的字段：{'、'.join(map(str, unknown))}。",
            fields={str(key): ["没有这个字段。"] for key in unknown},
        )
    read_only = [key for key in data if key not in fields or fields[key].read_only]
    if read_only:
        raise ReadOnlyField(
            f"以下字段只读，不能写入：{'、'.join(read_only)}。",
            fields={key: ["该字段只读，不能写入。"] for key in read_only},
        )


# In a JSON body, refuse keys that are no writable field (text inputs keep DRF's rule: a query
# string may carry parameters other code reads). No docstring, as for Serializer below.
class StrictInputMixin:
    def to_internal_value(self, data):
        if isinstance(data, dict) and not isinstance(data, MultiValueDict):
            check_keys(self, data)
        return super().to_internal_value(data)


# A plain serializer whose input refuses unknown and read-only keys; ``shown_model`` names the
# model whose other columns are read-only rather than unknown. (No docstring: the schema would
# give it to every serializer that has none of its own.)
class Serializer(StrictInputMixin, serializers.Serializer):
    shown_model = None


# Its input refuses unknown and read-only keys too (StrictInputMixin).
class ModelSerializer(StrictInputMixin, serializers.ModelSerializer):
    """ModelSerializer whose generated fields are the strict ones above."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
    }
    serializer_related_field = PrimaryKeyRelatedField


_STRICT = {
    serializers.CharField: CharField,
    serializers.RegexField: RegexField,
    serializers.EmailField: EmailField,
    serializers.URLField: URLField,
    serializers.SlugField: SlugField,
    serializers.ChoiceField: ChoiceField,
    serializers.BooleanField: BooleanField,
    serializers.IntegerField: IntegerField,
    serializers.FloatField: FloatField,
    serializers.DecimalField: DecimalField,
    serializers.DateField: DateField,
    serializers.DateTimeField: DateTimeField,
}
ModelSerializer.serializer_field_mapping = {
    model_field: _STRICT.get(field, field)
    for model_field, field in ModelSerializer.serializer_field_mapping.items()
}
ModelSerializer.serializer_choice_field = ChoiceField
