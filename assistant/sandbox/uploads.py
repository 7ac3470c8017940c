"""Message uploads: the ``raw`` JSON field and the three media upload protocols.

Gmail takes a message either as base64 text in the JSON ``raw`` field or as
media on the ``/upload/`` and ``/resumable/upload/`` paths, with ``uploadType``
``media`` (the body is the message), ``multipart`` (multipart/related: a JSON
part, then the message) or ``resumable`` (a session, then chunks with
Content-Range). See https://developers.google.com/workspace/gmail/api/guides/uploads.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any

from assistant.gmail import discovery_document
from assistant.sandbox.errors import InvalidArgument, NotFound, PayloadTooLarge

_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")


def max_upload_size(method_id: str) -> int:
    """Return the discovery ``maxSize`` in bytes of a media-upload method."""
    resources = discovery_document()["resources"]
    node: dict[str, Any] = {"resources": resources}
    *path, name = method_id.split(".")[1:]
    for part in path:
        node = node["resources"][part]
    return int(node["methods"][name]["mediaUpload"]["maxSize"])


def check_size(method_id: str, size: int) -> None:
    limit = max_upload_size(method_id)
    if size > limit:
        # NOTE: Gmail's exact 413 text is undocumented; the limit is the
        # discovery document's maxSize for the method.
        raise PayloadTooLarge(
            f"Message of {size} bytes is larger than the {limit} bytes "
            f"{method_id} accepts."
        )


def decode_raw(value: object, field_path: str) -> bytes:
    """Decode a ``raw`` field: base64url or standard base64, padded or not.

    Google's JSON mapping of bytes fields accepts both alphabets with or
    without padding (https://protobuf.dev/programming-guides/json/).
    """
    if not isinstance(value, str):
        raise InvalidArgument(
            f"Invalid value at '{field_path}' (TYPE_BYTES), expected a base64 string"
        )
    text = "".join(value.split()).replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise InvalidArgument(
            f"Invalid value at '{field_path}' (TYPE_BYTES), "
            f'Base64 decoding failed for "{shown}"'
        ) from exc


@dataclass
class MultipartPart:
    headers: Message
    body: bytes


def split_multipart(content_type: str, body: bytes) -> list[MultipartPart]:
    """Split a multipart body into its parts, keeping each part's bytes exact."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise InvalidArgument(f"Content-Type {content_type!r} has no multipart boundary")
    delimiter = b"--" + match.group(1).encode("ascii")
    chunks = body.split(delimiter)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        parts.append(_parse_part(chunk))
    return parts


def _parse_part(chunk: bytes) -> MultipartPart:
    chunk = _strip_line_break(chunk, leading=True)
    head, separator, rest = _split_head(chunk)
    if not separator:
        raise InvalidArgument("a multipart part has no blank line after its headers")
    headers = BytesHeaderParser().parsebytes(head + b"\n")
    return MultipartPart(headers=headers, body=_strip_line_break(rest, leading=False))


def _split_head(chunk: bytes) -> tuple[bytes, bytes, bytes]:
    if chunk.startswith((b"\r\n", b"\n")):
        return b"", b"\n", _strip_line_break(chunk, leading=True)
    positions = [(chunk.find(sep), sep) for sep in (b"\r\n\r\n", b"\n\n")]
    found = [(at, sep) for at, sep in positions if at >= 0]
    if not found:
        return chunk, b"", b""
    at, sep = min(found)
    return chunk[:at], sep, chunk[at + len(sep):]


def _strip_line_break(data: bytes, *, leading: bool) -> bytes:
    # The line break next to a boundary delimiter belongs to the delimiter (RFC 2046 5.1.1).
    for line_break in (b"\r\n", b"\n"):
        if leading and data.startswith(line_break):
            return data[len(line_break):]
        if not leading and data.endswith(line_break):
            return data[: -len(line_break)]
    return data


def check_media_type(content_type: str) -> None:
    # The discovery document accepts "message/*" for every Gmail upload.
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not media_type.startswith("message/"):
        raise InvalidArgument(
            f"Media type '{media_type or '(none)'}' is not supported. "
            "Valid media types: [message/*]"
        )


def parse_multipart_upload(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes]:
    """Return the JSON metadata and the message of a multipart/related upload."""
    parts = split_multipart(content_type, body)
    if len(parts) != 2:
        raise InvalidArgument(
            f"A multipart upload needs 2 parts, metadata then media; got {len(parts)}"
        )
    metadata, media = parts
    check_media_type(media.headers.get("Content-Type", ""))
    return parse_json_object(metadata.body), media.body


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"Invalid JSON payload received. {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidArgument("Invalid JSON payload received. Expected an object.")
    return value


@dataclass
class ResumableSession:
    """One resumable upload: the call it belongs to and the bytes received so far."""

    upload_id: str
    method_id: str
    path: str
    http_method: str
    query: list[tuple[str, str]]
    metadata: dict[str, Any]
    total: int | None
    received: bytearray = field(default_factory=bytearray)

    def accept(self, content_range: str | None, data: bytes) -> bool:
        """Append a chunk and return True once the whole message has arrived.

        A chunk that does not start where the received bytes end is ignored, so
        the client resends from the offset the 308 response's Range reports.
        """
        start, total = _parse_content_range(content_range, len(data))
        if total is not None:
            self.total = total
        if start is not None and start == len(self.received):
            self.received += data
        if self.total is not None:
            check_size(self.method_id, self.total)
        check_size(self.method_id, len(self.received))
        return self.total is not None and len(self.received) >= self.total


def _parse_content_range(text: str | None, length: int) -> tuple[int | None, int | None]:
    """Return (first byte, total size) from a Content-Range request header."""
    if text is None:
        # A PUT without Content-Range carries the whole rest of the upload.
        return 0, length
    match = _RANGE.match(text.strip())
    if match is None:
        raise InvalidArgument(
            f"Invalid Content-Range {text!r}; expected bytes FIRST-LAST/TOTAL or bytes */TOTAL"
        )
    first, _last, total = match.groups()
    return (
        int(first) if first is not None else None,
        int(total) if total != "*" else None,
    )


class ResumableSessions:
    """Open resumable uploads by upload id."""

    def __init__(self) -> None:
        self._sessions: dict[str, ResumableSession] = {}
        self._lock = threading.Lock()

    def open(self, **fields: Any) -> ResumableSession:
        session = ResumableSession(upload_id=secrets.token_urlsafe(16), **fields)
        with self._lock:
            self._sessions[session.upload_id] = session
        return session

    def get(self, upload_id: str) -> ResumableSession:
        with self._lock:
            session = self._sessions.get(upload_id)
        if session is None:
            raise NotFound(f"Upload session {upload_id!r} was not found.")
        return session

    def close(self, upload_id: str) -> None:
        with self._lock:
            self._sessions.pop(upload_id, None)
