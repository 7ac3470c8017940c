"""Compose a reminder as a MIME reply to the invoice message it chases.

Everything here is pure: it takes the invoice messages already read from
Gmail, the user's send-as identities and the rendered template, and returns
the RFC 5322 bytes for ``drafts.create``.

Gmail files a message into an existing thread only when three things hold
("Manage threads", https://developers.google.com/workspace/gmail/api/guides/threads):
the request names the ``threadId``, ``References`` and ``In-Reply-To`` follow
RFC 2822, and the subjects match. A reminder therefore keeps the invoice's
subject behind ``Re:``. An URGENT reminder has its own subject, so it cannot
join the Gmail thread and starts a new one that still carries ``In-Reply-To``
and ``References``, which keeps it threaded in the client's mail program.
With ``keep_in_thread`` it keeps the reply subject and puts URGENT in the body.

Headers are written with ``email.policy.default``, which encodes non-ASCII
names and subjects as RFC 2047 encoded words. A draft carries no ``Date``:
Gmail stamps the message when it is sent.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from assistant.errors import InputError
from assistant.reminders import REMINDER_HEADER
from assistant.templating import RenderedReminder

# Language-specific forms of an URGENT subject that count as already marked,
# as the templates write them (late_late.ja starts with 【至急】).
URGENT_MARKERS = ("【至急】",)

_REPLY_PREFIX = re.compile(r"^\s*re\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class Mailbox:
    """A recipient as RFC 5322 names it: an address and an optional display name."""

    address: str
    name: str = ""


@dataclass(frozen=True)
class InvoiceFile:
    """An invoice attachment exactly as it was sent."""

    filename: str
    content_type: str  # such as application/pdf
    data: bytes


@dataclass(frozen=True)
class InvoiceMail:
    """The sent message that carried an invoice, as a reminder replies to it."""

    invoice_number: str
    gmail_id: str
    thread_id: str
    rfc822_message_id: str | None
    sender: str  # the address the invoice was sent from, lower-cased
    to: tuple[Mailbox, ...]
    cc: tuple[Mailbox, ...]
    subject: str
    references: tuple[str, ...]
    sent_at: datetime
    attachment: InvoiceFile | None = None


@dataclass(frozen=True)
class SenderIdentity:
    """One of the user's send-as addresses (Gmail's ``SendAs`` resource)."""

    email: str
    display_name: str = ""
    signature_html: str = ""
    is_primary: bool = False


@dataclass(frozen=True)
class ReminderMessage:
    """A composed reminder: its bytes and the facts the ledger records about it."""

    raw: bytes
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    thread_id: str | None  # None when the reminder starts a new Gmail thread
    extra_thread_ids: tuple[str, ...]
    in_reply_to: str | None
    references: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())


def sender_identities(resources: Iterable[Mapping[str, Any]]) -> list[SenderIdentity]:
    """Turn ``settings.sendAs.list`` entries into identities, primary first."""
    identities = [
        SenderIdentity(
            email=str(item.get("sendAsEmail", "")).strip().lower(),
            display_name=str(item.get("displayName") or ""),
            signature_html=str(item.get("signature") or ""),
            is_primary=bool(item.get("isPrimary")),
        )
        for item in resources
        if item.get("sendAsEmail")
    ]
    return sorted(identities, key=lambda identity: not identity.is_primary)


def choose_sender(
    invoice_sender: str, identities: Sequence[SenderIdentity]
) -> tuple[SenderIdentity, str | None]:
    """Return the identity the invoice went out from, else the primary with a note."""
    if not identities:
        raise InputError(
            "Gmail lists no send-as address for this account; check "
            "Settings > Accounts in Gmail"
        )
    for identity in identities:
        if identity.email == invoice_sender.strip().lower():
            return identity, None
    primary = next((i for i in identities if i.is_primary), identities[0])
    note = (
        f"the invoice was sent from {invoice_sender or 'an unknown address'}, which "
        f"is not one of your send-as addresses; the reminder goes from {primary.email}"
    )
    return primary, note


def reply_subject(subject: str) -> str:
    """Return ``Re: subject``, without doubling a ``Re:`` already there."""
    text = " ".join(subject.split())
    if _REPLY_PREFIX.match(text):
        return text
    return f"Re: {text}" if text else "Re:"


def urgent_subject(rendered_subject: str, prefix: str) -> str:
    """Return the template's subject, marked with ``prefix`` unless already marked."""
    text = " ".join(rendered_subject.split())
    markers = (prefix, *URGENT_MARKERS) if prefix else URGENT_MARKERS
    if not prefix or text.upper().startswith(tuple(m.upper() for m in markers)):
        return text
    return f"{prefix}: {text}"


