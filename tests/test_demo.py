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
