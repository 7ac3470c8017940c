"""Quota units, the per-user rate limit and the call statistics of the sandbox.

Unit costs come from Gmail's "Usage limits" page
(https://developers.google.com/workspace/gmail/api/reference/quota), keyed here
by the discovery method id. Gmail's per-user limit is 15,000 units a minute; the
sandbox defaults to a lower 6,000 so that clients meet the limit in tests.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from assistant.quota_pacing import QUOTA_UNITS
from assistant.sandbox.errors import RateLimited

QUOTA_WINDOW_SECONDS = 60.0
DEFAULT_QUOTA_PER_MINUTE = 6_000

_PREFIX = "gmail.users."

# Units per call, from the one table the client's pacer uses too. Methods the
# usage limits page does not list cost 1 unit here.
UNIT_COSTS: dict[str, int] = {_PREFIX + name: units for name, units in QUOTA_UNITS.items()}


def unit_cost(method_id: str) -> int:
    """Return the quota units one call of ``method_id`` costs."""
    return UNIT_COSTS.get(method_id, 1)


def retry_after_text(wait_seconds: float, *, now: datetime | None = None) -> str:
    """Format the wall-clock time after ``wait_seconds`` as Gmail's RFC 3339 text."""
    moment = (now or datetime.now(timezone.utc)) + timedelta(seconds=wait_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class QuotaMeter:
    """Units spent per user in a sliding 60-second window over a monotonic clock.

    ``clock`` returns seconds and only its differences matter, as with
    ``time.monotonic``; it is not the sandbox's simulated mail clock.
    """

    def __init__(
        self,
        units_per_minute: int = DEFAULT_QUOTA_PER_MINUTE,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if units_per_minute < 1:
            raise ValueError(f"quota per minute must be at least 1, got {units_per_minute}")
        self.units_per_minute = units_per_minute
        self._clock = clock
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    def charge(self, user: str, units: int) -> None:
        """Record ``units`` for ``user``, or raise RateLimited and record nothing."""
        with self._lock:
            now = self._clock()
            spent = self._spent.setdefault(user, deque())
            while spent and spent[0][0] <= now - QUOTA_WINDOW_SECONDS:
                spent.popleft()
            used = sum(amount for _, amount in spent)
            if used + units > self.units_per_minute:
                wait = self._seconds_until_room(spent, used, units, now)
                # Gmail's text for this case, two spaces included, as clients
                # have logged it: "User-rate limit exceeded.  Retry after <time>".
                raise RateLimited(
                    f"User-rate limit exceeded.  Retry after {retry_after_text(wait)}"
                )
            spent.append((now, units))

    def used(self, user: str) -> int:
        """Return the units ``user`` spent in the current window."""
        with self._lock:
            now = self._clock()
            spent = self._spent.get(user, deque())
            return sum(a for t, a in spent if t > now - QUOTA_WINDOW_SECONDS)

    def _seconds_until_room(
        self, spent: deque[tuple[float, int]], used: int, units: int, now: float
    ) -> float:
        # Walk the window oldest first until enough units have expired.
        for moment, amount in spent:
            used -= amount
            if used + units <= self.units_per_minute:
                return max(0.0, moment + QUOTA_WINDOW_SECONDS - now)
        return QUOTA_WINDOW_SECONDS


class CallStats:
    """Counts of calls and units per discovery method id, and of rejections by status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._units: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()

    def record_call(self, method_id: str, units: int) -> None:
        with self._lock:
            self._calls[method_id] += 1
            self._units[method_id] += units

    def record_rejection(self, status: str) -> None:
        """Count a call answered with an error status such as "429", or "dropped"."""
        with self._lock:
            self._rejected[status] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self._calls),
                "units": dict(self._units),
                "total_units": sum(self._units.values()),
                "rejected": dict(self._rejected),
            }

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._units.clear()
            self._rejected.clear()
