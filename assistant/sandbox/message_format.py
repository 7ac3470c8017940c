"""Turn raw RFC 822 bytes into the facts the store indexes and Gmail's resources.

Everything here is a pure function of the message bytes. Parsing uses the
``email`` package's ``compat32`` policy, the fastest one, and decodes RFC 2047
encoded words itself, so a broken header degrades to its raw text instead of
failing the whole message.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.errors
import email.utils
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.header import decode_header
from email.message import Message
from email.policy import compat32

SNIPPET_LENGTH = 200

# Reply and forward prefixes Gmail ignores when it compares subjects.
_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|fw)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_MSGID = re.compile(r"<([^<>\s]+)>")
_HTML_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HTML_BLOCK_TAG = re.compile(
    r"</?(?:p|br|div|tr|td|th|li|ul|ol|table|h[1-6]|blockquote|hr)\b[^>]*>", re.IGNORECASE
)
_HTML_TAG = re.compile(r"<[^>]*>")
# Quotes, comments, encoded words, groups or escapes send a header to getaddresses.
_COMPLEX_ADDRESS = re.compile(r'["()\\;:]|=\?')
_NAMED_ADDRESS = re.compile(r"^\s*(?P<name>[^<>@,]*?)\s*<(?P<address>[^<>\s]+@[^<>\s]+)>\s*$")
_BARE_ADDRESS = re.compile(r"^\s*(?P<name>)(?P<address>[^<>\s,]+@[^<>\s,]+)\s*$")
_ADDRESS_FIELDS = (("from", "From"), ("to", "To"), ("cc", "Cc"), ("bcc", "Bcc"),
                   ("deliveredto", "Delivered-To"))

# Errors the email package and codecs raise on malformed input.
PARSE_ERRORS = (
    email.errors.MessageError, ValueError, LookupError, TypeError, AttributeError,
    IndexError, KeyError, AssertionError, RecursionError,
)


class UnparseableMessage(Exception):
    """The email package could not make sense of the bytes at all."""


@dataclass
class MessageSummary:
    """Facts the store indexes about one parsed message."""

    subject: str = ""
    rfc822_msgid: str | None = None
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    date_ms: int | None = None
    # (field, lower-cased address, decoded display name)
    addresses: list[tuple[str, str, str]] = field(default_factory=list)
    sender_text: str = ""
    to_text: str = ""
    cc_text: str = ""
    bcc_text: str = ""
    body_text: str = ""
    filenames: list[str] = field(default_factory=list)
    snippet: str = ""

    @property
    def has_attachment(self) -> bool:
        return bool(self.filenames)

    @property
    def thread_references(self) -> list[str]:
        """Referenced Message-IDs, the most direct parent first."""
        ordered = list(self.in_reply_to) + list(reversed(self.references))
        return list(dict.fromkeys(ordered))

    @property
    def recipients(self) -> list[str]:
        return [a for f, a, _ in self.addresses if f in ("to", "cc", "bcc")]


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=compat32)


def decode_header_text(value: object) -> str:
    """Decode RFC 2047 encoded words and unfold; undecodable pieces stay as written."""
    text = str(value) if not isinstance(value, str) else value
    if _has_surrogates(text):
        text = _redecode_8bit(text)
    text = text.replace("\r\n", "").replace("\n", "")
    if "=?" not in text:
        return text
    try:
        pieces = decode_header(text)
    except PARSE_ERRORS + (binascii.Error,):
        return text
    decoded = []
    for chunk, charset in pieces:
        if isinstance(chunk, str):
            decoded.append(chunk)
        else:
            decoded.append(_decode_bytes(chunk, charset))
    return "".join(decoded)


def normalize_subject(subject: str) -> str:
    """Return the subject Gmail threads on: no Re:/Fwd:/Fw: prefixes, case or extra spaces."""
    stripped = _SUBJECT_PREFIX.sub("", subject or "")
    return _WHITESPACE.sub(" ", stripped).strip().casefold()


def message_ids_in(value: str | None) -> list[str]:
    """Return the Message-IDs in a References or In-Reply-To value, without brackets."""
    if not value:
        return []
    found = _MSGID.findall(value)
    if found:
        return found
    bare = value.strip()
    return [bare] if bare and " " not in bare else []


def summarize(raw: bytes) -> MessageSummary:
    """Index facts for ``raw``; raise UnparseableMessage when parsing fails."""
    try:
        message = parse(raw)
        return _summarize(message)
    except PARSE_ERRORS as exc:
        raise UnparseableMessage(f"{type(exc).__name__}: {exc}") from exc


def _summarize(message: Message) -> MessageSummary:
    all_headers: dict[str, list[object]] = {}
    for name, value in message.raw_items():
        all_headers.setdefault(name.lower(), []).append(value)
    headers = {name: values[0] for name, values in all_headers.items()}
    summary = MessageSummary()
    summary.subject = decode_header_text(headers.get("subject", ""))
    msgids = message_ids_in(decode_header_text(headers.get("message-id", "")))
    summary.rfc822_msgid = msgids[0] if msgids else None
    summary.in_reply_to = message_ids_in(decode_header_text(headers.get("in-reply-to", "")))
    summary.references = message_ids_in(decode_header_text(headers.get("references", "")))
    summary.date_ms = date_header_ms(headers.get("date"))
    _fill_addresses(summary, all_headers)

    plain, html_text, filenames = _collect_text(message)
    summary.filenames = filenames
    summary.body_text = "\n".join(plain + html_text)
    snippet_source = " ".join(plain) if plain else " ".join(html_text)
    summary.snippet = make_snippet(snippet_source)
    return summary


def _fill_addresses(summary: MessageSummary, headers: dict[str, list[object]]) -> None:
    texts: dict[str, list[str]] = {"from": [], "to": [], "cc": [], "bcc": []}
    for field_name, header in _ADDRESS_FIELDS:
        values = [_header_str(v) for v in headers.get(header.lower(), [])]
        for name, address in parse_address_list(values):
            address = address.strip()
            if not address or "@" not in address:
                continue
            name = decode_header_text(name)
            summary.addresses.append((field_name, address.lower(), name))
            if field_name in texts:
                texts[field_name].append(f"{name} <{address}>" if name else address)
    summary.sender_text = ", ".join(texts["from"])
    summary.to_text = ", ".join(texts["to"])
    summary.cc_text = ", ".join(texts["cc"])
    summary.bcc_text = ", ".join(texts["bcc"])


def parse_address_list(values: list[str]) -> list[tuple[str, str]]:
    """(name, address) pairs; a fast path for plain lists, ``getaddresses`` otherwise."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        if _COMPLEX_ADDRESS.search(value):
            pairs.extend(email.utils.getaddresses([value]))
            continue
        for item in value.split(","):
            match = _NAMED_ADDRESS.match(item) or _BARE_ADDRESS.match(item)
            if match is None:
                pairs.extend(email.utils.getaddresses([item]))
            else:
                name, address = match.group("name") or "", match.group("address")
                pairs.append((name, address))
    return pairs


