"""The console's forms: HTML form fields in, the API's own input serializers for the checks.

A form is parsed by the serializer the API endpoint uses (``RequestInputSerializer``,
``InviteInputSerializer``, ``VerifyInputSerializer`` …), given as text (a QueryDict), so a value
refused by the API is refused here with the same Chinese message, and what reaches the write
function is what the API would pass it. Browsers send ``datetime-local`` values without an
offset: they are read as Beijing time (TIME_ZONE) and given the offset the API requires.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from django.http import QueryDict
from django.utils import timezone

from services.console.access import Refused, field_errors

# Field labels for the summary line above a refused form ("开始时间：…").
LABELS = {
    "station": "驿站",
    "village": "村/社区",
    "campaign": "活动",
    "title": "标题",
    "description": "需求描述",
    "specialties": "所需专长",
    "address": "地址",
    "starts_at": "开始时间",
    "ends_at": "结束时间",
    "slots": "名额",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
    "team": "团队",
    "until": "邀请截止时间",
    "note": "核实意见",
    "hours": "服务时长",
    "minutes": "服务时长",
    "reason": "原因",
    "request": "需求",
    "office": "转交政协机关",
    "share_phone": "共享联系电话",
}

_LOCAL_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


def local_input(value: str) -> str:
    """``2026-12-10T09:00`` (a datetime-local value) → ``2026-12-10T09:00:00+08:00``; any
    other text is passed on for the serializer to refuse."""
    value = value.strip()
    if not _LOCAL_MINUTE.match(value):
        return value
    naive = datetime.fromisoformat(value)
    return timezone.make_aware(naive, timezone.get_current_timezone()).isoformat()


def for_input(value: datetime | None) -> str:
    """A time as a datetime-local input shows it (Beijing time, to the minute)."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def text_data(
    post: QueryDict,
    names: Iterable[str],
    *,
    times: Iterable[str] = (),
    lists: Iterable[str] = (),
    blank: Iterable[str] = (),
    flags: Iterable[str] = (),
) -> QueryDict:
    """The named fields of a POST as the API's text input: empty values left out (a required
    one is then "必填"), except ``blank`` ones (a text the user cleared); ``times`` get their
    offset, ``lists`` keep every value, ``flags`` (checkboxes) are "true" when ticked."""
    times, lists, blank, flags = set(times), set(lists), set(blank), set(flags)
    data = QueryDict(mutable=True)
    for name in names:
        if name in lists:
            values = [v for v in post.getlist(name) if v.strip()]
            if values:
                data.setlist(name, values)
            continue
        if name in flags:
            data[name] = "true" if post.get(name) else "false"
            continue
        value = post.get(name, "")
        if name in times:
            value = local_input(value)
        if value.strip() or (name in blank and name in post):
            data[name] = value
    return data


def validated(serializer_class, data: QueryDict, **kwargs) -> dict:
    """The serializer's validated data, or ``Refused`` with its messages (400)."""
    serializer = serializer_class(data=data, **kwargs)
    if serializer.is_valid():
        return dict(serializer.validated_data)
    fields = field_errors(serializer.errors)
    name, first = next(iter(fields.items()), ("", "请求参数有误。"))
    label = LABELS.get(name.split(".")[0], "")
    detail = first if name in ("", "non_field_errors") or not label else f"{label}：{first}"
    raise Refused(detail, fields)
