"""Identifiers in Gmail's shapes: message, thread and draft ids, page tokens."""

from __future__ import annotations

import base64
import binascii
import hashlib

from assistant.sandbox.errors import InvalidArgument


def next_message_number(previous: int, now_ms: int) -> int:
    """A number above ``previous`` that grows with time, like Gmail's message ids.

    Gmail's ids look like epoch milliseconds shifted left by 20 bits plus a
    counter. Following that keeps ids sortable, and 16 hex digits long until
    about the year 2500.
    """
    return max(previous + 1, now_ms << 20)


def message_id_text(number: int) -> str:
    return format(number, "016x")


def draft_id_text(number: int) -> str:
    return f"r{number}"


def thread_id_for_gmail_key(key: str) -> str:
    """Return the thread id for Takeout's X-GM-THRID, Gmail's thread id as a decimal number."""
    text = key.strip()
    if text.isdigit():
        return format(int(text), "x")
    # NOTE: X-GM-THRID is always decimal in the Takeout files seen; any other
    # value is hashed so that equal keys still share a thread.
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def encode_page_token(*values: int) -> str:
    text = ":".join(str(v) for v in values)
    return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")


def decode_page_token(token: str, count: int) -> list[int]:
    """Decode a token from ``encode_page_token``; raise InvalidArgument when it is not one."""
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        values = [int(part) for part in text.split(":")]
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidArgument(f"Invalid pageToken {token!r}; use a nextPageToken value") from exc
    if len(values) != count:
        raise InvalidArgument(f"Invalid pageToken {token!r}; use a nextPageToken value")
    return values
