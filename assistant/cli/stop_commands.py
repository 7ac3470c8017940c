"""Commands that stop chasing: ``paid``, ``pause``, ``resume`` and ``import payments``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from assistant.cli import AppContext, cli
from assistant.cli.ledger_commands import _iso_date, _ledger, import_group
from assistant.config import load_config
from assistant.errors import InputError
from assistant.ledger import Ledger
from assistant.money import format_amount, parse_amount
from assistant.payments_import import PaymentPlan, import_payments
from assistant.stopping import (
    check_payment_date,
    pause_invoice,
    record_paid,
    resume_invoice,
)


def _today(app: AppContext) -> date:
    """Return today's date in the user's time zone from the config."""
    zone = ZoneInfo(load_config(app.config_path).user.timezone)
    return app.clock.now().astimezone(zone).date()


def _amount(ledger: Ledger, number: str, text: str | None) -> Decimal | None:
    if text is None:
        return None
    parsed = parse_amount(text)
    invoice = ledger.get_invoice(number)
    if invoice is not None and parsed.currency and parsed.currency != invoice.currency:
        raise InputError(
            f"--amount {text!r} is in {parsed.currency} but invoice {invoice.number} "
            f"is in {invoice.currency}; give the {invoice.currency} amount received"
        )
    return parsed.amount


@cli.command("paid")
@click.argument("number")
@click.option("--amount", metavar="AMOUNT",
              help="Amount received, such as 400.00 (default: the whole balance).")
@click.option("--date", "date_text", metavar="DATE",
              help="Day the payment arrived, such as 2026-03-02 (default: today).")
@click.pass_obj
def paid_command(app: AppContext, number: str, amount: str | None,
                 date_text: str | None) -> None:
    """Record a payment on invoice NUMBER.

    A partial payment lowers the balance, and the next reminder states what
    remains. Reminders stop once the balance reaches zero.
    """
    today = _today(app)
    paid_on = _iso_date("--date", date_text) or today
    with _ledger(app) as ledger:
        invoice = record_paid(
            ledger, number, paid_on, _amount(ledger, number, amount), today=today
        )
    if invoice.status == "paid":
        click.echo(f"Invoice {invoice.number} is paid; no more reminders.", err=True)
    else:
        remaining = format_amount(invoice.balance, invoice.currency)
        click.echo(f"Recorded the payment on {invoice.number}; {remaining} remains.",
                   err=True)


@cli.command("pause")
@click.argument("number")
@click.option("--until", "until_text", required=True, metavar="DATE",
              help="Last day without reminders, such as 2026-04-30 (inclusive).")
@click.pass_obj
def pause_command(app: AppContext, number: str, until_text: str) -> None:
    """Send no reminders for invoice NUMBER through DATE."""
    until = _iso_date("--until", until_text)
    assert until is not None
    with _ledger(app) as ledger:
        invoice = pause_invoice(ledger, number, until, _today(app))
    click.echo(f"Invoice {invoice.number} is paused through {until}.", err=True)


@cli.command("resume")
@click.argument("number")
@click.pass_obj
def resume_command(app: AppContext, number: str) -> None:
    """Chase invoice NUMBER again after a pause, a client's reply or a bounce.

    Clears the pause and the holds the inbox set, and resolves the invoice's
    reply and bounce items.
    """
    with _ledger(app) as ledger:
        resumed = resume_invoice(ledger, number, _today(app))
    parts = []
    if resumed.was_paused_until:
        parts.append(f"pause until {resumed.was_paused_until} lifted")
    if resumed.cleared_holds:
        parts.append(f"{len(resumed.cleared_holds)} hold(s) cleared")
    if resumed.resolved_items:
        parts.append(f"{resumed.resolved_items} item(s) resolved")
    summary = "; ".join(parts) or "nothing was stopping it"
    click.echo(f"Invoice {resumed.invoice.number}: {summary}.", err=True)
    if resumed.still_blocked:
        click.echo(f"Still not chased: {resumed.still_blocked}.", err=True)


@import_group.command("payments")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--allow-overpayment", is_flag=True,
              help="Record payments above the balance instead of rejecting them.")
@click.option(
    "--date-format",
    metavar="FORMAT",
    help="strptime format of the file's dates, such as %d/%m/%Y; settles dates "
    "like 03/04/2026 that read two ways.",
)
@click.option("--dry-run", is_flag=True, help="Check the file and show it; write nothing.")
@click.pass_obj
def import_payments_command(app: AppContext, file: Path, allow_overpayment: bool,
                            date_format: str | None, dry_run: bool) -> None:
    """Record the payments in FILE (CSV: number, amount, date; optional currency, reference).

    Every row is checked first; one bad row and nothing is written. Rows whose
    reference is already recorded are skipped, so importing again is safe.
    """
    # Check every row on a copy first, so a payment dated after today in the
    # user's zone is rejected with its line before anything is written.
    today = _today(app)
    with _ledger(app, copy=True) as preview:
        plan = import_payments(preview, file, allow_overpayment=allow_overpayment,
                               dry_run=True, date_format=date_format)
    for row in plan.rows:
        try:
            check_payment_date(row.paid_on, today)
        except InputError as exc:
            raise InputError(f"{plan.path.name}, line {row.line}: {exc}") from exc
    if not dry_run:
        with _ledger(app) as ledger:
            plan = import_payments(ledger, file, allow_overpayment=allow_overpayment,
                                   dry_run=False, date_format=date_format)
    for line in _plan_lines(plan):
        click.echo(line, err=True)


def _plan_lines(plan: PaymentPlan) -> list[str]:
    verb = "Would record" if plan.dry_run else "Recorded"
    lines = [f"{verb} {len(plan.rows)} payment(s) from {plan.path.name}"]
    for row in plan.rows:
        extra = f" ({row.overpaid} above the balance)" if row.overpaid else ""
        lines.append(f"  {row.number}: {format_amount(row.amount, row.currency)} "
                     f"on {row.paid_on}{extra}")
    for row, reason in plan.skipped:
        lines.append(f"  skipped line {row.line} ({row.number}): {reason}")
    if plan.dry_run:
        lines.append("Dry run: nothing was written.")
    return lines
