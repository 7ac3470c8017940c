"""``assistant review``, ``approve``, ``skip`` and ``client auto-approve`` through CliRunner."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit
from click.testing import CliRunner, Result

import assistant.cli
from assistant.cli import review_commands
from assistant.errors import InputError, UsageError
from assistant.ledger import Ledger
from assistant.reminders import APPROVED, DRAFTED, SKIPPED
from tests import test_approval
from tests.test_approval import NOW, SETTINGS, World, small_pdf

# The sandbox and ledger fixtures are shared with the approval tests.
template = test_approval.template
world = test_approval.world

assistant.cli._register_commands()


def run(world: World, *args: str, input: str | None = None) -> Result:
    config = world.tmp_path / "config.toml"
    if not config.exists():
        config.write_text(tomlkit.dumps(SETTINGS), encoding="utf-8")
    options = [
        "--db", str(world.tmp_path / "ledger.db"),
        "--config", str(config),
        "--gmail-url", world.server.url,
        "--now", NOW.isoformat(),
    ]
    return CliRunner().invoke(assistant.cli.cli, [*options, *args], input=input)


def reopen(world: World) -> Ledger:
    # The command wrote through its own connection; read back through a new one.
    return Ledger.open(world.tmp_path / "ledger.db", world.clock)


@pytest.fixture
def interactive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(review_commands, "stdin_is_interactive", lambda: True)


def _status(world: World, number: str) -> str:
    ledger = reopen(world)
    try:
        (reminder,) = ledger.reminders.for_invoice(number)
        return reminder.status
    finally:
        ledger.close()


# --- approve and skip -----------------------------------------------------------


def test_approve_uid(world: World) -> None:
    uid = world.reminder("INV-2001").uid

    result = run(world, "approve", uid)

    assert result.exit_code == 0, result.output
    assert f"Approved {uid}" in result.stderr
    assert _status(world, "INV-2001") == APPROVED
    assert _status(world, "INV-2002") == DRAFTED


def test_approve_all(world: World) -> None:
    result = run(world, "approve", "--all")

    assert result.exit_code == 0, result.output
    assert _status(world, "INV-2001") == APPROVED
    assert _status(world, "INV-2002") == APPROVED


def test_approve_needs_uid_or_all(world: World) -> None:
    result = run(world, "approve")
    assert isinstance(result.exception, UsageError)
    both = run(world, "approve", "--all", world.reminder("INV-2001").uid)
    assert isinstance(both.exception, UsageError)


def test_approve_unknown_uid(world: World) -> None:
    result = run(world, "approve", "gentle.0.NOPE")
    assert isinstance(result.exception, InputError)
    assert "gentle.0.NOPE not found" in str(result.exception)


def test_skip_uid(world: World) -> None:
    reminder = world.reminder("INV-2001")

    result = run(world, "skip", reminder.uid)

    assert result.exit_code == 0, result.output
    assert _status(world, "INV-2001") == SKIPPED
    assert reminder.draft_id not in {d["id"] for d in world.gmail.list_drafts()}


def test_client_auto_approve_on_off(world: World) -> None:
    on = run(world, "client", "auto-approve", "Delta Inc", "--on")
    ledger = reopen(world)
    client = ledger.get_client("Delta Inc")
    ledger.close()
    off = run(world, "client", "auto-approve", "Delta Inc", "--off")
    ledger = reopen(world)
    after = ledger.get_client("Delta Inc")
    ledger.close()

    assert on.exit_code == 0, on.output
    assert "Auto-approval for Delta Inc: on" in on.stderr
    assert client is not None and client.auto_approve
    assert off.exit_code == 0, off.output
    assert after is not None and not after.auto_approve


def test_client_auto_approve_unknown_client(world: World) -> None:
    result = run(world, "client", "auto-approve", "Nobody Ltd", "--on")
    assert isinstance(result.exception, InputError)
    ledger = reopen(world)
    assert ledger.get_client("Nobody Ltd") is None
    ledger.close()


# --- review ------------------------------------------------------------------------


def test_review_without_terminal_exits(world: World) -> None:
    result = run(world, "review", input="")

    assert isinstance(result.exception, UsageError)
    assert "needs a terminal" in str(result.exception)
    assert _status(world, "INV-2001") == DRAFTED


def test_review_shows_draft_and_approves(world: World, interactive: None) -> None:
    # Both drafts go out Wednesday; approve the first, leave the second.
    result = run(world, "review", input="a\nl\n")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "In-Reply-To" in out
    assert "Send (client)" in out
    assert "Send (you)" in out
    assert "Europe/Berlin" in out
    assert ".pdf" in out
    assert f"{len(small_pdf('INV-2001')):,} bytes" in out
    statuses = sorted([_status(world, "INV-2001"), _status(world, "INV-2002")])
    assert statuses == [APPROVED, DRAFTED]
    assert "1 approved" in out


def test_review_end_of_input_does_not_hang(world: World, interactive: None) -> None:
    result = run(world, "review", input="")

    assert result.exit_code != 0
    assert _status(world, "INV-2001") == DRAFTED


def test_review_skip_and_quit(world: World, interactive: None) -> None:
    first = min(
        (world.reminder("INV-2001"), world.reminder("INV-2002")),
        key=lambda r: (r.planned_send_at, r.uid),
    )

    result = run(world, "review", input="skip\nq\n")

    assert result.exit_code == 0, result.output
    assert _status(world, first.invoice_numbers[0]) == SKIPPED
    assert first.draft_id not in {d["id"] for d in world.gmail.list_drafts()}


def test_review_pause(world: World, interactive: None) -> None:
    first = min(
        (world.reminder("INV-2001"), world.reminder("INV-2002")),
        key=lambda r: (r.planned_send_at, r.uid),
    )
    number = first.invoice_numbers[0]

    result = run(world, "review", input="p\n2026-04-01\n2026-05-15\nq\n")

    assert result.exit_code == 0, result.output
    assert "in the past" in result.stdout
    ledger = reopen(world)
    invoice = ledger.get_invoice(number)
    ledger.close()
    assert invoice is not None
    assert str(invoice.paused_until) == "2026-05-15"


def test_review_reschedule_outside_window(world: World, interactive: None) -> None:
    first = min(
        (world.reminder("INV-2001"), world.reminder("INV-2002")),
        key=lambda r: (r.planned_send_at, r.uid),
    )
    answers = "r\n2026-04-19T05:00:00Z\n2026-04-24T14:00:00Z\ny\nl\nq\n"

    result = run(world, "review", input=answers)

    assert result.exit_code == 0, result.output
    assert "not in the future" in result.stdout
    assert "not a send day" in result.stdout
    ledger = reopen(world)
    stored = ledger.reminders.get(first.uid)
    ledger.close()
    assert stored is not None
    assert stored.planned_send_at.isoformat() == "2026-04-24T14:00:00+00:00"
    assert stored.status == DRAFTED


def _editor_script(tmp_path: Path, text: str) -> str:
    """Write an editor that replaces the edited file's content with ``text``."""
    script = tmp_path / "fake_editor.py"
    script.write_text(
        "import sys\n"
        f"open(sys.argv[-1], 'w', encoding='utf-8').write({text!r})\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return f"{sys.executable} {script}"


def test_review_edit_updates_draft(
    world: World, interactive: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = min(
        (world.reminder("INV-2001"), world.reminder("INV-2002")),
        key=lambda r: (r.planned_send_at, r.uid),
    )
    assert first.draft_id is not None
    before, original = world.raw_draft(first.draft_id)
    monkeypatch.setenv("EDITOR", _editor_script(world.tmp_path, "Edited by hand.\n"))

    result = run(world, "review", input="e\na\nq\n")

    assert result.exit_code == 0, result.output
    assert "Edited by hand." in result.stdout
    after, edited = world.raw_draft(first.draft_id)
    assert after["message"]["threadId"] == before["message"]["threadId"]
    assert edited["In-Reply-To"] == original["In-Reply-To"]
    body = edited.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == "Edited by hand.\n"
    old_files = {p.get_filename(): p.get_content() for p in original.iter_attachments()}
    new_files = {p.get_filename(): p.get_content() for p in edited.iter_attachments()}
    assert new_files == old_files
    assert _status(world, first.invoice_numbers[0]) == APPROVED
    ledger = reopen(world)
    stored = ledger.reminders.get(first.uid)
    ledger.close()
    assert stored is not None
    assert stored.draft_message_id == after["message"]["id"]


def test_review_real_program_without_terminal(world: World) -> None:
    # The installed entry point, with stdin closed: it must exit at once.
    result = subprocess.run(
        [sys.executable, "-m", "assistant",
         "--db", str(world.tmp_path / "ledger.db"),
         "--config", str(world.tmp_path / "missing.toml"),
         "--gmail-url", world.server.url, "--now", NOW.isoformat(), "review"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    assert "needs a terminal" in result.stderr
