"""Business-day arithmetic over weekends and public holidays (holidays package, 2026)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.business_days import BusinessCalendar
from assistant.errors import InputError


@pytest.mark.parametrize(
    ("country", "subdivision", "day", "expected"),
    [
        (None, None, date(2026, 3, 6), True),  # a Friday
        (None, None, date(2026, 3, 7), False),  # Saturday
        (None, None, date(2026, 3, 8), False),  # Sunday
        (None, None, date(2026, 12, 25), True),  # no country: weekends only
        ("US", None, date(2026, 7, 3), False),  # Independence Day observed
        ("US", None, date(2026, 11, 26), False),  # Thanksgiving
        ("US", None, date(2026, 11, 27), True),  # the Friday after is not federal
        ("DE", None, date(2026, 4, 3), False),  # Good Friday
        ("DE", None, date(2026, 4, 6), False),  # Easter Monday
        ("DE", None, date(2026, 1, 6), True),  # Epiphany is regional only
        ("DE", "BY", date(2026, 1, 6), False),  # ... and a holiday in Bavaria
        ("JP", None, date(2026, 5, 6), False),  # substitute holiday, Golden Week
        ("JP", None, date(2026, 9, 22), False),  # citizens' holiday between two
        ("JP", None, date(2026, 5, 7), True),
        ("GB", None, date(2026, 12, 28), False),  # Boxing Day observed on Monday
        ("GB", None, date(2026, 5, 25), False),  # Spring bank holiday
        ("GB", None, date(2026, 4, 6), True),  # Easter Monday is not UK-wide
    ],
)
def test_is_business_day(
    country: str | None, subdivision: str | None, day: date, expected: bool
) -> None:
    calendar = BusinessCalendar(country, subdivision)
    assert calendar.is_business_day(day) is expected


@pytest.mark.parametrize(
    ("country", "start", "count", "expected"),
    [
        (None, date(2026, 3, 6), 1, date(2026, 3, 9)),  # Friday + 1 = Monday
        (None, date(2026, 3, 7), 1, date(2026, 3, 9)),  # from a Saturday
        (None, date(2026, 3, 2), 5, date(2026, 3, 9)),
        (None, date(2026, 3, 9), -1, date(2026, 3, 6)),
        (None, date(2026, 3, 7), 0, date(2026, 3, 7)),  # 0 leaves the day alone
        ("US", date(2026, 7, 2), 1, date(2026, 7, 6)),  # skips Jul 3 observed
        ("US", date(2026, 11, 25), 1, date(2026, 11, 27)),
        ("DE", date(2026, 4, 2), 1, date(2026, 4, 7)),  # over Easter
        ("DE", date(2026, 4, 7), -1, date(2026, 4, 2)),
        ("JP", date(2026, 4, 28), 3, date(2026, 5, 7)),  # Golden Week
        ("GB", date(2026, 12, 24), 1, date(2026, 12, 29)),
    ],
)
def test_add_business_days(
    country: str | None, start: date, count: int, expected: date
) -> None:
    assert BusinessCalendar(country).add_business_days(start, count) == expected


@pytest.mark.parametrize(
    ("country", "start", "end", "expected"),
    [
        (None, date(2026, 3, 2), date(2026, 3, 9), 5),
        (None, date(2026, 3, 9), date(2026, 3, 2), -5),
        (None, date(2026, 3, 6), date(2026, 3, 8), 0),  # Friday to Sunday
        (None, date(2026, 3, 4), date(2026, 3, 4), 0),
        ("DE", date(2026, 4, 1), date(2026, 4, 8), 3),  # Apr 2, 7, 8
        ("JP", date(2026, 4, 28), date(2026, 5, 8), 4),  # Apr 30, May 1, 7, 8
        (None, date(2026, 3, 7), date(2026, 3, 6), -1),  # Saturday back to Friday
    ],
)
def test_business_days_between(
    country: str | None, start: date, end: date, expected: int
) -> None:
    assert BusinessCalendar(country).business_days_between(start, end) == expected


def test_subtract_business_days_mirrors_add() -> None:
    calendar = BusinessCalendar("DE")
    assert calendar.subtract_business_days(date(2026, 4, 7), 1) == date(2026, 4, 2)


def test_roll_forward_and_backward() -> None:
    calendar = BusinessCalendar("GB")
    assert calendar.roll_forward(date(2026, 12, 25)) == date(2026, 12, 29)
    assert calendar.roll_backward(date(2026, 12, 28)) == date(2026, 12, 24)
    assert calendar.roll_forward(date(2026, 12, 24)) == date(2026, 12, 24)


@pytest.mark.parametrize("country", ["XX", "Germany", "de"])
def test_unknown_country_names_it(country: str) -> None:
    with pytest.raises(InputError, match=repr(country)):
        BusinessCalendar(country)


def test_unknown_subdivision_names_it() -> None:
    with pytest.raises(InputError, match="'ZZ'"):
        BusinessCalendar("DE", "ZZ")


def test_subdivision_without_country_rejected() -> None:
    with pytest.raises(InputError, match="without a country"):
        BusinessCalendar(None, "BY")


@given(
    start=st.dates(date(2025, 1, 1), date(2027, 12, 31)),
    count=st.integers(-40, 40),
    country=st.sampled_from([None, "US", "DE", "JP", "GB"]),
)
def test_add_then_count_round_trips(
    start: date, count: int, country: str | None
) -> None:
    calendar = BusinessCalendar(country)
    end = calendar.add_business_days(start, count)
    assert calendar.business_days_between(start, end) == count
    if count != 0:
        assert calendar.is_business_day(end)


@given(start=st.dates(date(2025, 1, 1), date(2027, 12, 31)), count=st.integers(1, 30))
def test_add_never_lands_on_weekend(start: date, count: int) -> None:
    end = BusinessCalendar("US").add_business_days(start, count)
    assert end.weekday() < 5
    assert end - start >= timedelta(days=count)
