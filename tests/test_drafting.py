"""Drafting end to end: real invoice mail in the sandbox, drafts read back over HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from assistant import attention, reminders
from assistant.clock import SimulatedClock
from assistant.config import build_config
from assistant.drafting import DRAFT_DELETED, DraftReport, draft_reminders
from assistant.gmail import GmailClient
from assistant.invoice_check import check_invoices
from assistant.ledger import Ledger
from assistant.mail_sync import MailCache, MailReader
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore
from assistant.stopping import HOLD_REPLY, add_hold, pause_invoice
from assistant.template_checks import WORD_LIMITS, measure, prose_lines
from assistant.clock import to_epoch_ms
from assistant.ledger import Invoice
from tests.drafting_mailbox import (
    NOW,
    OWNER,
    SentInvoice,
    build_ledger,
    build_mailbox,
    invoice_message,
)

SIGNATURE = "Anna Berg\nBerg Consulting"
USER_SETTINGS = {
    "user": {"name": "Anna Berg", "business_name": "Berg Consulting", "timezone": "Europe/Berlin"},
    "payment": {
        "options": [{"kind": "bank_transfer", "details": "IBAN DE89 3704 0044 0532 0130 00"}]
    },
}


@dataclass
class World:
    """The sandbox, a ledger whose sent check has run, and the clock they share."""

    store: MailStore
    server: SandboxServer
    ledger: Ledger
    gmail: GmailClient
    clock: SimulatedClock
    sent: dict[str, SentInvoice]
    tmp_path: Path

    def draft(self, **settings: Any) -> DraftReport:
        data = {**USER_SETTINGS, **settings}
        config = build_config(data, self.tmp_path / "config.toml")
        return draft_reminders(self.ledger, self.gmail, config, self.clock)

    def raw_draft(self, draft_id: str) -> tuple[dict[str, Any], EmailMessage]:
        """Read a draft with drafts.get format raw and parse it with the email package."""
        resource = self.gmail.service.users().drafts().get(
            userId="me", id=draft_id, format="raw"
        ).execute()
        raw = base64.urlsafe_b64decode(resource["message"]["raw"])
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        return resource, parsed

    def check(self) -> None:
        """Run the sent check, as ``assistant check`` does before drafting."""
        reader = MailReader(self.gmail, MailCache(self.ledger.db, OWNER), self.clock)
        check_invoices(self.ledger, reader, self.clock)

    def reminder_for(self, number: str) -> reminders.Reminder:
        found = self.ledger.reminders.for_invoice(number)
        assert len(found) == 1, f"expected one reminder for {number}, found {found}"
        return found[0]


@pytest.fixture
def world(tmp_path: Path, corpus_dir: Path) -> Iterator[World]:
    store = MailStore(str(tmp_path / "mailbox.db"), clock=SandboxClock())
    sent = build_mailbox(store, corpus_dir)
    clock = SimulatedClock(NOW)
    ledger = build_ledger(tmp_path, Ledger.open(tmp_path / "ledger.db", clock))
    with SandboxServer(store) as server:
        gmail = GmailClient.connect(server.url, sleep=lambda seconds: None)
        gmail.sandbox_set_clock(NOW)
        world = World(store, server, ledger, gmail, clock, sent, tmp_path)
        world.check()
        yield world
    ledger.close()
    store.close()


def _plain_text(message: EmailMessage) -> str:
    """Return the text/plain body with the wire format's CRLF turned into newlines."""
    body = message.get_body(("plain",))
    assert body is not None, "the reminder has no text/plain body"
    return str(body.get_content()).replace("\r\n", "\n")


def _attachments(message: EmailMessage) -> dict[str, bytes]:
    found = {}
    for part in message.iter_attachments():
        payload = part.get_content()
        assert isinstance(payload, bytes)
        found[part.get_filename() or ""] = payload
    return found


def _sent_header(world: World, number: str, name: str) -> str:
    evidence = world.ledger.get_evidence(number)
    assert evidence is not None and evidence.message_id
    resource = world.gmail.get_message(evidence.message_id, fmt="raw")
    raw = base64.urlsafe_b64decode(resource["raw"] + "==")
    return str(BytesParser(policy=policy.default).parsebytes(raw)[name])


