"""``assistant sandbox serve``: run the local Gmail-compatible server."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from assistant.cli import cli
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.loading import LoadReport, load_mailbox
from assistant.sandbox.quota import DEFAULT_QUOTA_PER_MINUTE
from assistant.sandbox.server import LOOPBACK_HOSTS, SandboxServer
from assistant.sandbox.store import MailStore


@cli.group("sandbox")
def sandbox_group() -> None:
    """Run a local Gmail-compatible server for trying the assistant safely."""


@sandbox_group.command("serve")
@click.option(
    "--mailbox",
    "mailboxes",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Mail to load: a folder of .eml files, an .eml file or an mbox file "
    "(such as a Gmail Takeout export). Repeat for several.",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file that keeps the mailbox across restarts (default: in memory).",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8025, show_default=True,
    help="TCP port to listen on; 0 picks a free one.",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True,
    help="Loopback address to listen on: 127.0.0.1, localhost or ::1.",
)
@click.option(
    "--user", metavar="EMAIL",
    help="Mailbox owner's address (default: the most frequent sender of sent mail).",
)
@click.option(
    "--quota-per-minute", type=click.IntRange(min=1), default=DEFAULT_QUOTA_PER_MINUTE,
    show_default=True, help="Quota units one user may spend in any 60 seconds.",
)
@click.option(
    "--fail-rate", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
    help="Probability (0 to 1) that a call fails with 500, 503, 429 or a dropped connection.",
)
@click.option("--seed", type=int, help="Seed for the injected failures, to repeat a run.")
@click.option(
    "--history-retention", type=click.IntRange(min=1),
    help="Keep only the newest N history records; older startHistoryIds get 404.",
)
def serve_command(
    mailboxes: tuple[Path, ...],
    state: Path | None,
    port: int,
    host: str,
    user: str | None,
    quota_per_minute: int,
    fail_rate: float,
    seed: int | None,
    history_retention: int | None,
) -> None:
    """Serve the Gmail API on a loopback port until interrupted (SIGINT or SIGTERM)."""
    if host not in LOOPBACK_HOSTS:
        raise click.BadParameter(
            f"{host!r} is not a loopback address; use 127.0.0.1, localhost or ::1",
            param_hint="--host",
        )
    clock = SandboxClock()
    store = MailStore(
        str(state) if state else None, clock=clock, history_retention=history_retention
    )
    try:
        server = SandboxServer(
            store, host=host, port=port, clock=clock,
            quota_per_minute=quota_per_minute, fail_rate=fail_rate, seed=seed,
        )
        if user:
            store.set_user_email(user)
        for mailbox in mailboxes:
            _report_load(load_mailbox(store, mailbox))
        if not user:
            guessed = store.guess_user_email()
            if guessed:
                store.set_user_email(guessed)
        click.echo(f"Mailbox owner: {store.user_email}", err=True)
        _serve_until_signalled(server)
    finally:
        store.close()


def _report_load(report: LoadReport) -> None:
    click.echo(f"Loaded {report.loaded} messages from {report.source} ({report.kind})", err=True)
    for source, reason in report.kept_raw:
        click.echo(f"  kept raw, not parsed: {source}: {reason}", err=True)


def _serve_until_signalled(server: SandboxServer) -> None:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        click.echo(f"Gmail sandbox listening on {server.url}")
        click.get_text_stream("stdout").flush()
        while not stop.wait(timeout=1.0):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
