"""Parse raw RFC 5322 messages into a small record that never raises on bad input.

Mail from the wild is often broken: undeclared 8-bit headers, unknown charsets,
missing boundaries, unparseable dates. ``parse_message`` always returns a
``ParsedMessage``. Whatever it had to skip or guess is listed in ``defects``,
together with the defects the ``email`` package itself recorded.

Message ids keep their angle brackets (``<id@host>``), the form in which they
appear in ``Message-ID``, ``In-Reply-To`` and ``References``.
"""

from __future__ import annotations

import email.errors
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.header import decode_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import NamedTuple

logger = logging.getLogger(__name__)

# Exceptions that header or payload access can raise on malformed input in the
# email package of CPython 3.11: charset lookups (LookupError), header parser
# errors (HeaderParseError, IndexError, ValueError) and bad types.
PARSE_ERRORS = (
    email.errors.MessageError,
    LookupError,
    ValueError,
    TypeError,
    AttributeError,
    UnicodeError,
)

# Charset names seen in real mail that Python's codec registry does not know.
CHARSET_ALIASES = {
    "iso-8859-8-i": "iso-8859-8",
    "x-mac-cyrillic": "mac-cyrillic",
    "ks_c_5601-1987": "cp949",
    "x-unknown": "latin-1",
    "unknown-8bit": "latin-1",
}

# The email package's header parser takes seconds on a header of some hundred
# kilobytes (3 s for a 200 KB Subject on CPython 3.11), so longer values are
# decoded by the simpler decode_header_text.
LONG_HEADER = 16_384

# Headers that RFC 5322 section 3.6 allows at most once; a repeat is recorded
# as a defect.
SINGLE_HEADERS = frozenset(
    {"date", "from", "sender", "reply-to", "to", "cc", "message-id",
     "in-reply-to", "references", "subject"}
)

# ISO-2022-JP text starts with one of these escape sequences (RFC 1468).
ISO_2022_JP_ESCAPE = re.compile(r"\x1b[$(][@BJ]")
MESSAGE_ID = re.compile(r"<[^<>\s]+>")


class Address(NamedTuple):
    """A mailbox from an address header, with the address lower-cased."""

    name: str
    address: str


class Attachment(NamedTuple):
    """A part with a file name or an attachment disposition, or an attached message."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class ParsedMessage:
    """The fields of a message that the assistant reads, decoded."""

    message: Message
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    from_addresses: list[Address] = field(default_factory=list)
    to_addresses: list[Address] = field(default_factory=list)
    cc_addresses: list[Address] = field(default_factory=list)
    subject: str = ""
    date: datetime | None = None
    body_text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)

    @property
    def sender(self) -> str | None:
        """The first From address, lower-cased, or None."""
        return self.from_addresses[0].address if self.from_addresses else None

    def header(self, name: str) -> str | None:
        """Return the first decoded value of header ``name``, or None."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        """Return every decoded value of header ``name``, in message order."""
        return header_values(self.message, name)


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse raw message bytes, such as Gmail's ``format=raw`` after base64url decoding."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except PARSE_ERRORS as exc:
        # NOTE: the parser records defects instead of raising on every corpus
        # message; this guard only keeps the never-raises contract.
        logger.warning("message could not be parsed: %s", type(exc).__name__)
        empty = ParsedMessage(message=EmailMessage())
        empty.defects.append(f"unparseable message: {type(exc).__name__}")
        return empty
    return parse_email_message(message)


def parse_email_message(message: Message) -> ParsedMessage:
    """Build a ``ParsedMessage`` from an already parsed ``email`` message object."""
    parsed = ParsedMessage(message=message)
    defects = parsed.defects

    parsed.message_id = normalize_message_id(_header(message, "Message-ID", defects))
    parsed.in_reply_to = normalize_message_id(_header(message, "In-Reply-To", defects))
    parsed.references = parse_message_ids(_header(message, "References", defects) or "")
    parsed.subject = _header(message, "Subject", defects) or ""

    parsed.from_addresses = _addresses(message, "From", defects)
    parsed.to_addresses = _addresses(message, "To", defects)
    parsed.cc_addresses = _addresses(message, "Cc", defects)
    parsed.date = _date(message, defects)

    parsed.body_text = _body_text(message, defects)
    parsed.attachments = list(_attachments(message, defects))
    defects.extend(_recorded_defects(message))
    return parsed


def as_parsed(value: bytes | Message | ParsedMessage) -> ParsedMessage:
    """Accept raw bytes, an ``email`` message or a parsed message, and return the latter."""
    if isinstance(value, ParsedMessage):
        return value
    if isinstance(value, Message):
        return parse_email_message(value)
    return parse_message(bytes(value))


def normalize_message_id(value: str | None) -> str | None:
    """Return the first ``<id>`` in a header value, or the bare value when it has none."""
    if not value or not value.strip():
        return None
    found = MESSAGE_ID.search(value)
    if found:
        return found.group(0)
    bare = value.strip().split()[0]
    return f"<{bare.strip('<>')}>"


def parse_message_ids(value: str) -> list[str]:
    """Return the message ids in a ``References`` or ``In-Reply-To`` value, in order."""
    found = MESSAGE_ID.findall(value)
    if found:
        return found
    return [f"<{token.strip('<>')}>" for token in value.split() if token.strip("<>")]


def header_values(message: Message, name: str) -> list[str]:
    """Return every decoded value of header ``name``, in message order."""
    return [_decoded_header(message, name, source) for source in _raw_values(message, name)]


def decode_header_text(raw: str) -> str:
    """Decode RFC 2047 encoded words, and raw ISO-2022-JP, in a header value."""
    text = raw
    if "=?" in raw:
        try:
            chunks = decode_header(raw)
        except PARSE_ERRORS:
            chunks = [(raw, None)]
        text = "".join(_decode_header_chunk(chunk, charset) for chunk, charset in chunks)
    if ISO_2022_JP_ESCAPE.search(text):
        text = decode_bytes(text.encode("latin-1", errors="replace"), "iso-2022-jp")[0]
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


def decode_bytes(data: bytes, charset: str) -> tuple[str, str | None]:
    """Decode ``data`` in ``charset``; return the text and a defect note, or None.

    Undecodable text falls back to UTF-8 with replacement characters.
    """
    charset = charset.lower().strip() or "us-ascii"
    codec = CHARSET_ALIASES.get(charset, charset)
    try:
        return data.decode(codec), None
    except LookupError:
        return data.decode("utf-8", errors="replace"), f"unknown charset {charset!r}"
    except UnicodeError:
        pass
    if codec.replace("_", "-") == "iso-2022-jp" and not _looks_like_utf8(data):
        return _decode_jis_extended(data), None
    return data.decode("utf-8", errors="replace"), f"text is not valid {charset}"


def decode_part_text(part: Message, defects: list[str] | None = None) -> str:
    """Return the text of a leaf part, decoded from its transfer encoding and charset."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    text, defect = decode_bytes(payload, part.get_content_charset() or "us-ascii")
    if defect and defects is not None:
        defects.append(f"{defect}; decoded as UTF-8 with replacement")
    return text


