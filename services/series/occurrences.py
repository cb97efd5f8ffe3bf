"""The dates of a recurring service: weekly on chosen weekdays, or monthly on the n-th (or
last) chosen weekday; until a date or N times; never more than the cap. Pure dates, no Django."""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Sequence
from datetime import date, timedelta

WEEKLY = "weekly"
MONTHLY = "monthly"
LAST = -1


def _weekly(starts_on: date, weekdays: Sequence[int]) -> Iterator[date]:
    day = starts_on
    while True:
        if day.weekday() in weekdays:
            yield day
        day += timedelta(days=1)


def nth_weekday(year: int, month: int, weekday: int, nth: int) -> date | None:
    """The ``nth`` (1–5, or -1: the last) ``weekday`` of a month; None when it has no such."""
    days = calendar.monthrange(year, month)[1]
    matching = [
        date(year, month, d)
        for d in range(1, days + 1)
        if date(year, month, d).weekday() == weekday
    ]
    if nth == LAST:
        return matching[-1]
    return matching[nth - 1] if nth <= len(matching) else None


def _monthly(starts_on: date, weekdays: Sequence[int], nth: int) -> Iterator[date]:
    year, month = starts_on.year, starts_on.month
    while True:
        found = [nth_weekday(year, month, weekday, nth) for weekday in weekdays]
        for day in sorted(d for d in found if d is not None):
            if day >= starts_on:
                yield day
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def series_dates(
    *,
    frequency: str,
    weekdays: Sequence[int],
    starts_on: date,
    until: date | None,
    count: int | None,
    cap: int,
    week_of_month: int | None = None,
) -> list[date]:
    """The occurrence dates, at most ``cap + 1`` of them (one more than the cap tells the caller
    the plan is too long). ``until`` is inclusive; ``count`` stops after that many."""
    if frequency == WEEKLY:
        days = _weekly(starts_on, sorted(set(weekdays)))
    else:
        days = _monthly(starts_on, sorted(set(weekdays)), week_of_month or 1)
    limit = cap + 1 if count is None else min(count, cap + 1)
    dates: list[date] = []
    for day in days:
        if until is not None and day > until:
            break
        dates.append(day)
        if len(dates) >= limit:
            break
    return dates
