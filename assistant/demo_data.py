"""The demo's sample consultant: a Gmail Takeout mailbox and an invoice export.

Rivera Consulting sent seven invoices in February 2026. The mailbox holds the
situations the assistant must tell apart: invoices sent properly, one left in
Drafts, one that bounced, one sent to an old address, and one sent recently.
The messages that arrive while the demo plays (a client's reply, an
out-of-office answer, a payment notification) are built here too and
inserted into the sandbox at their simulated time.

The shipped files in ``assistant/data`` are written by
``python -m assistant.demo_data``; the output is the same on every run.
"""

from __future__ import annotations

import mailbox
from email import message_from_bytes, policy
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

OWNER_NAME = "Alex Rivera"
OWNER = "alex@rivera-consulting.example"
BUSINESS = "Rivera Consulting"
DATA_DIR = Path(__file__).parent / "data"
MAILBOX_FILE = "demo_mailbox.mbox"
LEDGER_FILE = "demo_invoices.csv"


@dataclass(frozen=True)
class DemoInvoice:
    number: str
    client: str
    contact: str
    email: str  # the client's address in the ledger
    amount: str
    currency: str
    issue_date: str
    due_date: str
    language: str
    timezone: str
    country: str
    sent_to: str | None  # where the mail went; None: left in Drafts
    subject: str
    labels: str  # Takeout X-Gmail-Labels of the invoice message


INVOICES = (
    DemoInvoice("INV-2026-001", "Northwind Traders", "Dana", "ap@northwind.example",
                "4800.00", "USD", "2026-02-02", "2026-03-04", "en", "America/New_York", "US",
                "ap@northwind.example", "Invoice INV-2026-001 from Rivera Consulting", "Sent"),
    DemoInvoice("INV-2026-002", "Contoso GmbH", "Jonas", "buchhaltung@contoso.example",
                "3150.00", "EUR", "2026-02-09", "2026-03-11", "en", "Europe/Berlin", "DE",
                "buchhaltung@contoso.example", "Invoice INV-2026-002 from Rivera Consulting",
                "Sent"),
    DemoInvoice("INV-2026-003", "Sakura Trading KK", "Sato", "keiri@sakura.example",
                "420000", "JPY", "2026-02-16", "2026-03-18", "ja", "Asia/Tokyo", "JP",
                "keiri@sakura.example", "請求書 INV-2026-003 送付のご案内", "Sent"),
    DemoInvoice("INV-2026-004", "Fabrikam Ltd", "Priya", "accounts@fabrikam.example",
                "1200.00", "GBP", "2026-02-18", "2026-03-20", "en", "Europe/London", "GB",
                None, "Invoice INV-2026-004 from Rivera Consulting", "Drafts"),
    DemoInvoice("INV-2026-005", "Tailspin Toys", "Sam", "billing@tailspin.example",
                "980.00", "USD", "2026-02-19", "2026-03-21", "en", "America/Chicago", "US",
                "billing@tailspin.example", "Invoice INV-2026-005 from Rivera Consulting",
                "Sent"),
    DemoInvoice("INV-2026-006", "Litware Inc", "Chris", "ap@litware.example",
                "2600.00", "USD", "2026-02-20", "2026-03-22", "en", "America/Los_Angeles",
                "US", "chris@litware-old.example",
                "Invoice INV-2026-006 from Rivera Consulting", "Sent"),
    DemoInvoice("INV-2026-007", "Adventure Works", "Maria", "finance@adventure.example",
                "5400.00", "EUR", "2026-02-23", "2026-03-25", "en", "Europe/Madrid", "ES",
                "finance@adventure.example", "Invoice INV-2026-007 from Rivera Consulting",
                "Sent"),
)


