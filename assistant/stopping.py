"""When chasing an invoice stops: payments, pauses and holds.

An invoice is not chased when it is paid or void or has no balance left, while
it or its client is paused (``paused_until``, inclusive), and while a hold is
active. Holds come from the inbox. A client's reply or a bounced reminder
stops chasing until the user runs ``assistant resume``. An automatic reply
that states a return date stops it through that date, so the next reminder
goes out after the client is back. Holds are kept apart from the user's own
pause, so an out-of-office notice never shortens a pause the user set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from assistant.attention import BOUNCE, PAYMENT, REPLY
from assistant.clock import parse_instant
from assistant.errors import InputError
from assistant.ledger import Invoice, Ledger
from assistant.money import to_currency_precision

logger = logging.getLogger(__name__)

HOLD_REPLY = "reply"
HOLD_BOUNCE = "bounce"
HOLD_AUTO_REPLY = "auto_reply"
HOLD_REASONS = (HOLD_REPLY, HOLD_BOUNCE, HOLD_AUTO_REPLY)

# The zone whose calendar date is the latest on Earth (POSIX sign: UTC+14).
_LATEST_ZONE = ZoneInfo("Etc/GMT-14")


@dataclass(frozen=True)
class Hold:
    """One reason from the inbox not to chase an invoice, with the message behind it."""

    invoice_number: str
    reason: str
    message_id: str
    detail: str
    created_at: datetime
    until: date | None = None  # None: until the user resumes
    cleared_at: datetime | None = None

    def active_on(self, today: date) -> bool:
        if self.cleared_at is not None:
            return False
        return self.until is None or today <= self.until


@dataclass(frozen=True)
class Resumed:
    """The outcome of ``resume_invoice``: what it cleared and what still stops chasing."""

    invoice: Invoice
    cleared_holds: tuple[Hold, ...]
    was_paused_until: date | None
    resolved_items: int
    still_blocked: str | None


def _hold_from_row(row: dict[str, Any]) -> Hold:
    return Hold(
        invoice_number=row["invoice_number"],
        reason=row["reason"],
        message_id=row["message_id"],
        detail=row["detail"],
        created_at=parse_instant(row["created_at"]),
        until=date.fromisoformat(row["until"]) if row["until"] else None,
        cleared_at=parse_instant(row["cleared_at"]) if row["cleared_at"] else None,
    )


def _log(ledger: Ledger, key: str, changes: dict[str, tuple[str | None, str | None]],
         source: str) -> None:
    # The ledger's event writer, shared with ReminderBook and AttentionList, so
    # holds land in the same audit log and transaction as other changes.
    ledger._log("invoice", key, changes, source)


def add_hold(
    ledger: Ledger,
    invoice_number: str,
    reason: str,
    message_id: str,
    detail: str,
    *,
    until: date | None = None,
    source: str = "inbox",
) -> bool:
    """Hold chasing of an invoice because of a message; return False if already held by it."""
    if reason not in HOLD_REASONS:
        raise ValueError(f"unknown hold reason {reason!r}; use one of {HOLD_REASONS}")
    with ledger.transaction():
        existing = ledger.db.execute(
            "SELECT 1 FROM chase_holds WHERE invoice_number = ? AND reason = ?"
            " AND message_id = ?",
            [invoice_number, reason, message_id],
        ).fetchone()
        if existing:
            return False
        ledger.db.table("chase_holds").insert(
            {
                "invoice_number": invoice_number,
                "reason": reason,
                "message_id": message_id,
                "detail": detail,
                "until": until.isoformat() if until else None,
                "created_at": ledger.clock.now().isoformat(),
                "cleared_at": None,
            }
        )
        label = f"{reason} {message_id}" + (f" until {until}" if until else "")
        _log(ledger, invoice_number, {"hold": (None, label)}, source)
    logger.info("holding invoice %s: %s (message %s)", invoice_number, reason, message_id)
    return True


def holds(ledger: Ledger, invoice_number: str, *, include_cleared: bool = False) -> list[Hold]:
    """Return the holds on an invoice, oldest first."""
    sql = "SELECT * FROM chase_holds WHERE invoice_number = ?"
    if not include_cleared:
        sql += " AND cleared_at IS NULL"
    rows = ledger.db.query(sql + " ORDER BY created_at, message_id", [invoice_number])
    return [_hold_from_row(dict(row)) for row in rows]


def clear_holds(ledger: Ledger, invoice_number: str, *, source: str = "cli") -> list[Hold]:
    """Clear every active hold on an invoice; return those cleared."""
    with ledger.transaction():
        active = holds(ledger, invoice_number)
        if not active:
            return []
        now = ledger.clock.now().isoformat()
        ledger.db.execute(
            "UPDATE chase_holds SET cleared_at = ? WHERE invoice_number = ?"
            " AND cleared_at IS NULL",
            [now, invoice_number],
        )
        _log(ledger, invoice_number, {"hold": (str(len(active)), "cleared")}, source)
    return active


def blocking_reason(ledger: Ledger, invoice_number: str, today: date) -> str | None:
    """Return why the invoice must not be chased on ``today``, or None when it may be.

    ``today`` is compared with pause and hold dates inclusively: an invoice
    paused until 12 March is not chased on 12 March.
    """
    invoice = ledger.get_invoice(invoice_number)
    if invoice is None:
        return f"invoice {invoice_number} is not in the ledger"
    reason = _status_reason(invoice) or _pause_reason(ledger, invoice, today)
    if reason:
        return reason
    for hold in holds(ledger, invoice.number):
        if hold.active_on(today):
            return _hold_text(hold)
    return None


def _status_reason(invoice: Invoice) -> str | None:
    if invoice.status == "void":
        return f"invoice {invoice.number} is void"
    if invoice.status == "paid":
        return f"invoice {invoice.number} is paid"
    if invoice.balance <= 0:
        return f"invoice {invoice.number} has no balance left"
    return None


def _pause_reason(ledger: Ledger, invoice: Invoice, today: date) -> str | None:
    if invoice.paused_until is not None and today <= invoice.paused_until:
        return f"invoice {invoice.number} is paused until {invoice.paused_until}"
    client = ledger.get_client(invoice.client)
    if client and client.paused_until is not None and today <= client.paused_until:
        return f"client {client.name} is paused until {client.paused_until}"
    return None


def _hold_text(hold: Hold) -> str:
    if hold.reason == HOLD_REPLY:
        return (
            f"the client replied (message {hold.message_id}); read it, then run "
            f"'assistant resume {hold.invoice_number}'"
        )
    if hold.reason == HOLD_BOUNCE:
        return (
            f"a message about invoice {hold.invoice_number} bounced (message "
            f"{hold.message_id}); fix the address, then run "
            f"'assistant resume {hold.invoice_number}'"
        )
    return (
        f"the client is away until {hold.until} (automatic reply, message "
        f"{hold.message_id})"
    )


# --- the user's commands ----------------------------------------------------


def record_paid(
    ledger: Ledger,
    invoice_number: str,
    paid_on: date,
    amount: Decimal | None = None,
    *,
    reference: str | None = None,
    source: str = "cli",
    today: date | None = None,
) -> Invoice:
    """Record a payment; without ``amount`` the whole balance is paid.

    ``paid_on`` must not be after ``today``. Without ``today`` the check uses
    the latest date anywhere on Earth (UTC+14), so a payment made today in the
    user's zone is never rejected. Open ``payment`` attention items of the
    invoice are resolved, because the user has acted on them.
    """
    latest = ledger.clock.now().astimezone(_LATEST_ZONE).date()
    check_payment_date(paid_on, today or latest)
    with ledger.transaction():
        invoice = _existing(ledger, invoice_number)
        if amount is None:
            if invoice.balance <= 0:
                raise InputError(
                    f"invoice {invoice.number} has no balance left to pay; give "
                    "--amount to record a further payment"
                )
            amount = invoice.balance
        amount = to_currency_precision(amount, invoice.currency)
        updated = ledger.record_payment(invoice.number, amount, paid_on, source=source)
        store_payment(ledger, updated, amount, paid_on, reference, source)
        _resolve_items(ledger, invoice.number, (PAYMENT,), source)
    logger.info("recorded payment on invoice %s", invoice.number)
    return updated


def check_payment_date(paid_on: date, today: date) -> None:
    """Reject a payment date after ``today``: money cannot have arrived yet."""
    if paid_on > today:
        raise InputError(
            f"payment date {paid_on} is in the future (today is {today}); give the "
            "day the payment arrived"
        )


def store_payment(
    ledger: Ledger,
    invoice: Invoice,
    amount: Decimal,
    paid_on: date,
    reference: str | None,
    source: str,
) -> None:
    """Keep one payment row next to the invoice totals, for references and history."""
    ledger.db.table("payments").insert(
        {
            "invoice_number": invoice.number,
            "amount": str(amount),
            "currency": invoice.currency,
            "paid_on": paid_on.isoformat(),
            "reference": reference,
            "source": source,
            "recorded_at": ledger.clock.now().isoformat(),
        }
    )


def pause_invoice(
    ledger: Ledger, invoice_number: str, until: date, today: date, *, source: str = "cli"
) -> Invoice:
    """Stop chasing an invoice through ``until`` (inclusive)."""
    if until < today:
        raise InputError(
            f"pause date {until} is in the past (today is {today}); give a date from "
            "today on"
        )
    with ledger.transaction():
        invoice = _existing(ledger, invoice_number)
        ledger.set_invoice(invoice.number, source=source, paused_until=until)
    return _existing(ledger, invoice_number)


def resume_invoice(
    ledger: Ledger, invoice_number: str, today: date, *, source: str = "cli"
) -> Resumed:
    """Clear the invoice's pause and its holds, and resolve its reply and bounce items."""
    with ledger.transaction():
        invoice = _existing(ledger, invoice_number)
        if invoice.paused_until is not None:
            ledger.set_invoice(invoice.number, source=source, paused_until=None)
        cleared = clear_holds(ledger, invoice.number, source=source)
        resolved = _resolve_items(ledger, invoice.number, (REPLY, BOUNCE), source)
    return Resumed(
        invoice=_existing(ledger, invoice_number),
        cleared_holds=tuple(cleared),
        was_paused_until=invoice.paused_until,
        resolved_items=resolved,
        still_blocked=blocking_reason(ledger, invoice.number, today),
    )


def _resolve_items(
    ledger: Ledger, invoice_number: str, kinds: tuple[str, ...], source: str
) -> int:
    resolved = 0
    for item in ledger.attention.open_items(invoice_number):
        if item.kind in kinds and ledger.attention.resolve(item.kind, item.key, source=source):
            resolved += 1
    return resolved


def _existing(ledger: Ledger, invoice_number: str) -> Invoice:
    invoice = ledger.get_invoice(invoice_number)
    if invoice is None:
        raise InputError(
            f"invoice {invoice_number} not found; list invoices with "
            "'assistant invoice list'"
        )
    return invoice