def test_draft_replies_in_invoice_thread(world: World) -> None:
    report = world.draft()

    reminder = world.reminder_for("INV/2023/03/0008")
    assert reminder in report.drafted
    assert reminder.stage == "gentle"
    evidence = world.ledger.get_evidence("INV/2023/03/0008")
    assert evidence is not None
    resource, message = world.raw_draft(reminder.draft_id or "")
    assert resource["message"]["threadId"] == evidence.thread_id
    assert reminder.thread_id == evidence.thread_id
    sent_id = _sent_header(world, "INV/2023/03/0008", "Message-ID")
    sent_references = _sent_header(world, "INV/2023/03/0008", "References")
    assert message["In-Reply-To"] == sent_id
    assert str(message["References"]).split() == [sent_references, sent_id]
    assert message["Subject"] == "Re: Your invoice for March"
    assert message["X-Assistant-Reminder"] == reminder.uid
    assert message["Date"] is None
    assert message["To"] == "billing@azure.example"
    assert OWNER in str(message["From"])


def test_english_body_is_short(world: World) -> None:
    world.draft()

    for number in ("INV/2023/03/0008", "RE-2026-0002"):
        reminder = world.reminder_for(number)
        _, message = world.raw_draft(reminder.draft_id or "")
        body = _plain_text(message)
        # Counted as `assistant templates check` counts: prose lines, no signature.
        prose = prose_lines(body, SIGNATURE)
        count = measure("\n".join(prose), WORD_LIMITS)
        assert 50 <= count <= 100, f"{reminder.uid}: {count} words"


def test_attachment_bytes_equal_sent_pdf(world: World) -> None:
    world.draft()

    reminder = world.reminder_for("INV/2023/03/0008")
    _, message = world.raw_draft(reminder.draft_id or "")
    attached = _attachments(message)
    assert attached == {"invoice.pdf": world.sent["INV/2023/03/0008"].pdf}
    part = next(message.iter_attachments())
    assert part.get_content_type() == "application/pdf"


def test_japanese_client_gets_japanese_reply(world: World) -> None:
    world.draft()

    reminder = world.reminder_for("INV-1006")
    resource, message = world.raw_draft(reminder.draft_id or "")
    raw = base64.urlsafe_b64decode(resource["message"]["raw"])
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert message["Subject"] == "Re: 請求書 INV-1006 送付のご案内"
    assert b"Subject: Re: =?utf-8?" in header_block
    assert b"=?utf-8?" in header_block.split(b"\r\nTo:", 1)[1]
    assert message["To"].addresses[0].display_name == "経理部"
    cc = [a.addr_spec for a in message["Cc"].addresses]
    assert cc == ["yamada@nihon.example"]
    body = _plain_text(message)
    assert "田中 様" in body
    assert _attachments(message) == {"INV-1006.pdf": world.sent["INV-1006"].pdf}
    # Tuesday to Thursday, 05:00-06:00 in Tokyo.
    local = reminder.planned_send_at.astimezone(
        __import__("zoneinfo").ZoneInfo("Asia/Tokyo")
    )
    assert local.weekday() in (1, 2, 3)
    assert local.hour == 5


def test_two_invoices_share_one_reminder(world: World) -> None:
    world.draft()

    first = world.reminder_for("RE-20170509/505")
    second = world.reminder_for("RE-2026-0002")
    assert first == second
    assert set(first.invoice_numbers) == {"RE-2026-0002", "RE-20170509/505"}
    oldest = world.ledger.get_evidence("RE-20170509/505")
    other = world.ledger.get_evidence("RE-2026-0002")
    assert oldest is not None and other is not None
    assert first.thread_id == oldest.thread_id
    assert first.extra_thread_ids == (other.thread_id,)
    _, message = world.raw_draft(first.draft_id or "")
    assert message["Subject"] == "Re: Rechnung RE-20170509/505"
    assert _attachments(message) == {
        "RE-20170509-505.pdf": world.sent["RE-20170509/505"].pdf,
        "RE-2026-0002.pdf": world.sent["RE-2026-0002"].pdf,
    }
    body = _plain_text(message)
    assert "In total, €1,326.50 is outstanding." in body


