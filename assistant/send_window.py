"""Planned send times: a jittered early-morning window on chosen weekdays.

By default a reminder goes out on a Tuesday, Wednesday or Thursday between
05:00 and 06:00 in the client's time zone, at a minute that is not a multiple
of 5, and never on one of the client's public holidays. The jitter is drawn
from a ``random.Random`` seeded with a SHA-256 digest of the reminder's id,
so planning the same reminder again gives the same instant, in every process
(Python's ``hash()`` of a string changes between processes).

Windows are wall-clock times in the client's zone, converted with ``zoneinfo``.
A wall time that falls in a daylight-saving gap is never chosen, and one that
occurs twice in a fall-back hour is read as its first occurrence, so every
returned instant is a single, real moment. Returned instants are aware UTC
datetimes.
"""

from __future__ import annotations

import enum
import hashlib
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from assistant.business_days import BusinessCalendar
from assistant.errors import InputError

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAY_FULL_NAMES = (
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"
)

# A year contains every weekday many times over. Finding no window day within
# it means every candidate day is a holiday, which no country has.
_MAX_SEARCH_DAYS = 366


class Direction(enum.StrEnum):
    """Side of the reminder's day on which to look for a window day."""

    BEFORE = "before"
    AFTER = "after"


@dataclass(frozen=True)
class SendWindow:
    """Weekdays and wall-clock hours in which reminders go out, with jitter rules.

    ``days`` contains weekday numbers (Monday = 0). ``end`` is exclusive.
    ``avoid_minute_multiple`` keeps the minute off multiples of that number
    (0 turns it off), so sends do not look scheduled. Without ``jitter`` every
    reminder goes out at the first allowed minute of the window.
    """

    days: frozenset[int] = frozenset({1, 2, 3})
    start: time = time(5, 0)
    end: time = time(6, 0)
    latest_catch_up: time = time(9, 0)
    avoid_minute_multiple: int = 5
    jitter: bool = True

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(7)):
            raise ValueError(f"send days {sorted(self.days)} must be weekday numbers 0-6")
        if self.start >= self.end:
            raise ValueError(
                f"window start {self.start:%H:%M} must be before its end {self.end:%H:%M}"
            )
        if self.latest_catch_up < self.end:
            raise ValueError(
                f"latest catch-up {self.latest_catch_up:%H:%M} must not be before "
                f"the window end {self.end:%H:%M}"
            )
        if self.avoid_minute_multiple < 0:
            raise ValueError("avoid_minute_multiple must be 0 or more")
        if not self.allowed_minutes():
            raise ValueError(
                f"window {self.start:%H:%M}-{self.end:%H:%M} has no minute that is "
                f"not a multiple of {self.avoid_minute_multiple}"
            )

    def allowed_minutes(self) -> list[int]:
        """Minutes of the day (0-1439) inside the window that the jitter may pick."""
        first = self.start.hour * 60 + self.start.minute
        last = self.end.hour * 60 + self.end.minute
        step = self.avoid_minute_multiple
        return [m for m in range(first, last) if step == 0 or m % step != 0]


