"""Passes, simulated time, the watch loop and ``assistant run`` on the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from assistant import runner
from assistant.cli import _register_commands, cli
from assistant.reminders import SENT
from assistant.send_window import SendWindow
from tests.test_sending import (
    BERLIN,
    OWNER,
    World,
    close_world,
    make_world,
)

START = datetime(2026, 2, 20, 12, tzinfo=timezone.utc)
CONFIG_TOML = f"""
[user]
name = "Anna"
email = "{OWNER}"
timezone = "{BERLIN}"
country = "DE"
"""


def fast_folder(tmp_path: Path) -> Iterator[Path]:
    # Commits on tmpfs skip the disk flush, which dominates a pass on disk.
    if Path("/dev/shm").is_dir():
        with tempfile.TemporaryDirectory(dir="/dev/shm") as folder:
            yield Path(folder)
    else:
        yield tmp_path


@pytest.fixture
def ladder_world(tmp_path: Path) -> Iterator[World]:
    for folder in fast_folder(tmp_path):
        built = make_world(folder, start=START)
        built.add_client(auto_approve=True)
        built.add_invoice(sent_on=date(2026, 2, 16), due=date(2026, 3, 2))
        (folder / "config.toml").write_text(CONFIG_TOML, encoding="utf-8")
        yield built
        close_world(built)


def test_run_until_plays_ladder_in_windows(ladder_world: World) -> None:
    world = ladder_world
    end = datetime(2026, 3, 6, tzinfo=timezone.utc)

    started = time.monotonic()
    reports = runner.run_until(
        world.ledger, world.gmail, world.config, world.clock, end,
        poll_interval=timedelta(days=1),
    )

    assert time.monotonic() - started < 60, "simulated time must not sleep"
    moments = [report.at for report in reports]
    assert moments == sorted(moments)
    assert moments[-1] <= end
    sent = [r for r in world.ledger.reminders.list([SENT])]
    assert {r.stage for r in sent} >= {"gentle", "early_late"}
    window = world.config.send_window
    for reminder in sent:
        assert reminder.sent_at is not None
        local = reminder.sent_at.astimezone(ZoneInfo(BERLIN))
        assert local.weekday() in window.days, reminder.uid
        assert window.start <= local.time() < window.end, reminder.uid
        assert len(world.sent_with_uid(reminder.uid)) == 1


def test_run_until_moves_sandbox_clock(ladder_world: World) -> None:
    world = ladder_world
    end = START + timedelta(days=1)

    runner.run_until(
        world.ledger, world.gmail, world.config, world.clock, end,
        poll_interval=timedelta(hours=6),
    )

    assert world.sandbox_clock.now() == world.clock.now()
    assert world.clock.now() <= end


def test_next_event_is_planned_send(ladder_world: World) -> None:
    world = ladder_world
    runner.run_pass(world.ledger, world.gmail, world.config, world.clock)
    # Auto-approval runs before drafting, so the new draft still waits for it.
    [reminder] = world.ledger.reminders.list(["drafted"])

    event = runner.next_event(
        world.ledger, world.config, reminder.planned_send_at - timedelta(seconds=30),
        timedelta(minutes=15),
    )

    assert event.at == reminder.planned_send_at
    assert event.label == f"planned send of {reminder.uid}"


@pytest.mark.parametrize(
    ("now", "expected", "label"),
    [
        # Before the spring change Berlin is UTC+1, after it UTC+2 (29 March 2026).
        (datetime(2026, 3, 26, 3, 59, tzinfo=timezone.utc),
         datetime(2026, 3, 26, 4, 0, tzinfo=timezone.utc), "window opens"),
        (datetime(2026, 3, 29, 0, 0, tzinfo=timezone.utc),
         datetime(2026, 3, 31, 3, 0, tzinfo=timezone.utc), "window opens"),
        (datetime(2026, 3, 31, 3, 30, tzinfo=timezone.utc),
         datetime(2026, 3, 31, 4, 0, tzinfo=timezone.utc), "window closes"),
        (datetime(2026, 3, 31, 4, 0, tzinfo=timezone.utc),
         datetime(2026, 3, 31, 7, 0, tzinfo=timezone.utc), "catch-up ends"),
    ],
)
def test_window_boundary_across_dst(now: datetime, expected: datetime, label: str) -> None:
    event = runner.next_window_boundary(SendWindow(), ZoneInfo(BERLIN), now)

    assert event is not None
    assert event.at == expected
    assert event.label == f"{label} in {BERLIN}"


def test_pass_ends_early_without_sync(ladder_world: World) -> None:
    world = ladder_world
    world.server.stop()

    report = runner.run_pass(world.ledger, world.gmail, world.config, world.clock)

    assert report.ended_early
    assert report.errors and report.errors[0].startswith("sent check")
    assert world.ledger.reminders.list() == []


def test_idle_pass_quota_units(ladder_world: World) -> None:
    world = ladder_world
    runner.run_pass(world.ledger, world.gmail, world.config, world.clock)
    world.set_time(world.clock.now() + timedelta(minutes=15))
    runner.run_pass(world.ledger, world.gmail, world.config, world.clock)
    world.set_time(world.clock.now() + timedelta(minutes=15))
    before = world.stats()

    runner.run_pass(world.ledger, world.gmail, world.config, world.clock)

    after = world.stats()
    units = after["total_units"] - before["total_units"]
    calls = {
        name: count - before["calls"].get(name, 0)
        for name, count in after["calls"].items()
        if count != before["calls"].get(name, 0)
    }
    print(f"idle pass: {units} quota units, calls {calls}")
    assert "gmail.users.drafts.send" not in calls
    assert "gmail.users.drafts.create" not in calls
    assert units <= 60, f"an idle pass spent {units} units: {calls}"


# -- the command line -----------------------------------------------------------


def _cli_args(world: World, *extra: str) -> list[str]:
    return [
        "--db", str(world.folder / "ledger.db"),
        "--config", str(world.folder / "config.toml"),
        "--gmail-url", world.server.url,
        *extra,
    ]


def test_cli_run_once_logs_to_file(ladder_world: World) -> None:
    world = ladder_world
    log_file = world.folder / "logs" / "run.log"
    _register_commands()
    now = "2026-02-24T03:00:00Z"

    result = CliRunner().invoke(
        cli, _cli_args(world, "--now", now, "run", "--log-file", str(log_file))
    )

    assert result.exit_code in (0, 1), result.output
    assert "1 pass(es)" in result.stdout
    text = log_file.read_text(encoding="utf-8")
    assert "Pass started at 2026-02-24T03:00:00+00:00" in text
    assert "Sync done" in text
    assert "Bearer" not in text


def test_cli_until_prints_each_event(ladder_world: World) -> None:
    world = ladder_world
    _register_commands()

    result = CliRunner().invoke(
        cli,
        _cli_args(
            world, "--now", "2026-02-23T12:00:00Z", "run",
            "--until", "2026-02-25T12:00:00Z", "--poll-minutes", "720",
            "--log-file", str(world.folder / "run.log"),
        ),
    )

    event_lines = [line for line in result.stderr.splitlines() if line.startswith("2026-")]
    assert len(event_lines) >= 4, result.stderr
    assert any("window opens" in line for line in event_lines)
    assert any(" sent receipt_check.0.INV-1 " in line for line in event_lines), result.stderr
    assert "reminder(s) sent" in result.stdout


def test_cli_watch_rejects_simulated_clock(ladder_world: World) -> None:
    _register_commands()

    result = CliRunner().invoke(
        cli, _cli_args(ladder_world, "--now", "2026-02-23T12:00:00Z", "run", "--watch")
    )

    assert result.exit_code != 0
    assert "--until END" in str(result.exception)


def test_watch_stops_on_sigterm(ladder_world: World) -> None:
    world = ladder_world
    log_file = world.folder / "watch.log"
    world.sandbox_clock.set(None)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", *_cli_args(world, "run", "--watch",
         "--log-file", str(log_file))],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if log_file.exists() and "Next pass at" in log_file.read_text(encoding="utf-8"):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the watch loop never finished its first pass")
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    stdout = process.stdout.read().decode() if process.stdout else ""
    assert "pass(es)" in stdout
    text = log_file.read_text(encoding="utf-8")
    assert "Received SIGTERM" in text
    assert "Watch stopped after 1 pass(es)" in text
