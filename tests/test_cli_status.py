"""``assistant status`` through CliRunner, on a real ledger file and with no Gmail at all."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

import assistant.cli
from assistant import attention
from assistant.clock import SimulatedClock
from assistant.ledger import Invoice, Ledger, SentEvidence

assistant.cli._register_commands()

NOW = datetime(2026, 5, 14, 9, 0, tzinfo=timezone.utc)
# Nothing listens on the discard port, so any Gmail call would fail the test.
UNREACHABLE_GMAIL = "http://127.0.0.1:9/"

STATUS_SCHEMA = {
    "type": "object",
    "required": ["invoices", "aging"],
    "properties": {
        "invoices": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "number", "client", "currency", "amount_due", "due_date",
                    "days_overdue", "check_status", "stage", "next_action",
                    "next_action_at", "paused_until", "needs_user",
                ],
                "properties": {
                    "number": {"type": "string"},
                    "client": {"type": "string"},
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                    "amount_due": {"type": "string", "pattern": r"^\d+(\.\d+)?$"},
                    "due_date": {"type": "string", "format": "date"},
                    "days_overdue": {"type": "integer", "minimum": 0},
                    "check_status": {"type": "string"},
                    "stage": {"type": ["string", "null"]},
                    "next_action": {"type": "string"},
                    "next_action_at": {
                        "type": ["string", "null"],
                        "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
                    },
                    "paused_until": {"type": ["string", "null"]},
                    "needs_user": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "aging": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["current", "1-30", "31-60", "61-90", "over_90"],
                "properties": {
                    name: {"type": "string"}
                    for name in ("current", "1-30", "31-60", "61-90", "over_90")
                },
            },
        },
    },
}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    ledger = Ledger.open(path, SimulatedClock(NOW))
    rows = [
        ("E-1", "Azure Interior", "1200.00", "EUR", 45),
        ("E-2", "Azure Interior", "300.00", "EUR", -5),
        ("U-1", "Delta Inc", "990.00", "USD", 95),
        ("J-1", "Nihon KK", "120000", "JPY", 1),
    ]
    for number, client, amount, currency, days_overdue in rows:
        due = NOW.date() - timedelta(days=days_overdue)
        ledger.add_invoice(
            Invoice(number, client, Decimal(amount), currency, due - timedelta(days=30), due)
        )
    ledger.set_evidence(
        SentEvidence("E-2", "sent", NOW, message_id="m1", thread_id="t1",
                     sent_at=NOW - timedelta(days=25))
    )
    ledger.attention.add(
        attention.REPLY, "msg-7", "Delta Inc asked for a copy of U-1", invoice_number="U-1"
    )
    ledger.close()
    return path


def run(db: Path, tmp_path: Path, *args: str) -> Result:
    options = [
        "--db", str(db),
        "--config", str(tmp_path / "no-config.toml"),
        "--gmail-url", UNREACHABLE_GMAIL,
        "--now", NOW.isoformat(),
    ]
    return CliRunner().invoke(assistant.cli.cli, [*options, "status", *args])


def test_status_json_shape(db: Path, tmp_path: Path) -> None:
    result = run(db, tmp_path, "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    jsonschema.validate(data, STATUS_SCHEMA)
    assert [row["number"] for row in data["invoices"]] == ["U-1", "E-1", "J-1", "E-2"]


def test_status_json_aging_per_currency(db: Path, tmp_path: Path) -> None:
    data = json.loads(run(db, tmp_path, "--json").stdout)

    assert data["aging"]["EUR"] == {
        "current": "300.00", "1-30": "0.00", "31-60": "1200.00", "61-90": "0.00",
        "over_90": "0.00",
    }
    assert data["aging"]["USD"]["over_90"] == "990.00"
    assert data["aging"]["JPY"]["1-30"] == "120000"


def test_status_json_needs_user(db: Path, tmp_path: Path) -> None:
    rows = {row["number"]: row for row in json.loads(run(db, tmp_path, "--json").stdout)["invoices"]}

    assert "Read the client's reply: Delta Inc asked for a copy of U-1." in rows["U-1"]["needs_user"]
    assert any(s.startswith("Call Nihon KK about invoice J-1") for s in rows["J-1"]["needs_user"])
    assert not any(s.startswith("Call") for s in rows["E-2"]["needs_user"])
    assert any("not confirmed as sent" in s for s in rows["E-1"]["needs_user"])
    assert rows["E-2"]["check_status"] == "sent"
    assert rows["E-1"]["check_status"] == "unchecked"


def test_status_records_call_once(db: Path, tmp_path: Path) -> None:
    run(db, tmp_path, "--json")
    run(db, tmp_path, "--json")

    ledger = Ledger.open(db, SimulatedClock(NOW))
    calls = [i for i in ledger.attention.open_items() if i.kind == attention.CALL]
    ledger.close()
    assert sorted(i.invoice_number for i in calls) == ["E-1", "J-1", "U-1"]


def test_status_text_report(db: Path, tmp_path: Path) -> None:
    result = run(db, tmp_path)

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "€1,200.00" in out
    assert "¥120,000" in out
    assert "$990.00" in out
    assert "Needs you" in out
    assert "Delta Inc asked for a copy of U-1" in out


def test_status_empty_ledger(tmp_path: Path) -> None:
    result = run(tmp_path / "empty.db", tmp_path)
    assert result.exit_code == 0, result.output
    assert "No unpaid invoices." in result.stdout

    data = json.loads(run(tmp_path / "empty.db", tmp_path, "--json").stdout)
    assert data["invoices"] == []
    assert data["aging"] == {}


def _render(db: Path, tmp_path: Path, width: int) -> list[str]:
    """Render the status report as a console of ``width`` columns shows it."""
    from rich.console import Console

    from assistant.cli.status_commands import print_report
    from assistant.config import load_config
    from assistant.status import status_report

    config = load_config(tmp_path / "no-config.toml")
    ledger = Ledger.open(db, SimulatedClock(NOW))
    try:
        report = status_report(ledger, config, SimulatedClock(NOW))
    finally:
        ledger.close()
    console = Console(width=width, record=True)
    print_report(report, config, console)
    return console.export_text().splitlines()


@pytest.fixture
def long_db(db: Path) -> Path:
    """Add a long client name, a long message id and a pause to the ledger."""
    ledger = Ledger.open(db, SimulatedClock(NOW))
    due = NOW.date() - timedelta(days=1)
    ledger.add_invoice(
        Invoice("INV-2026-000123", "Internationale Handelsgesellschaft Nord", Decimal("1234567.89"),
                "EUR", due - timedelta(days=30), due)
    )
    ledger.set_evidence(SentEvidence("INV-2026-000123", "sent_to_other_address", NOW))
    ledger.set_invoice("E-2", paused_until=NOW.date() + timedelta(days=20))
    ledger.close()
    return db


def test_status_fits_80_columns(long_db: Path, tmp_path: Path) -> None:
    lines = _render(long_db, tmp_path, 80)
    text = "\n".join(lines)

    too_wide = [line for line in lines if len(line) > 80]
    assert not too_wide, too_wide
    for whole in ("INV-2026-000123", "€1,234,567.89", "2026-05-13", "1 day late",
                  "Handelsgesel", "Next actions"):
        assert whole in text, whole
    assert "…" not in text, "nothing is cropped"
    assert "1 days late" not in text
    assert text.count("paused until 2026-06-03") == 1, "the pause shows once"


def test_status_wide_console_has_next_action_column(long_db: Path, tmp_path: Path) -> None:
    lines = _render(long_db, tmp_path, 160)
    text = "\n".join(lines)

    assert all(len(line) <= 160 for line in lines)
    assert "Next action " in text
    assert "Next actions" not in text, "the next action is in the table"
    # The cell may wrap between the words, so count the one word.
    assert text.count("paused") == 1, "the pause shows once"
