"""The inbox run end to end: real replies and bounces in invoice threads, over HTTP."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Iterator

import httplib2
import pytest

from assistant.attention import BOUNCE, PAYMENT, REPLY
from assistant.clock import SimulatedClock, to_epoch_ms
from assistant.config import build_config
from assistant.gmail import GmailClient
from assistant.inbox import InboxReport, process_inbox
from assistant.invoice_check import check_invoices
from assistant.ledger import Invoice, Ledger
from assistant.mail_sync import MailCache, MailReader
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore
from assistant.stopping import blocking_reason, resume_invoice

OWNER = "anna@consultant.example"
NOW = datetime(2026, 4, 20, 9, 0, tzinfo=timezone.utc)
TODAY = NOW.date()

HUMAN_REPLIES = [
    "talon_android.eml",
    "talon_apple_mail.eml",
    "talon_gmail.eml",
    "talon_hotmail.eml",
    "talon_iphone.eml",
    "talon_outlook.eml",
    "talon_reply-quotations-share-block.eml",
    "talon_thunderbird.eml",
    "mikel_raw_email_reply.eml",
]
AUTOMATIC_REPLIES = [
    "sisimai_autoreply_rfc3834-01.eml",
    "sisimai_autoreply_rfc3834-02.eml",
    "sisimai_autoreply_rfc3834-03.eml",
    "phpmime_issue212_autoreply.eml",
]
BOUNCES = [
    "flanker_gmail-invalid-address.eml",
    "flanker_office365.eml",
    "flufl_postfix_01.eml",
    "flufl_qmail_01.eml",
    "sisimai_lhost-gmail-01.eml",
    "sisimai_lhost-exim-02.eml",
    "sisimai_rfc3464-01.eml",
]


def _config(tmp_path: Path):
    return build_config({"user": {"email": OWNER, "timezone": "Europe/Berlin"}},
                        tmp_path / "config.toml")


def _invoice_mail(number: str, to: str, when: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = OWNER
    message["To"] = to
    message["Subject"] = f"Invoice {number}"
    message["Date"] = format_datetime(when)
    message["Message-ID"] = make_msgid(domain="consultant.example")
    message.set_content(f"Please find invoice {number} attached.")
    return message


def readdress(raw: bytes, *, sender: str | None, parent_id: str, when: datetime) -> bytes:
    """Make a real message an answer to ``parent_id``, keeping its body and other headers.

    From (unless None, as for bounces), To, In-Reply-To and References are
    rewritten. The Date is moved to ``when`` as well, so that a return date
    an automatic reply states without a year lands after the test's invoices.
    """
    message: Message = BytesParser(policy=policy.compat32).parsebytes(raw)
    replacements = {
        "To": OWNER,
        "In-Reply-To": parent_id,
        "References": parent_id,
        "Date": format_datetime(when),
    }
    if sender is not None:
        replacements["From"] = sender
    for name, value in replacements.items():
        del message[name]
        message[name] = value
    return message.as_bytes()


class Mailbox:
    """A sandbox mailbox and a ledger with one sent invoice per client."""

    def __init__(self, tmp_path: Path, clock: SimulatedClock):
        self.store = MailStore(str(tmp_path / "mailbox.db"), clock=SandboxClock())
        self.store.set_user_email(OWNER)
        self.ledger = Ledger.open(tmp_path / "ledger.db", clock)
        self.clock = clock
        self.message_ids: dict[str, str] = {}

    def add_invoice(self, number: str, client: str, address: str) -> None:
        sent = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
        self.ledger.add_invoice(
            Invoice(number, client, Decimal("1200.00"), "EUR", date(2026, 3, 2),
                    date(2026, 4, 1))
        )
        self.ledger.add_email(client, address)
        mail = _invoice_mail(number, address, sent)
        self.store.add_message(mail.as_bytes(), label_ids=["SENT"], gmail_thread_key=number,
                               internal_date_ms=to_epoch_ms(sent))
        self.message_ids[number] = str(mail["Message-ID"])

    def answer(self, number: str, raw: bytes, *, in_thread: bool = True,
               sender: str | None = "client", day: int = 10) -> None:
        """Deliver ``raw`` as the client's answer to invoice ``number``."""
        when = datetime(2026, 4, day, 8, tzinfo=timezone.utc)
        client = self.ledger.get_client(self.ledger.get_invoice(number).client)
        from_address = client.emails[0] if sender == "client" else sender
        message = readdress(raw, sender=from_address, parent_id=self.message_ids[number],
                            when=when)
        self.store.add_message(message, label_ids=["INBOX", "UNREAD"],
                               gmail_thread_key=number if in_thread else None,
                               internal_date_ms=to_epoch_ms(when))

    def check(self, url: str) -> None:
        gmail = GmailClient.connect(url, sleep=lambda seconds: None)
        check_invoices(self.ledger, MailReader(gmail, MailCache(self.ledger.db, OWNER),
                                               self.clock), self.clock)

    def run(self, url: str, config) -> InboxReport:
        gmail = GmailClient.connect(url, sleep=lambda seconds: None)
        return process_inbox(self.ledger, gmail, config, self.clock)

    def close(self) -> None:
        self.ledger.close()
        self.store.close()


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    box = Mailbox(tmp_path, SimulatedClock(NOW))
    yield box
    box.close()


