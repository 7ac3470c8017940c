"""Pacing Gmail API calls under a budget of quota units per minute.

Each Gmail method costs a fixed number of quota units; ``QuotaPacer`` waits
before a call that would overrun the per-minute budget.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

logger = logging.getLogger(__name__)

# Quota units per call, from Gmail's "Usage limits" page
# (https://developers.google.com/workspace/gmail/api/reference/quota), keyed by
# the method id without its "gmail.users." prefix.
QUOTA_UNITS: Mapping[str, int] = {
    "drafts.create": 10,
    "drafts.delete": 10,
    "drafts.get": 5,
    "drafts.list": 5,
    "drafts.send": 100,
    "drafts.update": 15,
    "getProfile": 1,
    "history.list": 2,
    "labels.create": 5,
    "labels.delete": 5,
    "labels.get": 1,
    "labels.list": 1,
    "labels.update": 5,
    "labels.patch": 5,
    "messages.attachments.get": 5,
    "messages.batchDelete": 50,
    "messages.batchModify": 50,
    "messages.delete": 10,
    "messages.get": 5,
    "messages.import": 25,
    "messages.insert": 25,
    "messages.list": 5,
    "messages.modify": 5,
    "messages.send": 100,
    "messages.trash": 5,
    "messages.untrash": 5,
    "settings.sendAs.create": 100,
    "settings.sendAs.delete": 5,
    "settings.sendAs.get": 1,
    "settings.sendAs.list": 1,
    "settings.sendAs.update": 100,
    "settings.sendAs.verify": 100,
    "stop": 50,
    # NOTE: the threads rows were not in the copy of the page checked; these
    # are the values other Gmail clients quote for them.
    "threads.delete": 20,
    "threads.get": 10,
    "threads.list": 10,
    "threads.modify": 10,
    "threads.trash": 10,
    "threads.untrash": 10,
    "watch": 100,
}
# Charged for a method missing above, on the side of caution.
UNLISTED_METHOD_UNITS = 10

# Gmail allows 15,000 units per user per minute (same page). The default budget
# stays well below that, because other apps the user signed in to draw on the
# same per-user limit.
DEFAULT_UNITS_PER_MINUTE = 6_000
DEFAULT_SAFETY_MARGIN = 0.1
QUOTA_WINDOW_SECONDS = 60.0


def short_method_id(method_id: str) -> str:
    """Turn "gmail.users.messages.get" into "messages.get", the quota page's name."""
    return method_id.removeprefix("gmail.").removeprefix("users.")


class QuotaPacer:
    """Keeps calls under a quota-unit budget per sliding 60-second window.

    ``charge`` waits, through the injected ``sleep``, until the calls fit. A
    batch is charged as one group, because Gmail receives all of its calls at
    once. ``clock`` returns monotonic seconds. Not thread-safe.
    """

    def __init__(
        self,
        units_per_minute: int = DEFAULT_UNITS_PER_MINUTE,
        *,
        safety_margin: float = DEFAULT_SAFETY_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        units: Mapping[str, int] = QUOTA_UNITS,
    ) -> None:
        if units_per_minute < 1:
            raise ValueError(
                f"quota units per minute must be at least 1, got {units_per_minute}"
            )
        if not 0.0 <= safety_margin < 1.0:
            raise ValueError(f"safety margin must be in [0, 1), got {safety_margin}")
        self.budget = max(1, int(units_per_minute * (1.0 - safety_margin)))
        self._clock = clock
        self._sleep = sleep
        self._units = units
        self._spent: deque[tuple[float, int]] = deque()
        self.waited_seconds = 0.0

    def cost(self, method: str) -> int:
        return self._units.get(short_method_id(method), UNLISTED_METHOD_UNITS)

    def charge(self, methods: Sequence[str]) -> None:
        """Wait until the calls fit in the budget, then record them as spent now.

        A group dearer than the whole budget goes out once the window is empty.
        """
        units = sum(self.cost(method) for method in methods)
        while True:
            now = self._clock()
            self._forget_before(now - QUOTA_WINDOW_SECONDS)
            used = sum(amount for _, amount in self._spent)
            if used + units <= self.budget or not self._spent:
                self._spent.append((now, units))
                return
            wait = self._seconds_until_room(used, units, now)
            logger.debug(
                "Pacing Gmail calls: waiting %.1f s to stay under %d quota units a minute",
                wait,
                self.budget,
            )
            self.waited_seconds += wait
            self._sleep(wait)

    def _forget_before(self, moment: float) -> None:
        while self._spent and self._spent[0][0] <= moment:
            self._spent.popleft()

    def _seconds_until_room(self, used: int, units: int, now: float) -> float:
        for moment, amount in self._spent:
            used -= amount
            if used + units <= self.budget:
                # Just past the moment this entry leaves the window.
                return max(moment + QUOTA_WINDOW_SECONDS - now, 0.0) + 0.001
        return QUOTA_WINDOW_SECONDS


class SimulatedQuotaTime:
    """Seconds for pacing that follow a simulated clock, for ``--now`` runs.

    The sandbox counts its quota window in simulated time while its mail clock
    is set, so the client's pacer must count the same way; waiting only moves
    this clock forward, never the simulated one, and never sleeps for real.
    """

    def __init__(self, now: Callable[[], datetime]):
        self._now = now
        self._waited = 0.0

    def __call__(self) -> float:
        return self._now().timestamp() + self._waited

    def sleep(self, seconds: float) -> None:
        self._waited += max(seconds, 0.0)

