"""A mailbox of sent invoices, with real PDFs from the corpus, for drafting tests.

On Monday 2026-04-20 at 03:00 UTC (the default clock of these tests):

- Azure Interior: INV/2023/03/0008, named only in the PDF, due Thursday
  2026-04-23, so its gentle note goes out Wednesday.
- Nihon KK (Japanese, Asia/Tokyo): INV-1006, subject in ISO-2022-JP, also due
  2026-04-23 and at the gentle stage.
- Gnu Accounting: RE-20170509/505 and RE-2026-0002, due 2026-04-14 and
  2026-04-15, both at early_late, so one reminder covers both.
- Cronus AG: 103767, due 2026-04-01, well into late_late (URGENT).
- Zeta Co: INV-10, never sent, so it needs the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from assistant.clock import to_epoch_ms
from assistant.invoice_import import import_invoices
from assistant.ledger import Ledger
from assistant.sandbox.store import MailStore

OWNER = "anna@consultant.example"
NOW = datetime(2026, 4, 20, 3, 0, tzinfo=timezone.utc)

LEDGER_CSV = """number,client,email,amount,currency,issue_date,due_date
INV/2023/03/0008,Azure Interior,billing@azure.example,1200.00,EUR,2026-03-24,2026-04-23
INV-1006,Nihon KK,keiri@nihon.example,120000,JPY,2026-03-24,2026-04-23
RE-20170509/505,Gnu Accounting,buchhaltung@gnu.example,876.00,EUR,2026-03-09,2026-04-14
RE-2026-0002,Gnu Accounting,buchhaltung@gnu.example,450.50,EUR,2026-03-10,2026-04-15
103767,Cronus AG,info@cronus.example,2500.00,EUR,2026-03-02,2026-04-01
INV-10,Zeta Co,ap@zeta.example,100.00,USD,2026-03-04,2026-04-03
"""


@dataclass(frozen=True)
class SentInvoice:
    """One invoice message placed in Sent, and the PDF it carries."""

    number: str
    subject: str
    to: str
    sent_at: datetime
    pdf_name: str | None
    pdf: bytes | None
    cc: str | None = None


def _at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=timezone.utc)


def sent_invoices(corpus: Path) -> list[SentInvoice]:
    invoices = corpus / "invoices"

    def pdf(name: str) -> bytes:
        return (invoices / name).read_bytes()

    return [
        SentInvoice(
            "INV/2023/03/0008", "Your invoice for March", "billing@azure.example",
            _at(3, 24), "invoice.pdf", pdf("invoice2data_AzureInterior.pdf"),
        ),
        SentInvoice(
            "INV-1006", "請求書 INV-1006 送付のご案内", "経理部 <keiri@nihon.example>",
            _at(3, 24), "INV-1006.pdf", pdf("invoicemaker_expected-custom-language.pdf"),
            cc=f"Anna <{OWNER}>, 山田 <yamada@nihon.example>",
        ),
        SentInvoice(
            "RE-20170509/505", "Rechnung RE-20170509/505",
            "Buchhaltung <buchhaltung@gnu.example>", _at(3, 9), "RE-20170509-505.pdf",
            pdf("mustang_MustangGnuaccountingBeispielRE-20170509_505.pdf"),
        ),
        SentInvoice(
            "RE-2026-0002", "Rechnung RE-2026-0002", "buchhaltung@gnu.example",
            _at(3, 10), "RE-2026-0002.pdf", pdf("mustang_EN16931_Einfach.pdf"),
        ),
        SentInvoice(
            "103767", "Invoice 103767", "info@cronus.example", _at(3, 2),
            "103767.pdf", pdf("mustang_103767-Invoice-2026-03-24-1.pdf"),
        ),
    ]


def invoice_message(sent: SentInvoice) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Anna Berg <{OWNER}>"
    message["To"] = sent.to
    if sent.cc:
        message["Cc"] = sent.cc
    if sent.subject.isascii():
        message["Subject"] = sent.subject
    else:
        # Japanese mailers write ISO-2022-JP encoded words.
        message["Subject"] = Header(sent.subject, "iso-2022-jp").encode()
    message["Date"] = format_datetime(sent.sent_at)
    message["Message-ID"] = make_msgid(domain="consultant.example")
    message["References"] = make_msgid(domain="earlier.example")
    message.set_content("Please find the invoice attached.\n")
    if sent.pdf is not None and sent.pdf_name is not None:
        message.add_attachment(
            sent.pdf, maintype="application", subtype="pdf", filename=sent.pdf_name
        )
    return message


def build_mailbox(store: MailStore, corpus: Path) -> dict[str, SentInvoice]:
    """Put each invoice in Sent; return them by number."""
    store.set_user_email(OWNER)
    found = {}
    for sent in sent_invoices(corpus):
        store.add_message(
            invoice_message(sent).as_bytes(),
            label_ids=["SENT"],
            internal_date_ms=to_epoch_ms(sent.sent_at),
        )
        found[sent.number] = sent
    return found


def build_ledger(tmp_path: Path, ledger: Ledger) -> Ledger:
    """Import the invoices and set the Japanese client's language and zone."""
    csv_path = tmp_path / "invoices.csv"
    csv_path.write_text(LEDGER_CSV, encoding="utf-8")
    import_invoices(ledger, csv_path)
    ledger.set_client(
        "Nihon KK", language="ja", timezone="Asia/Tokyo", country="JP",
        contact_first_name="田中",
    )
    ledger.set_client("Gnu Accounting", timezone="Europe/Berlin", country="DE")
    ledger.set_client("Azure Interior", timezone="Europe/Brussels", contact_first_name="Lena")
    return ledger