def _number(kind: str, index: int) -> str:
    return f"INV-{kind}{index:02d}"


def _open_items(ledger: Ledger, kind: str) -> dict[str, str]:
    return {
        item.invoice_number: item.detail
        for item in ledger.attention.open_items()
        if item.kind == kind
    }


def test_real_answers_classified(tmp_path: Path, mailbox: Mailbox, corpus_dir: Path) -> None:
    groups = {"H": HUMAN_REPLIES, "A": AUTOMATIC_REPLIES, "B": BOUNCES}
    folders = {"H": "replies", "A": "replies", "B": "bounces"}
    for kind, names in groups.items():
        for index, _ in enumerate(names):
            number = _number(kind, index)
            # Short addresses keep the sent check's searches under 2,048 characters.
            mailbox.add_invoice(number, f"Client {number}", f"{number[-3:].lower()}@c.example")
    config = _config(tmp_path)
    with SandboxServer(mailbox.store) as server:
        mailbox.check(server.url)
        first = mailbox.run(server.url, config)
        for kind, names in groups.items():
            for index, name in enumerate(names):
                raw = (corpus_dir / folders[kind] / name).read_bytes()
                sender = None if kind == "B" else "client"
                mailbox.answer(_number(kind, index), raw, sender=sender)
        second = mailbox.run(server.url, config)

    assert first.events == []
    assert first.searched
    assert not second.searched
    ledger = mailbox.ledger
    replies = _open_items(ledger, REPLY)
    bounces = _open_items(ledger, BOUNCE)
    for index, name in enumerate(HUMAN_REPLIES):
        number = _number("H", index)
        assert number in replies, f"{name} should be a human reply"
        assert "client replied" in (blocking_reason(ledger, number, TODAY) or ""), name
        assert ">" not in replies[number].splitlines()[0], f"{name} kept quoted text"
    for index, name in enumerate(AUTOMATIC_REPLIES):
        number = _number("A", index)
        assert number not in replies, f"{name} is automatic, not a reply"
        reason = blocking_reason(ledger, number, TODAY)
        assert reason is None or "away until" in reason, f"{name}: {reason}"
    for index, name in enumerate(BOUNCES):
        number = _number("B", index)
        assert number in bounces, f"{name} should hold as a bounce"
        assert "bounced" in (blocking_reason(ledger, number, TODAY) or ""), name
        assert number not in replies, f"{name} is a bounce, not a reply"


def test_reply_text_has_no_quotes(tmp_path: Path, mailbox: Mailbox, corpus_dir: Path) -> None:
    mailbox.add_invoice("INV-1", "Acme", "ap@acme.example")
    raw = (corpus_dir / "replies" / "talon_gmail.eml").read_bytes()
    with SandboxServer(mailbox.store) as server:
        mailbox.check(server.url)
        mailbox.run(server.url, _config(tmp_path))
        mailbox.answer("INV-1", raw)
        report = mailbox.run(server.url, _config(tmp_path))

    assert [event.kind for event in report.events] == ["reply"]
    detail = _open_items(mailbox.ledger, REPLY)["INV-1"]
    assert detail.startswith("Invoice INV-1: ap@acme.example wrote: Hello")
    assert "wrote:\n" not in detail


