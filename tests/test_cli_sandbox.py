"""``assistant sandbox serve`` as a user runs it: a subprocess on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import _register_commands, cli
from assistant.gmail import build_service

REPOSITORY = Path(__file__).resolve().parents[1]

EML = b"""From: Owner <owner@example.com>
To: ap@client.example
Subject: Invoice 2026-014
Date: Mon, 02 Mar 2026 09:30:00 +0000
Message-ID: <inv-2026-014@example.com>

Please find invoice 2026-014 attached.
"""


def start_serve(*options: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "assistant",
            "sandbox",
            "serve",
            "--port",
            "0",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPOSITORY,
    )


def test_serve_prints_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "invoice.eml").write_bytes(EML)
    process = start_serve(
        "--mailbox", str(tmp_path / "invoice.eml"), "--user", "owner@example.com"
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("Gmail sandbox listening on http://127.0.0.1:")
        url = line.removeprefix("Gmail sandbox listening on ").strip()
        assert url.endswith("/")
        assert not url.endswith(":0/")

        service = build_service(url)
        profile = service.users().getProfile(userId="me").execute()
        assert profile["emailAddress"] == "owner@example.com"
        assert profile["messagesTotal"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Loaded 1 messages" in stderr


def test_serve_rejects_non_loopback_host() -> None:
    _register_commands()
    result = CliRunner().invoke(
        cli, ["sandbox", "serve", "--host", "0.0.0.0", "--port", "0"]
    )
    assert result.exit_code == 2
    assert "0.0.0.0" in result.output


@pytest.mark.parametrize("command", [["sandbox"], ["sandbox", "serve"]])
def test_sandbox_help_lists_options(command: list[str]) -> None:
    _register_commands()
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
