"""Conditional GETs for reference data: ETag and Last-Modified without serializing anything.

The mini-program caches towns, villages, stations and specialties and revalidates them with
``If-None-Match`` / ``If-Modified-Since``. The validators come from one aggregate query
(``count`` of the filtered rows, ``max(updated_at)`` of the table) plus the query string, so a
304 costs a single cheap query. Rows are never hard-deleted through the API or the admin (they are
deactivated, which bumps ``updated_at``), so count and latest change together see every edit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.db.models import Count, Max, Model, Q, QuerySet
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import http_date, parse_etags, parse_http_date_safe
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.permissions import is_staff

# Bump when the representation changes in a way field names do not show (e.g. a new format),
# so clients holding old ETags refetch.
REPRESENTATION_VERSION = "1"


@dataclass(frozen=True, slots=True)
class Validators:
    """What a response is validated by: a weak ETag and, when safe, a Last-Modified time."""

    etag: str
    last_modified: datetime | None


def _etag(*parts: object) -> str:
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()[:32]
    return f'W/"{digest}"'


def _settled(last: datetime | None) -> datetime | None:
    """Return ``last`` only once its second is over.

    HTTP dates have whole seconds. A Last-Modified inside the current second could be followed
    by another change in that same second, and a client revalidating with it would get a
    wrong 304; so Last-Modified is left out until the second is past (the ETag still works).
    """
    if last is None:
        return None
    if int(last.timestamp()) >= int(timezone.now().timestamp()):
        return None
    return last


def _viewer(request) -> str:
    # Staff see inactive rows too, so the same URL has two representations.
    return "staff" if is_staff(request.user) else "reader"


def _query(request) -> str:
    return urlencode(sorted(request.query_params.lists()), doseq=True)


def list_validators(*, queryset: QuerySet, request, salt: str) -> Validators:
    """Validators of a filtered list: one aggregate query, nothing serialized."""
    # The latest change is taken over the whole table, not just the rows shown: a row that was
    # deactivated or moved out of the filter has left the result but still changed it.
    # One statement: the filtered rows are counted through a subquery.
    agg = queryset.model._default_manager.aggregate(
        n=Count("pk", filter=Q(pk__in=queryset.order_by().values("pk"))),
        last=Max("updated_at"),
    )
    last = agg["last"]
    etag = _etag(
        REPRESENTATION_VERSION,
        salt,
        _viewer(request),
        _query(request),
        agg["n"],
        last.isoformat() if last else "-",
    )
    return Validators(etag=etag, last_modified=_settled(last))


def object_validators(*, obj: Model, request, salt: str) -> Validators:
    """Validators of one row, from its primary key and ``updated_at``."""
    last = obj.updated_at  # type: ignore[attr-defined]
    etag = _etag(REPRESENTATION_VERSION, salt, _viewer(request), obj.pk, last.isoformat())
    return Validators(etag=etag, last_modified=_settled(last))


def is_not_modified(request, validators: Validators) -> bool:
    """Whether the client's copy is current (RFC 9110 §13.2.2: If-None-Match wins)."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = parse_etags(if_none_match)
        if tags == ["*"]:
            return True
        # Weak comparison: W/"x" and "x" name the same representation.
        ours = validators.etag.removeprefix("W/")
        return any(tag.removeprefix("W/") == ours for tag in tags)
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since and validators.last_modified is not None:
        since = parse_http_date_safe(if_modified_since)
        return since is not None and int(validators.last_modified.timestamp()) <= since
    return False


def stamp(response, validators: Validators):
    """Add the validators and caching headers: private, always revalidate."""
    response["ETag"] = validators.etag
    if validators.last_modified is not None:
        response["Last-Modified"] = http_date(validators.last_modified.timestamp())
    patch_cache_control(response, private=True, no_cache=True)
    patch_vary_headers(response, ["Authorization"])
    return response


def not_modified(validators: Validators) -> Response:
    """A 304 carrying the same validators."""
    return stamp(Response(status=status.HTTP_304_NOT_MODIFIED), validators)


class ConditionalReadMixin:
    """For list/retrieve viewsets: answer conditional GETs with 304, stamp 200s."""

    def _salt(self) -> str:
        fields = ",".join(self.get_serializer_class()().fields)  # type: ignore[attr-defined]
        return f"{type(self).__name__}:{fields}"

    def _check_paging(self, request) -> None:
        """Refuse a malformed ``page``/``page_size`` before a 304 could answer for it (a 304
        says the client's copy of *this* page is current, which a bad request has none of)."""
        paginator = self.paginator  # type: ignore[attr-defined]
        if paginator is None:
            return
        paginator.get_page_size(request)
        page = request.query_params.get(paginator.page_query_param)
        if page is None or page in paginator.last_page_strings:
            return
        paginator.get_page_number(request, None)  # "?page=" is a 400
        try:
            valid = int(page) >= 1
        except ValueError:
            valid = False
        if not valid:
            message = paginator.invalid_page_message.format(page_number=page, message="无效页码。")
            raise NotFound(message)

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())  # type: ignore[attr-defined]
        self._check_paging(request)
        validators = list_validators(queryset=queryset, request=request, salt=self._salt())
        if is_not_modified(request, validators):
            return not_modified(validators)
        page = self.paginate_queryset(queryset)  # type: ignore[attr-defined]
        data = self.get_serializer(page, many=True).data  # type: ignore[attr-defined]
        return stamp(self.get_paginated_response(data), validators)  # type: ignore[attr-defined]

    def retrieve(self, request, *args, **kwargs):
        obj = self.get_object()  # type: ignore[attr-defined]
        validators = object_validators(obj=obj, request=request, salt=self._salt())
        if is_not_modified(request, validators):
            return not_modified(validators)
        return stamp(Response(self.get_serializer(obj).data), validators)  # type: ignore[attr-defined]
