"""``assistant draft`` through click's CliRunner against the sandbox over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import assistant.cli
from assistant.clock import SimulatedClock
from assistant.ledger import Ledger
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore
from tests.drafting_mailbox import NOW, build_ledger, build_mailbox

assistant.cli._register_commands()

CONFIG = """
[user]
name = "Anna Berg"
business_name = "Berg Consulting"
timezone = "Europe/Berlin"
"""
KEYS = {
    "uid", "invoice_numbers", "stage", "draft_id", "thread_id", "to", "subject",
    "planned_send_at", "status",
}


@pytest.fixture
def app(tmp_path: Path, corpus_dir: Path) -> Iterator[tuple[list[str], Path]]:
    """Global options for a ledger whose invoices are in a running sandbox."""
    store = MailStore(str(tmp_path / "mailbox.db"), clock=SandboxClock())
    build_mailbox(store, corpus_dir)
    ledger = build_ledger(tmp_path, Ledger.open(tmp_path / "ledger.db", SimulatedClock(NOW)))
    ledger.close()
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with SandboxServer(store) as server:
        options = [
            "--db", str(tmp_path / "ledger.db"),
            "--config", str(config),
            "--gmail-url", server.url,
            "--now", NOW.isoformat(),
        ]
        yield options, tmp_path
    store.close()


def run(options: list[str], *args: str) -> Result:
    return CliRunner().invoke(assistant.cli.cli, [*options, *args], catch_exceptions=False)


def test_draft_json_lists_new_drafts(app: tuple[list[str], Path]) -> None:
    options, _ = app
    assert run(options, "check").exit_code == 0

    result = run(options, "draft", "--json")

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 4
    assert all(set(row) == KEYS for row in rows)
    urgent = next(row for row in rows if row["invoice_numbers"] == ["103767"])
    assert urgent["stage"] == "late_late"
    assert urgent["subject"].startswith("URGENT")
    assert urgent["planned_send_at"].endswith("Z")
    assert urgent["status"] == "drafted"
    assert urgent["to"] == ["info@cronus.example"]
    # The uid is what 'assistant approve UID' and 'assistant skip UID' take.
    assert urgent["uid"] == "late_late.0.103767"
    assert "Needs you: invoice INV-10" in result.stderr


def test_draft_again_reports_existing(app: tuple[list[str], Path]) -> None:
    options, _ = app
    run(options, "check")
    first = json.loads(run(options, "draft", "--json").stdout)

    second = json.loads(run(options, "draft", "--json").stdout)

    assert sorted(r["draft_id"] for r in second) == sorted(r["draft_id"] for r in first)


def test_draft_numbers_and_horizon(app: tuple[list[str], Path]) -> None:
    options, _ = app
    run(options, "check")

    none_yet = run(options, "draft", "--json", "--horizon", "0", "103767")
    some = run(options, "draft", "--json", "103767")

    assert json.loads(none_yet.stdout) == []
    assert [r["invoice_numbers"] for r in json.loads(some.stdout)] == [["103767"]]


def test_draft_table_output(app: tuple[list[str], Path]) -> None:
    options, _ = app
    run(options, "check")

    result = run(options, "draft")

    assert result.exit_code == 0, result.output
    assert "Reminder drafts" in result.stdout
    assert "late_late" in result.stdout


def test_draft_table_shows_uid(app: tuple[list[str], Path]) -> None:
    options, _ = app
    run(options, "check")
    uids = [row["uid"] for row in json.loads(run(options, "draft", "--json").stdout)]

    result = run(options, "draft", "--horizon", "30")

    # Rich folds long cells over lines, so the cells are joined before the search.
    cells = "".join(line.split("│")[-2].strip() for line in result.stdout.splitlines()
                    if line.count("│") >= 2)
    for uid in uids:
        assert uid in cells, result.stdout


def test_draft_rejects_negative_horizon(app: tuple[list[str], Path]) -> None:
    options, _ = app

    result = CliRunner().invoke(assistant.cli.cli, [*options, "draft", "--horizon", "-1"])

    assert result.exit_code == 2
    assert "--horizon" in result.output
