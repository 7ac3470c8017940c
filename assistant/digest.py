"""A short daily email to the user listing what needs them.

The digest goes out on the first pass after ``digest.send_after`` (07:00 by
default) in the user's time zone on which some attention item is open, and at
most once per day. The day is recorded before the send: a send whose outcome
is unknown (the response was lost) is not repeated that day, because the
digest may already be in the user's inbox. A send Gmail rejected outright is
forgotten, so a later pass the same day tries again.
"""

from __future__ import annotations

import base64
import logging
from collections import Counter
from datetime import date, datetime, time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from assistant.attention import AttentionItem
from assistant.clock import Clock
from assistant.config import Config
from assistant.errors import GmailError
from assistant.gmail import GmailClient, OutcomeUnknown
from assistant.ledger import Ledger

logger = logging.getLogger(__name__)

DEFAULT_SEND_AFTER = time(7, 0)
SEND_AFTER_KEY = "digest.send_after"
# Longer details are cut in the digest; the full text is in 'assistant status'.
MAX_DETAIL = 300

KIND_TITLES = {
    "reply": "Client replies to read",
    "bounce": "Bounced messages",
    "payment": "Payments to confirm",
    "approval": "Reminders waiting for approval",
    "not_sent": "Invoices the Sent check cannot find",
    "call": "Clients to call",
    "missed_windows": "Missed send windows",
}


def send_after(config: Config) -> time:
    """Return the local time after which the digest may go out (``digest.send_after``)."""
    value = config.values.get(SEND_AFTER_KEY)
    if value is None:
        return DEFAULT_SEND_AFTER
    if isinstance(value, time):
        return value
    return time.fromisoformat(str(value))


def maybe_send_digest(ledger: Ledger, gmail: GmailClient, config: Config, clock: Clock) -> bool:
    """Send today's digest if it is due and something needs the user; return True if sent."""
    if not config.digest_enabled:
        return False
    zone = ZoneInfo(config.user.timezone)
    local = clock.now().astimezone(zone)
    if local.time() < send_after(config) or _recorded(ledger, local.date()):
        return False
    items = ledger.attention.open_items()
    if not items:
        return False

    _record(ledger, local.date(), "sending", None, len(items))
    address = config.user.email or str(gmail.profile()["emailAddress"])
    raw = build_digest(items, address, local)
    request = gmail.service.users().messages().send(
        userId="me", body={"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
    )
    try:
        sent: dict[str, Any] = gmail.execute(request, idempotent=False, target="digest")
    except OutcomeUnknown:
        _record(ledger, local.date(), "unknown", None, len(items))
        logger.warning("digest for %s may not have been sent; not retried today", local.date())
        return False
    except GmailError:
        ledger.db.execute("DELETE FROM digests WHERE day = ?", [local.date().isoformat()])
        raise
    _record(ledger, local.date(), "sent", sent.get("id"), len(items))
    logger.info("digest sent for %s with %d item(s), message %s",
                local.date(), len(items), sent.get("id"))
    return True


def build_digest(items: list[AttentionItem], address: str, local_now: datetime) -> bytes:
    """Build the plain-text digest message to the user's own address."""
    message = EmailMessage()
    message["From"] = address
    message["To"] = address
    message["Subject"] = digest_subject(items, local_now.date())
    message["Date"] = format_datetime(local_now)
    message["Message-ID"] = make_msgid(domain=address.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: not a person's mail
    message.set_content(digest_text(items))
    return message.as_bytes()


def digest_subject(items: list[AttentionItem], day: date) -> str:
    count = len(items)
    noun = "item needs" if count == 1 else "items need"
    return f"Invoice reminders: {count} {noun} you ({day.isoformat()})"


def digest_text(items: list[AttentionItem]) -> str:
    """Group open items by kind, one line each, most urgent kinds first."""
    counts = Counter(item.kind for item in items)
    lines = ["Good morning,", "", "these need you today:", ""]
    for kind, title in KIND_TITLES.items():
        if not counts[kind]:
            continue
        lines.append(f"{title} ({counts[kind]}):")
        for item in items:
            if item.kind == kind:
                lines.append(f"- {_short(item.detail)}")
        lines.append("")
    lines.append("Run 'assistant status' for details.")
    return "\n".join(lines) + "\n"


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_DETAIL else flat[: MAX_DETAIL - 1] + "…"


def _recorded(ledger: Ledger, day: date) -> bool:
    row = ledger.db.execute(
        "SELECT status FROM digests WHERE day = ?", [day.isoformat()]
    ).fetchone()
    # 'sending' left by a crash counts like 'unknown': the digest may be out.
    return row is not None


def _record(ledger: Ledger, day: date, status: str, message_id: str | None,
            count: int) -> None:
    ledger.db.table("digests").upsert(
        {
            "day": day.isoformat(),
            "status": status,
            "message_id": message_id,
            "item_count": count,
            "updated_at": ledger.clock.now().isoformat(),
        },
        pk="day",
    )
