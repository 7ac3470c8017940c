"""The paid, pause, resume and import payments commands through click's CliRunner."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import assistant.cli
from assistant.clock import SystemClock
from assistant.errors import InputError, UsageError
from assistant.ledger import Ledger
from assistant.stopping import HOLD_REPLY, add_hold, blocking_reason

assistant.cli._register_commands()

INVOICES = (
    "number,client,email,amount,currency,issue_date,due_date\n"
    "INV-1,Acme GmbH,ap@acme.example,1200.00,EUR,2026-03-01,2026-03-31\n"
    "INV-2,Beta Ltd,ap@beta.example,500.00,USD,2026-03-05,2026-04-04\n"
)
FAR = "2099-01-31"


def run(tmp_path: Path, *args: str) -> Result:
    base = ["--db", str(tmp_path / "ledger.db"), "--config", str(tmp_path / "config.toml")]
    return CliRunner().invoke(assistant.cli.cli, [*base, *args], catch_exceptions=True)


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    csv_path = tmp_path / "invoices.csv"
    csv_path.write_text(INVOICES)
    result = run(tmp_path, "import", "invoices", str(csv_path))
    assert result.exit_code == 0, result.output
    return tmp_path


def _ledger(tmp_path: Path) -> Ledger:
    return Ledger.open(tmp_path / "ledger.db", SystemClock())


def test_paid_partial_then_rest(imported: Path) -> None:
    partial = run(imported, "paid", "INV-1", "--amount", "400", "--date", "2026-04-02")
    rest = run(imported, "paid", "INV-1", "--date", "2026-04-09")
    ledger = _ledger(imported)
    invoice = ledger.get_invoice("INV-1")

    assert partial.exit_code == 0, partial.output
    assert "€800.00 remains" in partial.stderr
    assert rest.exit_code == 0, rest.output
    assert "INV-1 is paid" in rest.stderr
    assert invoice.status == "paid"
    assert invoice.paid_on == date(2026, 4, 9)


def test_paid_other_currency_rejected(imported: Path) -> None:
    result = run(imported, "paid", "INV-1", "--amount", "100 USD")
    assert isinstance(result.exception, InputError)
    assert "in USD but invoice INV-1 is in EUR" in str(result.exception)


def test_paid_bad_date_rejected(imported: Path) -> None:
    result = run(imported, "paid", "INV-1", "--date", "tomorrow")
    assert isinstance(result.exception, UsageError)
    assert "invalid --date 'tomorrow'" in str(result.exception)


def test_paid_unknown_invoice(imported: Path) -> None:
    result = run(imported, "paid", "INV-9")
    assert isinstance(result.exception, InputError)
    assert "invoice INV-9 not found" in str(result.exception)


def test_pause_then_resume(imported: Path) -> None:
    paused = run(imported, "pause", "INV-2", "--until", FAR)
    ledger = _ledger(imported)
    add_hold(ledger, "INV-2", HOLD_REPLY, "m1", "we pay next week")
    ledger.attention.add("reply", "INV-2/m1", "we pay next week", invoice_number="INV-2")
    ledger.close()
    resumed = run(imported, "resume", "INV-2")
    ledger = _ledger(imported)

    assert paused.exit_code == 0, paused.output
    assert f"paused through {FAR}" in paused.stderr
    assert resumed.exit_code == 0, resumed.output
    assert "pause until 2099-01-31 lifted; 1 hold(s) cleared; 1 item(s) resolved" in (
        resumed.stderr
    )
    assert blocking_reason(ledger, "INV-2", date(2098, 1, 1)) is None
    assert ledger.attention.open_items() == []


def test_pause_needs_until(imported: Path) -> None:
    result = run(imported, "pause", "INV-1")
    assert result.exit_code == 2
    assert "--until" in result.output


def test_pause_past_date_rejected(imported: Path) -> None:
    result = run(imported, "pause", "INV-1", "--until", "2001-01-01")
    assert isinstance(result.exception, InputError)
    assert "is in the past" in str(result.exception)


def test_import_payments_and_dry_run(imported: Path) -> None:
    payments = imported / "payments.csv"
    payments.write_text("number,amount,date,reference\nINV-1,1200.00,2026-04-02,TX-9\n"
                        "INV-2,100,2026-04-03,TX-10\n")
    dry = run(imported, "import", "payments", str(payments), "--dry-run")
    assert _ledger(imported).get_invoice("INV-1").status == "open"
    real = run(imported, "import", "payments", str(payments))
    again = run(imported, "import", "payments", str(payments))

    assert dry.exit_code == 0, dry.output
    assert "Would record 2 payment(s)" in dry.stderr
    assert "Dry run: nothing was written." in dry.stderr
    assert real.exit_code == 0, real.output
    assert "Recorded 2 payment(s)" in real.stderr
    assert "skipped line 2 (INV-1): reference TX-9 is already recorded" in again.stderr
    assert _ledger(imported).get_invoice("INV-2").balance == 400


def test_import_payments_overpayment_flag(imported: Path) -> None:
    payments = imported / "payments.csv"
    payments.write_text("number,amount,date\nINV-2,600,2026-04-02\n")
    rejected = run(imported, "import", "payments", str(payments))
    allowed = run(imported, "import", "payments", str(payments), "--allow-overpayment")

    assert isinstance(rejected.exception, InputError)
    assert "--allow-overpayment" in str(rejected.exception)
    assert allowed.exit_code == 0, allowed.output
    assert "(100.00 above the balance)" in allowed.stderr


def test_commands_have_help(tmp_path: Path) -> None:
    for command in (["paid"], ["pause"], ["resume"], ["import", "payments"]):
        result = run(tmp_path, *command, "--help")
        assert result.exit_code == 0, result.output
        assert "NUMBER" in result.output or "FILE" in result.output


def test_paid_future_date_rejected(imported: Path) -> None:
    result = run(imported, "paid", "INV-1", "--date", "2099-01-01")
    assert isinstance(result.exception, InputError)
    assert "payment date 2099-01-01 is in the future" in str(result.exception)
    assert _ledger(imported).get_invoice("INV-1").status == "open"


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_import_payments_future_date_rejected(imported: Path, dry_run: list[str]) -> None:
    payments = imported / "payments.csv"
    payments.write_text("number,amount,date,reference\nINV-2,100,2026-03-02,TX-1\n"
                        "INV-1,1200.00,2099-01-01,TX-2\n")
    result = run(imported, "import", "payments", str(payments), *dry_run)
    assert isinstance(result.exception, InputError)
    assert "payments.csv, line 3: payment date 2099-01-01 is in the future" in str(
        result.exception
    )
    assert _ledger(imported).get_invoice("INV-2").amount_paid == 0
