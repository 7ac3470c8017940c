"""The ledger commands through click's CliRunner, and one run of the real program."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import assistant.cli
from assistant.errors import InputError, UsageError
from assistant.ledger import Ledger
from assistant.clock import SystemClock

assistant.cli._register_commands()

PLAIN = (
    "number,client,email,amount,currency,issue_date,due_date\n"
    "INV-1,Acme GmbH,ap@acme.example,1200.00,EUR,2026-03-01,2026-03-31\n"
    'INV-2,Beta Ltd,,"$1,200.00",USD,2026-03-05,\n'
)


def run(db: Path, *args: str) -> Result:
    return CliRunner().invoke(
        assistant.cli.cli, ["--db", str(db), *args], catch_exceptions=True
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "ledger.db"


def test_import_then_list_json(db: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "invoices.csv"
    csv_path.write_text(PLAIN)
    imported = run(db, "import", "invoices", str(csv_path))
    listed = run(db, "invoice", "list", "--json")
    records = json.loads(listed.stdout)
    assert imported.exit_code == 0, imported.output
    assert "2 created, 0 updated, 0 unchanged" in imported.stderr
    assert "INV-2: due 2026-04-04 from the default net 30" in imported.stderr
    assert "Needs an email address" in imported.stderr
    assert [r["number"] for r in records] == ["INV-1", "INV-2"]
    assert records[0]["amount"] == "1200.00"
    assert records[0]["emails"] == ["ap@acme.example"]
    assert records[1]["balance"] == "1200.00"


def test_import_dry_run_creates_no_file(db: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "invoices.csv"
    csv_path.write_text(PLAIN)
    result = run(db, "import", "invoices", str(csv_path), "--dry-run")
    assert result.exit_code == 0
    assert "Would import invoices.csv (plain template): 2 created" in result.stderr
    assert "Dry run: nothing was written." in result.stderr
    assert not db.exists()


def test_import_bad_map_is_usage_error(db: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "invoices.csv"
    csv_path.write_text(PLAIN)
    result = run(db, "import", "invoices", str(csv_path), "--map", "amount=price")
    assert result.exit_code != 0
    assert "unknown field 'price'" in str(result.exception)


def test_invoice_add_and_unpaid_list(db: Path) -> None:
    added = run(
        db,
        "invoice",
        "add",
        "INV-7",
        "--client",
        "Acme GmbH",
        "--amount",
        "1,200.50",
        "--currency",
        "eur",
        "--issue-date",
        "2026-03-01",
        "--email",
        "AP@acme.example",
    )
    assert added.exit_code == 0, added.output
    assert "Added invoice INV-7 for Acme GmbH: €1,200.50 due 2026-03-31" in added.stderr
    unpaid = json.loads(run(db, "invoice", "list", "--json", "--unpaid").stdout)
    assert unpaid[0]["amount"] == "1200.50"
    assert unpaid[0]["emails"] == ["ap@acme.example"]
    plain = run(db, "invoice", "list")
    assert plain.stdout.splitlines()[1].startswith("INV-7\tAcme GmbH\t")


def test_invoice_add_rejects_conflicting_currency(db: Path) -> None:
    result = run(
        db,
        "invoice",
        "add",
        "INV-8",
        "--client",
        "Acme",
        "--amount",
        "£10",
        "--currency",
        "EUR",
        "--issue-date",
        "2026-03-01",
    )
    assert isinstance(result.exception, InputError)
    assert "is in GBP, but --currency is EUR" in str(result.exception)


def test_client_set_keeps_other_fields(db: Path) -> None:
    first = run(
        db,
        "client",
        "set",
        "Acme GmbH",
        "--timezone",
        "Europe/Berlin",
        "--terms",
        "14",
        "--email",
        "a@acme.example",
        "--email",
        "b@acme.example",
    )
    second = run(db, "client", "set", "Acme GmbH", "--language", "de")
    ledger = Ledger.open(db, SystemClock())
    client = ledger.get_client("Acme GmbH")
    ledger.close()
    assert first.exit_code == 0, first.output
    assert "email added: b@acme.example" in first.stderr
    assert second.exit_code == 0
    assert "language: - -> de" in second.stderr
    assert client is not None
    assert client.timezone == "Europe/Berlin"
    assert client.payment_terms_days == 14
    assert client.emails == ("a@acme.example", "b@acme.example")


def test_client_set_unknown_zone(db: Path) -> None:
    result = run(db, "client", "set", "Acme", "--timezone", "Berlin")
    assert isinstance(result.exception, InputError)
    assert "unknown time zone 'Berlin'" in str(result.exception)


def test_every_command_has_help() -> None:
    for path in (
        ["import", "invoices"],
        ["invoice", "add"],
        ["invoice", "list"],
        ["client", "set"],
    ):
        result = CliRunner().invoke(assistant.cli.cli, [*path, "--help"])
        assert result.exit_code == 0
        assert "Usage:" in result.output


def test_main_maps_bad_row_to_exit_code(tmp_path: Path) -> None:
    csv_path = tmp_path / "invoices.csv"
    csv_path.write_text(
        "number,client,amount,currency,issue_date\nINV-1,Acme,100,EUR,03/04/2026\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant",
            "--db",
            str(tmp_path / "l.db"),
            "import",
            "invoices",
            str(csv_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert completed.returncode == InputError.exit_code
    assert (
        "invoices.csv, line 2, column 'issue_date': ambiguous date '03/04/2026'"
        in completed.stderr
    )


def run_with_config(db: Path, config_text: str, *args: str) -> Result:
    config_path = db.parent.parent / "config.toml"
    config_path.write_text(config_text, encoding="utf-8")
    return CliRunner().invoke(
        assistant.cli.cli,
        ["--db", str(db), "--config", str(config_path), *args],
        catch_exceptions=True,
    )


def test_invoice_list_header_and_one_money_format(db: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "invoices.csv"
    csv_path.write_text(
        "number,client,email,amount,currency,issue_date,due_date,language\n"
        "INV-1,Acme GmbH,ap@acme.example,90.00,EUR,2026-03-01,2026-03-31,de\n"
        "INV-2,Kaisha KK,ap@kaisha.example,420000,JPY,2026-03-02,2026-04-01,ja\n"
        "INV-3,Beta Ltd,ap@beta.example,1234.50,EUR,2026-03-03,2026-04-02,en\n"
    )
    assert run(db, "import", "invoices", str(csv_path)).exit_code == 0
    listed = run_with_config(db, '[user]\nlanguage = "en"\n', "invoice", "list")
    lines = listed.stdout.splitlines()
    assert listed.exit_code == 0, listed.output
    assert lines[0] == "invoice\tclient\tbalance due\tdue date\tstatus"
    assert lines[1].split("\t")[2] == "€90.00"
    assert lines[2].split("\t")[2] == "¥420,000"
    assert lines[3].split("\t")[2] == "€1,234.50"


def test_client_set_matches_name_ignoring_case(db: Path) -> None:
    assert run(db, "client", "set", "New Co", "--terms", "14").exit_code == 0
    changed = run(db, "client", "set", "  new co ", "--timezone", "Europe/Berlin")
    ledger = Ledger.open(db, SystemClock())
    clients = ledger.list_clients()
    ledger.close()
    assert changed.exit_code == 0, changed.output
    assert "Client New Co: updated" in changed.stderr
    assert [c.name for c in clients] == ["New Co"]
    assert clients[0].timezone == "Europe/Berlin"
    assert clients[0].payment_terms_days == 14


def test_client_set_new_client_needs_a_field(db: Path) -> None:
    result = run(db, "client", "set", "Nobody")
    assert isinstance(result.exception, UsageError)
    assert "client 'Nobody' does not exist" in str(result.exception)
    assert "--email" in str(result.exception)
    assert not Ledger.open(db, SystemClock()).list_clients()


def test_client_set_language_without_templates_warns(db: Path) -> None:
    french = run(db, "client", "set", "Acme", "--language", "fr")
    japanese = run(db, "client", "set", "Acme", "--language", "ja")
    assert french.exit_code == 0, french.output
    assert "no reminder templates in 'fr'" in french.stderr
    assert "will use the English templates" in french.stderr
    assert japanese.exit_code == 0, japanese.output
    assert "Warning" not in japanese.stderr


def test_stage_overrides_on_client_and_invoice(tmp_path: Path) -> None:
    db = str(tmp_path / "ledger.db")
    runner = CliRunner()
    cli = assistant.cli.cli
    base = ["--db", db, "--config", str(tmp_path / "config.toml")]
    created = runner.invoke(
        cli, [*base, "client", "set", "Acme", "--email", "ap@acme.example",
              "--stages-off", "receipt_check"]
    )
    assert created.exit_code == 0, created.output
    added = runner.invoke(
        cli, [*base, "invoice", "add", "INV-9", "--client", "Acme", "--amount", "10.00",
              "--currency", "EUR", "--issue-date", "2026-03-02", "--due-date", "2026-04-01"]
    )
    assert added.exit_code == 0, added.output

    changed = runner.invoke(
        cli, [*base, "invoice", "set", "INV-9", "--stages-off", "gentle,early_late",
              "--language", "ja"]
    )
    unknown = runner.invoke(cli, [*base, "invoice", "set", "INV-9", "--stages-off", "polite"])

    assert changed.exit_code == 0, changed.output
    assert unknown.exit_code != 0
    assert "polite" in str(unknown.exception)
    ledger = Ledger.open(tmp_path / "ledger.db", SystemClock())
    try:
        client = ledger.get_client("Acme")
        invoice = ledger.get_invoice("INV-9")
        assert client is not None and client.stages_off == ("receipt_check",)
        assert invoice is not None and invoice.stages_off == ("gentle", "early_late")
        assert invoice.language == "ja"
    finally:
        ledger.close()
