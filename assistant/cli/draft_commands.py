"""``assistant draft``: prepare reminder drafts in Gmail for the stages coming up."""

from __future__ import annotations

import json
from datetime import timezone

import click
from rich.console import Console
from rich.table import Table

from assistant.cli import AppContext, cli
from assistant.config import load_config
from assistant.drafting import DraftReport, draft_reminders
from assistant.ledger import Ledger
from assistant.reminders import Reminder


@cli.command("draft")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array on stdout.")
@click.option(
    "--horizon",
    type=click.IntRange(min=0),
    metavar="DAYS",
    help="Draft stages due within this many days (default: drafts.horizon_days, 7).",
)
@click.argument("numbers", nargs=-1)
@click.pass_obj
def draft_command(
    app: AppContext, as_json: bool, horizon: int | None, numbers: tuple[str, ...]
) -> None:
    """Create Gmail drafts for the reminders due soon (for all unpaid invoices or NUMBERS).

    Each draft replies in the invoice's thread and waits for your approval.
    Running it again creates nothing new. A draft you deleted in Gmail is
    skipped for good, and a draft you edited is kept as you left it.
    """
    config = load_config(app.config_path)
    gmail = app.gmail_client()
    ledger = Ledger.open(app.db_path, app.clock)
    try:
        report = draft_reminders(
            ledger, gmail, config, app.clock, horizon_days=horizon, numbers=numbers
        )
    finally:
        ledger.close()

    rows = [*report.drafted, *report.existing, *report.skipped]
    if as_json:
        click.echo(json.dumps([reminder_json(r) for r in rows], indent=2, ensure_ascii=False))
    else:
        _print_table(report)
    for number, reason in report.needs_user:
        click.echo(f"Needs you: invoice {number}: {reason}", err=True)


def reminder_json(reminder: Reminder) -> dict[str, object]:
    """Return a reminder in the documented ``draft --json`` shape."""
    planned = reminder.planned_send_at.astimezone(timezone.utc)
    return {
        "uid": reminder.uid,
        "invoice_numbers": list(reminder.invoice_numbers),
        "stage": reminder.stage,
        "draft_id": reminder.draft_id,
        "thread_id": reminder.thread_id,
        "to": list(reminder.to),
        "subject": reminder.subject,
        "planned_send_at": planned.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": reminder.status,
    }


def _print_table(report: DraftReport) -> None:
    console = Console()
    groups = (("new", report.drafted), ("existing", report.existing), ("skipped", report.skipped))
    if not any(reminders for _, reminders in groups):
        console.print("No reminder drafts due within the horizon.")
        return
    table = Table(title="Reminder drafts")
    for column in ("Invoices", "Stage", "Status", "To", "Subject", "Planned (UTC)", "UID"):
        table.add_column(column, overflow="fold")
    for label, reminders in groups:
        for reminder in reminders:
            planned = reminder.planned_send_at.astimezone(timezone.utc)
            table.add_row(
                ", ".join(reminder.invoice_numbers),
                reminder.stage,
                reminder.status if label != "new" else f"{reminder.status} (new)",
                ", ".join(reminder.to),
                reminder.subject,
                planned.strftime("%Y-%m-%d %H:%M"),
                reminder.uid,
            )
    console.print(table)