def _collect_text(message: Message) -> tuple[list[str], list[str], list[str]]:
    plain: list[str] = []
    html_text: list[str] = []
    filenames: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part_filename(part)
        if filename:
            filenames.append(filename)
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain":
            plain.append(part_text(part))
        elif content_type == "text/html":
            html_text.append(strip_html(part_text(part)))
    return plain, html_text, filenames


def part_filename(part: Message) -> str:
    params = f"{part.get('content-disposition', '')}{part.get('content-type', '')}"
    if "name" not in params.lower():
        return ""  # no filename or name parameter: skip the costly parameter parsing
    try:
        filename = part.get_filename()
    except PARSE_ERRORS:
        return ""
    return decode_header_text(filename) if filename else ""


def part_bytes(part: Message) -> bytes:
    """Return the decoded body bytes of a leaf part (an attached message as its bytes)."""
    if part.is_multipart():
        inner = part.get_payload()
        if isinstance(inner, list) and inner:
            return inner[0].as_bytes()
        return b""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def part_text(part: Message) -> str:
    charset = part.get_content_charset() or "utf-8"
    return _decode_bytes(part_bytes(part), charset)


def strip_html(markup: str) -> str:
    text = _HTML_HIDDEN.sub(" ", markup)
    text = _HTML_COMMENT.sub(" ", text)
    text = _HTML_BLOCK_TAG.sub("\n", text)
    text = _HTML_TAG.sub("", text)
    return html.unescape(text)


def make_snippet(text: str) -> str:
    collapsed = _WHITESPACE.sub(" ", html.unescape(text)).strip()
    return collapsed[:SNIPPET_LENGTH].rstrip()


