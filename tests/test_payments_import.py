"""Importing payments from CSV: checked row by row, written all at once."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from assistant.clock import SimulatedClock
from assistant.errors import InputError
from assistant.ledger import Invoice, Ledger
from assistant.payments_import import import_payments


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    clock = SimulatedClock(datetime(2026, 4, 20, 9, tzinfo=timezone.utc))
    book = Ledger.open(tmp_path / "ledger.db", clock)
    for number, amount, currency in (("INV-1", "1200.00", "EUR"), ("INV-2", "500", "USD"),
                                     ("INV-3", "120000", "JPY")):
        book.add_invoice(Invoice(number, "Acme", Decimal(amount), currency,
                                 date(2026, 3, 2), date(2026, 4, 1)))
    return book


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "payments.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _paid(ledger: Ledger, number: str) -> Decimal:
    invoice = ledger.get_invoice(number)
    assert invoice is not None
    return invoice.amount_paid


def test_rows_recorded(ledger: Ledger, tmp_path: Path) -> None:
    path = _csv(tmp_path, "number,amount,date,currency,reference\n"
                          'INV-1,"1.200,00 €",2026-04-10,EUR,TX-1\n'
                          "INV-2,$200.00,2026-04-11,USD,TX-2\n"
                          "INV-3,\"¥120,000\",2026-04-12,,\n")
    plan = import_payments(ledger, path)

    assert [row.number for row in plan.rows] == ["INV-1", "INV-2", "INV-3"]
    assert ledger.get_invoice("INV-1").status == "paid"
    assert ledger.get_invoice("INV-2").balance == Decimal("300.00")
    assert ledger.get_invoice("INV-3").status == "paid"
    references = [r["reference"] for r in ledger.db.query("SELECT reference FROM payments")]
    assert references == ["TX-1", "TX-2", None]


def test_bad_amount_names_place(ledger: Ledger, tmp_path: Path) -> None:
    path = _csv(tmp_path, "number,amount,date\nINV-1,100,2026-04-10\nINV-2,abc,2026-04-10\n")
    with pytest.raises(InputError) as error:
        import_payments(ledger, path)
    message = str(error.value)
    assert "payments.csv, line 3, column 'amount'" in message
    assert "'abc'" in message
    # All or nothing: the good first row was not recorded either.
    assert _paid(ledger, "INV-1") == 0


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("INV-9,100,2026-04-10", "invoice 'INV-9' not found"),
        ("INV-1,100,10/04/2026", "ambiguous date '10/04/2026'"),
        ("INV-1,100,next week", "invalid date 'next week'"),
        ("INV-1,100,", "missing payment date"),
        ("INV-1,-100,2026-04-10", "must be greater than zero"),
        ("INV-1,$100,2026-04-10", "payment in USD for invoice INV-1 in EUR"),
    ],
)
def test_bad_rows_rejected(ledger: Ledger, tmp_path: Path, row: str, expected: str) -> None:
    path = _csv(tmp_path, f"number,amount,date\n{row}\n")
    with pytest.raises(InputError, match="line 2") as error:
        import_payments(ledger, path)
    assert expected in str(error.value)


def test_currency_column_mismatch(ledger: Ledger, tmp_path: Path) -> None:
    path = _csv(tmp_path, "number,amount,date,currency\nINV-1,100,2026-04-10,GBP\n")
    with pytest.raises(InputError, match="column 'currency'.*payment in GBP"):
        import_payments(ledger, path)


def test_overpayment_rejected_across_rows(ledger: Ledger, tmp_path: Path) -> None:
    path = _csv(tmp_path, "number,amount,date\nINV-2,300,2026-04-10\nINV-2,300,2026-04-11\n")
    with pytest.raises(InputError, match="line 3.*exceeds the balance 200.00 USD"):
        import_payments(ledger, path)
    assert _paid(ledger, "INV-2") == 0


def test_overpayment_allowed(ledger: Ledger, tmp_path: Path) -> None:
    path = _csv(tmp_path, "number,amount,date\nINV-2,550,2026-04-10\n")
    plan = import_payments(ledger, path, allow_overpayment=True)
    invoice = ledger.get_invoice("INV-2")

    assert plan.rows[0].overpaid == Decimal("50.00")
    assert invoice.status == "paid"
    assert invoice.amount_paid == Decimal("550.00")


def test_dry_run_writes_nothing(ledger: Ledger, tmp_path: Path) -> None:
    path = _csv(tmp_path, "number,amount,date\nINV-1,100,2026-04-10\n")
    plan = import_payments(ledger, path, dry_run=True)
    assert len(plan.rows) == 1
    assert _paid(ledger, "INV-1") == 0


def test_second_import_skips_rows(ledger: Ledger, tmp_path: Path) -> None:
    path = _csv(tmp_path, "number,amount,date,reference\nINV-1,100,2026-04-10,TX-1\n"
                          "INV-2,50,2026-04-10,\n")
    import_payments(ledger, path)
    again = import_payments(ledger, path)

    assert again.rows == []
    assert [reason for _, reason in again.skipped] == [
        "reference TX-1 is already recorded",
        "the same amount on the same day is already recorded",
    ]
    assert _paid(ledger, "INV-1") == Decimal("100.00")


def test_date_format_settles_dates(ledger: Ledger, tmp_path: Path) -> None:
    path = _csv(tmp_path, "number,amount,date\nINV-1,100,10/04/2026\n")
    plan = import_payments(ledger, path, date_format="%d/%m/%Y")
    assert plan.rows[0].paid_on == date(2026, 4, 10)


def test_missing_header_explained(ledger: Ledger, tmp_path: Path) -> None:
    path = _csv(tmp_path, "invoice,total\nINV-1,100\n")
    with pytest.raises(InputError, match="number, amount and date"):
        import_payments(ledger, path)
