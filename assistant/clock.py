"""Clocks passed to everything that needs the current time.

Time inside the assistant is always a timezone-aware ``datetime`` in UTC.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The machine's real clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class SimulatedClock:
    """A clock that moves only when told to, for tests, the demo and ``--now``."""

    def __init__(self, start: datetime):
        self._now = as_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = as_utc(moment)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


def as_utc(moment: datetime) -> datetime:
    """Convert an aware datetime to UTC; reject a naive one, whose zone is unknown."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime {moment.isoformat()} has no time zone")
    return moment.astimezone(timezone.utc)


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant that carries an offset or ``Z``, into UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"invalid ISO 8601 time {text!r}; use a form such as 2026-03-02T05:17:00Z"
        ) from exc
    if moment.tzinfo is None:
        raise ValueError(
            f"time {text!r} has no UTC offset; add Z or an offset such as +09:00"
        )
    return moment.astimezone(timezone.utc)


def to_epoch_ms(moment: datetime) -> int:
    return int(as_utc(moment).timestamp() * 1000)


def from_epoch_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
