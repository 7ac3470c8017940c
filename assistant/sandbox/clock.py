"""The sandbox's clock: the real time until a client sets it."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from assistant.clock import as_utc


class SandboxClock:
    """Real time by default; after ``set`` it stays at the time it was given.

    New messages take their internalDate from this clock, so a client playing a
    simulated calendar (the assistant's ``--now``) keeps the mailbox in step.
    """

    def __init__(self) -> None:
        self._fixed: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            if self._fixed is not None:
                return self._fixed
        return datetime.now(timezone.utc)

    def set(self, moment: datetime | None) -> None:
        """Fix the clock at ``moment``, or return to real time with ``None``."""
        with self._lock:
            self._fixed = None if moment is None else as_utc(moment)

    @property
    def simulated(self) -> bool:
        return self._fixed is not None
