"""``assistant check``: was each unpaid invoice really sent?"""

from __future__ import annotations

import json
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from assistant.cli import AppContext, cli
from assistant.cli.status_commands import WIDE_CONSOLE, notes_grid
from assistant.errors import InputError, UsageError
from assistant.gmail import GmailClient
from assistant.invoice_check import CheckedInvoice, check_invoices, evidence_json
from assistant.ledger import Ledger
from assistant.mail_sync import MailCache, MailReader, ProgressCallback


@cli.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array on stdout.")
@click.option(
    "--takeout",
    type=click.Path(exists=True, dir_okay=True, path_type=Path),
    help="Check against a Gmail Takeout mbox loaded into a temporary sandbox; "
    "no sign-in needed.",
)
@click.argument("numbers", nargs=-1)
@click.pass_obj
def check_command(
    app: AppContext, as_json: bool, takeout: Path | None, numbers: tuple[str, ...]
) -> None:
    """Check the Sent folder for each unpaid invoice (or the NUMBERS given).

    Every invoice gets one status: sent, sent_to_other_address, draft_only,
    bounced or not_found, stored in the ledger with the message found. The exit
    status is 0 whenever the check ran, whatever it found.
    """
    if takeout is not None and app.gmail_url is not None:
        raise UsageError("give either --takeout or --gmail-url, not both")

    with ExitStack() as stack:
        client = stack.enter_context(_takeout_client(takeout)) if takeout else app.gmail_client()
        ledger = Ledger.open(app.db_path, app.clock)
        stack.callback(ledger.close)
        account = client.profile()["emailAddress"]
        progress = stack.enter_context(_progress(enabled=_show_progress(as_json)))
        reader = MailReader(client, MailCache(ledger.db, account), app.clock, progress)
        results = check_invoices(ledger, reader, app.clock, numbers)

    if as_json:
        click.echo(json.dumps([evidence_json(r.evidence) for r in results], indent=2))
    else:
        _print_table(results)


def _show_progress(as_json: bool) -> bool:
    # A bar on a terminal; nothing when stderr is a pipe, so logs stay clean.
    return sys.stderr.isatty() and not (as_json and not sys.stdout.isatty())


@contextmanager
def _progress(enabled: bool) -> Iterator[ProgressCallback]:
    if not enabled:
        yield lambda stage, done, total: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


@contextmanager
def _takeout_client(path: Path) -> Iterator[GmailClient]:
    """Serve a Takeout export from a temporary in-process sandbox."""
    from assistant.sandbox.loading import load_mailbox
    from assistant.sandbox.server import SandboxServer
    from assistant.sandbox.store import MailStore

    with tempfile.TemporaryDirectory(prefix="assistant-takeout-") as folder:
        store = MailStore(str(Path(folder) / "mailbox.db"))
        report = load_mailbox(store, path)
        if report.loaded == 0:
            store.close()
            # Checking against an empty mailbox would mark every invoice
            # not_found and overwrite what earlier checks found.
            raise InputError(
                f"--takeout {path}: the file holds no messages, so nothing was checked; "
                "give the Takeout file 'All mail Including Spam and Trash.mbox'"
            )
        for name, reason in report.kept_raw:
            click.echo(f"Kept {name} as raw bytes: {reason}", err=True)
        owner = store.guess_user_email()
        if owner:
            store.set_user_email(owner)
        with SandboxServer(store) as server:
            yield GmailClient.connect(server.url)
        store.close()


def _print_table(results: Sequence[CheckedInvoice]) -> None:
    console = Console()
    if not results:
        console.print("No unpaid invoices to check.")
        return
    print_check_table(results, console)


def print_check_table(results: Sequence[CheckedInvoice], console: Console) -> None:
    """Print one row per invoice; the reason goes under the table when the console is narrow."""
    wide = console.width >= WIDE_CONSOLE
    table = Table(title="Sent check")
    table.add_column("Invoice", no_wrap=True)
    table.add_column("Client", overflow="fold")
    table.add_column("Status", overflow="fold")
    if wide:
        table.add_column("Reason", overflow="fold")
    for result in results:
        cells = [
            result.invoice.number,
            result.invoice.client,
            result.evidence.status.replace("_", " "),
        ]
        if wide:
            cells.append(result.evidence.detail)
        # Text cells, so brackets in a client name are not read as markup.
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
    if not wide:
        console.print("[bold]Reasons[/bold]")
        console.print(notes_grid([(r.invoice.number, r.evidence.detail) for r in results]))