def test_urgent_reminder_starts_new_thread(world: World) -> None:
    world.draft()

    reminder = world.reminder_for("103767")
    evidence = world.ledger.get_evidence("103767")
    assert evidence is not None
    assert reminder.stage == "late_late"
    resource, message = world.raw_draft(reminder.draft_id or "")
    assert str(message["Subject"]).startswith("URGENT")
    assert resource["message"]["threadId"] != evidence.thread_id
    assert reminder.thread_id == resource["message"]["threadId"]
    assert reminder.extra_thread_ids == (evidence.thread_id,)
    assert message["In-Reply-To"] == _sent_header(world, "103767", "Message-ID")
    assert _sent_header(world, "103767", "Message-ID") in str(message["References"])


def test_urgent_kept_in_thread_when_configured(world: World) -> None:
    world.draft(threading={"keep_urgent_in_thread": True})

    reminder = world.reminder_for("103767")
    evidence = world.ledger.get_evidence("103767")
    assert evidence is not None
    resource, message = world.raw_draft(reminder.draft_id or "")
    assert message["Subject"] == "Re: Invoice 103767"
    assert resource["message"]["threadId"] == evidence.thread_id
    body = _plain_text(message)
    assert body.splitlines()[0].startswith("URGENT")


def test_unsent_invoice_needs_user(world: World) -> None:
    report = world.draft()

    reasons = dict(report.needs_user)
    assert "INV-10" in reasons
    assert "not_found" in reasons["INV-10"]
    assert world.ledger.reminders.for_invoice("INV-10") == []


def test_every_draft_awaits_approval(world: World) -> None:
    report = world.draft()

    items = {item.key for item in world.ledger.attention.open_items()}
    for reminder in report.drafted:
        assert reminder.uid in items
        assert reminder.status == reminders.DRAFTED
        assert reminder.planned_send_at > NOW


def test_second_run_creates_nothing(world: World) -> None:
    first = world.draft()
    drafts_before = world.gmail.list_drafts()
    second = world.draft()

    assert len(first.drafted) == 4
    assert second.drafted == []
    assert {r.uid for r in second.existing} == {r.uid for r in first.drafted}
    assert len(world.gmail.list_drafts()) == len(drafts_before)


def test_deleted_draft_marks_skipped(world: World) -> None:
    world.draft()
    reminder = world.reminder_for("INV/2023/03/0008")
    world.gmail.service.users().drafts().delete(
        userId="me", id=reminder.draft_id
    ).execute()
    count = len(world.gmail.list_drafts())

    report = world.draft()

    skipped = world.reminder_for("INV/2023/03/0008")
    assert skipped.status == reminders.SKIPPED
    assert skipped.detail == DRAFT_DELETED
    assert [r.uid for r in report.skipped] == [reminder.uid]
    assert report.drafted == []
    assert len(world.gmail.list_drafts()) == count
    assert reminder.uid not in {
        item.key for item in world.ledger.attention.open_items()
        if item.kind == attention.APPROVAL
    }


def test_edited_draft_is_kept(world: World) -> None:
    world.draft()
    reminder = world.reminder_for("INV/2023/03/0008")
    _, message = world.raw_draft(reminder.draft_id or "")
    message.replace_header("Subject", "Re: Your invoice for March (edited)")
    body = message.get_body(("plain",))
    assert body is not None
    body.set_content("Hi Lena, a short note of my own.\n")
    raw = base64.urlsafe_b64encode(message.as_bytes()).decode("ascii")
    updated = world.gmail.service.users().drafts().update(
        userId="me",
        id=reminder.draft_id,
        body={"message": {"raw": raw, "threadId": reminder.thread_id}},
    ).execute()

    report = world.draft()

    kept = world.reminder_for("INV/2023/03/0008")
    assert kept.draft_id == reminder.draft_id
    assert kept.draft_message_id == updated["message"]["id"]
    assert kept.subject == "Re: Your invoice for March (edited)"
    assert report.drafted == []
    _, after = world.raw_draft(reminder.draft_id or "")
    assert _plain_text(after) == "Hi Lena, a short note of my own.\n"


def test_horizon_limits_drafts(world: World) -> None:
    config = build_config(USER_SETTINGS, world.tmp_path / "config.toml")
    report = draft_reminders(
        world.ledger, world.gmail, config, world.clock, horizon_days=0
    )

    assert report.drafted == []


def test_numbers_limit_the_run(world: World) -> None:
    config = build_config(USER_SETTINGS, world.tmp_path / "config.toml")
    report = draft_reminders(
        world.ledger, world.gmail, config, world.clock, numbers=["103767"]
    )

    assert [r.invoice_numbers for r in report.drafted] == [("103767",)]


