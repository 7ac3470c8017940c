"""Reminder MIME: reply headers, encodings, recipients, attachments and big messages."""

from __future__ import annotations

import base64
import io
import random
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.header import decode_header, make_header
from email.parser import BytesParser
from email.utils import make_msgid, parseaddr
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader, PdfWriter

from assistant.compose import (
    InvoiceFile,
    InvoiceMail,
    Mailbox,
    ReminderMessage,
    SenderIdentity,
    build_reminder_message,
    reply_subject,
    sender_identities,
    urgent_subject,
)
from assistant.errors import InputError
from assistant.gmail import MEDIA_UPLOAD_THRESHOLD, GmailClient
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore
from assistant.templating import RenderedReminder

OWNER = "anna@consultant.example"
ALIAS = "billing@berg.example"
IDENTITIES = [
    SenderIdentity(OWNER, "Anna Berg", is_primary=True),
    SenderIdentity(ALIAS, "Berg Consulting Billing"),
]
RENDERED = RenderedReminder(
    subject="Reminder: invoice INV-1 is due on 23 April 2026",
    body_text="Dear Lena,\n\nA friendly reminder.\n\nBest regards,\nAnna\n",
)
URGENT = RenderedReminder(
    subject="URGENT: invoice INV-1 is 12 days overdue",
    body_text="Dear Lena,\n\nInvoice INV-1 is overdue.\n\nRegards,\nAnna\n",
)
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def _mail(
    number: str = "INV-1",
    *,
    subject: str = "Invoice INV-1",
    sender: str = OWNER,
    to: tuple[Mailbox, ...] = (Mailbox("lena@client.example", "Lena Vogel"),),
    cc: tuple[Mailbox, ...] = (),
    sent_at: datetime = datetime(2026, 3, 2, 9, tzinfo=timezone.utc),
    thread_id: str = "thread-1",
    attachment: InvoiceFile | None = InvoiceFile("INV-1.pdf", "application/pdf", PDF),
    references: tuple[str, ...] = ("<root@client.example>",),
) -> InvoiceMail:
    return InvoiceMail(
        invoice_number=number,
        gmail_id=f"gmail-{number}",
        thread_id=thread_id,
        rfc822_message_id=f"<{number}@consultant.example>",
        sender=sender,
        to=to,
        cc=cc,
        subject=subject,
        references=references,
        sent_at=sent_at,
        attachment=attachment,
    )


def _parse(composed: ReminderMessage) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(composed.raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _headers_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def test_reply_headers_follow_invoice() -> None:
    composed = build_reminder_message("gentle.0.INV-1", [_mail()], RENDERED, IDENTITIES)

    message = _parse(composed)
    assert message["In-Reply-To"] == "<INV-1@consultant.example>"
    assert str(message["References"]).split() == [
        "<root@client.example>",
        "<INV-1@consultant.example>",
    ]
    assert message["Subject"] == "Re: Invoice INV-1"
    assert message["X-Assistant-Reminder"] == "gentle.0.INV-1"
    assert message["Date"] is None
    assert composed.thread_id == "thread-1"
    assert composed.extra_thread_ids == ()


def test_raw_uses_crlf_line_endings() -> None:
    composed = build_reminder_message("gentle.0.INV-1", [_mail()], RENDERED, IDENTITIES)

    assert b"\r\n" in composed.raw
    assert b"\n" not in composed.raw.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Invoice INV-1", "Re: Invoice INV-1"),
        ("Re: Invoice INV-1", "Re: Invoice INV-1"),
        ("RE: Invoice INV-1", "RE: Invoice INV-1"),
        ("re : Invoice INV-1", "re : Invoice INV-1"),
        ("  Invoice   INV-1 ", "Re: Invoice INV-1"),
        ("Fwd: Invoice INV-1", "Re: Fwd: Invoice INV-1"),
        ("", "Re:"),
    ],
)
def test_reply_subject_never_doubles_re(original: str, expected: str) -> None:
    assert reply_subject(original) == expected


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        ("URGENT: invoice INV-1 is overdue", "URGENT: invoice INV-1 is overdue"),
        ("Invoice INV-1 is overdue", "URGENT: Invoice INV-1 is overdue"),
        ("【至急】請求書 INV-1 のお支払いのお願い", "【至急】請求書 INV-1 のお支払いのお願い"),
    ],
)
def test_urgent_subject_marked_once(rendered: str, expected: str) -> None:
    assert urgent_subject(rendered, "URGENT") == expected


