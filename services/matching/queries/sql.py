"""The machinery of matching's reads: one templating layer, cursors and parameters.

``_sql`` renders a statement's template (cached); ``_fetch`` runs it and returns NamedTuples;
``_cursor`` prepares statements on PostgreSQL; ``_in``, ``_when``, ``_distance2`` give the
fragments and parameters the templates name (see the package's docstring).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections

from members.models import Member, Specialty, Team
from services.models import (
    Campaign,
    Claim,
    IntakeRating,
    ServiceRecord,
    ServiceRequest,
)
from stations.geo import Point, fast_distance_km
from stations.models import Station, Town, Village

TIME_HOLDING = (Claim.Status.WAITLISTED, Claim.Status.CLAIMED, Claim.Status.CHECKED_IN)


ClaimStatus = Claim.Status


class _Spec:
    """A fragment written ``{name:argument}`` in a template: ``render(argument)``."""

    __slots__ = ("render",)

    def __init__(self, render: Callable[[str], str]) -> None:
        self.render = render

    def __format__(self, argument: str) -> str:
        return self.render(argument)


@functools.cache
def _fragments() -> dict[str, Any]:
    """What every template may name: table and column names from the models (quoted for both
    databases), the vendor's datetime and distance expressions, and status literals."""
    q = _db().ops.quote_name

    def table(model) -> str:
        return q(model._meta.db_table)

    def column(model, name: str) -> str:
        return q(model._meta.get_field(name).column)

    request_specialties = ServiceRequest.specialties.through
    member_specialties = Member.specialties.through
    team_specialties = Team.specialties.through
    return {
        "request": table(ServiceRequest),
        "claim": table(Claim),
        "member": table(Member),
        "team": table(Team),
        "town": table(Town),
        "station": table(Station),
        "village": table(Village),
        "campaign": table(Campaign),
        "specialty": table(Specialty),
        "rating": table(IntakeRating),
        "record": table(ServiceRecord),
        "verified": _literals(ServiceRecord.Status.VERIFIED),
        "rs": table(request_specialties),
        "rs_request": column(request_specialties, "servicerequest"),
        "rs_specialty": column(request_specialties, "specialty"),
        "ms": table(member_specialties),
        "ms_member": column(member_specialties, "member"),
        "ms_specialty": column(member_specialties, "specialty"),
        "ts": table(team_specialties),
        "ts_team": column(team_specialties, "team"),
        "ts_specialty": column(team_specialties, "specialty"),
        "when": _Spec(_when),
        "d2": _Spec(_distance2_sql),
        "open": _literals(ServiceRequest.Status.OPEN),
        "finished": _literals(ServiceRequest.Status.COMPLETED, ServiceRequest.Status.VERIFIED),
        "time_holding": _marks(TIME_HOLDING),
    }


@functools.lru_cache(maxsize=1024)
def _sql(template: str, **fragments: str) -> str:
    """``template`` with its fields filled (``_fragments``, then ``fragments``), its whitespace
    made single spaces (no template holds a string literal with spaces in it)."""
    return " ".join(template.format(**_fragments(), **fragments).split())