def invoice_pdf(invoice: DemoInvoice) -> bytes:
    """Return a one-page PDF invoice whose text names the number and amount."""
    lines = [
        f"{BUSINESS} - Invoice {invoice.number}",
        f"Bill to: {invoice.client}",
        f"Issue date: {invoice.issue_date}   Due date: {invoice.due_date}",
        f"Amount due: {invoice.amount} {invoice.currency}",
        "Payment by bank transfer to IBAN DE00 0000 0000 0000 0000 00",
    ]
    text = "BT /F1 12 Tf 72 770 Td 16 TL " + " ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
        for line in lines
    ) + " ET"

    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text.encode("latin-1")),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]

    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref,
    )
    return bytes(out)


def _at(day: str, hour: int = 9, minute: int = 12) -> datetime:
    moment = datetime.fromisoformat(day)
    return moment.replace(hour=hour, minute=minute, tzinfo=timezone.utc)


def invoice_message(invoice: DemoInvoice) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"{OWNER_NAME} <{OWNER}>"
    message["To"] = f"{invoice.contact} <{invoice.sent_to or invoice.email}>"
    message["Subject"] = invoice.subject
    message["Date"] = format_datetime(_at(invoice.issue_date))
    message["Message-ID"] = f"<{invoice.number.lower()}@rivera-consulting.example>"
    if invoice.language == "ja":
        body = (
            f"{invoice.client}\n{invoice.contact}様\n\nいつもお世話になっております。"
            f"{BUSINESS}の{OWNER_NAME}です。\n請求書 {invoice.number} をお送りいたします。"
            f"\nお支払期日は{invoice.due_date}です。\n\nよろしくお願い申し上げます。"
        )
    else:
        body = (
            f"Hi {invoice.contact},\n\nplease find attached invoice {invoice.number}"
            f" for February's work, due on {invoice.due_date}.\n\nThank you,\n{OWNER_NAME}"
        )
    message.set_content(body)
    message.add_attachment(
        invoice_pdf(invoice), maintype="application", subtype="pdf",
        filename=f"{invoice.number}.pdf",
    )
    # A fixed boundary keeps the shipped mailbox the same on every regeneration.
    message.set_boundary(f"invoice-{invoice.number.lower()}")
    return message