def test_return_date_moves_next_send(tmp_path: Path, mailbox: Mailbox, corpus_dir: Path) -> None:
    # "Away until May 5", sent on 29 April: the client is back on 5 May 2026.
    mailbox.add_invoice("INV-1", "Acme", "ap@acme.example")
    raw = (corpus_dir / "replies" / "sisimai_autoreply_rfc3834-01.eml").read_bytes()
    with SandboxServer(mailbox.store) as server:
        mailbox.check(server.url)
        mailbox.run(server.url, _config(tmp_path))
        mailbox.answer("INV-1", raw, day=29)
        report = mailbox.run(server.url, _config(tmp_path))

    assert [event.kind for event in report.events] == ["automatic"]
    assert report.events[0].return_date == date(2026, 5, 5)
    ledger = mailbox.ledger
    assert "away until 2026-05-05" in (blocking_reason(ledger, "INV-1", date(2026, 5, 5)) or "")
    assert blocking_reason(ledger, "INV-1", date(2026, 5, 6)) is None
    assert _open_items(ledger, REPLY) == {}


def test_automatic_reply_outside_thread(tmp_path: Path, mailbox: Mailbox,
                                        corpus_dir: Path) -> None:
    # Gmail joins a message to a thread only when its subject matches
    # (Message.threadId in the API reference), so "Automatic reply: Nyaan" gets
    # a thread of its own. Its In-Reply-To still names the invoice message.
    mailbox.add_invoice("INV-1", "Acme", "ap@acme.example")
    raw = (corpus_dir / "replies" / "sisimai_autoreply_rfc3834-02.eml").read_bytes()
    with SandboxServer(mailbox.store) as server:
        mailbox.check(server.url)
        mailbox.run(server.url, _config(tmp_path))
        mailbox.answer("INV-1", raw, in_thread=False)
        report = mailbox.run(server.url, _config(tmp_path))

    assert [(event.kind, event.invoice_numbers) for event in report.events] == [
        ("automatic", ("INV-1",))
    ]
    assert blocking_reason(mailbox.ledger, "INV-1", TODAY) is None


def test_first_run_finds_earlier_reply(tmp_path: Path, mailbox: Mailbox,
                                       corpus_dir: Path) -> None:
    mailbox.add_invoice("INV-1", "Acme", "ap@acme.example")
    mailbox.add_invoice("INV-2", "Beta", "ap@beta.example")
    mailbox.answer("INV-1", (corpus_dir / "replies" / "talon_iphone.eml").read_bytes())
    # Outside the thread; its In-Reply-To still names the invoice message.
    mailbox.answer("INV-2", (corpus_dir / "replies" / "mikel_raw_email_reply.eml")
                   .read_bytes(), in_thread=False)
    with SandboxServer(mailbox.store) as server:
        mailbox.check(server.url)
        report = mailbox.run(server.url, _config(tmp_path))

    assert report.searched
    assert sorted(event.invoice_numbers for event in report.replies) == [
        ("INV-1",), ("INV-2",)
    ]


def test_run_is_idempotent_and_cheap(tmp_path: Path, mailbox: Mailbox,
                                     corpus_dir: Path) -> None:
    mailbox.add_invoice("INV-1", "Acme", "ap@acme.example")
    mailbox.answer("INV-1", (corpus_dir / "replies" / "talon_gmail.eml").read_bytes())
    with SandboxServer(mailbox.store) as server:
        mailbox.check(server.url)
        first = mailbox.run(server.url, _config(tmp_path))
        _reset_stats(server.url)
        second = mailbox.run(server.url, _config(tmp_path))
        calls = _stats(server.url)["calls"]

    assert len(first.replies) == 1
    assert second.events == []
    assert calls == {"gmail.users.history.list": 1}
    assert len(mailbox.ledger.attention.open_items()) == 1


def test_expired_history_rescans_once(tmp_path: Path, corpus_dir: Path) -> None:
    clock = SimulatedClock(NOW)
    box = Mailbox(tmp_path, clock)
    box.store.close()
    box.store = MailStore(str(tmp_path / "expiring.db"), clock=SandboxClock(),
                          history_retention=1)
    box.store.set_user_email(OWNER)
    box.add_invoice("INV-1", "Acme", "ap@acme.example")
    with SandboxServer(box.store) as server:
        box.check(server.url)
        box.run(server.url, _config(tmp_path))
        box.answer("INV-1", (corpus_dir / "replies" / "talon_hotmail.eml").read_bytes())
        box.store.send_message(_invoice_mail("X", "x@other.example", NOW).as_bytes())
        report = box.run(server.url, _config(tmp_path))
        again = box.run(server.url, _config(tmp_path))
    box.close()

    assert report.searched
    assert [event.kind for event in report.events] == ["reply"]
    assert not again.searched
    assert again.events == []


