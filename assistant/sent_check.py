"""Decide, per unpaid invoice, whether the mailbox shows it really went out.

The rule behind every status: the assistant never chases an invoice it cannot
show was sent. This module is pure: it takes the invoices and the messages
already read from Gmail, and returns one ``SentEvidence`` per invoice.

Statuses, in the order they are tried:

- ``sent``: a message labelled SENT, to one of the client's addresses, that
  names the invoice number in its subject, body, an attachment name or an
  attachment's text. The earliest such send that did not bounce counts.
- ``bounced``: every such send was followed by a delivery failure notice.
- ``sent_to_other_address``: sent, but to none of the client's addresses.
- ``draft_only``: named only in a draft that was never sent.
- ``not_found``: nothing, though the client may have written about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Iterable, Sequence

from assistant.invoice_match import contains_invoice_number
from assistant.ledger import SentEvidence


class CheckStatus(str, Enum):
    SENT = "sent"
    SENT_TO_OTHER_ADDRESS = "sent_to_other_address"
    DRAFT_ONLY = "draft_only"
    BOUNCED = "bounced"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class InvoiceTarget:
    """An invoice as the check needs it: number, client and the client's addresses."""

    number: str
    client: str
    client_addresses: frozenset[str]


@dataclass
class Attachment:
    filename: str
    mime_type: str
    attachment_id: str | None
    size: int
    text: str | None = None  # extracted text, None until read


@dataclass
class MailboxMessage:
    """One Gmail message as the check reads it, addresses lower-cased."""

    message_id: str
    thread_id: str
    label_ids: frozenset[str]
    internal_date: datetime
    rfc822_message_id: str | None
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = ""
    body: str | None = None  # None while only metadata has been read
    attachments: list[Attachment] = field(default_factory=list)
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.to + self.cc + self.bcc

    @property
    def is_sent(self) -> bool:
        return "SENT" in self.label_ids and "DRAFT" not in self.label_ids

    @property
    def is_draft(self) -> bool:
        return "DRAFT" in self.label_ids


@dataclass(frozen=True)
class Bounce:
    """A delivery failure notice, linked to the message it reports on when known."""

    message_id: str
    received_at: datetime
    original_rfc822_message_id: str | None
    failed_addresses: frozenset[str]
    original_subject: str | None = None


@dataclass(frozen=True)
class Mention:
    """The place in a message that names an invoice number."""

    where: str  # "subject", "body", "attachment name" or "attachment text"
    attachment: Attachment | None = None


def find_mention(message: MailboxMessage, number: str) -> Mention | None:
    """Return where ``message`` names ``number``, or None if it does not (yet).

    The attachment carrying the invoice is preferred, so that a reminder can
    attach it again, even when the subject names the number too.
    """
    for attachment in message.attachments:
        if contains_invoice_number(attachment.filename, number):
            return Mention("attachment name", attachment)
    for attachment in message.attachments:
        if attachment.text and contains_invoice_number(attachment.text, number):
            return Mention("attachment text", attachment)
    if contains_invoice_number(message.subject, number):
        return Mention("subject", _invoice_attachment(message))
    if message.body and contains_invoice_number(message.body, number):
        return Mention("body", _invoice_attachment(message))
    return None


def _invoice_attachment(message: MailboxMessage) -> Attachment | None:
    """Return the PDF attached to a message, when there is exactly one."""
    pdfs = [a for a in message.attachments if _is_pdf(a)]
    return pdfs[0] if len(pdfs) == 1 else None


def _is_pdf(attachment: Attachment) -> bool:
    return attachment.mime_type == "application/pdf" or attachment.filename.lower().endswith(
        ".pdf"
    )


def needs_attachment_text(message: MailboxMessage, numbers: Iterable[str]) -> list[Attachment]:
    """Return the PDF attachments whose text is needed to settle ``numbers``.

    Text is read only when the subject, body and attachment names of a sent
    message or draft name none of the numbers, which keeps quota use low.
    """
    if any(find_mention(message, number) for number in numbers):
        return []
    return [a for a in message.attachments if _is_pdf(a) and a.text is None]


def classify_invoice(
    target: InvoiceTarget,
    messages: Sequence[MailboxMessage],
    bounces: Sequence[Bounce],
    checked_at: datetime,
) -> SentEvidence:
    """Classify one invoice from the messages and bounces read from the mailbox."""
    mentions = [(m, find_mention(m, target.number)) for m in messages]
    named = [(m, mention) for m, mention in mentions if mention is not None]
    sends = sorted((pair for pair in named if pair[0].is_sent), key=lambda p: p[0].internal_date)
    to_client = [p for p in sends if target.client_addresses & set(p[0].recipients)]

    delivered = [p for p in to_client if _bounce_for(p[0], bounces) is None]
    if delivered:
        return _sent(target, delivered, checked_at)
    if to_client:
        return _bounced(target, to_client, bounces, checked_at)
    if sends:
        return _sent_elsewhere(target, sends, checked_at)
    return _unsent(target, named, checked_at)


