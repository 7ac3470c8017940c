"""The retry decision for failed Gmail calls, and the backoff between attempts.

``describe_failure`` reduces an ``HttpError`` or a connection error to a
``Failure``; ``RetryPolicy`` gives the backoff delay before the next attempt.
"""

from __future__ import annotations

import http.client
import random
from collections.abc import Mapping
from dataclasses import dataclass

import httplib2
from google.auth.exceptions import TransportError
from googleapiclient.errors import HttpError

# A send whose response is lost may have been delivered, so these are never
# retried; the caller checks the Sent folder instead.
NON_IDEMPOTENT_METHODS = frozenset({"messages.send", "drafts.send"})

# Gmail's "Resolve errors" guide
# (https://developers.google.com/workspace/gmail/api/guides/handle-errors)
# tells clients to retry 429 and 5xx with exponential backoff, and also 403
# with reason rateLimitExceeded or userRateLimitExceeded.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})

# A connection dropped, reset or timed out, or a name lookup failed.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    http.client.HTTPException,
    httplib2.ServerNotFoundError,
    TransportError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, for a bounded number of attempts."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 32.0

    def delay(self, retry_number: int, rng: random.Random) -> float:
        """Return a random wait in [0, min(max_delay, base_delay * 2**(n-1))]."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        return rng.uniform(0.0, ceiling)


@dataclass(frozen=True)
class Failure:
    """The failure of one call, reduced to what the retry decision needs."""

    status: int | None
    reason: str | None
    message: str
    retryable: bool
    retry_after: float | None = None

    @property
    def label(self) -> str:
        if self.status is None:
            return self.message
        return f"HTTP {self.status}" + (f" {self.reason}" if self.reason else "")


def describe_failure(exc: BaseException) -> Failure:
    """Classify an HttpError or connection error for retrying and reporting."""
    if isinstance(exc, HttpError):
        status = getattr(exc.resp, "status", None)
        reason = _error_reason(exc)
        retryable = status in RETRYABLE_STATUSES or (
            status == 403 and reason in RATE_LIMIT_REASONS
        )
        return Failure(
            status=int(status) if status is not None else None,
            reason=reason,
            message=str(getattr(exc, "reason", "") or exc),
            retryable=retryable or status is None,
            retry_after=_retry_after(exc),
        )
    return Failure(
        status=None,
        reason="connectionLost",
        message=f"connection lost ({exc.__class__.__name__}: {exc})",
        retryable=True,
    )


def _error_reason(exc: HttpError) -> str | None:
    details = getattr(exc, "error_details", None)
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, Mapping) and detail.get("reason"):
                return str(detail["reason"])
    return None


def _retry_after(exc: HttpError) -> float | None:
    value = (getattr(exc, "resp", None) or {}).get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # An HTTP date; the backoff delay applies instead.
