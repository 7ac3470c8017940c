"""The daily digest, sent through the sandbox over HTTP with a simulated clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, Iterator

import pytest

from assistant.clock import SimulatedClock
from assistant.config import build_config
from assistant.digest import digest_text, maybe_send_digest
from assistant.gmail import GmailClient, decode_base64url
from assistant.ledger import Ledger
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore

OWNER = "anna@consultant.example"
# 06:30 in Tokyo (UTC+9) on 20 April 2026.
BEFORE_HOUR = datetime(2026, 4, 19, 21, 30, tzinfo=timezone.utc)
AFTER_HOUR = datetime(2026, 4, 19, 22, 5, tzinfo=timezone.utc)


def _config(tmp_path: Path, **digest: Any):
    data: dict[str, Any] = {"user": {"email": OWNER, "timezone": "Asia/Tokyo"}}
    if digest:
        data["digest"] = digest
    return build_config(data, tmp_path / "config.toml")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MailStore]:
    mailbox = MailStore(str(tmp_path / "mailbox.db"), clock=SandboxClock())
    mailbox.set_user_email(OWNER)
    yield mailbox
    mailbox.close()


def _ledger(tmp_path: Path, clock: SimulatedClock, *, items: bool = True) -> Ledger:
    ledger = Ledger.open(tmp_path / "ledger.db", clock)
    if items:
        ledger.attention.add("reply", "INV-1/m1", "Invoice INV-1: ap@acme.example wrote: "
                             "we pay Friday", invoice_number="INV-1")
        ledger.attention.add("call", "INV-2", "Call Beta Ltd about INV-2",
                             invoice_number="INV-2")
    return ledger


def _sent(url: str) -> list[dict[str, Any]]:
    gmail = GmailClient.connect(url, sleep=lambda seconds: None)
    ids = gmail.list_message_ids(q="in:sent")
    return [gmail.get_message(message_id, "raw") for message_id in ids]


def test_digest_waits_for_hour(tmp_path: Path, store: MailStore) -> None:
    clock = SimulatedClock(BEFORE_HOUR)
    ledger = _ledger(tmp_path, clock)
    with SandboxServer(store) as server:
        gmail = GmailClient.connect(server.url)
        early = maybe_send_digest(ledger, gmail, _config(tmp_path), clock)
        clock.set(AFTER_HOUR)
        on_time = maybe_send_digest(ledger, gmail, _config(tmp_path), clock)
        sent = _sent(server.url)

    assert early is False
    assert on_time is True
    assert len(sent) == 1
    message = message_from_bytes(decode_base64url(sent[0]["raw"]), policy=policy.default)
    assert message["To"] == OWNER
    assert "2 items need you (2026-04-20)" in str(message["Subject"])
    body = message.get_content()
    assert "Client replies to read (1):" in body
    assert "we pay Friday" in body


def test_digest_once_a_day(tmp_path: Path, store: MailStore) -> None:
    clock = SimulatedClock(AFTER_HOUR)
    ledger = _ledger(tmp_path, clock)
    with SandboxServer(store) as server:
        gmail = GmailClient.connect(server.url)
        results = [maybe_send_digest(ledger, gmail, _config(tmp_path), clock)]
        clock.advance(timedelta(hours=5))
        results.append(maybe_send_digest(ledger, gmail, _config(tmp_path), clock))
        clock.advance(timedelta(days=1))
        results.append(maybe_send_digest(ledger, gmail, _config(tmp_path), clock))
        sent = _sent(server.url)

    assert results == [True, False, True]
    assert len(sent) == 2


def test_digest_skipped_when_nothing_open(tmp_path: Path, store: MailStore) -> None:
    clock = SimulatedClock(AFTER_HOUR)
    ledger = _ledger(tmp_path, clock, items=False)
    with SandboxServer(store) as server:
        gmail = GmailClient.connect(server.url)
        quiet = maybe_send_digest(ledger, gmail, _config(tmp_path), clock)
        ledger.attention.add("bounce", "INV-3/m2", "Invoice INV-3 bounced",
                             invoice_number="INV-3")
        clock.advance(timedelta(hours=2))
        later = maybe_send_digest(ledger, gmail, _config(tmp_path), clock)

    assert quiet is False
    assert later is True


def test_digest_disabled(tmp_path: Path, store: MailStore) -> None:
    clock = SimulatedClock(AFTER_HOUR)
    ledger = _ledger(tmp_path, clock)
    with SandboxServer(store) as server:
        gmail = GmailClient.connect(server.url)
        sent = maybe_send_digest(ledger, gmail, _config(tmp_path, enabled=False), clock)
        count = len(_sent(server.url))

    assert sent is False
    assert count == 0


def test_unknown_outcome_not_resent(tmp_path: Path, store: MailStore) -> None:
    # Every call fails (500, 503, 429 or a dropped connection); for a send each
    # leaves the outcome unknown, because Gmail may have delivered it.
    clock = SimulatedClock(AFTER_HOUR)
    ledger = _ledger(tmp_path, clock)
    with SandboxServer(store, fail_rate=1.0, seed=3) as server:
        gmail = GmailClient.connect(server.url, sleep=lambda seconds: None)
        failed = maybe_send_digest(ledger, gmail, _config(tmp_path), clock)
    with SandboxServer(store) as server:
        gmail = GmailClient.connect(server.url)
        clock.advance(timedelta(hours=1))
        retried = maybe_send_digest(ledger, gmail, _config(tmp_path), clock)
        clock.advance(timedelta(days=1))
        next_day = maybe_send_digest(ledger, gmail, _config(tmp_path), clock)

    assert failed is False
    assert retried is False
    assert next_day is True
    status = ledger.db.execute("SELECT status FROM digests ORDER BY day").fetchall()
    assert [row[0] for row in status] == ["unknown", "sent"]


def test_digest_text_groups_by_kind(tmp_path: Path) -> None:
    clock = SimulatedClock(AFTER_HOUR)
    ledger = _ledger(tmp_path, clock)
    text = digest_text(ledger.attention.open_items())

    assert text.index("Client replies to read (1):") < text.index("Clients to call (1):")
    assert "- Call Beta Ltd about INV-2" in text
