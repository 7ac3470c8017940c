"""Ledger commands: ``import invoices``, ``invoice add``/``list`` and ``client set``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table as RichTable

from assistant.cli import AppContext, cli
from assistant.config import load_config
from assistant.errors import InputError, UsageError
from assistant.export_formats import INVOICE_FIELDS
from assistant.invoice_import import ImportPlan, import_invoices, parse_column_map
from assistant.ledger import DEFAULT_PAYMENT_TERMS_DAYS, Invoice, Ledger
from assistant.money import format_amount, parse_amount, validate_currency
from assistant.templating import (
    STAGES,
    TEXT_SUFFIX,
    default_user_template_dir,
    shipped_template_dir,
)


@contextmanager
def _ledger(app: AppContext, *, copy: bool = False) -> Iterator[Ledger]:
    ledger = (
        Ledger.open_copy(app.db_path, app.clock)
        if copy
        else Ledger.open(app.db_path, app.clock)
    )
    try:
        yield ledger
    finally:
        ledger.close()


def _iso_date(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"invalid {option} {value!r}; write it as 2026-03-02") from exc


# --- import -------------------------------------------------------------------


@cli.group("import")
def import_group() -> None:
    """Import invoices from CSV files."""


_FIELD_HELP = "; ".join(f"{name}: {text}" for name, text in INVOICE_FIELDS.items())


@import_group.command("invoices")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Read COLUMN as FIELD; repeatable. Fields: " + _FIELD_HELP + ".",
)
@click.option(
    "--date-format",
    metavar="FORMAT",
    help="strptime format of the file's dates, such as %d/%m/%Y; settles dates "
    "like 03/04/2026 that read two ways.",
)
@click.option(
    "--clients",
    "clients_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Clients or contacts CSV export supplying email addresses, contacts and "
    "payment terms.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.pass_obj
def import_invoices_command(
    app: AppContext,
    file: Path,
    mappings: tuple[str, ...],
    date_format: str | None,
    clients_path: Path | None,
    dry_run: bool,
) -> None:
    """Import or update invoices from FILE.

    FILE is the plain template (columns number, client, email, amount,
    currency, issue_date, due_date; optionally contact, language, timezone,
    country, amount_paid) or an invoice export of FreshBooks, Wave, Harvest,
    Xero, QuickBooks Online or Invoice Ninja, recognised by its header row.
    Invoices already in the ledger are updated by number. The import is all or
    nothing: one bad row and no change is written.
    """
    column_map = parse_column_map(mappings)
    with _ledger(app, copy=dry_run) as ledger:
        plan = import_invoices(
            ledger,
            file,
            column_map=column_map,
            date_format=date_format,
            clients_path=clients_path,
            dry_run=dry_run,
        )
    _print_plan(plan, dry_run)


def _plan_lines(plan: ImportPlan, dry_run: bool) -> Iterator[str]:
    verb = "Would import" if dry_run else "Imported"
    yield (
        f"{verb} {plan.path.name} ({plan.layout}): {plan.count('created')} created, "
        f"{plan.count('updated')} updated, {plan.count('unchanged')} unchanged"
    )
    for planned in plan.invoices:
        if planned.action == "updated":
            changes = ", ".join(
                f"{k} {old} -> {new}" for k, (old, new) in planned.fields.items()
            )
            yield f"  updated {planned.invoice.number}: {changes}"
    sections = (
        ("Due dates derived:", plan.derived_due_dates),
        (
            "Needs an email address (assistant client set NAME --email ADDRESS):",
            plan.needs_email,
        ),
        ("Skipped:", plan.skipped),
        ("Warnings:", plan.warnings),
    )
    for title, items in sections:
        if items:
            yield title
            yield from (f"  {item}" for item in items)
    if dry_run:
        yield "Dry run: nothing was written."


def _print_plan(plan: ImportPlan, dry_run: bool) -> None:
    if not sys.stderr.isatty():
        for line in _plan_lines(plan, dry_run):
            click.echo(line, err=True)
        return
    table = RichTable(title=f"{plan.path.name} ({plan.layout})")
    for column in ("invoice", "client", "amount", "due", "action"):
        table.add_column(column)
    for planned in plan.invoices:
        invoice = planned.invoice
        table.add_row(
            invoice.number,
            invoice.client,
            format_amount(invoice.amount, invoice.currency),
            invoice.due_date.isoformat(),
            planned.action,
        )
    console = Console(stderr=True)
    console.print(table)
    for line in _plan_lines(plan, dry_run):
        console.print(line, markup=False, highlight=False)


# --- invoices -----------------------------------------------------------------


@cli.group("invoice")
def invoice_group() -> None:
    """Add and list invoices in the ledger."""


@invoice_group.command("add")
@click.argument("number")
@click.option(
    "--client", "client_name", required=True, help="Client name; created if new."
)
@click.option("--amount", required=True, help="Invoice total, such as 1200.00.")
@click.option("--currency", required=True, help="ISO 4217 code, such as EUR.")
@click.option("--issue-date", required=True, metavar="YYYY-MM-DD", help="Invoice date.")
@click.option(
    "--due-date",
    metavar="YYYY-MM-DD",
    help="Due date (default: issue date plus the client's payment terms, or 30 days).",
)
@click.option(
    "--email", "emails", multiple=True, help="Client email address; repeatable."
)
@click.pass_obj
def invoice_add(
    app: AppContext,
    number: str,
    client_name: str,
    amount: str,
    currency: str,
    issue_date: str,
    due_date: str | None,
    emails: tuple[str, ...],
) -> None:
    """Add invoice NUMBER to the ledger."""
    code = validate_currency(currency)
    parsed = parse_amount(amount)
    if parsed.currency not in (None, code):
        raise InputError(
            f"--amount {amount!r} is in {parsed.currency}, but --currency is {code}"
        )
    issued = _iso_date("--issue-date", issue_date)
    assert issued is not None
    with _ledger(app) as ledger, ledger.transaction():
        client = ledger.get_client(client_name)
        terms = (
            client.payment_terms_days
            if client and client.payment_terms_days is not None
            else None
        )
        due = _iso_date("--due-date", due_date) or issued + timedelta(
            days=terms if terms is not None else DEFAULT_PAYMENT_TERMS_DAYS
        )
        ledger.add_invoice(
            Invoice(number, client_name, parsed.amount, code, issued, due), source="cli"
        )
        for address in emails:
            ledger.add_email(client_name, address, source="cli")
        stored = ledger.get_invoice(number)
        language = client.language if client else None
    assert stored is not None
    click.echo(
        f"Added invoice {stored.number} for {stored.client}: "
        f"{format_amount(stored.amount, stored.currency, language)} due {stored.due_date}",
        err=True,
    )


def _invoice_json(invoice: Invoice, emails: tuple[str, ...]) -> dict[str, object]:
    return {
        "number": invoice.number,
        "client": invoice.client,
        "emails": list(emails),
        "amount": str(invoice.amount),
        "amount_paid": str(invoice.amount_paid),
        "balance": str(invoice.balance),
        "currency": invoice.currency,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "status": invoice.status,
        "paid_on": invoice.paid_on.isoformat() if invoice.paid_on else None,
    }


@invoice_group.command("list")
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON array; amounts are strings."
)
@click.option("--unpaid", is_flag=True, help="Only open invoices with a balance due.")
@click.option(
    "--status",
    type=click.Choice(["open", "paid", "void"]),
    help="Only invoices with this status.",
)
@click.pass_obj
def invoice_list(
    app: AppContext, as_json: bool, unpaid: bool, status: str | None
) -> None:
    """List the invoices in the ledger, earliest due date first."""
    with _ledger(app) as ledger:
        invoices = ledger.list_invoices(status=status, unpaid_only=unpaid)
        clients = {
            name: ledger.get_client(name) for name in {i.client for i in invoices}
        }
    if as_json:
        records = []
        for invoice in invoices:
            client = clients[invoice.client]
            records.append(_invoice_json(invoice, client.emails if client else ()))
        click.echo(json.dumps(records, indent=2))
        return
    if not invoices:
        click.echo("No invoices.", err=True)
        return
    # One money format for every row, in the user's language as status uses,
    # so amounts line up and compare at a glance.
    language = load_config(app.config_path).user.language
    click.echo("\t".join(_LIST_COLUMNS))
    for invoice in invoices:
        balance = format_amount(invoice.balance, invoice.currency, language)
        click.echo(
            f"{invoice.number}\t{invoice.client}\t{balance}\t"
            f"{invoice.due_date}\t{invoice.status}"
        )


_LIST_COLUMNS = ("invoice", "client", "balance due", "due date", "status")


# --- clients ------------------------------------------------------------------


@cli.group("client")
def client_group() -> None:
    """Create and change clients."""


@client_group.command("set")
@click.argument("name")
@click.option(
    "--email", "emails", multiple=True, help="Email address to add; repeatable."
)
@click.option("--contact", help="Contact's first name, used in the greeting.")
@click.option("--timezone", help="IANA time zone, such as Europe/Berlin.")
@click.option("--country", help="ISO 3166-1 alpha-2 country code, such as DE.")
@click.option("--language", help="BCP 47 language tag, such as en or ja.")
@click.option(
    "--terms", type=click.IntRange(min=0), help="Payment terms in days, such as 30."
)
@click.option(
    "--stages-off",
    metavar="STAGE[,STAGE...]",
    help="Reminder stages never sent to this client, such as receipt_check; "
    "'none' turns all back on.",
)
@click.pass_obj
def client_set(
    app: AppContext,
    name: str,
    emails: tuple[str, ...],
    contact: str | None,
    timezone: str | None,
    country: str | None,
    language: str | None,
    terms: int | None,
    stages_off: str | None,
) -> None:
    """Create client NAME or change the fields given; other fields keep their values."""
    values = {
        "contact_first_name": contact,
        "timezone": timezone,
        "country": country,
        "language": language,
        "payment_terms_days": terms,
        "stages_off": _stage_list(app, stages_off),
    }
    given = {key: value for key, value in values.items() if value is not None}
    with _ledger(app) as ledger, ledger.transaction():
        if ledger.client_name(name) is None and not given and not emails:
            raise UsageError(
                f"client {name!r} does not exist; to create it give at least one "
                "of " + ", ".join(_CLIENT_OPTIONS)
            )
        change = ledger.set_client(name, source="cli", **given)
        name = change.key
        added = [ledger.add_email(name, a, source="cli") for a in emails]
    lines = [
        f"{key}: {old or '-'} -> {new}" for key, (old, new) in change.fields.items()
    ]
    lines += [f"email added: {c.fields['email_added'][1]}" for c in added if c.fields]
    action = "updated" if change.action == "unchanged" and lines else change.action
    click.echo(f"Client {name}: {action}", err=True)
    for line in lines:
        click.echo(f"  {line}", err=True)
    if language is not None:
        _warn_missing_templates(language)


_CLIENT_OPTIONS = (
    "--email", "--contact", "--timezone", "--country", "--language", "--terms",
    "--stages-off",
)


def _stage_list(app: AppContext, text: str | None) -> tuple[str, ...] | None:
    """Parse a comma-separated list of ladder stage names; 'none' is the empty list."""
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    known = set(load_config(app.config_path).ladder.stage_names())
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InputError(
            f"unknown reminder stage(s) {', '.join(unknown)}; use "
            + ", ".join(sorted(known))
            + " or 'none'"
        )
    return names


@invoice_group.command("set")
@click.argument("number")
@click.option("--language", help="Language of this invoice's reminders, such as ja.")
@click.option("--timezone", help="IANA time zone for this invoice's send windows.")
@click.option(
    "--stages-off",
    metavar="STAGE[,STAGE...]",
    help="Reminder stages never sent for this invoice; 'none' turns all back on.",
)
@click.pass_obj
def invoice_set(
    app: AppContext,
    number: str,
    language: str | None,
    timezone: str | None,
    stages_off: str | None,
) -> None:
    """Override the client's language, time zone or stages for invoice NUMBER.

    To pause one invoice use 'assistant pause'; to record a payment, 'assistant paid'.
    """
    values = {
        "language": language,
        "timezone": timezone,
        "stages_off": _stage_list(app, stages_off),
    }
    given = {key: value for key, value in values.items() if value is not None}
    if not given:
        raise UsageError("give at least one of --language, --timezone, --stages-off")
    with _ledger(app) as ledger:
        change = ledger.set_invoice(number, source="cli", **given)
    click.echo(f"Invoice {number}: {change.action}", err=True)
    for key, (old, new) in change.fields.items():
        click.echo(f"  {key}: {old or '-'} -> {new}", err=True)
    if language is not None:
        _warn_missing_templates(language)


def _template_languages() -> set[str]:
    """Return the languages with reminder templates, shipped or in the user's folder."""
    languages = set()
    for folder in (shipped_template_dir(), default_user_template_dir()):
        if not folder.is_dir():
            continue
        for path in folder.glob(f"*{TEXT_SUFFIX}"):
            stage, _, language = path.name.removesuffix(TEXT_SUFFIX).partition(".")
            if stage in STAGES and language:
                languages.add(language)
    return languages


def _warn_missing_templates(language: str) -> None:
    available = _template_languages()
    primary = language.replace("_", "-").split("-")[0].lower()
    if language in available or primary in available:
        return
    click.echo(
        f"Warning: there are no reminder templates in {language!r} (templates exist "
        f"for {', '.join(sorted(available))}), so this client's reminders will use "
        f"the English templates. To write them in {language!r}, add templates such "
        f"as gentle.{primary}.txt.j2 to {default_user_template_dir()}.",
        err=True,
    )
