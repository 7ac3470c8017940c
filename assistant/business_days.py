"""Business-day arithmetic: weekends and a country's public holidays are skipped.

Public holidays come from the ``holidays`` package, per ISO 3166-1 country code
and optional subdivision (a state or region, such as ``BY`` for Bavaria). A
calendar without a country skips weekends only. Holiday sets are cached per
(country, subdivision, year), because the ladder and the send window ask about
the same few years many times in one run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta

import holidays

from assistant.errors import InputError

SATURDAY_SUNDAY = frozenset({5, 6})

# The longest run of non-business days any calendar could have is far below a
# year; a longer search means the calendar has no business days at all.
_MAX_SEARCH_DAYS = 366


@functools.lru_cache(maxsize=256)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    table = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(table.keys())


@functools.lru_cache(maxsize=64)
def _weekend(country: str, subdivision: str | None) -> frozenset[int]:
    # Most countries rest on Saturday and Sunday, but not all: the holidays
    # package records each country's weekend as weekday numbers (Monday = 0).
    table = holidays.country_holidays(country, subdiv=subdivision, years=[])
    return frozenset(getattr(table, "weekend", SATURDAY_SUNDAY))


def validate_region(country: str, subdivision: str | None = None) -> None:
    """Raise ``InputError`` unless the holidays package supports the country and subdivision."""
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise InputError(
            f"unknown country {country!r}: use an ISO 3166-1 alpha-2 code that the "
            "holidays package supports, such as US, DE, JP or GB"
        )
    if subdivision is not None and subdivision not in supported[country]:
        raise InputError(
            f"unknown subdivision {subdivision!r} for country {country}: use one of "
            f"{', '.join(supported[country])}"
        )


@dataclass(frozen=True)
class BusinessCalendar:
    """Weekends and public holidays of one country, or weekends only without one."""

    country: str | None = None
    subdivision: str | None = None

    def __post_init__(self) -> None:
        if self.country is None:
            if self.subdivision is not None:
                raise InputError(
                    f"subdivision {self.subdivision!r} given without a country; "
                    "give the country code too"
                )
            return
        validate_region(self.country, self.subdivision)

    @property
    def weekend(self) -> frozenset[int]:
        if self.country is None:
            return SATURDAY_SUNDAY
        return _weekend(self.country, self.subdivision)

    def is_holiday(self, day: date) -> bool:
        if self.country is None:
            return False
        return day in _holiday_dates(self.country, self.subdivision, day.year)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and not self.is_holiday(day)

    def add_business_days(self, day: date, count: int) -> date:
        """Move ``count`` business days forward from ``day`` (backward when negative).

        ``day`` itself is not counted, so adding 1 to a Friday gives the next
        Monday when that is a business day. Adding 0 returns ``day`` unchanged,
        even when it is not a business day.
        """
        step = timedelta(days=1 if count >= 0 else -1)
        remaining = abs(count)
        current = day
        while remaining > 0:
            current += step
            if self.is_business_day(current):
                remaining -= 1
        return current

    def subtract_business_days(self, day: date, count: int) -> date:
        return self.add_business_days(day, -count)

    def business_days_between(self, start: date, end: date) -> int:
        """Count business days from ``start`` to ``end``, signed like a subtraction.

        Going forward, the days after ``start`` up to and including ``end`` count.
        Going backward, the days from ``end`` up to but excluding ``start`` count,
        negated. Either way ``add_business_days(start, n)`` gives back ``end``
        whenever ``end`` is a business day.
        """
        if end < start:
            return -self._count(end - timedelta(days=1), start - timedelta(days=1))
        return self._count(start, end)

    def _count(self, start: date, end: date) -> int:
        count = 0
        current = start
        while current < end:
            current += timedelta(days=1)
            if self.is_business_day(current):
                count += 1
        return count

    def roll_forward(self, day: date) -> date:
        """Return ``day`` if it is a business day, else the next business day."""
        return self._roll(day, timedelta(days=1))

    def roll_backward(self, day: date) -> date:
        """Return ``day`` if it is a business day, else the previous business day."""
        return self._roll(day, timedelta(days=-1))

    def _roll(self, day: date, step: timedelta) -> date:
        current = day
        for _ in range(_MAX_SEARCH_DAYS):
            if self.is_business_day(current):
                return current
            current += step
        raise InputError(
            f"calendar for {self.country or 'no country'} has no business day "
            f"within a year of {day.isoformat()}"
        )