def _unsent(
    target: InvoiceTarget,
    named: list[tuple[MailboxMessage, Mention]],
    checked_at: datetime,
) -> SentEvidence:
    drafts = [m for m, _ in named if m.is_draft]
    if drafts:
        return SentEvidence(
            invoice_number=target.number,
            status=CheckStatus.DRAFT_ONLY.value,
            checked_at=checked_at,
            detail=(
                f"Invoice {target.number} is only in an unsent draft"
                f" ({drafts[0].message_id}); send it from Gmail first."
            ),
            message_id=drafts[0].message_id,
            thread_id=drafts[0].thread_id,
            other_message_ids=tuple(m.message_id for m in drafts[1:]),
        )
    return _not_found(target, named, checked_at)


def _sent(
    target: InvoiceTarget,
    delivered: list[tuple[MailboxMessage, Mention]],
    checked_at: datetime,
) -> SentEvidence:
    message, mention = delivered[0]
    others = [m.message_id for m, _ in delivered[1:]]
    detail = (
        f"Sent {message.internal_date:%Y-%m-%d %H:%M} UTC to "
        f"{', '.join(_client_recipients(message, target))}; the number is in the "
        f"{mention.where}."
    )
    if others:
        detail += f" Sent {len(others)} more time(s) later; the earliest counts."
    return _evidence(target, CheckStatus.SENT, detail, (message, mention), others, checked_at)


def _bounced(
    target: InvoiceTarget,
    to_client: list[tuple[MailboxMessage, Mention]],
    bounces: Sequence[Bounce],
    checked_at: datetime,
) -> SentEvidence:
    message, mention = to_client[0]
    bounce = _bounce_for(message, bounces)
    failed = ", ".join(sorted(bounce.failed_addresses)) if bounce else "the client"
    detail = (
        f"Sent {message.internal_date:%Y-%m-%d} UTC, but delivery to {failed} failed"
        f" (notice {bounce.message_id if bounce else 'unknown'}); check the address"
        " and send it again."
    )
    others = [m.message_id for m, _ in to_client[1:]]
    return _evidence(target, CheckStatus.BOUNCED, detail, (message, mention), others, checked_at)


def _sent_elsewhere(
    target: InvoiceTarget,
    sends: list[tuple[MailboxMessage, Mention]],
    checked_at: datetime,
) -> SentEvidence:
    message, mention = sends[0]
    known = ", ".join(sorted(target.client_addresses)) or "none on record"
    detail = (
        f"Sent {message.internal_date:%Y-%m-%d} UTC to {', '.join(message.recipients)},"
        f" which is not an address of {target.client} ({known}); add the address"
        " with 'assistant client set' if it is right, or send the invoice again."
    )
    others = [m.message_id for m, _ in sends[1:]]
    return _evidence(
        target, CheckStatus.SENT_TO_OTHER_ADDRESS, detail, (message, mention), others, checked_at
    )


def _not_found(
    target: InvoiceTarget,
    named: list[tuple[MailboxMessage, Mention]],
    checked_at: datetime,
) -> SentEvidence:
    from_client = [m for m, _ in named if m.sender in target.client_addresses]
    detail = f"No sent message or draft names invoice {target.number}."
    if from_client:
        detail += (
            f" The client wrote about it ({from_client[0].message_id}), so it may have"
            " gone out another way; confirm before chasing."
        )
    else:
        detail += " Send it from Gmail before the assistant can chase it."
    return SentEvidence(
        invoice_number=target.number,
        status=CheckStatus.NOT_FOUND.value,
        checked_at=checked_at,
        detail=detail,
    )


def _evidence(
    target: InvoiceTarget,
    status: CheckStatus,
    detail: str,
    found: tuple[MailboxMessage, Mention],
    others: list[str],
    checked_at: datetime,
) -> SentEvidence:
    message, mention = found
    attachment = mention.attachment
    return SentEvidence(
        invoice_number=target.number,
        status=status.value,
        checked_at=checked_at,
        detail=detail,
        message_id=message.message_id,
        rfc822_message_id=message.rfc822_message_id,
        thread_id=message.thread_id,
        sent_at=message.internal_date,
        recipients=message.recipients,
        attachment_name=attachment.filename if attachment else None,
        attachment_id=attachment.attachment_id if attachment else None,
        other_message_ids=tuple(others),
    )


def _client_recipients(message: MailboxMessage, target: InvoiceTarget) -> list[str]:
    return [a for a in message.recipients if a in target.client_addresses]


def _bounce_for(message: MailboxMessage, bounces: Sequence[Bounce]) -> Bounce | None:
    """Return the delivery failure that reports on ``message``, if any.

    A notice naming the message's Message-ID settles it. Without one, a notice
    received after the send that names a recipient of the message as failed,
    and quotes its subject, is taken to be about it.
    """
    later = [b for b in bounces if b.received_at >= message.internal_date]
    msgid = _bare_msgid(message.rfc822_message_id)
    for bounce in later:
        if msgid and _bare_msgid(bounce.original_rfc822_message_id) == msgid:
            return bounce
    for bounce in later:
        if bounce.original_rfc822_message_id:
            continue
        if not bounce.failed_addresses & set(message.recipients):
            continue
        if bounce.original_subject is None or bounce.original_subject == message.subject:
            return bounce
    return None


def _bare_msgid(value: str | None) -> str | None:
    if not value:
        return None
    return value.strip().strip("<>").lower()
