"""``assistant status``: aging by currency and the state of every unpaid invoice."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table
from rich.cells import cell_len
from rich.text import Text

from assistant.cli import AppContext, cli
from assistant.config import Config, load_config
from assistant.ledger import Ledger
from assistant.money import format_amount
from assistant.status import (
    BUCKETS,
    InvoiceStatus,
    StatusReport,
    report_json,
    stage_label,
    status_report,
)


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


# From this console width on, the next action fits as a column of the invoice
# table; narrower consoles get it on its own lines under the table.
WIDE_CONSOLE = 120


def print_report(report: StatusReport, config: Config, console: Console) -> None:
    """Print the aging table, the invoice table and the items that need the user."""
    if not report.invoices:
        console.print("No unpaid invoices.")
    else:
        print_aging(report, config.user.language, console)
        wide = console.width >= WIDE_CONSOLE
        console.print(_invoice_table(report, config, with_next_action=wide))
        if not wide:
            zone = ZoneInfo(config.user.timezone)
            actions = [(row.number, _next_action(row, zone)) for row in report.invoices]
            console.print("[bold]Next actions[/bold]")
            console.print(notes_grid(actions))
    needs = [(row.number, sentence) for row in report.invoices for sentence in row.needs_user]
    needs += [("", sentence) for sentence in report.needs_user]
    if needs:
        console.print("[bold]Needs you[/bold]")
        console.print(notes_grid(needs))


def notes_grid(notes: list[tuple[str, str]]) -> Table:
    """Lay out (invoice number, sentence) notes: the sentences wrap beside the numbers."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)  # the bullet
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for number, sentence in notes:
        # Text cells, so brackets in a client's words are not read as markup.
        grid.add_row(" -", Text(number), Text(sentence))
    return grid


def print_aging(report: StatusReport, language: str, console: Console) -> None:
    """Print amounts due per currency and bucket; one line per currency when narrow."""
    title = f"Amounts due by days overdue, {report.today.isoformat()}"
    headers = ["Currency", *(bucket.replace("_", " ") for bucket in BUCKETS)]
    rows = [
        [currency, *(format_amount(buckets[b], currency, language) for b in BUCKETS)]
        for currency, buckets in report.aging.items()
    ]
    widths = [max(cell_len(cell) for cell in column) for column in zip(headers, *rows)]
    # Each column takes its text, a space each side and one border.
    if sum(widths) + 3 * len(widths) + 1 <= console.width:
        table = Table(title=title)
        table.add_column(headers[0])
        for header in headers[1:]:
            table.add_column(header, justify="right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    console.print(f"[bold]{title}[/bold]")
    lines = [
        (row[0], ", ".join(f"{h} {cell}" for h, cell in zip(headers[1:], row[1:])))
        for row in rows
    ]
    console.print(notes_grid(lines))


def _amount_cell(row: InvoiceStatus, language: str) -> str:
    amount = format_amount(row.amount_due, row.currency, language)
    amount += f"\ndue {row.due_date.isoformat()}"
    if row.days_overdue == 1:
        amount += "\n1 day late"
    elif row.days_overdue:
        amount += f"\n{row.days_overdue} days late"
    return amount


def _next_action(row: InvoiceStatus, zone: ZoneInfo) -> str:
    text = row.next_action_text or row.next_action
    if row.next_action_at is not None:
        text += f", {row.next_action_at.astimezone(zone):%a %Y-%m-%d %H:%M}"
    # A pause shows in the blocking reason already when it stops the chase.
    if row.paused_until is not None and "paused until" not in text:
        text += f" (paused until {row.paused_until.isoformat()})"
    return text


def _invoice_table(report: StatusReport, config: Config, *, with_next_action: bool) -> Table:
    zone = ZoneInfo(config.user.timezone)
    table = Table(title=f"Unpaid invoices (times in {zone.key})")
    # Words wrap whole; only a word longer than its column folds, never crops.
    table.add_column("Invoice", no_wrap=True)
    table.add_column("Client", overflow="fold")
    table.add_column("Amount due", no_wrap=True)
    table.add_column("Sent check", overflow="fold")
    table.add_column("Last sent", overflow="fold")
    if with_next_action:
        table.add_column("Next action", overflow="fold")
    for row in report.invoices:
        cells = [
            row.number,
            row.client,
            _amount_cell(row, config.user.language),
            row.check_status.replace("_", " "),
            stage_label(row.last_sent_stage) if row.last_sent_stage else "-",
        ]
        if with_next_action:
            cells.append(_next_action(row, zone))
        # Text cells, so brackets in a client name are not read as markup.
        table.add_row(*(Text(cell) for cell in cells))
    return table