def test_sender_is_address_invoice_came_from() -> None:
    composed = build_reminder_message(
        "gentle.0.INV-1", [_mail(sender=ALIAS)], RENDERED, IDENTITIES
    )

    message = _parse(composed)
    assert message["From"].addresses[0].addr_spec == ALIAS
    assert message["From"].addresses[0].display_name == "Berg Consulting Billing"
    assert composed.notes == ()


def test_unknown_sender_falls_back_to_primary() -> None:
    composed = build_reminder_message(
        "gentle.0.INV-1", [_mail(sender="old@previous.example")], RENDERED, IDENTITIES
    )

    assert composed.sender == OWNER
    assert any("old@previous.example" in note for note in composed.notes)


def test_send_as_resources_put_primary_first() -> None:
    identities = sender_identities(
        [
            {"sendAsEmail": "Alias@Berg.example", "displayName": "Billing"},
            {"sendAsEmail": OWNER, "isPrimary": True, "signature": "<b>Anna</b>"},
        ]
    )

    assert [i.email for i in identities] == [OWNER, "alias@berg.example"]
    assert identities[0].signature_html == "<b>Anna</b>"


def test_own_addresses_left_out_of_recipients() -> None:
    mail = _mail(
        to=(Mailbox("lena@client.example", ""), Mailbox(OWNER, "")),
        cc=(Mailbox(ALIAS.upper(), "Anna"), Mailbox("ap@client.example", "")),
    )
    composed = build_reminder_message("gentle.0.INV-1", [mail], RENDERED, IDENTITIES)

    assert composed.to == ("lena@client.example",)
    assert composed.cc == ("ap@client.example",)


def test_no_recipient_left_is_rejected() -> None:
    mail = _mail(to=(Mailbox(OWNER, ""),))

    with pytest.raises(InputError, match="no recipient"):
        build_reminder_message("gentle.0.INV-1", [mail], RENDERED, IDENTITIES)


def test_non_ascii_headers_use_encoded_words() -> None:
    mail = _mail(
        subject="請求書 INV-1 送付のご案内",
        to=(Mailbox("keiri@nihon.example", "経理部 田中"),),
    )
    composed = build_reminder_message("gentle.0.INV-1", [mail], RENDERED, IDENTITIES)

    block = _headers_block(composed.raw)
    assert block.isascii()
    assert b"Subject: Re: =?utf-8?" in block
    assert b"To: =?utf-8?" in block
    message = _parse(composed)
    assert message["Subject"] == "Re: 請求書 INV-1 送付のご案内"
    assert message["To"].addresses[0].display_name == "経理部 田中"


@pytest.mark.parametrize(
    ("mail", "field"),
    [
        (_mail(subject="Invoice\r\nBcc: victim@example.com"), "subject"),
        (_mail(to=(Mailbox("a@b.example", "Lena\nBcc: x@y.example"),)), "To name"),
        (_mail(cc=(Mailbox("ap@client.example", "Ap\r"),)), "Cc name"),
    ],
)
def test_line_break_in_header_rejected(mail: InvoiceMail, field: str) -> None:
    with pytest.raises(InputError, match=field):
        build_reminder_message("gentle.0.INV-1", [mail], RENDERED, IDENTITIES)


def test_line_break_in_sender_name_rejected() -> None:
    identities = [SenderIdentity(OWNER, "Anna\r\nBcc: x@y.example", is_primary=True)]

    with pytest.raises(InputError, match="From name"):
        build_reminder_message("gentle.0.INV-1", [_mail()], RENDERED, identities)


