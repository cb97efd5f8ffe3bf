"""The daily rollup of verified service (``DailyServiceStat``), kept in step with the records.

``services.workflow`` calls ``record_verified`` / ``record_revoked`` inside the transaction that
moves a record into or out of ``verified``, so the rollup commits or rolls back with it. The
change is one ``INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x`` (PostgreSQL and
SQLite ≥ 3.24 both spell it so): the database adds to the row under its own row lock, so two
verifications of the same day and station in parallel never lose an increment.
``rebuild`` recomputes the whole table from the records (``manage.py rebuild_stats``).
"""

from __future__ import annotations

from django.db import connection, transaction

from services.models import DailyServiceStat, ServiceRecord

TABLE = DailyServiceStat._meta.db_table
RECORDS = ServiceRecord._meta.db_table
# The records' own denormalised columns, so a row never mixes two towns or kinds.
KEY = DIMENSIONS = ("service_date", "station_id", "campaign_id", "town_id", "campaign_kind")
# Rollup column → the records' column it adds up (records: one per row).
SUMS = {
    "records": "1",
    "people_served": "people_served",
    "enterprises_served": "enterprises_served",
    "households_visited": "households_visited",
    "participations": "participants_count",
}


def _apply(record: ServiceRecord, sign: int) -> None:
    """Add (``sign`` 1) or take away (-1) one record's figures in its day's rollup row."""
    values = [getattr(record, name) for name in DIMENSIONS]
    values += [sign * (1 if source == "1" else getattr(record, source)) for source in SUMS.values()]
    columns = [*DIMENSIONS, *SUMS]
    updates = ", ".join(f"{c} = {TABLE}.{c} + excluded.{c}" for c in SUMS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} ({', '.join(columns)}) "  # noqa: S608 - _meta names and placeholders only
            f"VALUES ({', '.join(['%s'] * len(columns))}) "
            f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}",
            values,
        )
        if sign < 0:
            # A day with no verified record left has no row, exactly as ``rebuild`` leaves it.
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE {' AND '.join(f'{c} = %s' for c in KEY)} "  # noqa: S608 - _meta names and placeholders only
                "AND records = 0",
                [getattr(record, name) for name in KEY],
            )


def record_verified(record: ServiceRecord) -> None:
    """``record`` has just become verified (call inside the verifying transaction)."""
    _apply(record, 1)


def record_revoked(record: ServiceRecord) -> None:
    """``record``'s verification has just been taken back (inside the same transaction)."""
    _apply(record, -1)


def rebuild() -> int:
    """Recompute the rollup from the verified records; returns the number of rows written."""
    columns = [*DIMENSIONS, *SUMS]
    sums = ", ".join("COUNT(*)" if s == "1" else f"SUM({s})" for s in SUMS.values())
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Verifications wait for the rebuild instead of adding to rows about to be replaced.
            cursor.execute(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {TABLE}")  # noqa: S608 - _meta names and placeholders only
        cursor.execute(
            f"INSERT INTO {TABLE} ({', '.join(columns)}) "  # noqa: S608 - _meta names and placeholders only
            f"SELECT {', '.join(DIMENSIONS)}, {sums} FROM {RECORDS} WHERE status = %s "
            f"GROUP BY {', '.join(DIMENSIONS)}",
            [ServiceRecord.Status.VERIFIED],
        )
        return cursor.rowcount
