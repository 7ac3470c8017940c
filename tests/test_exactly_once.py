"""Exactly once: a run killed at each point of the send path, and a lossy network.

Each crash test runs ``python -m assistant ... run`` in a subprocess that the
``ASSISTANT_TEST_CRASH_AT`` hook ends with ``os._exit(1)`` at one point of the
send path, runs it again, and counts the reminder's messages in Sent through
the API: exactly one every time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from assistant import sending
from assistant.gmail import GmailClient, RetryPolicy
from assistant.reminders import APPROVED, FAILED, SENT
from assistant.sandbox.server import SandboxServer
from tests.test_runner import CONFIG_TOML
from tests.test_sending import World, close_world, make_world

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = make_world(tmp_path, start=datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
    built.add_client()
    (tmp_path / "config.toml").write_text(CONFIG_TOML, encoding="utf-8")
    yield built
    close_world(built)


def run_cli(world: World, now: datetime, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(sending.CRASH_ENV, None)
    if crash_at is not None:
        env[sending.CRASH_ENV] = crash_at
    args = [
        sys.executable, "-m", "assistant",
        "--db", str(world.folder / "ledger.db"),
        "--config", str(world.folder / "config.toml"),
        "--gmail-url", world.server.url,
        "--now", now.isoformat(),
        "run", "--log-file", str(world.folder / "run.log"),
    ]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("crash_at", sending.CRASH_POINTS)
def test_crash_then_rerun_sends_once(world: World, crash_at: str) -> None:
    reminder = world.add_reminder(world.add_invoice())
    first_run = reminder.planned_send_at + timedelta(minutes=1)
    # The ledger is closed while another process writes it.
    world.ledger.close()

    crashed = run_cli(world, first_run, crash_at)

    assert crashed.returncode == 1, crashed.stderr
    assert "test hook" in (world.folder / "run.log").read_text(encoding="utf-8")
    sent_before = len(world.sent_with_uid(reminder.uid))
    assert sent_before == (1 if crash_at in ("after_send", "before_ledger") else 0)

    rerun = run_cli(world, first_run + sending.SEND_SETTLE_TIME + timedelta(minutes=1))

    assert "Traceback" not in rerun.stderr, rerun.stderr
    assert len(world.sent_with_uid(reminder.uid)) == 1
    world.ledger = world.ledger.open(world.folder / "ledger.db", world.clock)
    stored = world.ledger.reminders.get(reminder.uid)
    assert stored is not None
    assert stored.status == SENT
    assert stored.sent_message_id == world.sent_with_uid(reminder.uid)[0]["id"]


def test_lossy_network_sends_each_once(world: World, tmp_path: Path) -> None:
    # Every call may fail with 500, 503, 429 or a dropped connection (the
    # sandbox runs a dropped call, then loses its response).
    reminders = []
    for number in ("INV-1", "INV-2", "INV-3", "INV-4"):
        reminders.append(world.add_reminder(world.add_invoice(number), number))
    lossy = SandboxServer(world.store, clock=world.sandbox_clock, fail_rate=0.25, seed=11).start()
    gmail = GmailClient.connect(
        lossy.url, sleep=lambda seconds: None, retry=RetryPolicy(max_attempts=3)
    )
    start = min(r.planned_send_at for r in reminders)
    try:
        for step in range(12):
            world.set_time(start + timedelta(minutes=1 + 5 * step))
            for action in (sending.recover_in_flight, None):
                try:
                    if action is not None:
                        action(world.ledger, gmail, world.clock)
                    else:
                        sending.send_due(world.ledger, gmail, world.config, world.clock)
                except sending.GmailError:
                    pass  # a read that failed every retry; the next step tries again
    finally:
        lossy.stop()

    rejected = lossy.api.stats.snapshot()["rejected"]
    assert rejected.get("dropped", 0) > 0, "the sandbox dropped no connection"
    for reminder in reminders:
        count = len(world.sent_with_uid(reminder.uid))
        stored = world.ledger.reminders.get(reminder.uid)
        assert stored is not None
        assert count <= 1, f"{reminder.uid} went out {count} times"
        if stored.status == SENT:
            assert count == 1
        assert stored.status in (SENT, APPROVED, FAILED, sending.SENDING)
        if stored.status != SENT:
            assert count == 0 or stored.status == sending.SENDING
