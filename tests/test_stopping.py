"""Why an invoice is not chased: payments, pauses and holds, in a real ledger file."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from assistant.attention import BOUNCE, PAYMENT, REPLY
from assistant.clock import SimulatedClock
from assistant.errors import InputError
from assistant.ledger import Invoice, Ledger
from assistant.stopping import (
    HOLD_AUTO_REPLY,
    HOLD_BOUNCE,
    HOLD_REPLY,
    add_hold,
    blocking_reason,
    holds,
    pause_invoice,
    record_paid,
    resume_invoice,
)

TODAY = date(2026, 4, 20)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    clock = SimulatedClock(datetime(2026, 4, 20, 9, tzinfo=timezone.utc))
    book = Ledger.open(tmp_path / "ledger.db", clock)
    book.add_invoice(
        Invoice("INV-1", "Acme", Decimal("1200.00"), "EUR", date(2026, 3, 2), date(2026, 4, 1))
    )
    return book


def test_open_invoice_may_be_chased(ledger: Ledger) -> None:
    assert blocking_reason(ledger, "INV-1", TODAY) is None


def test_unknown_invoice_is_blocked(ledger: Ledger) -> None:
    assert blocking_reason(ledger, "INV-404", TODAY) == "invoice INV-404 is not in the ledger"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"status": "void"}, "invoice INV-1 is void"),
        ({"status": "paid"}, "invoice INV-1 is paid"),
        ({"amount_paid": Decimal("1200.00")}, "invoice INV-1 has no balance left"),
        ({"paused_until": date(2026, 4, 20)}, "invoice INV-1 is paused until 2026-04-20"),
    ],
)
def test_status_and_pause_block(ledger: Ledger, change: dict, expected: str) -> None:
    ledger.set_invoice("INV-1", **change)
    assert blocking_reason(ledger, "INV-1", TODAY) == expected


def test_pause_ends_after_its_day(ledger: Ledger) -> None:
    pause_invoice(ledger, "INV-1", date(2026, 4, 22), TODAY)
    assert blocking_reason(ledger, "INV-1", date(2026, 4, 22)) is not None
    assert blocking_reason(ledger, "INV-1", date(2026, 4, 23)) is None


def test_client_pause_blocks(ledger: Ledger) -> None:
    ledger.set_client("Acme", paused_until=date(2026, 5, 1))
    assert blocking_reason(ledger, "INV-1", TODAY) == "client Acme is paused until 2026-05-01"
    assert blocking_reason(ledger, "INV-1", date(2026, 5, 2)) is None


def test_pause_in_past_rejected(ledger: Ledger) -> None:
    with pytest.raises(InputError, match="2026-04-19 is in the past"):
        pause_invoice(ledger, "INV-1", date(2026, 4, 19), TODAY)


@pytest.mark.parametrize(
    ("reason", "until", "expected"),
    [
        (HOLD_REPLY, None, "the client replied (message m1)"),
        (HOLD_BOUNCE, None, "bounced (message m1)"),
        (HOLD_AUTO_REPLY, date(2026, 4, 24), "the client is away until 2026-04-24"),
    ],
)
def test_holds_block(ledger: Ledger, reason: str, until: date | None, expected: str) -> None:
    add_hold(ledger, "INV-1", reason, "m1", "detail", until=until)
    assert expected in (blocking_reason(ledger, "INV-1", TODAY) or "")


def test_return_date_hold_expires(ledger: Ledger) -> None:
    add_hold(ledger, "INV-1", HOLD_AUTO_REPLY, "m1", "away", until=date(2026, 4, 24))
    assert blocking_reason(ledger, "INV-1", date(2026, 4, 24)) is not None
    assert blocking_reason(ledger, "INV-1", date(2026, 4, 25)) is None


def test_same_hold_added_once(ledger: Ledger) -> None:
    assert add_hold(ledger, "INV-1", HOLD_REPLY, "m1", "first") is True
    assert add_hold(ledger, "INV-1", HOLD_REPLY, "m1", "again") is False
    assert len(holds(ledger, "INV-1")) == 1


def test_resume_clears_everything(ledger: Ledger) -> None:
    pause_invoice(ledger, "INV-1", date(2026, 5, 1), TODAY)
    add_hold(ledger, "INV-1", HOLD_REPLY, "m1", "reply")
    add_hold(ledger, "INV-1", HOLD_BOUNCE, "m2", "bounce")
    ledger.attention.add(REPLY, "INV-1/m1", "reply", invoice_number="INV-1")
    ledger.attention.add(BOUNCE, "INV-1/m2", "bounce", invoice_number="INV-1")
    ledger.attention.add(PAYMENT, "INV-1/m3", "payment", invoice_number="INV-1")

    resumed = resume_invoice(ledger, "INV-1", TODAY)

    assert resumed.was_paused_until == date(2026, 5, 1)
    assert len(resumed.cleared_holds) == 2
    assert resumed.resolved_items == 2
    assert resumed.still_blocked is None
    assert [item.kind for item in ledger.attention.open_items("INV-1")] == [PAYMENT]
    assert holds(ledger, "INV-1") == []
    assert len(holds(ledger, "INV-1", include_cleared=True)) == 2


def test_resume_reports_client_pause(ledger: Ledger) -> None:
    ledger.set_client("Acme", paused_until=date(2026, 5, 1))
    resumed = resume_invoice(ledger, "INV-1", TODAY)
    assert resumed.still_blocked == "client Acme is paused until 2026-05-01"


def test_paid_without_amount_pays_balance(ledger: Ledger) -> None:
    ledger.attention.add(PAYMENT, "INV-1/m3", "Stripe says paid", invoice_number="INV-1")
    invoice = record_paid(ledger, "INV-1", TODAY)
    assert invoice.status == "paid"
    assert invoice.balance == 0
    assert blocking_reason(ledger, "INV-1", TODAY) == "invoice INV-1 is paid"
    assert ledger.attention.open_items("INV-1") == []


def test_partial_payment_leaves_balance(ledger: Ledger) -> None:
    invoice = record_paid(ledger, "INV-1", TODAY, Decimal("400"))
    assert invoice.status == "open"
    assert invoice.balance == Decimal("800.00")
    assert blocking_reason(ledger, "INV-1", TODAY) is None
    rows = list(ledger.db.query("SELECT amount, currency, paid_on FROM payments"))
    assert rows == [{"amount": "400.00", "currency": "EUR", "paid_on": "2026-04-20"}]


def test_paid_twice_without_balance_rejected(ledger: Ledger) -> None:
    record_paid(ledger, "INV-1", TODAY)
    with pytest.raises(InputError, match="no balance left"):
        record_paid(ledger, "INV-1", TODAY)


def test_hold_logged_in_audit(ledger: Ledger) -> None:
    add_hold(ledger, "INV-1", HOLD_REPLY, "m1", "reply")
    events = [e for e in ledger.events("invoice", "INV-1") if e.field == "hold"]
    assert [e.new_value for e in events] == ["reply m1"]


def test_future_payment_date_rejected(ledger: Ledger) -> None:
    with pytest.raises(InputError, match="payment date 2027-01-01 is in the future"):
        record_paid(ledger, "INV-1", date(2027, 1, 1), today=TODAY)
    assert ledger.get_invoice("INV-1").status == "open"


def test_payment_today_in_zone_ahead_of_utc(ledger: Ledger) -> None:
    # At 20 Apr 12:00 UTC it is already 21 Apr in Kiritimati (UTC+14), so
    # without a given today a payment dated 21 Apr is accepted and 22 Apr is not.
    ledger.clock.set(datetime(2026, 4, 20, 12, tzinfo=timezone.utc))
    with pytest.raises(InputError, match="2026-04-22 is in the future"):
        record_paid(ledger, "INV-1", date(2026, 4, 22), Decimal("1.00"))
    paid = record_paid(ledger, "INV-1", date(2026, 4, 21), Decimal("1.00"))
    assert paid.amount_paid == Decimal("1.00")
