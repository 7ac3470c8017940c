"""Recognise delivery failure notices (bounces) and the message that bounced.

Two sources are combined:

- RFC 3464 delivery status notifications: the ``message/delivery-status`` part
  lists each recipient with ``Final-Recipient``, ``Action`` and ``Status``. Only
  ``Action: failed`` is a failure. ``delayed`` means the server is still trying
  (RFC 3464 section 2.3.3), so a notice with only delayed, delivered, relayed
  or expanded recipients is not a bounce.
- flufl.bounce, whose detectors read the many non-standard formats (qmail,
  Exim, old Yahoo and AOL, Domino, ...). Its temporary failures are also
  treated as "still trying".

Read receipts (RFC 8098 ``message/disposition-notification``) and abuse
feedback reports (RFC 5965 ``message/feedback-report``) are never bounces.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import HeaderParser

from flufl.bounce import all_failures

from assistant.mail_parse import (
    PARSE_ERRORS,
    ParsedMessage,
    as_parsed,
    decode_header_text,
    decode_part_text,
    normalize_message_id,
    parse_message_ids,
)

logger = logging.getLogger(__name__)

BOUNCE_SENDERS = re.compile(
    r"^(mailer-daemon|mail-daemon|mailerdaemon|postmaster|poostmaster|mdaemon"
    r"|mail\.?delivery\.?(subsystem|system)|bounces?)$",
    re.IGNORECASE,
)
BOUNCE_SUBJECTS = re.compile(
    r"undeliver|undelivered|returned mail|delivery status notification|"
    r"delivery (failure|failed|problem|notification)|failure notice|"
    r"mail delivery failed|non-?delivery|not delivered|returned to sender|"
    r"mail system error|rejected|メールエラー|配信エラー|не доставлено|недоставленн",
    re.IGNORECASE,
)
INLINE_MESSAGE_ID = re.compile(r"^\s*Message-ID:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
INLINE_SUBJECT = re.compile(r"^\s*Subject:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)
SMTP_REPLY = re.compile(r"^.*\b([45]\d\d[ -]|[45]\.\d{1,3}\.\d{1,3}\b).*$", re.MULTILINE)
# Lines after which a free-text bounce quotes the message it returns.
RETURNED_COPY = re.compile(
    r"^.*(original message|copy of the (original )?message|unsent message follows"
    r"|message headers follow|below this line|returned message).*$"
    r"|^(Received|Return-Path|Message-ID):",
    re.IGNORECASE | re.MULTILINE,
)
FAILURE_PHRASES = re.compile(
    r"could not be delivered|delivery (has )?failed|failed to deliver|unable to deliver"
    r"|not be delivered|rejected|user unknown|unknown user|mailbox (is )?full"
    r"|does not exist|no such user|permanent error|cannot send message"
    r"|\b5\d\d\b|\b[45]\.\d{1,3}\.\d{1,3}\b|送信できませんでした|配信できませんでした",
    re.IGNORECASE,
)
ADDRESS = re.compile(r"[^\s<>;,:\"'()\[\]]+@[^\s<>;,:\"'()\[\]]+")


@dataclass(frozen=True)
class DeliveryFailure:
    """A notice that a message could not be delivered to some of its recipients.

    ``permanent`` is False when every failed recipient has a 4.x.x status: the
    server gave up, but on a condition that may clear (a full mailbox, a host
    that was down), so sending again later may work.
    """

    failed_addresses: tuple[str, ...]
    original_message_id: str | None
    original_subject: str | None
    permanent: bool
    diagnostic: str


@dataclass
class _RecipientStatus:
    address: str
    action: str
    status: str
    diagnostic: str


@dataclass
class _Report:
    recipients: list[_RecipientStatus] = field(default_factory=list)
    found_part: bool = False


def detect_delivery_failure(value: bytes | Message | ParsedMessage) -> DeliveryFailure | None:
    """Return the delivery failure that a message reports, or None when it is not a bounce."""
    parsed = as_parsed(value)
    message = parsed.message
    if is_read_receipt(message) or is_feedback_report(message):
        return None

    report = _delivery_status(message)
    if report.found_part and report.recipients:
        return _from_report(parsed, report)
    if not _looks_like_bounce(parsed, report):
        return None
    return _from_heuristics(parsed)


def is_read_receipt(message: Message) -> bool:
    """Return True for a message disposition notification (RFC 8098), a read receipt."""
    return _has_part(message, "message/disposition-notification") or _report_type(
        message
    ) == "disposition-notification"


def is_feedback_report(message: Message) -> bool:
    """Return True for an abuse feedback report (RFC 5965 ARF), such as a spam complaint."""
    return _has_part(message, "message/feedback-report") or _report_type(
        message
    ) == "feedback-report"


def _from_report(parsed: ParsedMessage, report: _Report) -> DeliveryFailure | None:
    failed = [r for r in report.recipients if r.action == "failed"]
    if not failed:
        logger.debug("delivery status notice without failed recipients; not a bounce")
        return None
    original_id, original_subject = _original_message(parsed)
    diagnostic = next((r.diagnostic for r in failed if r.diagnostic), "")
    return DeliveryFailure(
        failed_addresses=_unique(r.address for r in failed),
        original_message_id=original_id,
        original_subject=original_subject,
        permanent=any(not r.status.startswith("4") for r in failed),
        diagnostic=diagnostic or next((r.status for r in failed if r.status), ""),
    )


def _from_heuristics(parsed: ParsedMessage) -> DeliveryFailure | None:
    temporary, permanent = _flufl_failures(parsed.message)
    failed_header = _x_failed_recipients(parsed)
    original_id, original_subject = _original_message(parsed)

    # NOTE: flufl.bounce's text detectors sometimes take an address from the
    # quoted original, such as its sender or its Message-ID. Those are removed.
    not_recipients = _original_sender_and_ids(parsed, original_id)
    failed = [a for a in (*failed_header, *sorted(permanent)) if a not in not_recipients]
    notice = _notice_text(parsed)
    permanent_failure = True
    states_failure = FAILURE_PHRASES.search(notice) or FAILURE_PHRASES.search(parsed.subject)
    if not failed and not temporary and states_failure:
        failed = [a for a in _addresses_in_notice(parsed, notice) if a not in not_recipients]
        # NOTE: a notice that names no address is taken to have failed for
        # every recipient of the returned copy.
        failed = failed or _returned_copy_recipients(parsed)
        permanent_failure = not _only_transient_codes(notice)
    if not failed:
        if temporary:
            logger.debug("bounce-like notice reports only temporary failures; not a bounce")
        return None
    return DeliveryFailure(
        failed_addresses=_unique(failed),
        original_message_id=original_id,
        original_subject=original_subject,
        permanent=permanent_failure,
        diagnostic=_diagnostic_line(notice or parsed.body_text),
    )


def _notice_text(parsed: ParsedMessage) -> str:
    """Return the human-readable part of a bounce, cut before the returned copy."""
    text = parsed.body_text.replace("\r\n", "\n")
    cut = RETURNED_COPY.search(text)
    return text[: cut.start()] if cut else text


def _addresses_in_notice(parsed: ParsedMessage, notice: str) -> list[str]:
    """Find failed recipients in a free-text bounce that flufl.bounce did not recognise.

    The caller checks first that the notice states a failure, so that the
    addresses of a mere status message are never taken.
    """
    own = {address.address for address in (*parsed.to_addresses, *parsed.from_addresses)}
    found = [address.lower().strip(".:") for address in ADDRESS.findall(notice)]
    return [address for address in found if address not in own and "@" in address]


def _returned_copy_recipients(parsed: ParsedMessage) -> list[str]:
    headers = _returned_headers(parsed.message) or _inline_copy_headers(parsed.body_text)
    if headers is None:
        return []
    recipients = f"{headers.get('To', '')},{headers.get('Cc', '')}"
    return [address.lower() for address in ADDRESS.findall(recipients)]


def _inline_copy_headers(text: str) -> Message | None:
    """Parse the header block of a returned copy quoted as plain text."""
    start = RETURNED_COPY.search(text)
    if start is None:
        return None
    copy = text[start.start():]
    if not re.match(r"(Received|Return-Path|Message-ID):", copy, re.IGNORECASE):
        copy = copy.partition("\n")[2].lstrip("\n -")
    headers = HeaderParser(policy=policy.compat32).parsestr(copy)
    return headers if len(headers) else None


def _only_transient_codes(notice: str) -> bool:
    codes = re.findall(r"\b([45])(?:\d\d\b|\.\d{1,3}\.\d{1,3}\b)", notice)
    return bool(codes) and all(code == "4" for code in codes)


def _delivery_status(message: Message) -> _Report:
    report = _Report()
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        report.found_part = True
        report.recipients.extend(_recipient_statuses(part))
    return report


def _recipient_statuses(part: Message) -> list[_RecipientStatus]:
    """Read the per-recipient field groups of a message/delivery-status part."""
    statuses: list[_RecipientStatus] = []
    for fields in _field_groups(part):
        # Original-Recipient is the address as the sender wrote it (RFC 3464
        # section 2.3.1); Final-Recipient may be the result of alias expansion.
        recipient = fields.get("original-recipient") or fields.get("final-recipient")
        if not recipient:
            continue
        address = _address_of(recipient)
        if address is None:
            continue
        status = fields.get("status", "").strip()
        action = fields.get("action", "").strip().lower() or _action_from_status(status)
        if action.startswith("fail"):
            action = "failed"  # some servers write "failure"
        statuses.append(
            _RecipientStatus(
                address=address,
                action=action,
                status=status.split()[0] if status else "",
                diagnostic=_strip_type(fields.get("diagnostic-code", "")),
            )
        )
    return statuses


def _field_groups(part: Message) -> list[dict[str, str]]:
    # The email package parses a delivery-status body into one header block
    # per blank-line-separated group; a malformed one may arrive as text.
    payload = part.get_payload()
    groups: list[dict[str, str]] = []
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                groups.append({key.lower(): str(value) for key, value in block.items()})
        return groups
    text = decode_part_text(part) if isinstance(payload, str) else ""
    for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        block = HeaderParser(policy=policy.compat32).parsestr(chunk.strip() + "\n")
        groups.append({key.lower(): str(value) for key, value in block.items()})
    return groups


def _action_from_status(status: str) -> str:
    # RFC 3464 requires Action. When a broken notice omits it, a 5.x.x status
    # is read as a failure and a 4.x.x one as a delay.
    if status.startswith("5"):
        return "failed"
    if status.startswith("4"):
        return "delayed"
    return ""


def _address_of(field_value: str) -> str | None:
    found = ADDRESS.search(_strip_type(field_value))
    return found.group(0).strip(".").lower() if found else None


def _strip_type(field_value: str) -> str:
    # "rfc822; user@example.com" and "smtp; 550 5.1.1 ..." carry a type prefix.
    value = " ".join(field_value.split())
    prefix, separator, rest = value.partition(";")
    if separator and " " not in prefix.strip():
        return rest.strip()
    return value


def _looks_like_bounce(parsed: ParsedMessage, report: _Report) -> bool:
    """Gate the text heuristics, so that a human message quoting a bounce is left alone."""
    if report.found_part or parsed.header("X-Failed-Recipients"):
        return True
    return_path = (parsed.header("Return-Path") or "").strip()
    sender_local = (parsed.sender or "").partition("@")[0]
    return (
        return_path == "<>"
        or bool(BOUNCE_SENDERS.match(sender_local))
        or _report_type(parsed.message) == "delivery-status"
        or bool(BOUNCE_SUBJECTS.search(parsed.subject))
    )


def _flufl_failures(message: Message) -> tuple[set[str], set[str]]:
    try:
        temporary, permanent = all_failures(message)
    except PARSE_ERRORS as exc:
        logger.warning("bounce detectors failed on a message: %s", type(exc).__name__)
        return set(), set()
    return _decoded_addresses(temporary), _decoded_addresses(permanent)


def _decoded_addresses(addresses: frozenset[bytes]) -> set[str]:
    decoded = set()
    for address in addresses:
        text = address.decode("utf-8", errors="replace").strip("<> ").lower()
        if "@" in text:
            decoded.add(text)
    return decoded


def _x_failed_recipients(parsed: ParsedMessage) -> list[str]:
    # Exim adds X-Failed-Recipients to the bounces it generates.
    addresses: list[str] = []
    for value in parsed.header_values("X-Failed-Recipients"):
        addresses.extend(found.lower() for found in ADDRESS.findall(value))
    return addresses


def _original_message(parsed: ParsedMessage) -> tuple[str | None, str | None]:
    """Find the Message-ID and Subject of the message that bounced."""
    headers = _returned_headers(parsed.message)
    if headers is not None:
        message_id = normalize_message_id(headers.get("Message-ID"))
        subject = headers.get("Subject")
        if message_id or subject:
            return message_id, decode_header_text(subject) if subject else None

    text = _all_text(parsed.message)
    inline_id = INLINE_MESSAGE_ID.search(text)
    inline_subject = INLINE_SUBJECT.search(text)
    subject = decode_header_text(inline_subject.group(1).strip()) if inline_subject else None
    if inline_id:
        return inline_id.group(1), subject
    if parsed.in_reply_to:
        return parsed.in_reply_to, subject
    if parsed.references:
        return parsed.references[-1], subject
    return None, subject


def _returned_headers(message: Message) -> Message | None:
    """Return the header block of the returned message, from its attached copy."""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        elif content_type == "text/rfc822-headers":
            text = decode_part_text(part)
            return HeaderParser(policy=policy.compat32).parsestr(text.lstrip())
    return None


def _all_text(message: Message) -> str:
    texts = []
    for part in message.walk():
        if part.get_content_maintype() == "text":
            texts.append(decode_part_text(part))
    return "\n".join(texts)


def _original_sender_and_ids(parsed: ParsedMessage, original_id: str | None) -> set[str]:
    excluded: set[str] = set()
    headers = _returned_headers(parsed.message)
    if headers is not None:
        excluded.update(a.lower() for a in ADDRESS.findall(str(headers.get("From", ""))))
    text = _all_text(parsed.message)
    for line in re.findall(r"^\s*From:(.*)$", text, re.IGNORECASE | re.MULTILINE):
        excluded.update(a.lower() for a in ADDRESS.findall(line))
    for message_id in (original_id, *parse_message_ids(" ".join(INLINE_MESSAGE_ID.findall(text)))):
        if message_id:
            excluded.add(message_id.strip("<>").lower())
    return excluded


def _diagnostic_line(text: str) -> str:
    found = SMTP_REPLY.search(text)
    return " ".join(found.group(0).split())[:300] if found else ""


def _report_type(message: Message) -> str:
    if message.get_content_type() != "multipart/report":
        return ""
    return str(message.get_param("report-type", "") or "").lower()


def _has_part(message: Message, content_type: str) -> bool:
    return any(part.get_content_type() == content_type for part in message.walk())


def _unique(addresses: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(addresses))