def reminder_seed(reminder_id: str) -> int:
    """Turn a reminder id such as ``INV-1042:gentle:0`` into a stable random seed."""
    digest = hashlib.sha256(reminder_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def is_window_day(day: date, window: SendWindow, calendar: BusinessCalendar) -> bool:
    return day.weekday() in window.days and not calendar.is_holiday(day)


def window_day(
    day: date, direction: Direction, window: SendWindow, calendar: BusinessCalendar
) -> date:
    """Return the nearest window day on or before ``day``, or on or after it."""
    step = timedelta(days=-1 if direction is Direction.BEFORE else 1)
    current = day
    for _ in range(_MAX_SEARCH_DAYS):
        if is_window_day(current, window, calendar):
            return current
        current += step
    raise InputError(
        f"no send day {direction} {day.isoformat()} within a year: every configured "
        "weekday is a holiday; add more [send_window] days"
    )


def _wall_time_exists(day: date, minute_of_day: int, zone: ZoneInfo) -> bool:
    wall = datetime.combine(day, time(minute_of_day // 60, minute_of_day % 60))
    local = wall.replace(tzinfo=zone)
    round_trip = local.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)
    return round_trip == wall


def _to_instant(day: date, minute_of_day: int, second: int, zone: ZoneInfo) -> datetime:
    wall = time(minute_of_day // 60, minute_of_day % 60, second)
    # fold=0 picks the first of two occurrences in a fall-back hour; in a gap it
    # reads the time with the offset from before the change, which moves it
    # forward by the length of the gap.
    local = datetime.combine(day, wall, tzinfo=zone).replace(fold=0)
    return local.astimezone(timezone.utc)


def instant_in_window(
    reminder_id: str, day: date, window: SendWindow, zone: ZoneInfo
) -> datetime:
    """Pick the reminder's jittered instant inside the window on ``day``."""
    rng = random.Random(reminder_seed(reminder_id))
    allowed = window.allowed_minutes()
    existing = [m for m in allowed if _wall_time_exists(day, m, zone)]

    # NOTE: when a daylight-saving gap covers the whole window, no wall time in
    # it exists that day. The minute is then read with the offset from before
    # the change, so the instant lands just after the window, by the gap length.
    candidates = existing or allowed
    if not window.jitter:
        return _to_instant(day, candidates[0], 0, zone)
    minute = rng.choice(candidates)
    second = rng.randrange(60)
    return _to_instant(day, minute, second, zone)


@dataclass(frozen=True)
class SendPlanner:
    """Plans send instants in one client's time zone and holiday calendar."""

    window: SendWindow
    zone: ZoneInfo
    calendar: BusinessCalendar

    def plan(self, reminder_id: str, day: date, direction: Direction) -> datetime:
        """Return the UTC instant for a reminder due on ``day``.

        Reminders before the due date use ``Direction.BEFORE``, so they never
        slip past their day; overdue ones use ``Direction.AFTER``.
        """
        send_day = window_day(day, direction, self.window, self.calendar)
        return instant_in_window(reminder_id, send_day, self.window, self.zone)

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def next_send_time(self, reminder_id: str, planned: datetime, now: datetime) -> datetime:
        """Return when a planned reminder should go out, given the current time.

        A planned instant still ahead stays. A missed one goes out now while the
        client's wall clock is still before the latest catch-up hour of the
        planned day. Otherwise it moves to the next window still ahead.
        """
        caught_up = catch_up(planned, now, self.window.latest_catch_up, self.zone)
        if caught_up is not None:
            return caught_up
        # Today's window may still be ahead, when the miss was on an earlier day.
        today = self.local_day(now)
        candidate = self.plan(reminder_id, today, Direction.AFTER)
        if candidate > now:
            return candidate
        return self.plan(reminder_id, today + timedelta(days=1), Direction.AFTER)


def catch_up(
    planned: datetime, now: datetime, latest: time, zone: ZoneInfo
) -> datetime | None:
    """Return ``planned`` if it is ahead, ``now`` if a miss may still be caught up, else None.

    A miss may be caught up only on the same local day as the planned instant
    and before ``latest`` on the client's wall clock.
    """
    planned_utc = planned.astimezone(timezone.utc)
    now_utc = now.astimezone(timezone.utc)
    if now_utc <= planned_utc:
        return planned_utc

    planned_local = planned_utc.astimezone(zone)
    now_local = now_utc.astimezone(zone)
    same_day = planned_local.date() == now_local.date()
    if same_day and now_local.time() < latest:
        return now_utc
    return None


def parse_weekdays(names: list[str]) -> frozenset[int]:
    """Turn names such as ``["Tue", "Wed"]`` into weekday numbers (Monday = 0)."""
    full_names = [name.lower() for name in WEEKDAY_FULL_NAMES]
    numbers = set()
    for name in names:
        key = str(name).strip().lower()
        if key in full_names:
            key = key[:3]
        if key.title() not in WEEKDAY_NAMES:
            raise ValueError(
                f"unknown weekday {name!r}; use {', '.join(WEEKDAY_NAMES)}"
            )
        numbers.add(WEEKDAY_NAMES.index(key.title()))
    return frozenset(numbers)
