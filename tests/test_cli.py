"""The command line as a whole: help everywhere, global options, check from Takeout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import assistant.cli as cli_module
from assistant import demo_data

cli_module._register_commands()


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = prefix + (name,)
        found.append(path)
        if isinstance(command, click.Group):
            found.extend(_commands(command, path))
    return found


@pytest.mark.parametrize("path", _commands(cli_module.cli), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli_module.cli, [*path, "--help"])

    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    command = cli_module.cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert (command.help or "").strip(), f"{' '.join(path)} has no help text"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_now_requires_sandbox_url(tmp_path: Path) -> None:
    result = _run("--db", str(tmp_path / "l.db"), "--now", "2026-03-02T05:00:00Z",
                  "invoice", "list")

    assert result.returncode == 2
    assert "--now" in result.stderr
    assert "--gmail-url" in result.stderr


def test_now_rejects_time_without_offset(tmp_path: Path) -> None:
    result = _run("--db", str(tmp_path / "l.db"), "--gmail-url", "http://127.0.0.1:9/",
                  "--now", "2026-03-02T05:00:00", "invoice", "list")

    assert result.returncode == 2
    assert "2026-03-02T05:00:00" in result.stderr


@pytest.mark.parametrize(
    "url", ["notaurl", "https://gmail.googleapis.com/", "http://192.0.2.10:8025/", "http://127.0.0.1/"]
)
def test_gmail_url_must_be_local_sandbox(tmp_path: Path, url: str) -> None:
    result = _run("--db", str(tmp_path / "l.db"), "--gmail-url", url, "check")

    assert result.returncode == 2
    assert url in result.stderr
    assert "Traceback" not in result.stderr


def test_check_takeout_without_sign_in(tmp_path: Path) -> None:
    data = Path(demo_data.__file__).parent / "data"
    db = str(tmp_path / "ledger.db")
    imported = _run("--db", db, "import", "invoices", str(data / demo_data.LEDGER_FILE))
    assert imported.returncode == 0, imported.stderr

    result = _run("--db", db, "check", "--json", "--takeout", str(data / demo_data.MAILBOX_FILE))

    assert result.returncode == 0, result.stderr
    found = {item["number"]: item for item in json.loads(result.stdout)}
    assert found["INV-2026-001"]["status"] == "sent"
    assert found["INV-2026-004"]["status"] == "draft_only"
    assert found["INV-2026-005"]["status"] == "bounced"
    assert found["INV-2026-006"]["status"] == "sent_to_other_address"
    assert found["INV-2026-001"]["attachment"] == "INV-2026-001.pdf"
    assert found["INV-2026-001"]["sent_at"] == "2026-02-02T09:12:00Z"
    assert set(found["INV-2026-001"]) == {
        "number", "status", "message_id", "rfc822_message_id", "thread_id",
        "sent_at", "to", "attachment", "detail",
    }