def test_resume_clears_reply_hold(tmp_path: Path, mailbox: Mailbox, corpus_dir: Path) -> None:
    mailbox.add_invoice("INV-1", "Acme", "ap@acme.example")
    mailbox.answer("INV-1", (corpus_dir / "bounces" / "sisimai_rfc3464-01.eml").read_bytes(),
                   sender=None)
    mailbox.answer("INV-1", (corpus_dir / "replies" / "talon_gmail.eml").read_bytes())
    with SandboxServer(mailbox.store) as server:
        mailbox.check(server.url)
        mailbox.run(server.url, _config(tmp_path))
    ledger = mailbox.ledger
    assert blocking_reason(ledger, "INV-1", TODAY) is not None

    resumed = resume_invoice(ledger, "INV-1", TODAY)

    assert len(resumed.cleared_holds) == 2
    assert resumed.resolved_items == 2
    assert resumed.still_blocked is None
    assert ledger.attention.open_items("INV-1") == []


# --- payment notices --------------------------------------------------------------


def _notice(sender: str, subject: str, body: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = OWNER
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2026, 4, 14, 7, tzinfo=timezone.utc))
    message["Message-ID"] = make_msgid(domain="notify.example")
    message.set_content(body)
    return message.as_bytes()


PAYMENT_NOTICES = [
    (
        "INV-1",
        _notice("Stripe <notifications@stripe.com>", "Payment received from Acme",
                "You received a payment of €1,200.00 from Acme GmbH for invoice INV-1."),
        "1200.00",
    ),
    (
        "INV-2",
        _notice("service@paypal.com", "You've got money",
                "Beta Ltd has sent you €600.00 EUR. Note: INV-2 first half."),
        "600.00",
    ),
    (
        "INV-3",
        _notice("Sparkasse Online <info@sparkasse.example>", "Zahlungseingang",
                "Gutschrift: 1.200,00 EUR, Verwendungszweck: Rechnung INV-3"),
        "1200.00",
    ),
]


def test_payment_notices_proposed(tmp_path: Path, mailbox: Mailbox) -> None:
    for number, _, _ in PAYMENT_NOTICES:
        mailbox.add_invoice(number, f"Client {number}", f"ap-{number.lower()}@client.example")
    with SandboxServer(mailbox.store) as server:
        mailbox.check(server.url)
        mailbox.run(server.url, _config(tmp_path))
        for _, raw, _ in PAYMENT_NOTICES:
            mailbox.store.add_message(raw, label_ids=["INBOX", "UNREAD"])
        report = mailbox.run(server.url, _config(tmp_path))

    items = _open_items(mailbox.ledger, PAYMENT)
    assert sorted(event.invoice_numbers for event in report.payments) == [
        ("INV-1",), ("INV-2",), ("INV-3",)
    ]
    for number, _, amount in PAYMENT_NOTICES:
        assert f"assistant paid {number} --amount {amount}" in items[number]
        # A notice is only a proposal: nothing is paid and chasing goes on.
        invoice = mailbox.ledger.get_invoice(number)
        assert invoice.amount_paid == 0
        assert blocking_reason(mailbox.ledger, number, TODAY) is None


def test_payment_in_other_currency_warns(tmp_path: Path, mailbox: Mailbox) -> None:
    mailbox.add_invoice("INV-1", "Acme", "ap@acme.example")
    raw = _notice("notifications@stripe.com", "Payment received",
                  "You received a payment of $1,300.00 USD for invoice INV-1.")
    with SandboxServer(mailbox.store) as server:
        mailbox.check(server.url)
        mailbox.run(server.url, _config(tmp_path))
        mailbox.store.add_message(raw, label_ids=["INBOX"])
        mailbox.run(server.url, _config(tmp_path))

    detail = _open_items(mailbox.ledger, PAYMENT)["INV-1"]
    assert "in USD but the invoice is in EUR" in detail


def _stats(url: str) -> dict:
    response, content = httplib2.Http().request(url + "sandbox/stats")
    assert response.status == 200
    return json.loads(content)


def _reset_stats(url: str) -> None:
    response, _ = httplib2.Http().request(url + "sandbox/stats/reset", method="POST")
    assert response.status == 200
