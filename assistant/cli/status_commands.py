"""``assistant status``: aging by currency and the state of every unpaid invoice."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from assistant.cli import AppContext, cli
from assistant.config import Config, load_config
from assistant.ledger import Ledger
from assistant.money import format_amount
from assistant.status import BUCKETS, StatusReport, report_json, status_report


@cli.command("status")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the report as JSON; amounts are strings."
)
@click.pass_obj
def status_command(app: AppContext, as_json: bool) -> None:
    """Show aging by currency and, per unpaid invoice, its next action and what needs you.

    Reads the ledger only and never contacts Gmail, so it works offline. Once an
    unpaid invoice is a day or more overdue, it records a "call the client" item
    for the user, once per invoice.
    """
    config = load_config(app.config_path)
    ledger = Ledger.open(app.db_path, app.clock)
    try:
        report = status_report(ledger, config, app.clock)
    finally:
        ledger.close()
    if as_json:
        click.echo(json.dumps(report_json(report), indent=2))
    else:
        print_report(report, config, Console())


def print_report(report: StatusReport, config: Config, console: Console) -> None:
    """Print the aging table, the invoice table and the items that need the user."""
    language = config.user.language
    if not report.invoices:
        console.print("No unpaid invoices.")
    else:
        aging = Table(title=f"Amounts due by days overdue, {report.today.isoformat()}")
        aging.add_column("Currency")
        for bucket in BUCKETS:
            aging.add_column(bucket.replace("_", " "), justify="right")
        for currency, buckets in report.aging.items():
            aging.add_row(
                currency, *(format_amount(buckets[b], currency, language) for b in BUCKETS)
            )
        console.print(aging)
        console.print(_invoice_table(report, config))
    needs = [(row.number, sentence) for row in report.invoices for sentence in row.needs_user]
    needs += [("", sentence) for sentence in report.needs_user]
    if needs:
        console.print("[bold]Needs you[/bold]")
        for number, sentence in needs:
            prefix = f"{number}: " if number else ""
            console.print(f"  - {prefix}{sentence}", markup=False, highlight=False)


def _invoice_table(report: StatusReport, config: Config) -> Table:
    zone = ZoneInfo(config.user.timezone)
    table = Table(title=f"Unpaid invoices (times in {zone.key})")
    table.add_column("Invoice", no_wrap=True)
    # Minimum widths that still fit an 80-column terminal with the borders.
    table.add_column("Client", overflow="fold", min_width=8)
    table.add_column("Amount due", overflow="fold", min_width=10)
    table.add_column("Sent", overflow="fold", min_width=6)
    table.add_column("Stage", overflow="fold", min_width=6)
    table.add_column("Next action", overflow="fold", min_width=14)
    for row in report.invoices:
        amount = format_amount(row.amount_due, row.currency, config.user.language)
        amount += f"\ndue {row.due_date.isoformat()}"
        if row.days_overdue:
            amount += f"\n{row.days_overdue} days late"
        next_action = row.next_action
        if row.next_action_at is not None:
            next_action += f"\n{row.next_action_at.astimezone(zone):%a %Y-%m-%d %H:%M}"
        if row.paused_until is not None:
            next_action += f"\npaused until {row.paused_until.isoformat()}"
        cells = (
            row.number,
            row.client,
            amount,
            row.check_status.replace("_", " "),
            row.stage or "-",
            next_action,
        )
        # Text cells, so brackets in a client name are not read as markup.
        table.add_row(*(Text(cell) for cell in cells))
    return table