def _marks(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _literals(*values: str) -> str:
    """Code constants (status choices) as SQL literals, for the conditions a prepared
    statement's generic plan must see: a parameter hides its value from the plan, and a
    partial index's predicate is matched only by the literal itself."""
    if not all(value.isidentifier() for value in values):
        raise ValueError(f"not a plain constant: {values!r}")
    return ", ".join(f"'{value}'" for value in values)


def _in(values: Sequence[Any]) -> tuple[str, list[Any]]:
    """``IN (...)`` for ``values``, and its parameters. On PostgreSQL it is ``= ANY(%s)`` with
    one array parameter: the statement then reads the same for any number of ids, so psycopg
    keeps its parsed form (it caches only statements of at most 50 parameters) and prepares it
    once (``_cursor``)."""
    if _db().vendor == "postgresql":
        return "= ANY(%s)", [list(values)]
    return f"IN ({_marks(values)})", list(values)


def _db():
    """The default connection itself: per-row code must not go through the proxy's lookups."""
    return connections[DEFAULT_DB_ALIAS]


def _dt_param(value: datetime) -> Any:
    return _db().ops.adapt_datetimefield_value(value)


def _when(column: str) -> str:
    """A datetime column as these reads select it (``_aware`` turns it back into a datetime).
    The drivers' own conversions run in Python for every value — psycopg parses a timestamp's
    text through Django's time zone loader, sqlite3 calls Django's converter — and a feed reads
    hundreds of them. So PostgreSQL sends seconds since the epoch, which become a datetime in
    C (exact to the microsecond: a double holds today's epoch seconds to a quarter of one),
    and SQLite its stored ISO text, which ``datetime.fromisoformat`` reads in C."""
    if _db().vendor == "postgresql":
        return f"date_part('epoch', {column})"
    return f"CAST({column} AS TEXT)"


def _from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _aware() -> Callable[[Any], datetime | None]:
    """A converter making a datetime column selected by ``_when`` aware, as the ORM returns
    it; chosen once per query because it runs on every row. SQLite hands back naive datetimes
    (or text) in the connection's zone, UTC unless DATABASES sets TIME_ZONE; PostgreSQL
    epoch seconds (see ``_when``)."""
    db = _db()
    if db.vendor == "postgresql":
        return _from_epoch
    if db.timezone_name != "UTC":
        return lambda value: db.ops.convert_datetimefield_value(value, None, db)

    def convert(value: Any) -> datetime | None:
        if value.__class__ is str:
            # Stored as naive UTC text ("2026-12-16 10:00:00[.ffffff]"): one C call.
            return datetime.fromisoformat(value + "+00:00")
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    return convert


def _cursor():
    """A cursor for these reads. On PostgreSQL with prepared statements on (settings:
    ``DB_PREPARE_THRESHOLD``), a server-side binding cursor reading binary rows, so that
    psycopg prepares each of these fixed statements after a few runs on a connection and
    PostgreSQL reuses its plan: planning their joins costs more than running them. Django's
    wrapper goes around it as around any cursor (query logging, execute_wrapper)."""
    db = _db()
    if db.vendor != "postgresql":
        return db.cursor()
    db.ensure_connection()
    if db.connection.prepare_threshold is None:
        return db.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor
    from psycopg import pq

    with db.wrap_database_errors:
        raw = ServerBindingCursor(db.connection)
    # Rows in PostgreSQL's binary format: numbers and arrays arrive as machine values, not
    # text for psycopg to parse.
    raw.format = pq.Format.BINARY
    return db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)


Row = TypeVar("Row", bound=tuple)


def _fetch(row: type[Row], sql: str, params: Sequence[Any]) -> list[Row]:
    """The statement's rows, each a ``row``: a NamedTuple naming the selected columns in
    order. ``tuple.__new__`` makes them from the driver's tuples in C, without the Python call
    per row that ``row._make`` costs."""
    with _cursor() as cursor:
        cursor.execute(sql, list(params))
        rows = cursor.fetchall()
    if rows and len(rows[0]) != len(row._fields):
        raise TypeError(f"{row.__name__} names {len(row._fields)} of {len(rows[0])} columns")
    return list(map(functools.partial(tuple.__new__, row), rows))


def _scales(point: Point) -> tuple[float, float]:
    """Squared km per degree of latitude and of longitude around ``point`` (fast_distance_km's
    local factors: within 0.1% of geodesic at this scale)."""
    ky = fast_distance_km(point.lat - 0.5, point.lng, point.lat + 0.5, point.lng)
    kx = fast_distance_km(point.lat, point.lng - 0.5, point.lat, point.lng + 0.5)
    return ky * ky, kx * kx


def _distance2_sql(alias: str) -> str:
    """Squared equirectangular km from a point to ``alias.lat``/``alias.lng``, as SQL of six
    parameters (``_distance2``)."""
    lat, lng = f"{alias}.lat", f"{alias}.lng"
    return f"(({lat} - %s) * ({lat} - %s) * %s + ({lng} - %s) * ({lng} - %s) * %s)"


def _distance2(point: Point) -> list[float]:
    """The parameters of ``{d2:...}`` for ``point``: squared equirectangular km from it, with
    the local scales of ``_scales``."""
    ky2, kx2 = _scales(point)
    return [point.lat, point.lat, ky2, point.lng, point.lng, kx2]