def reject_line_breaks(field_name: str, value: str) -> str:
    """Return ``value``, or raise InputError when it contains CR or LF (header injection)."""
    if "\r" in value or "\n" in value:
        raise InputError(
            f"{field_name} {value!r} contains a line break, which is not allowed in "
            "an email header; remove it from the ledger or the template"
        )
    return value


def build_reminder_message(
    uid: str,
    invoices: Sequence[InvoiceMail],
    rendered: RenderedReminder,
    identities: Sequence[SenderIdentity],
    *,
    urgent_prefix: str = "",
    keep_in_thread: bool = False,
) -> ReminderMessage:
    """Build the reminder for ``invoices`` (one client) as a reply to the oldest one.

    ``urgent_prefix`` marks a stage with an URGENT subject: the reminder then
    takes the template's subject and starts a new Gmail thread, unless
    ``keep_in_thread`` keeps the reply subject and puts the urgent line first in
    the body. Raises InputError for a header value with a line break, or when no
    recipient is left after removing the user's own addresses.
    """
    if not invoices:
        raise InputError(f"reminder {uid} names no invoice message to reply to")
    oldest = min(invoices, key=lambda mail: mail.sent_at)
    identity, sender_note = choose_sender(oldest.sender, identities)
    own = {i.email for i in identities}
    to, cc = _recipients(invoices, oldest, own)
    if not to:
        raise InputError(
            f"reminder {uid}: the invoice message has no recipient besides your own "
            "addresses; add the client's address to the ledger and send the invoice "
            "to it"
        )

    reject_line_breaks("subject", oldest.subject)
    reject_line_breaks("template subject", rendered.subject)
    new_thread = bool(urgent_prefix) and not keep_in_thread
    subject = (
        urgent_subject(rendered.subject, urgent_prefix)
        if new_thread
        else reply_subject(oldest.subject)
    )
    body_text, body_html = rendered.body_text, rendered.body_html
    if urgent_prefix and keep_in_thread:
        body_text, body_html = _with_urgent_line(
            urgent_subject(rendered.subject, urgent_prefix), body_text, body_html
        )

    references = _references(oldest)
    message = _headers(uid, identity, to, cc, subject, oldest.rfc822_message_id, references)
    _set_body(message, body_text, body_html)
    _attach_invoices(message, sorted(invoices, key=lambda mail: mail.sent_at))

    threads = list(dict.fromkeys(mail.thread_id for mail in (oldest, *invoices)))
    thread_id = None if new_thread else threads[0]
    notes = [sender_note] if sender_note else []
    notes += [
        f"invoice {mail.invoice_number}: no attachment found in the sent message"
        for mail in invoices
        if mail.attachment is None
    ]
    return ReminderMessage(
        raw=message.as_bytes(policy=policy.SMTP),
        sender=identity.email,
        to=tuple(a.addr_spec.lower() for a in to),
        cc=tuple(a.addr_spec.lower() for a in cc),
        subject=subject,
        thread_id=thread_id,
        extra_thread_ids=tuple(t for t in threads if t != thread_id),
        in_reply_to=oldest.rfc822_message_id,
        references=references,
        notes=tuple(notes),
    )


