"""Fixtures: a sandbox on 127.0.0.1 with a fresh mailbox, and a Gmail client for it."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest

from assistant.gmail import build_service
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore

OWNER = "owner@example.com"
CLIENT = "ap@client.example"


class ManualClock:
    """A monotonic clock for the quota window that moves only when told to."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def sandbox_clock() -> SandboxClock:
    return SandboxClock()


@pytest.fixture
def store(tmp_path: Path, sandbox_clock: SandboxClock) -> Iterator[MailStore]:
    mailbox = MailStore(str(tmp_path / "mailbox.db"), clock=sandbox_clock)
    mailbox.set_user_email(OWNER)
    yield mailbox
    mailbox.close()


@pytest.fixture
def start_sandbox(
    store: MailStore, sandbox_clock: SandboxClock
) -> Iterator[Callable[..., SandboxServer]]:
    """Return a function that starts a sandbox with the given options."""
    started: list[SandboxServer] = []

    def start(**options: Any) -> SandboxServer:
        server = SandboxServer(store, clock=sandbox_clock, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(start_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    return start_sandbox()


@pytest.fixture
def service(sandbox: SandboxServer) -> Any:
    return build_service(sandbox.url)


def compose(
    subject: str = "Invoice 2026-014",
    *,
    sender: str = OWNER,
    to: str = CLIENT,
    text: str = "Please find the invoice attached.",
    references: list[str] | None = None,
    message_id: str | None = None,
    date: str | None = None,
    attachment: bytes | None = None,
) -> bytes:
    """Build an RFC 822 message with the email package."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    if date:
        message["Date"] = date
    if references:
        message["References"] = " ".join(references)
        message["In-Reply-To"] = references[-1]
    message.set_content(text)
    if attachment is not None:
        message.add_attachment(
            attachment, maintype="application", subtype="pdf", filename="invoice.pdf"
        )
    return message.as_bytes()


def b64url(data: bytes, *, padded: bool = False) -> str:
    text = base64.urlsafe_b64encode(data).decode("ascii")
    return text if padded else text.rstrip("=")


def new_message_id() -> str:
    return make_msgid(domain="example.com")
