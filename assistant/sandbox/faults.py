"""Random failures the sandbox injects, so clients can prove they cope with them.

With probability ``fail_rate`` a call meets one of the failures Gmail clients
see in practice: 500 backendError, 503, 429 "Too many concurrent requests for
user." (the text Gmail returns for concurrent calls) or a connection dropped
without a response. Draws come from one seeded ``random.Random``, so a fixed
seed and a fixed order of calls give the same failures every run.
"""

from __future__ import annotations

import enum
import random
import threading

from assistant.sandbox.errors import ApiError, BackendError, RateLimited, Unavailable


class Fault(enum.Enum):
    BACKEND_ERROR = "500"
    UNAVAILABLE = "503"
    TOO_MANY_CONCURRENT = "429"
    DROPPED = "dropped"

    def error(self) -> ApiError:
        """Return the API error this fault answers with; DROPPED has none."""
        if self is Fault.BACKEND_ERROR:
            return BackendError("Backend Error")
        if self is Fault.UNAVAILABLE:
            return Unavailable("The service is currently unavailable.")
        if self is Fault.TOO_MANY_CONCURRENT:
            concurrent = RateLimited("Too many concurrent requests for user.")
            # Clients logged this one with domain "global", unlike the per-minute limit.
            concurrent.domain = "global"
            return concurrent
        raise ValueError("a dropped connection has no error body")


class FaultInjector:
    """Draw a fault, or None, for each call from a seeded random source."""

    def __init__(self, fail_rate: float = 0.0, *, seed: int | None = None) -> None:
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail rate must be between 0 and 1, got {fail_rate}")
        self.fail_rate = fail_rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> Fault | None:
        if self.fail_rate == 0.0:
            return None
        with self._lock:
            if self._random.random() >= self.fail_rate:
                return None
            return self._random.choice(list(Fault))