def date_header_ms(value: object) -> int | None:
    """Epoch milliseconds of a Date header value, or None when it is missing or invalid."""
    if value is None:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(decode_header_text(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return int(moment.timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        return None


def format_date_header(moment: datetime) -> str:
    """Format an RFC 5322 Date value, such as ``Mon, 02 Mar 2026 05:17:00 +0000``."""
    return email.utils.format_datetime(moment.astimezone(timezone.utc))


def header_values(raw: bytes, name: str) -> list[str]:
    return [decode_header_text(v) for v in parse(raw).get_all(name, [])]


def add_missing_headers(raw: bytes, headers: list[tuple[str, str]]) -> bytes:
    """Prepend each (name, value) whose name the message lacks; keep the rest byte for byte."""
    header_block = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    present = {
        line.split(b":", 1)[0].strip().lower()
        for line in header_block.splitlines()
        if line[:1] not in (b" ", b"\t") and b":" in line
    }
    newline = b"\r\n" if b"\r\n" in raw[:2000] or not raw else b"\n"
    added = b"".join(
        name.encode("ascii") + b": " + value.encode("utf-8") + newline
        for name, value in headers
        if name.lower().encode("ascii") not in present
    )
    return added + raw


def _header_str(value: object) -> str:
    text = str(value) if not isinstance(value, str) else value
    return _redecode_8bit(text) if _has_surrogates(text) else text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _redecode_8bit(text: str) -> str:
    data = text.encode("ascii", "surrogateescape")
    return _decode_bytes(data, "utf-8")


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, then UTF-8, then Latin-1, which maps every byte."""
    for candidate in (charset, "utf-8"):
        if not candidate or candidate == "unknown-8bit":
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


# -- Gmail MessagePart resources ---------------------------------------------


def payload_resource(raw: bytes) -> dict[str, object]:
    """Build the ``payload`` of format full: the MIME tree with bodies and attachment ids.

    Part ids follow Gmail: "" for the root, "0", "1" for its children, "0.1" for
    the second child of part "0".
    """
    return _part_resource(parse(raw), "")


def metadata_payload(raw: bytes, wanted: list[str] | None) -> dict[str, object]:
    """Build the ``payload`` of format metadata: headers only, filtered case-insensitively."""
    message = parse(raw)
    headers = _headers_list(message)
    if wanted:
        names = {name.lower() for name in wanted}
        headers = [h for h in headers if h["name"].lower() in names]
    return {"mimeType": message.get_content_type(), "headers": headers}


def unparsed_payload(raw: bytes) -> dict[str, object]:
    """Build a payload for bytes the email package could not parse: one opaque part."""
    return {
        "partId": "",
        "mimeType": "application/octet-stream",
        "filename": "",
        "headers": [],
        "body": {"size": len(raw), "attachmentId": attachment_id_for("")},
    }


def attachment_id_for(part_id: str) -> str:
    # NOTE: Gmail's attachment ids are long opaque strings that change between
    # calls; these are stable and only meaningful with their message id.
    return "ANGjdJ" + base64.urlsafe_b64encode(f"part:{part_id}".encode()).decode().rstrip("=")


def part_id_for(attachment_id: str) -> str | None:
    if not attachment_id.startswith("ANGjdJ"):
        return None
    encoded = attachment_id[6:]
    try:
        text = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text[5:] if text.startswith("part:") else None


def find_part_bytes(raw: bytes, part_id: str) -> bytes | None:
    """Return the decoded body of the part with ``part_id``, or None when there is none."""
    part: Message = parse(raw)
    if part_id:
        for index in part_id.split("."):
            children = part.get_payload() if part.is_multipart() else None
            if part.get_content_maintype() != "multipart" or not isinstance(children, list):
                return None
            if not index.isdigit() or int(index) >= len(children):
                return None
            part = children[int(index)]
    elif part.get_content_maintype() == "multipart":
        return None
    return part_bytes(part)


def _part_resource(part: Message, part_id: str) -> dict[str, object]:
    resource: dict[str, object] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": part_filename(part),
        "headers": _headers_list(part),
    }
    children = part.get_payload()
    if part.get_content_maintype() == "multipart" and isinstance(children, list):
        resource["body"] = {"size": 0}
        prefix = f"{part_id}." if part_id else ""
        resource["parts"] = [
            _part_resource(child, f"{prefix}{index}") for index, child in enumerate(children)
        ]
        return resource
    data = part_bytes(part)
    is_text = part.get_content_maintype() == "text"
    if resource["filename"] or not is_text:
        resource["body"] = {"attachmentId": attachment_id_for(part_id), "size": len(data)}
    elif data:
        resource["body"] = {"size": len(data), "data": base64url(data)}
    else:
        resource["body"] = {"size": 0}
    return resource


def _headers_list(part: Message) -> list[dict[str, str]]:
    return [
        {"name": name, "value": decode_header_text(value)} for name, value in part.raw_items()
    ]