def test_call_task_after_last_urgent(world: World) -> None:
    """Three URGENT reminders sent: the ladder hands over to a phone call."""
    config = build_config(USER_SETTINGS, world.tmp_path / "config.toml")
    book = world.ledger.reminders
    for index in range(3):
        sent_at = datetime(2026, 4, 7 + 7 * index, 4, 0, tzinfo=timezone.utc)
        book.add(
            reminders.Reminder(
                uid=reminders.reminder_uid("late_late", index, ["103767"]),
                stage="late_late", repeat_index=index, client="Cronus AG",
                invoice_numbers=("103767",), status=reminders.SENT,
                stage_day=sent_at.date(), planned_send_at=sent_at, sent_at=sent_at,
            )
        )
    world.clock.set(datetime(2026, 4, 28, 3, 0, tzinfo=timezone.utc))

    report = draft_reminders(
        world.ledger, world.gmail, config, world.clock, numbers=["103767"]
    )

    assert report.drafted == []
    assert [number for number, _ in report.needs_user] == ["103767"]
    calls = [i for i in world.ledger.attention.open_items() if i.kind == attention.CALL]
    assert [call.invoice_number for call in calls] == ["103767"]
    assert world.clock.now() - timedelta(days=1) < calls[0].created_at


def test_other_currency_gets_own_reminder(world: World) -> None:
    """Amounts in different currencies never share a total, so USD goes alone."""
    sent_at = datetime(2026, 3, 10, 9, tzinfo=timezone.utc)
    pdf = world.sent["RE-2026-0002"].pdf
    usd = SentInvoice(
        "RE-2026-0003", "Rechnung RE-2026-0003", "buchhaltung@gnu.example",
        sent_at, "RE-2026-0003.pdf", pdf,
    )
    world.store.add_message(
        invoice_message(usd).as_bytes(),
        label_ids=["SENT"],
        internal_date_ms=to_epoch_ms(sent_at),
    )
    world.ledger.add_invoice(
        Invoice(
            number="RE-2026-0003", client="Gnu Accounting", amount=Decimal("99.00"),
            currency="USD", issue_date=date(2026, 3, 10), due_date=date(2026, 4, 15),
        )
    )
    world.check()

    world.draft()

    euro = world.reminder_for("RE-2026-0002")
    dollar = world.reminder_for("RE-2026-0003")
    assert set(euro.invoice_numbers) == {"RE-20170509/505", "RE-2026-0002"}
    assert dollar.invoice_numbers == ("RE-2026-0003",)
    _, message = world.raw_draft(dollar.draft_id or "")
    body = _plain_text(message)
    assert "$99.00" in body
    assert "€" not in body


def test_gmail_signature_signs_reminder(world: World) -> None:
    world.store.set_signature(OWNER, "<div>Anna Berg<br>Berg Consulting GmbH</div>")

    world.draft()

    reminder = world.reminder_for("INV/2023/03/0008")
    _, message = world.raw_draft(reminder.draft_id or "")
    body = _plain_text(message)
    assert body.rstrip().endswith("Anna Berg\nBerg Consulting GmbH")


def test_unrecorded_draft_is_adopted(world: World) -> None:
    """A run that stopped after drafts.create left drafts the ledger never recorded."""
    first = world.draft()
    drafts = {d["id"] for d in world.gmail.list_drafts()}
    fresh = build_ledger(world.tmp_path, Ledger.open(world.tmp_path / "fresh.db", world.clock))
    world.ledger.close()
    world.ledger = fresh
    world.check()

    second = world.draft()

    assert {d["id"] for d in world.gmail.list_drafts()} == drafts
    assert {r.draft_id for r in second.drafted} == {r.draft_id for r in first.drafted}
    assert {r.uid for r in second.drafted} == {r.uid for r in first.drafted}


def test_client_reply_hold_blocks_draft(world: World) -> None:
    add_hold(world.ledger, "103767", HOLD_REPLY, "msg-reply-1", "client asked a question")
    pause_invoice(world.ledger, "INV-1006", date(2026, 4, 30), NOW.date())

    report = world.draft()

    assert world.ledger.reminders.for_invoice("103767") == []
    assert world.ledger.reminders.for_invoice("INV-1006") == []
    reasons = dict(report.needs_user)
    assert "msg-reply-1" in reasons["103767"]
    assert "INV-1006" not in reasons