def _decode_header_chunk(chunk: bytes | str, charset: str | None) -> str:
    if isinstance(chunk, str):
        return chunk
    if charset is None:
        return chunk.decode("ascii", errors="replace")
    return decode_bytes(chunk, charset)[0]


def _looks_like_utf8(data: bytes) -> bool:
    if data.isascii():
        return False
    try:
        data.decode("utf-8")
    except UnicodeError:
        return False
    return True


def _decode_jis_extended(data: bytes) -> str:
    """Decode ISO-2022-JP that uses the NEC and IBM rows (CP50220 style, as in "①" or "№").

    Python's iso-2022-jp codec rejects those rows, so the JIS X 0208 runs are
    moved to EUC form and decoded as EUC-JIS-2004, whose plane 1 includes them.
    """
    converted = bytearray()
    double_byte = False
    for piece in re.split(rb"(\x1b[$(][@BJ])", data):
        if piece in (b"\x1b$B", b"\x1b$@"):
            double_byte = True
        elif piece in (b"\x1b(B", b"\x1b(J"):
            double_byte = False
        elif double_byte:
            converted += bytes(byte | 0x80 for byte in piece if byte > 0x20)
        else:
            converted += piece
    return bytes(converted).decode("euc_jis_2004", errors="replace")


def html_to_text(html: str) -> str:
    """Convert HTML to plain text: drop markup, scripts and styles, keep line breaks."""
    converter = _HtmlText()
    try:
        converter.feed(html)
        converter.close()
    except AssertionError:
        # CPython's HTMLParser asserts on some malformed declarations.
        pass
    return converter.text()


def _raw_values(message: Message, name: str) -> list[str]:
    wanted = name.lower()
    return [str(value) for key, value in message.raw_items() if key.lower() == wanted]


def _decoded_header(message: Message, name: str, source: str) -> str:
    """Decode one header value, preferring the email package's own decoding.

    Python gives up on some charsets (iso-8859-8-i, ISO-2022-JP with NEC rows)
    and leaves replacement characters or the encoded words in place, so such
    values are decoded again from their source by ``decode_header_text``.
    """
    text = ""
    if len(source) <= LONG_HEADER:
        try:
            text = str(message.policy.header_fetch_parse(name, source))
        except PARSE_ERRORS:
            text = ""
    damaged = "\ufffd" in text or "=?" in text or ISO_2022_JP_ESCAPE.search(text)
    if text and not damaged:
        return " ".join(text.split()) if "\n" in text else text
    source = source.encode("utf-8", errors="surrogateescape").decode("utf-8", "replace")
    return decode_header_text(source)


