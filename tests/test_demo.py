"""The demo plays its three weeks and leaves a consistent mailbox and ledger."""

from __future__ import annotations

from datetime import datetime, timezone
from email import message_from_bytes, policy
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import pytest

from assistant import demo_data
from assistant.clock import SimulatedClock
from assistant.demo import END, DemoRun, run_demo
from assistant.gmail import GmailClient
from assistant.gmail_resources import decode_base64url
from assistant.ledger import Ledger
from assistant.reminders import REMINDER_HEADER


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoRun, list[str]]]:
    lines: list[str] = []
    run = run_demo(tmp_path_factory.mktemp("demo"), lines.append)
    yield run, lines
    run.close()


def _sent_reminders(run: DemoRun) -> list[tuple[str, datetime]]:
    """Return (reminder uid, send time) of every reminder in the sandbox's Sent."""
    gmail = GmailClient.connect(run.url)
    found = []
    for message_id in gmail.list_message_ids(label_ids=["SENT"]):
        resource = gmail.get_message(message_id, fmt="raw")
        parsed = message_from_bytes(decode_base64url(resource["raw"]), policy=policy.default)
        uid = parsed[REMINDER_HEADER]
        if uid:
            when = datetime.fromtimestamp(int(resource["internalDate"]) / 1000, timezone.utc)
            found.append((str(uid), when))
    return found


def test_demo_explains_each_check_status(demo: tuple[DemoRun, list[str]]) -> None:
    _, lines = demo
    text = "\n".join(lines)

    for status in ("draft_only", "bounced", "sent_to_other_address"):
        assert status in text
    assert "approve" in text
    assert "three weeks later" in text


def test_demo_sends_each_reminder_once(demo: tuple[DemoRun, list[str]]) -> None:
    run, _ = demo
    sent = _sent_reminders(run)
    uids = [uid for uid, _ in sent]

    assert len(sent) >= 4
    assert len(uids) == len(set(uids))


def test_demo_sends_only_in_windows(demo: tuple[DemoRun, list[str]]) -> None:
    run, _ = demo
    zones = {i.number: ZoneInfo(i.timezone) for i in demo_data.INVOICES}

    for uid, when in _sent_reminders(run):
        number = uid.split(".", 2)[2].split("+")[0]
        local = when.astimezone(zones[number])
        assert local.strftime("%a") in ("Tue", "Wed", "Thu"), (uid, local)
        assert 5 <= local.hour < 9, (uid, local)
        assert local.minute % 5 != 0 or local.second, (uid, local)


def test_demo_stops_after_payment_and_reply(demo: tuple[DemoRun, list[str]]) -> None:
    run, _ = demo
    payment = datetime(2026, 3, 10, 14, 5, tzinfo=timezone.utc)
    reply = datetime(2026, 3, 13, 10, 30, tzinfo=timezone.utc)

    for uid, when in _sent_reminders(run):
        if "INV-2026-001" in uid:
            assert when < payment, uid
        if "INV-2026-002" in uid:
            assert when < reply, uid


def test_demo_ledger_matches_story(demo: tuple[DemoRun, list[str]]) -> None:
    run, _ = demo
    ledger = Ledger.open(run.db_path, SimulatedClock(END))
    try:
        paid = ledger.get_invoice("INV-2026-001")
        assert paid is not None
        assert paid.status == "paid"
        assert ledger.get_evidence("INV-2026-004").status == "draft_only"
        assert ledger.get_evidence("INV-2026-005").status == "bounced"
        open_kinds = {item.kind for item in ledger.attention.open_items()}
        assert "reply" in open_kinds
        assert "payment" not in open_kinds
    finally:
        ledger.close()
    assert run.status is not None
    assert {row.number for row in run.status.invoices} >= {"INV-2026-002", "INV-2026-003"}
    assert "INV-2026-001" not in {row.number for row in run.status.invoices}


def test_demo_paths_exist(demo: tuple[DemoRun, list[str]]) -> None:
    run, _ = demo

    assert Path(run.db_path).is_file()
    assert Path(run.config_path).is_file()
    assert run.url.startswith("http://127.0.0.1:")


def test_demo_shows_client_zone_times(demo: tuple[DemoRun, list[str]]) -> None:
    _, lines = demo
    sent = [line for line in lines if "in its send window" in line]

    assert sent
    for line in sent:
        # Send windows are Tue-Thu early morning in the client's zone.
        assert " in America/" in line or " in Europe/" in line or " in Asia/" in line, line
        assert " UTC)" in line, line


def test_demo_uses_stage_labels(demo: tuple[DemoRun, list[str]]) -> None:
    _, lines = demo
    text = "\n".join(lines)

    assert '"did you receive it?" reminder' in text
    assert '"early late" reminder' in text
    for name in ("receipt_check", "early_late", "late_late"):
        assert name not in text, name


def test_demo_no_serve_says_how_to_restart(demo: tuple[DemoRun, list[str]]) -> None:
    from assistant.cli.demo_commands import where_lines

    run, _ = demo
    port = run.url.rstrip("/").rsplit(":", 1)[1]

    stopped = "\n".join(where_lines(run, serving=False))
    serving = "\n".join(where_lines(run, serving=True))

    assert f"assistant sandbox serve --state {run.state_path} --port {port}" in stopped
    assert f"--gmail-url http://127.0.0.1:{port}/" in stopped
    assert "Sandbox: " not in stopped
    assert f"Sandbox: {run.url}" in serving
    assert "sandbox serve" not in serving


def test_demo_final_status_fits_80_columns(demo: tuple[DemoRun, list[str]]) -> None:
    from rich.console import Console

    from assistant.cli.status_commands import print_report

    run, _ = demo
    assert run.status is not None
    assert run.config is not None
    console = Console(width=80, record=True)

    print_report(run.status, run.config, console)

    lines = console.export_text().splitlines()
    text = "\n".join(lines)
    assert all(len(line) <= 80 for line in lines), [l for l in lines if len(l) > 80]
    assert "…" not in text
    for whole in ("INV-2026-003", "Sakura", "1 day late", "did you", "'assistant client set'"):
        assert whole in text, whole