def bounce_for(invoice: DemoInvoice) -> EmailMessage:
    """Return a delivery status notification (RFC 3464) for an invoice message."""
    original = invoice_message(invoice)
    returned = "".join(f"{name}: {value}\n" for name, value in original.items())
    text = (
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        f"To: {OWNER}\n"
        "Subject: Delivery Status Notification (Failure)\n"
        f"Date: {format_datetime(_at(invoice.issue_date, minute=14))}\n"
        f"Message-ID: <dsn-{invoice.number.lower()}@mx.googlemail.example>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type="delivery-status";'
        ' boundary="dsn-boundary"\n\n'
        "--dsn-boundary\nContent-Type: text/plain; charset=utf-8\n\n"
        f"Your message wasn't delivered to {invoice.sent_to} because the address"
        " couldn't be found, or is unable to receive mail.\n\n"
        "--dsn-boundary\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; googlemail.com\n\n"
        f"Final-Recipient: rfc822; {invoice.sent_to}\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 The email account does not exist.\n\n"
        "--dsn-boundary\nContent-Type: text/rfc822-headers\n\n"
        f"{returned}\n--dsn-boundary--\n"
    )
    parsed = message_from_bytes(text.encode("utf-8"), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _takeout(message: EmailMessage, thread_key: int, labels: str) -> mailbox.mboxMessage:
    """Add Takeout's thread and label headers and a From_ line dated as the message."""
    message["X-GM-THRID"] = str(thread_key)
    message["X-Gmail-Labels"] = labels
    entry = mailbox.mboxMessage(message)
    sent = parsedate_to_datetime(str(message["Date"]))
    entry.set_from(f"{thread_key}@xxx", sent.astimezone(timezone.utc).timetuple())
    return entry


def write_mailbox(path: Path) -> None:
    """Write the demo's Takeout-style mbox to ``path``."""
    if path.exists():
        path.unlink()
    box = mailbox.mbox(str(path), create=True)
    box.lock()
    try:
        for index, invoice in enumerate(INVOICES):
            thread = 1_760_000_000_000_000_000 + index
            box.add(_takeout(invoice_message(invoice), thread, invoice.labels))
            if invoice.number == "INV-2026-005":
                box.add(_takeout(bounce_for(invoice), thread + 100, "Inbox,Unread"))
        box.flush()
    finally:
        box.unlock()
        box.close()


def write_ledger(path: Path) -> None:
    """Write the demo's invoice export in the plain template."""
    header = (
        "number,client,email,amount,currency,issue_date,due_date,"
        "contact,language,timezone,country\n"
    )
    rows = "".join(
        f"{i.number},{i.client},{i.email},{i.amount},{i.currency},{i.issue_date},"
        f"{i.due_date},{i.contact},{i.language},{i.timezone},{i.country}\n"
        for i in INVOICES
    )
    path.write_text(header + rows, encoding="utf-8")


def client_reply(invoice: DemoInvoice, when: datetime, thread_subject: str) -> EmailMessage:
    """Build a human reply from the client in the invoice thread."""
    message = EmailMessage()
    message["From"] = f"{invoice.contact} <{invoice.email}>"
    message["To"] = OWNER
    message["Subject"] = f"Re: {thread_subject}"
    message["Date"] = format_datetime(when)
    message["Message-ID"] = f"<reply-{invoice.number.lower()}@{invoice.email.split('@')[1]}>"
    message["In-Reply-To"] = f"<{invoice.number.lower()}@rivera-consulting.example>"
    message["References"] = f"<{invoice.number.lower()}@rivera-consulting.example>"
    message.set_content(
        f"Hi {OWNER_NAME.split()[0]},\n\nsorry for the delay: our approval run slipped."
        " The payment is scheduled for next Friday.\n\nBest,\n" + invoice.contact
    )
    return message


def out_of_office(invoice: DemoInvoice, when: datetime, back_on: str) -> EmailMessage:
    """Build an automatic out-of-office reply that names a return date."""
    message = EmailMessage()
    message["From"] = f"{invoice.contact} <{invoice.email}>"
    message["To"] = OWNER
    message["Subject"] = "自動返信: 不在のお知らせ" if invoice.language == "ja" else (
        "Automatic reply: Out of office"
    )
    message["Auto-Submitted"] = "auto-replied"
    message["Date"] = format_datetime(when)
    message["Message-ID"] = f"<ooo-{invoice.number.lower()}@{invoice.email.split('@')[1]}>"
    if invoice.language == "ja":
        message.set_content(f"ただいま不在にしております。{back_on}に戻ります。")
    else:
        message.set_content(f"I am out of the office and will be back on {back_on}.")
    return message


def payment_notice(invoice: DemoInvoice, when: datetime) -> EmailMessage:
    """Build a Stripe-style notification that the client paid the invoice."""
    message = EmailMessage()
    message["From"] = "Stripe <notifications@stripe.com>"
    message["To"] = OWNER
    message["Subject"] = f"Payment received for invoice {invoice.number}"
    message["Date"] = format_datetime(when)
    message["Message-ID"] = f"<pay-{invoice.number.lower()}@stripe.example>"
    amount = f"{invoice.amount} {invoice.currency}"
    message.set_content(
        f"You received a payment of {amount} from {invoice.client}"
        f" for invoice {invoice.number}. The funds will be paid out to your bank account."
    )
    return message


def main() -> None:
    DATA_DIR.mkdir(exist_ok=True)
    write_mailbox(DATA_DIR / MAILBOX_FILE)
    write_ledger(DATA_DIR / LEDGER_FILE)
    print(f"wrote {DATA_DIR / MAILBOX_FILE} and {DATA_DIR / LEDGER_FILE}")


if __name__ == "__main__":
    main()
