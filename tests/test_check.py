"""The sent check end to end: a real mailbox in the sandbox, a CSV ledger, every status."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Iterator

import pytest

from assistant.clock import SimulatedClock, to_epoch_ms
from assistant.gmail import GmailClient
from assistant.invoice_check import check_invoices, evidence_json
from assistant.invoice_import import import_invoices
from assistant.ledger import Ledger
from assistant.mail_sync import MailCache, MailReader
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.loading import load_mailbox
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore

OWNER = "anna@consultant.example"
NOW = datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc)

LEDGER_CSV = """number,client,email,amount,currency,issue_date,due_date
INV/2023/03/0008,Azure Interior,billing@azure.example,1200.00,EUR,2026-03-02,2026-04-01
RE-20170509/505,Gnu Accounting,buchhaltung@gnu.example,876.00,EUR,2026-03-02,2026-04-01
INV-1003,Gamma Ltd,pay@gamma.example,450.00,GBP,2026-03-03,2026-04-02
INV-1004,Delta Inc,ar@delta.example,990.00,USD,2026-03-03,2026-04-02
INV-1005,Epsilon GmbH,ep@epsilon.example,300.00,EUR,2026-03-04,2026-04-03
INV-10,Zeta Co,ap@zeta.example,100.00,USD,2026-03-04,2026-04-03
INV-1006,Nihon KK,keiri@nihon.example,120000,JPY,2026-03-05,2026-04-04
103767,Cronus AG,info@cronus.example,2500.00,EUR,2026-03-05,2026-04-04
"""

EXPECTED = {
    "INV/2023/03/0008": "sent",
    "RE-20170509/505": "sent",
    "INV-1003": "bounced",
    "INV-1004": "sent_to_other_address",
    "INV-1005": "draft_only",
    "INV-10": "not_found",
    "INV-1006": "sent",
    "103767": "sent",
}


def _mail(
    to: str,
    subject: str,
    body: str,
    when: datetime,
    *,
    sender: str = OWNER,
    pdf: tuple[str, bytes] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = make_msgid(domain="consultant.example")
    message.set_content(body)
    if pdf is not None:
        message.add_attachment(
            pdf[1], maintype="application", subtype="pdf", filename=pdf[0]
        )
    return message


def _delivery_failure(original: EmailMessage, failed: str, when: datetime) -> bytes:
    """Build an RFC 3464 delivery status notification for ``original``."""
    returned = "".join(f"{name}: {value}\r\n" for name, value in original.items())
    return (
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\n"
        f"To: {OWNER}\r\n"
        "Subject: Delivery Status Notification (Failure)\r\n"
        f"Date: {format_datetime(when)}\r\n"
        f"Message-ID: {make_msgid(domain='mx.google.example')}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type="delivery-status"; boundary="b1"\r\n'
        "\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Your message wasn't delivered to {failed} because the address couldn't be found.\r\n"
        "\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; googlemail.com\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "\r\n--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"{returned}\r\n--b1--\r\n"
    ).encode("utf-8")


def _at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=timezone.utc)


def _build_mailbox(store: MailStore, corpus: Path) -> None:
    invoices = corpus / "invoices"
    azure = (invoices / "invoice2data_AzureInterior.pdf").read_bytes()
    gnu = (
        invoices / "mustang_MustangGnuaccountingBeispielRE-20170509_505.pdf"
    ).read_bytes()
    cronus = (invoices / "mustang_103767-Invoice-2026-03-24-1.pdf").read_bytes()

    def add(message: EmailMessage | bytes, labels: list[str], when: datetime) -> None:
        raw = message if isinstance(message, bytes) else message.as_bytes()
        store.add_message(raw, label_ids=labels, internal_date_ms=to_epoch_ms(when))

    # The number is only in the PDF's text.
    add(
        _mail(
            "billing@azure.example",
            "Your invoice for March",
            "Please find it attached.",
            _at(2),
            pdf=("invoice.pdf", azure),
        ),
        ["SENT"],
        _at(2),
    )
    # Sent twice: the earliest counts.
    for day in (2, 9):
        add(
            _mail(
                "Buchhaltung <buchhaltung@gnu.example>",
                "Rechnung RE-20170509/505",
                "Anbei die Rechnung.",
                _at(day),
                pdf=("RE-20170509-505.pdf", gnu),
            ),
            ["SENT"],
            _at(day),
        )
    gamma = _mail("pay@gamma.example", "Invoice INV-1003", "Attached.", _at(3))
    add(gamma, ["SENT"], _at(3))
    add(
        _delivery_failure(gamma, "pay@gamma.example", _at(3, 10)),
        ["INBOX", "UNREAD"],
        _at(3, 10),
    )
    add(
        _mail("wrong@elsewhere.example", "Invoice INV-1004", "Attached.", _at(3)),
        ["SENT"],
        _at(3),
    )
    add(
        _mail("ep@epsilon.example", "Invoice INV-1005", "Draft, never sent.", _at(4)),
        ["DRAFT"],
        _at(4),
    )
    # INV-100 is not INV-10; the client asks about INV-10.
    add(
        _mail("ap@zeta.example", "Invoice INV-100", "Attached.", _at(4)),
        ["SENT"],
        _at(4),
    )
    add(
        _mail(
            OWNER,
            "Question about INV-10",
            "Has INV-10 been issued yet?",
            _at(6),
            sender="ap@zeta.example",
        ),
        ["INBOX"],
        _at(6),
    )
    japanese = _mail("keiri@nihon.example", "", "請求書を添付いたします。", _at(5))
    del japanese["Subject"]
    japanese["Subject"] = "請求書 INV-1006 送付のご案内"
    add(_to_iso_2022_jp_subject(japanese), ["SENT"], _at(5))
    add(
        _mail(
            "info@cronus.example",
            "Invoice 103767",
            "Attached.",
            _at(5),
            pdf=("103767.pdf", cronus),
        ),
        ["SENT"],
        _at(5),
    )

    # Real mail around it: bounces of other messages, replies and MIME oddities.
    for folder in ("bounces", "replies", "mime"):
        load_mailbox(store, corpus / folder)


def _to_iso_2022_jp_subject(message: EmailMessage) -> EmailMessage:
    """Re-encode the subject as ISO-2022-JP encoded words, as Japanese mailers do."""
    from email.header import Header

    subject = str(message["Subject"])
    del message["Subject"]
    message["Subject"] = Header(subject, "iso-2022-jp").encode()
    return message


@pytest.fixture
def mailbox(tmp_path: Path, corpus_dir: Path) -> Iterator[MailStore]:
    store = MailStore(str(tmp_path / "mailbox.db"), clock=SandboxClock())
    store.set_user_email(OWNER)
    _build_mailbox(store, corpus_dir)
    yield store
    store.close()


def _ledger(tmp_path: Path, clock: SimulatedClock, name: str) -> Ledger:
    csv_path = tmp_path / "invoices.csv"
    csv_path.write_text(LEDGER_CSV, encoding="utf-8")
    ledger = Ledger.open(tmp_path / name, clock)
    import_invoices(ledger, csv_path)
    return ledger


def _run_check(url: str, ledger: Ledger, clock: SimulatedClock) -> dict[str, dict]:
    client = GmailClient.connect(url, sleep=lambda seconds: None)
    reader = MailReader(client, MailCache(ledger.db, OWNER), clock)
    results = check_invoices(ledger, reader, clock)
    return {r.invoice.number: evidence_json(r.evidence) for r in results}


def test_check_finds_every_status(tmp_path: Path, mailbox: MailStore) -> None:
    clock = SimulatedClock(NOW)
    ledger = _ledger(tmp_path, clock, "ledger.db")
    with SandboxServer(mailbox) as server:
        found = _run_check(server.url, ledger, clock)

    assert {number: item["status"] for number, item in found.items()} == EXPECTED
    azure = found["INV/2023/03/0008"]
    assert azure["attachment"] == "invoice.pdf"
    assert azure["to"] == ["billing@azure.example"]
    assert azure["sent_at"] == "2026-03-02T09:00:00Z"
    assert "attachment text" in azure["detail"]
    gnu = found["RE-20170509/505"]
    assert gnu["sent_at"] == "2026-03-02T09:00:00Z"
    assert "1 more time" in gnu["detail"]
    assert found["INV-1006"]["rfc822_message_id"].startswith("<")
    assert "wrote about it" in found["INV-10"]["detail"]
    assert "wrong@elsewhere.example" in found["INV-1004"]["detail"]


def test_check_stores_evidence_in_ledger(tmp_path: Path, mailbox: MailStore) -> None:
    clock = SimulatedClock(NOW)
    ledger = _ledger(tmp_path, clock, "ledger.db")
    with SandboxServer(mailbox) as server:
        found = _run_check(server.url, ledger, clock)

    stored = ledger.get_evidence("103767")
    assert stored is not None
    assert stored.status == "sent"
    assert stored.message_id == found["103767"]["message_id"]
    assert stored.thread_id == found["103767"]["thread_id"]
    assert stored.attachment_name == "103767.pdf"
    assert stored.attachment_id


def test_check_same_answer_with_faults(tmp_path: Path, mailbox: MailStore) -> None:
    clock = SimulatedClock(NOW)
    with SandboxServer(mailbox) as server:
        clean = _run_check(server.url, _ledger(tmp_path, clock, "clean.db"), clock)
    with SandboxServer(mailbox, fail_rate=0.2, seed=7) as server:
        faulty = _run_check(server.url, _ledger(tmp_path, clock, "faulty.db"), clock)

    assert faulty == clean


def test_second_run_reads_only_history(tmp_path: Path, mailbox: MailStore) -> None:
    clock = SimulatedClock(NOW)
    ledger = _ledger(tmp_path, clock, "ledger.db")
    with SandboxServer(mailbox) as server:
        first = _run_check(server.url, ledger, clock)
        stats = server.api.stats if hasattr(server.api, "stats") else None
        client = GmailClient.connect(server.url)
        _reset_stats(server.url)
        second = _run_check(server.url, ledger, clock)
        calls = _stats(server.url)["calls"]
        del client, stats

    assert second == first
    assert set(calls) <= {"gmail.users.getProfile", "gmail.users.history.list"}


def test_new_sent_mail_found_after_history(tmp_path: Path, mailbox: MailStore) -> None:
    clock = SimulatedClock(NOW)
    ledger = _ledger(tmp_path, clock, "ledger.db")
    with SandboxServer(mailbox) as server:
        first = _run_check(server.url, ledger, clock)
        assert first["INV-1005"]["status"] == "draft_only"
        mailbox.send_message(
            _mail(
                "ep@epsilon.example", "Invoice INV-1005", "Now sent.", _at(10)
            ).as_bytes()
        )
        second = _run_check(server.url, ledger, clock)

    assert second["INV-1005"]["status"] == "sent"


def test_expired_history_triggers_resync(tmp_path: Path, corpus_dir: Path) -> None:
    store = MailStore(
        str(tmp_path / "mailbox.db"), clock=SandboxClock(), history_retention=1
    )
    store.set_user_email(OWNER)
    _build_mailbox(store, corpus_dir)
    clock = SimulatedClock(NOW)
    ledger = _ledger(tmp_path, clock, "ledger.db")
    with SandboxServer(store) as server:
        first = _run_check(server.url, ledger, clock)
        # Two changes push the recorded start point out of the retained history.
        for day in (10, 11):
            store.send_message(
                _mail("x@other.example", f"Note {day}", "Hi.", _at(day)).as_bytes()
            )
        second = _run_check(server.url, ledger, clock)
    store.close()

    assert second == first


def _stats(url: str) -> dict:
    import httplib2

    response, content = httplib2.Http().request(url + "sandbox/stats")
    assert response.status == 200
    return json.loads(content)


def _reset_stats(url: str) -> None:
    import httplib2

    response, _ = httplib2.Http().request(url + "sandbox/stats/reset", method="POST")
    assert response.status == 200


@pytest.mark.parametrize("content", [b"", b"hello, not a mailbox\n"], ids=["empty", "not-mbox"])
def test_takeout_without_messages_is_rejected(tmp_path: Path, content: bytes) -> None:
    from click.testing import CliRunner

    import assistant.cli as cli_module
    from assistant.errors import InputError
    from assistant.ledger import Invoice, SentEvidence

    cli_module._register_commands()
    now = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)
    db = tmp_path / "ledger.db"
    ledger = Ledger.open(db, SimulatedClock(now))
    ledger.add_invoice(
        Invoice("INV-1", "Azure Interior", Decimal("100.00"), "EUR", now.date(), now.date())
    )
    ledger.set_evidence(SentEvidence("INV-1", "sent", now, message_id="m-1"))
    ledger.close()
    takeout = tmp_path / "export.mbox"
    takeout.write_bytes(content)

    result = CliRunner().invoke(
        cli_module.cli, ["--db", str(db), "check", "--takeout", str(takeout)]
    )

    # The CLI's entry point maps InputError to its exit status; CliRunner keeps it.
    assert isinstance(result.exception, InputError), result.output
    message = str(result.exception)
    assert str(takeout) in message
    assert "no messages" in message
    assert "All mail Including Spam and Trash.mbox" in message
    ledger = Ledger.open(db, SimulatedClock(now))
    evidence = ledger.get_evidence("INV-1")
    ledger.close()
    assert evidence is not None
    assert evidence.status == "sent", "a failed check keeps what earlier checks found"


def test_check_table_fits_80_columns() -> None:
    from rich.console import Console

    from assistant.cli.check_commands import print_check_table
    from assistant.invoice_check import CheckedInvoice
    from assistant.ledger import Invoice, SentEvidence

    now = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)
    detail = (
        "Sent 2026-02-20 UTC to chris@litware-old.example, which is not an address of "
        "Litware Inc (ap@litware.example); add the address with 'assistant client set'"
    )
    results = [
        CheckedInvoice(
            Invoice("INV-2026-000006", "Litware Inc", Decimal("1"), "USD", now.date(),
                    now.date()),
            SentEvidence("INV-2026-000006", "sent_to_other_address", now, detail=detail),
        )
    ]
    console = Console(width=80, record=True)

    print_check_table(results, console)

    lines = console.export_text().splitlines()
    text = "\n".join(lines)
    assert all(len(line) <= 80 for line in lines), lines
    for whole in ("INV-2026-000006", "chris@litware-old.example,", "2026-02-20",
                  "(ap@litware.example);"):
        assert whole in text, whole
