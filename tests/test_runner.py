"""Passes, simulated time, the watch loop and ``assistant run`` on the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from email import message_from_bytes, policy
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from assistant import drafting, runner, sending
from assistant.gmail import decode_base64url
from assistant.cli import _register_commands, cli
from assistant.reminders import SENT
from assistant.send_window import SendWindow
from tests.test_sending import (
    BERLIN,
    CLIENT_ADDRESS,
    OWNER,
    World,
    close_world,
    make_world,
    planned_instant,
    reminder_mime,
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


def _invoice_mail(world: World) -> dict[str, str]:
    """The sent invoice message as ``World.add_reminder`` takes it, after a sent check."""
    evidence = world.ledger.get_evidence("INV-1")
    assert evidence is not None and evidence.thread_id and evidence.rfc822_message_id
    return {
        "thread_id": evidence.thread_id,
        "message_id": evidence.rfc822_message_id,
        "subject": "Invoice INV-1",
    }


def test_gone_thread_does_not_stop_drafting(ladder_world: World) -> None:
    world = ladder_world
    runner.run_pass(world.ledger, world.gmail, world.config, world.clock)
    urgent = world.add_reminder(_invoice_mail(world), stage="late_late", new_thread=True)
    # Deleting the only draft of its own thread deletes the thread too.
    world.gmail.delete_draft(str(urgent.draft_id))
    world.set_time(world.clock.now() + timedelta(days=1))

    report = drafting.draft_reminders(world.ledger, world.gmail, world.config, world.clock)

    reasons = [reason for _, reason in report.needs_user]
    assert not any("404" in reason for reason in reasons), reasons


def test_moved_send_restates_days_overdue(ladder_world: World) -> None:
    world = ladder_world
    runner.run_pass(world.ledger, world.gmail, world.config, world.clock)
    for open_reminder in world.ledger.reminders.list(["drafted", "approved"]):
        world.ledger.reminders.update(open_reminder.uid, source="test", status="skipped")
    uid = "early_late.0.INV-1"
    first = planned_instant(world, uid, date(2026, 3, 5))
    reminder = world.add_reminder(_invoice_mail(world), stage="early_late", planned=first)
    assert reminder.stage_day == date(2026, 3, 5)
    # The send moved to Tuesday 10 March, 8 days after the due date of 2 March.
    moved = planned_instant(world, uid, date(2026, 3, 10))
    world.ledger.reminders.update(uid, source="test", planned_send_at=moved)
    world.set_time(moved + timedelta(minutes=1))

    outcomes = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert [o.result for o in outcomes] == [sending.RESULT_SENT], outcomes
    message_id = outcomes[0].message_id
    assert message_id is not None
    raw = decode_base64url(world.gmail.get_message(message_id, "raw")["raw"])
    body = message_from_bytes(raw, policy=policy.default).get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "8 days overdue" in text, text
    assert world.ledger.reminders.get(uid).stage_day == date(2026, 3, 10)


def test_moved_send_keeps_user_edit(ladder_world: World) -> None:
    world = ladder_world
    runner.run_pass(world.ledger, world.gmail, world.config, world.clock)
    uid = "early_late.0.INV-1"
    first = planned_instant(world, uid, date(2026, 3, 5))
    reminder = world.add_reminder(_invoice_mail(world), stage="early_late", planned=first)
    edited = reminder_mime(uid, "Re: Invoice INV-1", "<x@y>", CLIENT_ADDRESS)
    edited = edited.replace(b"A friendly reminder", b"My own words")
    world.gmail.update_draft(str(reminder.draft_id), edited, reminder.thread_id)
    moved = planned_instant(world, uid, date(2026, 3, 10))
    world.ledger.reminders.update(uid, source="test", planned_send_at=moved)
    world.set_time(moved + timedelta(minutes=1))

    outcomes = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    sent = [o for o in outcomes if o.uid == uid]
    assert [o.result for o in sent] == [sending.RESULT_SENT], outcomes
    raw = decode_base64url(world.gmail.get_message(str(sent[0].message_id), "raw")["raw"])
    assert b"My own words" in raw


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
    assert any(" sent receipt_check.0.INV-1 " in line for line in event_lines), result.stderr
    nothing_done = "0 sent; 0 drafted; 0 auto-approved; 0 withdrawn"
    idle = [line for line in event_lines if nothing_done in line]
    assert idle == [], "passes that did nothing must print nothing"
    assert "reminder(s) sent" in result.stdout


def test_cli_until_tells_of_waiting_approvals(ladder_world: World) -> None:
    world = ladder_world
    world.ledger.set_client("Acme", auto_approve=False)
    _register_commands()

    result = CliRunner().invoke(
        cli,
        _cli_args(
            world, "--now", "2026-02-23T12:00:00Z", "run",
            "--until", "2026-02-25T12:00:00Z", "--poll-minutes", "720",
            "--log-file", str(world.folder / "run.log"),
        ),
    )

    assert "1 reminder(s) wait for your approval" in result.stderr, result.stderr
    assert "assistant approve UID" in result.stderr


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