def test_line_break_in_reminder_id_rejected() -> None:
    with pytest.raises(InputError, match="reminder id"):
        build_reminder_message("gentle.0.INV-1\nX: y", [_mail()], RENDERED, IDENTITIES)


def test_attachment_kept_byte_identical() -> None:
    data = bytes(range(256)) * 50
    mail = _mail(attachment=InvoiceFile("Rechnung März.pdf", "application/pdf", data))
    composed = build_reminder_message("gentle.0.INV-1", [mail], RENDERED, IDENTITIES)

    parts = list(_parse(composed).iter_attachments())
    assert [p.get_filename() for p in parts] == ["Rechnung März.pdf"]
    assert parts[0].get_content_type() == "application/pdf"
    assert parts[0].get_content() == data


def test_missing_attachment_noted() -> None:
    composed = build_reminder_message(
        "gentle.0.INV-1", [_mail(attachment=None)], RENDERED, IDENTITIES
    )

    assert list(_parse(composed).iter_attachments()) == []
    assert any("no attachment" in note for note in composed.notes)


def test_html_alternative_only_when_rendered() -> None:
    with_html = RenderedReminder(
        RENDERED.subject, RENDERED.body_text, "<p>Dear Lena,</p>\n"
    )
    plain = _parse(build_reminder_message("g.0.INV-1", [_mail()], RENDERED, IDENTITIES))
    both = _parse(build_reminder_message("g.0.INV-1", [_mail()], with_html, IDENTITIES))

    assert plain.get_body(("html",)) is None
    html_part = both.get_body(("html",))
    assert html_part is not None
    # A 7bit body keeps the CRLF line endings of the wire format when parsed.
    assert html_part.get_content().replace("\r\n", "\n") == "<p>Dear Lena,</p>\n"
    text_part = both.get_body(("plain",))
    assert text_part is not None
    assert text_part.get_content().replace("\r\n", "\n") == RENDERED.body_text


def test_several_invoices_reply_to_oldest() -> None:
    older = _mail(
        "INV-1", sent_at=datetime(2026, 3, 1, tzinfo=timezone.utc), thread_id="t-old"
    )
    newer = _mail(
        "INV-2",
        subject="Invoice INV-2",
        sent_at=datetime(2026, 3, 5, tzinfo=timezone.utc),
        thread_id="t-new",
        cc=(Mailbox("ap@client.example", ""),),
        attachment=InvoiceFile("INV-2.pdf", "application/pdf", PDF + b"2"),
    )
    composed = build_reminder_message(
        "early_late.0.INV-1+INV-2", [newer, older], RENDERED, IDENTITIES
    )

    message = _parse(composed)
    assert message["Subject"] == "Re: Invoice INV-1"
    assert message["In-Reply-To"] == "<INV-1@consultant.example>"
    assert composed.thread_id == "t-old"
    assert composed.extra_thread_ids == ("t-new",)
    assert composed.cc == ("ap@client.example",)
    names = [p.get_filename() for p in message.iter_attachments()]
    assert names == ["INV-1.pdf", "INV-2.pdf"]


def test_urgent_starts_new_thread() -> None:
    composed = build_reminder_message(
        "late_late.0.INV-1", [_mail()], URGENT, IDENTITIES, urgent_prefix="URGENT"
    )

    message = _parse(composed)
    assert message["Subject"] == "URGENT: invoice INV-1 is 12 days overdue"
    assert composed.thread_id is None
    assert composed.extra_thread_ids == ("thread-1",)
    assert message["In-Reply-To"] == "<INV-1@consultant.example>"
    assert "<INV-1@consultant.example>" in str(message["References"])


def test_urgent_kept_in_thread_marks_body() -> None:
    composed = build_reminder_message(
        "late_late.0.INV-1",
        [_mail()],
        URGENT,
        IDENTITIES,
        urgent_prefix="URGENT",
        keep_in_thread=True,
    )

    message = _parse(composed)
    assert message["Subject"] == "Re: Invoice INV-1"
    assert composed.thread_id == "thread-1"
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content().splitlines()[0] == URGENT.subject


