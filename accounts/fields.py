"""Serializer fields that take JSON types at their word (DESIGN §8, schemathesis).

DRF is lenient: ``0`` is accepted as ``false``, ``0`` as the string ``"0"``, ``"5"`` as the
number 5. The schema promises JSON types, and a client that sends the wrong one has a bug it
should hear about, so in a JSON body these fields refuse any other type. Text inputs (query
strings, form-encoded and multipart bodies) carry only strings, so there the usual parsing
stays: ``?active=true``, ``slots=3`` in an Open311 form.
"""

from __future__ import annotations

from django.utils.datastructures import MultiValueDict
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS
from rest_framework.utils import html


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
    blank_text_is_missing = True
    """A string, never a number or a boolean."""

    default_error_messages = {"strict_type": "请填写字符串。"}

    def accepts(self, data) -> bool:
        return isinstance(data, str)


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
    blank_text_is_missing = True
    """One of the choices, of the choices' own type (``"1"`` is not ``1``)."""

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
    default_error_messages = {"strict_type": "请填写 YYYY-MM-DD 格式的日期。"}

    def accepts(self, data) -> bool:
        return isinstance(data, str)


class DateTimeField(StrictFieldMixin, serializers.DateTimeField):
    default_error_messages = {"strict_type": "请填写 ISO 8601 格式的时间。"}

    def accepts(self, data) -> bool:
        return isinstance(data, str)


class PrimaryKeyRelatedField(StrictFieldMixin, serializers.PrimaryKeyRelatedField):
    """An integer id; ``"5"`` and ``true`` (which Python reads as 1) are refused in JSON."""

    default_error_messages = {"strict_type": "请填写整数 ID。"}

    def accepts(self, data) -> bool:
        return isinstance(data, int) and not isinstance(data, bool)

    @classmethod
    def many_init(cls, *args, **kwargs):
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        for key in kwargs:
            if key in MANY_RELATION_KWARGS:
                list_kwargs[key] = kwargs[key]
        return ManyRelatedField(**list_kwargs)


class ManyRelatedField(serializers.ManyRelatedField):
    """A JSON array of ids; DRF would take ``{}`` (iterable) as an empty list."""

    default_error_messages = {"strict_type": "请填写 ID 数组。"}

    def to_internal_value(self, data):
        if not from_text(self) and not isinstance(data, list):
            self.fail("strict_type")
        return super().to_internal_value(data)


class ModelSerializer(serializers.ModelSerializer):
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
