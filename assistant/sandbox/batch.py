"""Batch requests: many API calls in one multipart/mixed HTTP request.

Each part is an ``application/http`` request with the path-only request line;
each answer part carries the request's Content-ID prefixed with ``response-``,
which is how clients match answers to calls. Gmail takes at most 100 calls in
one batch. See https://developers.google.com/workspace/gmail/api/guides/batch.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from http import HTTPStatus

from assistant.sandbox.errors import BatchTooLarge, InvalidArgument
from assistant.sandbox.uploads import split_multipart

MAX_BATCH_CALLS = 100


@dataclass
class InnerRequest:
    """One call inside a batch."""

    content_id: str | None
    method: str
    target: str
    headers: Message
    body: bytes


@dataclass
class InnerResponse:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


def parse_batch(content_type: str, body: bytes) -> list[InnerRequest]:
    """Split a batch body into its calls; raise BatchTooLarge above 100 calls."""
    if not content_type.lower().startswith("multipart/mixed"):
        raise InvalidArgument(
            f"A batch request must be multipart/mixed, not {content_type or '(none)'}"
        )
    parts = split_multipart(content_type, body)
    if len(parts) > MAX_BATCH_CALLS:
        # Google's batch front end text, as clients have logged it.
        raise BatchTooLarge(
            "Inner request count exceeds the limit. "
            f"Received: {len(parts)}, Limit: {MAX_BATCH_CALLS}"
        )
    return [_parse_inner(part.headers.get("Content-ID"), part.body) for part in parts]


def _parse_inner(content_id: str | None, payload: bytes) -> InnerRequest:
    request_line, _, rest = payload.partition(b"\n")
    words = request_line.decode("latin-1").strip().split()
    if len(words) < 2:
        raise InvalidArgument(f"Invalid request line in batch part: {request_line[:80]!r}")
    head, _, body = _split_headers(rest)
    headers = BytesHeaderParser().parsebytes(head + b"\n")
    return InnerRequest(
        content_id=content_id, method=words[0].upper(), target=words[1],
        headers=headers, body=body,
    )


def _split_headers(rest: bytes) -> tuple[bytes, bytes, bytes]:
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = rest.partition(separator)
        if found:
            return head, found, body
    return rest, b"", b""


def response_content_id(request_id: str | None) -> str | None:
    """Return the answer's Content-ID: ``<abc + 1>`` becomes ``<response-abc + 1>``."""
    if not request_id:
        return None
    inner = request_id.strip()
    if inner.startswith("<") and inner.endswith(">"):
        inner = inner[1:-1]
    return f"<response-{inner}>"


def render_batch(answers: list[tuple[InnerRequest, InnerResponse]]) -> tuple[str, bytes]:
    """Return the Content-Type and body of the multipart/mixed batch answer."""
    boundary = "batch_" + secrets.token_hex(12)
    out = bytearray()
    for request, response in answers:
        out += f"--{boundary}\r\nContent-Type: application/http\r\n".encode()
        content_id = response_content_id(request.content_id)
        if content_id:
            out += f"Content-ID: {content_id}\r\n".encode()
        out += b"\r\n" + _render_response(response) + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/mixed; boundary={boundary}", bytes(out)


def _render_response(response: InnerResponse) -> bytes:
    reason = HTTPStatus(response.status).phrase
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in response.headers]
    lines.append(f"Content-Length: {len(response.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body
