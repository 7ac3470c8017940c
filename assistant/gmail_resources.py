"""Turn Gmail API message resources into the assistant's records.

Gmail returns header values as they stand in the message, so encoded words
(RFC 2047, such as ISO-2022-JP subjects) are decoded here. Bodies come as
base64url ``data`` in the ``full`` format, in the charset named by each part's
Content-Type header.
"""

from __future__ import annotations

import base64
import email.utils
import html
import re
from email.header import decode_header, make_header
from email.message import Message
from typing import Any, Iterator

from assistant.clock import from_epoch_ms
from assistant.sent_check import Attachment, MailboxMessage

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"[ \t\r\f\v]+")


def decode_base64url(data: str) -> bytes:
    """Decode base64url text with or without its ``=`` padding."""
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def header_map(resource: dict[str, Any]) -> dict[str, str]:
    """Return the top-level headers of a message resource, names lower-cased.

    The first occurrence of a repeated header wins, as with ``Message.get``.
    """
    headers: dict[str, str] = {}
    for header in resource.get("payload", {}).get("headers", []):
        headers.setdefault(header["name"].lower(), header["value"])
    return headers


def decode_header_value(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError):
        return value


def addresses(value: str | None) -> tuple[str, ...]:
    """Return the lower-cased addresses of an address-list header value."""
    if not value:
        return ()
    pairs = email.utils.getaddresses([decode_header_value(value)])
    return tuple(addr.strip().lower() for _, addr in pairs if "@" in addr)


def message_ids(value: str | None) -> tuple[str, ...]:
    """Return the message ids of a References or In-Reply-To value, with brackets."""
    if not value:
        return ()
    return tuple(re.findall(r"<[^<>\s]+>", value))


def to_mailbox_message(resource: dict[str, Any]) -> MailboxMessage:
    """Build a ``MailboxMessage`` from a ``metadata`` or ``full`` resource.

    ``body`` stays None for the metadata format, which carries no parts.
    """
    headers = header_map(resource)
    payload = resource.get("payload", {})
    has_parts = "parts" in payload or "body" in payload
    body = _body_text(payload) if has_parts else None
    reply_to = message_ids(headers.get("in-reply-to"))
    return MailboxMessage(
        message_id=resource["id"],
        thread_id=resource["threadId"],
        label_ids=frozenset(resource.get("labelIds", [])),
        internal_date=from_epoch_ms(int(resource.get("internalDate", "0"))),
        rfc822_message_id=(message_ids(headers.get("message-id")) or (None,))[0],
        sender=(addresses(headers.get("from")) or ("",))[0],
        to=addresses(headers.get("to")),
        cc=addresses(headers.get("cc")),
        bcc=addresses(headers.get("bcc")),
        subject=decode_header_value(headers.get("subject", "")),
        body=body,
        attachments=list(_attachments(payload)),
        in_reply_to=reply_to[0] if reply_to else None,
        references=message_ids(headers.get("references")),
    )


def _walk(part: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield part
    for child in part.get("parts", []) or []:
        yield from _walk(child)


def _attachments(payload: dict[str, Any]) -> Iterator[Attachment]:
    for part in _walk(payload):
        filename = part.get("filename") or ""
        if not filename:
            continue
        body = part.get("body", {})
        yield Attachment(
            filename=decode_header_value(filename),
            mime_type=part.get("mimeType", "application/octet-stream").lower(),
            attachment_id=body.get("attachmentId"),
            size=int(body.get("size", 0)),
        )


def _body_text(payload: dict[str, Any]) -> str:
    """Return the decoded text of the text/plain parts, else of the HTML ones."""
    plain: list[str] = []
    markup: list[str] = []
    for part in _walk(payload):
        if part.get("filename"):
            continue
        data = part.get("body", {}).get("data")
        if not data:
            continue
        mime_type = part.get("mimeType", "").lower()
        if mime_type == "text/plain":
            plain.append(_decode_part(part, data))
        elif mime_type == "text/html":
            markup.append(_html_to_text(_decode_part(part, data)))
    return "\n".join(plain or markup)


def _decode_part(part: dict[str, Any], data: str) -> str:
    content_type = Message()
    for header in part.get("headers", []):
        if header["name"].lower() == "content-type":
            content_type["Content-Type"] = header["value"]
    charset = content_type.get_content_charset() or "utf-8"
    raw = decode_base64url(data)
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def _html_to_text(markup: str) -> str:
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", markup)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>", "\n", text)
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text))).strip()