def _header(message: Message, name: str, defects: list[str]) -> str | None:
    sources = _raw_values(message, name)
    if not sources:
        return None
    if len(sources) > 1 and name.lower() in SINGLE_HEADERS:
        defects.append(f"{len(sources)} {name} headers; the first is used")
    return _decoded_header(message, name, sources[0])


def _addresses(message: Message, name: str, defects: list[str]) -> list[Address]:
    # Split the undecoded value first, because a decoded display name may
    # contain the commas that separate addresses.
    sources = [_unfold(source) for source in _raw_values(message, name)]
    if len(sources) > 1:
        defects.append(f"{len(sources)} {name} headers; all addresses are kept")
    found: list[Address] = []
    for display_name, address in getaddresses(sources):
        display_name = decode_header_text(display_name)
        address = decode_header_text(address).strip().lower()
        if "@" not in address:
            if address:
                defects.append(f"{name} contains an address without a domain")
            continue
        found.append(Address(name=display_name.strip(), address=address))
    return found


def _unfold(source: str) -> str:
    text = source.encode("utf-8", errors="surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def _date(message: Message, defects: list[str]) -> datetime | None:
    raw = _header(message, "Date", defects)
    if raw is None:
        return None
    try:
        moment = parsedate_to_datetime(raw)
    except PARSE_ERRORS:
        defects.append("invalid Date header")
        return None
    if moment.tzinfo is None:
        # RFC 5322 section 3.3: "-0000" means the zone is unknown but the time is UTC.
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _body_text(message: Message, defects: list[str]) -> str:
    plain, html = _first_body_parts(message)
    if plain is not None:
        return decode_part_text(plain, defects)
    if html is not None:
        return html_to_text(decode_part_text(html, defects))
    return ""


def _first_body_parts(message: Message) -> tuple[Message | None, Message | None]:
    """Find the first inline text/plain and text/html parts, not inside attached messages."""
    plain: Message | None = None
    html: Message | None = None
    for part in _leaf_parts(message):
        if _is_attachment(part):
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain" and plain is None:
            plain = part
        elif content_type == "text/html" and html is None:
            html = part
    return plain, html


def _leaf_parts(message: Message) -> list[Message]:
    """List leaf parts depth-first, treating message/* parts as leaves."""
    if message.get_content_maintype() == "message" or not message.is_multipart():
        return [message]
    leaves: list[Message] = []
    payload = message.get_payload()
    for child in payload if isinstance(payload, list) else []:
        if isinstance(child, Message):
            leaves.extend(_leaf_parts(child))
    return leaves


def _is_attachment(part: Message) -> bool:
    try:
        disposition = part.get_content_disposition()
        filename = part.get_filename()
    except PARSE_ERRORS:
        return True
    return disposition == "attachment" or bool(filename)


def _attachments(message: Message, defects: list[str]) -> list[Attachment]:
    found: list[Attachment] = []
    for part in _leaf_parts(message):
        if part is message and not message.is_multipart() and not _is_attachment(part):
            continue
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            found.append(Attachment(_filename(part), content_type, _attached_bytes(part)))
        elif _is_attachment(part):
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            found.append(Attachment(_filename(part), content_type, data))
    return found


def _filename(part: Message) -> str:
    try:
        return decode_header_text(part.get_filename() or "")
    except PARSE_ERRORS:
        return ""


def _attached_bytes(part: Message) -> bytes:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        return b""
    try:
        return inner.as_bytes(policy=policy.default.clone(max_line_length=0))
    except PARSE_ERRORS:
        return bytes(str(inner), "utf-8", errors="replace")


def _recorded_defects(message: Message) -> list[str]:
    recorded: list[str] = []
    for part in message.walk():
        for defect in getattr(part, "defects", []):
            recorded.append(type(defect).__name__)
    return recorded


class _HtmlText(HTMLParser):
    BLOCK_TAGS = frozenset(
        "p div br tr li ul ol table h1 h2 h3 h4 h5 h6 blockquote pre hr".split()
    )
    SKIPPED_TAGS = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._chunks: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIPPED_TAGS:
            self._skip_depth += 1
        elif tag in self.BLOCK_TAGS:
            self._chunks.append("\n")
        elif tag == "td":
            self._chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED_TAGS and self._skip_depth:
            self._skip_depth -= 1
        elif tag in self.BLOCK_TAGS:
            self._chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self._chunks.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self._chunks).splitlines())
        text = "\n".join(lines)
        return re.sub(r"\n{3,}", "\n\n", text).strip()