# Header text without line breaks or other control characters; the email
# package folds and encodes it, and parsing must give the same text back.
# Runs of white space are folded to one space, as a header's are when parsed.
_header_text = (
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=40
    )
    .map(lambda text: " ".join(text.split()))
    .filter(bool)
)
# Display names as people write them: letters and digits in any script, spaces.
_display_name = (
    st.text(st.characters(whitelist_categories=("L", "N", "Zs")), min_size=1, max_size=40)
    .map(lambda text: " ".join(text.split()))
    .filter(bool)
)


@settings(max_examples=40, deadline=None)
@given(subject=_header_text, name=_display_name)
def test_headers_round_trip(subject: str, name: str) -> None:
    mail = _mail(subject=subject, to=(Mailbox("lena@client.example", name),))
    composed = build_reminder_message("gentle.0.INV-1", [mail], RENDERED, IDENTITIES)

    message = _parse(composed)
    assert _headers_block(composed.raw).isascii()
    # RFC 2047 section 5: adjacent encoded words are separated by white space;
    # some receivers reject a subject where they are not.
    assert b"?==?" not in _headers_block(composed.raw)
    assert message["Subject"] == reply_subject(subject)
    # NOTE: Python 3.11's address parser keeps the folding space between two
    # encoded words of a long display name, though RFC 2047 section 6.2 tells a
    # reader to drop it (fixed in later CPython releases). decode_header follows
    # the RFC, so the name is read with it.
    folded = re.search(rb"\r\nTo:(.*?)\r\n(?![ \t])", _headers_block(composed.raw), re.S)
    assert folded is not None
    unfolded = folded.group(1).replace(b"\r\n", b"").decode("ascii")
    assert parseaddr(str(make_header(decode_header(unfolded)))) == (
        name,
        "lena@client.example",
    )


# -- the upload path for big messages, against the sandbox -----------------------


@pytest.fixture
def gmail(tmp_path: Path) -> Iterator[tuple[GmailClient, MailStore]]:
    store = MailStore(str(tmp_path / "mailbox.db"), clock=SandboxClock())
    store.set_user_email(OWNER)
    with SandboxServer(store) as server:
        yield GmailClient.connect(server.url, sleep=lambda seconds: None), store
    store.close()


def _big_pdf(corpus_dir: Path) -> bytes:
    """A real corpus PDF with 6 MB of random bytes embedded, so it cannot compress."""
    writer = PdfWriter(clone_from=corpus_dir / "invoices" / "mustang_EN16931_Einfach.pdf")
    writer.add_attachment("scan.bin", random.Random(7).randbytes(6 * 1024 * 1024))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_big_pdf_reply_goes_through_upload(
    gmail: tuple[GmailClient, MailStore], corpus_dir: Path
) -> None:
    client, store = gmail
    invoice = EmailMessage()
    invoice["From"] = OWNER
    invoice["To"] = "lena@client.example"
    invoice["Subject"] = "Invoice INV-1"
    invoice["Message-ID"] = make_msgid(domain="consultant.example")
    invoice.set_content("Attached.\n")
    sent = store.send_message(invoice.as_bytes())
    pdf = _big_pdf(corpus_dir)
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 1
    mail = _mail(
        thread_id=sent["threadId"],
        references=(),
        attachment=InvoiceFile("INV-1.pdf", "application/pdf", pdf),
    )
    mail = InvoiceMail(**{**mail.__dict__, "rfc822_message_id": invoice["Message-ID"]})

    composed = build_reminder_message("gentle.0.INV-1", [mail], RENDERED, IDENTITIES)
    assert len(composed.raw) > MEDIA_UPLOAD_THRESHOLD
    draft = client.create_draft(composed.raw, composed.thread_id)

    assert draft["message"]["threadId"] == sent["threadId"]
    stored = client.get_draft(draft["id"], fmt="raw")
    raw = base64.urlsafe_b64decode(stored["message"]["raw"] + "==")
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    parts = list(parsed.iter_attachments())
    assert parts[0].get_content() == pdf