def _recipients(
    invoices: Sequence[InvoiceMail], oldest: InvoiceMail, own: set[str]
) -> tuple[list[Address], list[Address]]:
    """Return To and Cc: the oldest message's first, then anyone the others added."""
    ordered = [oldest, *(mail for mail in invoices if mail is not oldest)]
    to: dict[str, Address] = {}
    cc: dict[str, Address] = {}
    for mail in ordered:
        for mailbox in mail.to:
            to.setdefault(mailbox.address.lower(), _address("To", mailbox))
        for mailbox in mail.cc:
            cc.setdefault(mailbox.address.lower(), _address("Cc", mailbox))
    for key in own:
        to.pop(key, None)
        cc.pop(key, None)
    return list(to.values()), [a for key, a in cc.items() if key not in to]


def _references(oldest: InvoiceMail) -> tuple[str, ...]:
    # RFC 5322 section 3.6.4: the parent's References followed by its Message-ID.
    chain = list(oldest.references)
    if oldest.rfc822_message_id:
        chain.append(oldest.rfc822_message_id)
    return tuple(dict.fromkeys(chain))


def _headers(
    uid: str,
    identity: SenderIdentity,
    to: Sequence[Address],
    cc: Sequence[Address],
    subject: str,
    in_reply_to: str | None,
    references: Sequence[str],
) -> EmailMessage:
    message = EmailMessage(policy=policy.default)
    message["From"] = _address("From", Mailbox(identity.email, identity.display_name))
    message["To"] = list(to)
    if cc:
        message["Cc"] = list(cc)
    message["Subject"] = reject_line_breaks("subject", subject)
    if in_reply_to:
        message["In-Reply-To"] = reject_line_breaks("In-Reply-To", in_reply_to)
    if references:
        message["References"] = reject_line_breaks("References", " ".join(references))
    message[REMINDER_HEADER] = reject_line_breaks("reminder id", uid)
    return message


def _address(field_name: str, mailbox: Mailbox) -> Address:
    reject_line_breaks(f"{field_name} name", mailbox.name)
    reject_line_breaks(f"{field_name} address", mailbox.address)
    try:
        return Address(display_name=mailbox.name, addr_spec=mailbox.address)
    except (HeaderParseError, ValueError, IndexError) as exc:
        raise InputError(
            f"invalid {field_name} address {mailbox.address!r}: {exc}; correct it "
            "in the ledger or in Gmail"
        ) from exc


def _with_urgent_line(
    line: str, body_text: str, body_html: str | None
) -> tuple[str, str | None]:
    text = f"{line}\n\n{body_text}"
    if body_html is None:
        return text, None
    return text, f"<p><strong>{html.escape(line)}</strong></p>\n{body_html}"


def _set_body(message: EmailMessage, body_text: str, body_html: str | None) -> None:
    message.set_content(body_text, cte=_transfer_encoding(body_text))
    if body_html is not None:
        message.add_alternative(
            body_html, subtype="html", cte=_transfer_encoding(body_html)
        )


def _transfer_encoding(text: str) -> str:
    """Pick a 7-bit-safe encoding: quoted-printable for mostly-ASCII text, else base64."""
    non_ascii = sum(1 for char in text if ord(char) > 127)
    if non_ascii == 0:
        return "7bit"
    return "quoted-printable" if non_ascii * 4 < len(text) else "base64"


def _attach_invoices(message: EmailMessage, invoices: Sequence[InvoiceMail]) -> None:
    attached: set[tuple[str, bytes]] = set()
    for mail in invoices:
        file = mail.attachment
        if file is None or (file.filename, file.data) in attached:
            continue
        attached.add((file.filename, file.data))
        reject_line_breaks(f"attachment name of invoice {mail.invoice_number}", file.filename)
        maintype, _, subtype = file.content_type.lower().partition("/")
        if not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(
            file.data, maintype=maintype, subtype=subtype, filename=file.filename
        )
