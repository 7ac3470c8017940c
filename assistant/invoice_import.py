"""Importing invoices from CSV files: the plain template and tools' exports.

The import reads and checks the whole file first and builds an ``ImportPlan``
from the ledger's current state without writing. ``apply_plan`` then writes
the plan in one transaction, so a bad row anywhere leaves the ledger as it was,
and ``--dry-run`` shows the plan alone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from babel.numbers import get_territory_currencies

from assistant import export_formats as formats
from assistant.csv_rows import (
    HEADER_SEARCH_ROWS,
    Cell,
    DateReader,
    Table,
    _currency_of,
    _date_cell,
    _money,
    _row_cells,
    _where,
    check_row_length,
    parse_column_map,
    read_table,
    resolve_columns,
)
from assistant.errors import InputError
from assistant.ledger import (
    DEFAULT_PAYMENT_TERMS_DAYS,
    Change,
    Client,
    Invoice,
    Ledger,
    diff_fields,
    to_text,
    validate_country,
    validate_email,
    validate_invoice,
    validate_language,
    validate_timezone,
)
from assistant.money import (
    AMBIGUOUS_SYMBOLS,
    ParsedAmount,
    parse_amount,
    validate_currency,
)

# The CSV names stay importable from here, where callers found them.
__all__ = [
    "HEADER_SEARCH_ROWS",
    "Cell",
    "ClientDetails",
    "DateReader",
    "ImportPlan",
    "InvoiceDraft",
    "PlannedClient",
    "PlannedInvoice",
    "Table",
    "apply_plan",
    "client_details_from_cells",
    "import_invoices",
    "parse_column_map",
    "plan_import",
    "read_clients_file",
    "read_invoice_rows",
    "read_table",
    "resolve_columns",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class ClientDetails:
    """What an import says about a client, merged from rows and a clients file."""

    name: str
    emails: list[str] = field(default_factory=list)
    contact: str | None = None
    country: str | None = None
    timezone: str | None = None
    language: str | None = None
    terms: int | None = None
    currency: str | None = None

    def merge(self, other: ClientDetails) -> None:
        for address in other.emails:
            if address not in self.emails:
                self.emails.append(address)
        for name in ("contact", "country", "timezone", "language", "terms", "currency"):
            if getattr(other, name) is not None:
                setattr(self, name, getattr(other, name))


@dataclass
class InvoiceDraft:
    """One invoice assembled from one or more rows."""

    number: str
    client: str
    line: int
    issue_date: date
    due_date: date | None
    currency: str | None
    symbol: Cell | None
    total: Decimal | None = None
    line_sum: Decimal = Decimal("0")
    amount_paid: Decimal | None = None
    balance: Decimal | None = None
    paid_on: date | None = None
    status: str | None = None


@dataclass(frozen=True)
class PlannedInvoice:
    invoice: Invoice
    action: str  # created, updated or unchanged
    fields: Mapping[str, tuple[str | None, str | None]]
    line: int
    values: Mapping[str, object]  # the fields the file sets


@dataclass(frozen=True)
class PlannedClient:
    details: ClientDetails
    values: Mapping[str, object]
    new_emails: tuple[str, ...]
    action: str
    fields: Mapping[str, tuple[str | None, str | None]]


@dataclass
class ImportPlan:
    """What an import would change, and what it noticed on the way."""

    path: Path
    layout: str
    invoices: list[PlannedInvoice] = field(default_factory=list)
    clients: list[PlannedClient] = field(default_factory=list)
    needs_email: list[str] = field(default_factory=list)
    derived_due_dates: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for planned in self.invoices if planned.action == action)


# --- rows to invoices -------------------------------------------------------


def _is_invoice_row(cells: Mapping[str, Cell]) -> bool:
    kind = cells.get("row_type")
    if kind is None:
        return True
    lowered = kind.text.lower()
    return "invoice" in lowered and "credit" not in lowered


def _status_of(cells: Mapping[str, Cell]) -> str | None:
    status = cells.get("status")
    if status is None:
        return None
    lowered = status.text.lower()
    if "draft" in lowered:
        return "draft"
    if any(word in lowered for word in ("void", "deleted", "cancel")):
        return "void"
    return "paid" if lowered.strip() == "paid" else "open"


def _draft_from_row(
    table: Table, cells: Mapping[str, Cell], dates: DateReader
) -> InvoiceDraft:
    number, client = cells["number"], cells.get("client")
    if client is None:
        raise InputError(
            f"{table.path.name}, line {number.line}: missing client for invoice "
            f"{number.text}; fill in the client column"
        )
    issue = cells.get("issue_date")
    if issue is None:
        raise InputError(
            f"{table.path.name}, line {number.line}: missing issue date for invoice "
            f"{number.text}; fill it in as 2026-03-02"
        )
    draft = InvoiceDraft(
        number=number.text,
        client=" ".join(client.text.split()),
        line=number.line,
        issue_date=_date_cell(table, dates, issue),
        due_date=_date_cell(table, dates, cells["due_date"])
        if "due_date" in cells
        else None,
        currency=None,
        symbol=None,
        paid_on=_date_cell(table, dates, cells["paid_on"])
        if "paid_on" in cells
        else None,
        status=_status_of(cells),
    )
    if "currency" in cells:
        try:
            draft.currency = _currency_of(cells["currency"])
        except InputError as exc:
            raise InputError(f"{_where(table, cells['currency'])}: {exc}") from exc
    return draft


def _add_amounts(table: Table, draft: InvoiceDraft, cells: Mapping[str, Cell]) -> None:
    """Fold one row's amounts into ``draft``, checking currencies agree."""
    for name in ("amount", "line_amount", "amount_paid", "balance"):
        parsed = _money(table, cells, name)
        if parsed is None:
            continue
        _note_currency(table, draft, cells[name], parsed)
        if name == "line_amount":
            draft.line_sum += parsed.amount
            continue
        current = getattr(draft, "total" if name == "amount" else name)
        if current is not None and current != parsed.amount:
            raise InputError(
                f"{_where(table, cells[name])}: {parsed.amount} differs from "
                f"{current} on line {draft.line} for invoice {draft.number}; "
                "rows of one invoice must repeat the same value"
            )
        setattr(draft, "total" if name == "amount" else name, parsed.amount)
    if "amount" not in cells and "line_amount" not in cells:
        raise InputError(
            f"{table.path.name}, line {draft.line}: missing amount for invoice "
            f"{draft.number}; fill in the amount column"
        )


def _note_currency(
    table: Table, draft: InvoiceDraft, cell: Cell, parsed: ParsedAmount
) -> None:
    if parsed.currency is None:
        if parsed.symbol and draft.symbol is None:
            draft.symbol = cell
        return
    if draft.currency is None:
        draft.currency = parsed.currency
    elif draft.currency != parsed.currency:
        raise InputError(
            f"{_where(table, cell)}: amount {cell.text!r} is in {parsed.currency}, "
            f"but invoice {draft.number} is in {draft.currency}"
        )


def _merge_row(table: Table, draft: InvoiceDraft, row: InvoiceDraft) -> None:
    for name in ("client", "issue_date", "currency"):
        ours, theirs = getattr(draft, name), getattr(row, name)
        if theirs is not None and ours is not None and ours != theirs:
            raise InputError(
                f"{table.path.name}, line {row.line}: {name} {theirs} differs from "
                f"{ours} on line {draft.line} for invoice {draft.number}"
            )
    draft.due_date = draft.due_date or row.due_date
    draft.currency = draft.currency or row.currency
    draft.paid_on = draft.paid_on or row.paid_on
    draft.status = draft.status or row.status


def read_invoice_rows(
    table: Table,
    positions: Mapping[int, str],
    layout: formats.ExportLayout | None,
    dates: DateReader,
    plan: ImportPlan,
) -> tuple[list[InvoiceDraft], dict[str, ClientDetails]]:
    """Group the rows into invoice drafts and collect client details per client."""
    drafts: dict[str, InvoiceDraft] = {}
    clients: dict[str, ClientDetails] = {}
    skipped_types = 0
    for line, record in table.rows:
        cells = _row_cells(table, positions, line, record)
        skips = layout is not None and layout.skips_rows_without_number
        if "number" not in cells and skips:
            continue
        check_row_length(table, line, record)
        if "number" not in cells:
            raise InputError(
                f"{table.path.name}, line {line}: missing invoice number; fill it in "
                "or delete the row"
            )
        if not _is_invoice_row(cells):
            skipped_types += 1
            continue
        row = _draft_from_row(table, cells, dates)
        draft = drafts.setdefault(row.number, row)
        if draft is not row:
            _merge_row(table, draft, row)
        _add_amounts(table, draft, cells)
        details = client_details_from_cells(table, cells, draft.client)
        clients.setdefault(draft.client.casefold(), ClientDetails(draft.client)).merge(
            details
        )
    if skipped_types:
        plan.skipped.append(
            f"{skipped_types} row(s) that are not invoices (credit notes, payments)"
        )
    return list(drafts.values()), clients


def client_details_from_cells(
    table: Table, cells: Mapping[str, Cell], name: str
) -> ClientDetails:
    """Validate the client columns of one row: emails, contact, zone, country, ..."""
    details = ClientDetails(name)
    checks = {
        "country": validate_country,
        "timezone": validate_timezone,
        "language": validate_language,
        "currency": validate_currency,
        "terms": _terms,
    }
    for field_name, check in checks.items():
        if field_name in cells:
            cell = cells[field_name]
            if field_name == "currency":
                continue  # an invoice row's currency belongs to the invoice
            setattr(details, field_name, _checked(table, cell, check))
    if "email" in cells:
        for address in re.split(r"[;,\s]+", cells["email"].text):
            if address:
                details.emails.append(
                    _checked(table, cells["email"], validate_email, address)
                )
    if "contact" in cells:
        details.contact = cells["contact"].text.split()[0]
    return details


def _checked(
    table: Table, cell: Cell, check: Callable[[str], T], text: str | None = None
) -> T:
    try:
        return check(cell.text if text is None else text)
    except InputError as exc:
        raise InputError(f"{_where(table, cell)}: {exc}") from exc


def _terms(text: str) -> int:
    # Accept "30", "Net 30" and "30 days", as Wave and QuickBooks write terms.
    match = re.fullmatch(r"(?:net\s*)?(\d{1,3})(?:\s*days?)?", text.strip().lower())
    if not match:
        raise InputError(
            f"invalid payment terms {text!r}; write a number of days such as 30"
        )
    return int(match[1])


# --- clients files ----------------------------------------------------------


def _client_positions(headers: Sequence[str]) -> dict[int, str]:
    normalized = [formats.normalize_header(h) for h in headers]
    positions: dict[int, str] = {}
    # The first known header per field wins, in CLIENT_COLUMNS order, so
    # "Customer full name" beats a later generic "Name".
    for header, target in formats.CLIENT_COLUMNS.items():
        if header in normalized and target not in positions.values():
            positions[normalized.index(header)] = target
    return positions


def _is_client_header(record: list[str]) -> bool:
    fields_found = set(_client_positions(record).values())
    return {"client", "email"} <= fields_found


def read_clients_file(path: Path) -> dict[str, ClientDetails]:
    """Read a clients or contacts export into details keyed by folded client name."""
    table = read_table(
        path,
        _is_client_header,
        "no header row with a client name column and an email column (such as "
        "name,email) in the first rows",
    )
    positions = _client_positions(table.headers)
    clients: dict[str, ClientDetails] = {}
    for line, record in table.rows:
        cells = _row_cells(table, positions, line, record)
        if "client" not in cells:
            if "email" in cells:
                raise InputError(
                    f"{path.name}, line {line}: email {cells['email'].text!r} has no "
                    "client name; fill in the name column"
                )
            continue
        name = " ".join(cells["client"].text.split())
        details = client_details_from_cells(table, cells, name)
        if "currency" in cells:
            details.currency = _checked(table, cells["currency"], _currency_of_text)
        clients.setdefault(name.casefold(), ClientDetails(name)).merge(details)
    logger.info("read %d clients from %s", len(clients), path.name)
    return clients


def _currency_of_text(text: str) -> str:
    return _currency_of(Cell(text, 0, ""))


# --- planning ---------------------------------------------------------------


def _resolve_currency(
    table: Table, draft: InvoiceDraft, details: ClientDetails, client: Client | None
) -> str:
    if draft.currency:
        return draft.currency
    if details.currency:
        return details.currency
    symbol_cell = draft.symbol
    if symbol_cell is not None:
        parsed = parse_amount(symbol_cell.text)
        candidates = AMBIGUOUS_SYMBOLS.get(parsed.symbol or "", ())
        country = details.country or (client.country if client else None)
        if country:
            for code in get_territory_currencies(country):
                if code in candidates:
                    return code
        raise InputError(
            f"{_where(table, symbol_cell)}: amount {symbol_cell.text!r} uses "
            f"{parsed.symbol}, which stands for {', '.join(candidates)}; add a currency "
            "column, write the code (USD 1200.00), or set the client's country"
        )
    raise InputError(
        f"{table.path.name}, line {draft.line}: no currency for invoice {draft.number}; "
        "add a currency column or write amounts with a code such as EUR 1200.00"
    )


def _payment_values(draft: InvoiceDraft, amount: Decimal) -> dict[str, object]:
    """Return amount_paid, status and paid_on when the file says anything about them."""
    paid = draft.amount_paid
    if paid is None and draft.balance is not None:
        paid = amount - draft.balance
    if paid is None and (draft.paid_on or draft.status == "paid"):
        paid = amount
    values: dict[str, object] = {}
    if paid is not None:
        values["amount_paid"] = paid
        values["status"] = "paid" if paid >= amount else "open"
    if draft.status == "void":
        values["status"] = "void"
    elif draft.status == "open" and "status" not in values:
        values["status"] = "open"
    if draft.paid_on:
        values["paid_on"] = draft.paid_on
    return values


def _due_date(
    draft: InvoiceDraft, details: ClientDetails, client: Client | None, plan: ImportPlan
) -> date:
    if draft.due_date is not None:
        return draft.due_date
    if details.terms is not None:
        terms, source = details.terms, "the client's payment terms"
    elif client is not None and client.payment_terms_days is not None:
        terms, source = client.payment_terms_days, "the client's payment terms"
    else:
        terms, source = DEFAULT_PAYMENT_TERMS_DAYS, "the default net 30"
    due = draft.issue_date + timedelta(days=terms)
    plan.derived_due_dates.append(
        f"{draft.number}: due {due.isoformat()} from {source} ({terms} days)"
    )
    return due


def _plan_invoice(
    table: Table,
    ledger: Ledger,
    draft: InvoiceDraft,
    details: ClientDetails,
    client: Client | None,
    plan: ImportPlan,
) -> None:
    existing = ledger.get_invoice(draft.number)
    currency = _resolve_currency(table, draft, details, client)
    amount = draft.total if draft.total is not None else draft.line_sum
    values: dict[str, object] = {
        "client": client.name if client else draft.client,
        "amount": amount,
        "currency": currency,
        "issue_date": draft.issue_date,
        **_payment_values(draft, amount),
    }
    if existing is None or draft.due_date is not None:
        values["due_date"] = _due_date(draft, details, client, plan)
    changed: dict[str, tuple[str | None, str | None]]
    try:
        if existing is None:
            invoice = validate_invoice(Invoice(number=draft.number, **values))  # type: ignore[arg-type]
            changed = {k: (None, to_text(getattr(invoice, k))) for k in values}
            action = "created"
        else:
            invoice = validate_invoice(replace(existing, **values))  # type: ignore[arg-type]
            values = {k: getattr(invoice, k) for k in values}
            changed = diff_fields(existing, values)
            action = "updated" if changed else "unchanged"
    except InputError as exc:
        raise InputError(f"{table.path.name}, line {draft.line}: {exc}") from exc
    plan.invoices.append(PlannedInvoice(invoice, action, changed, draft.line, values))


def _plan_client(
    ledger: Ledger, details: ClientDetails, client: Client | None, plan: ImportPlan
) -> Client | None:
    values = {
        "contact_first_name": details.contact,
        "country": details.country,
        "timezone": details.timezone,
        "language": details.language,
        "payment_terms_days": details.terms,
    }
    values = {k: v for k, v in values.items() if v is not None}
    known = set(client.emails) if client else set()
    new_emails = []
    for address in details.emails:
        owner = ledger.find_client_by_email(address)
        if owner is not None and (client is None or owner.name != client.name):
            raise InputError(
                f"{plan.path.name}: email {address} for client {details.name!r} already belongs to "
                f"client {owner.name!r}; one address can belong to one client only"
            )
        if address not in known:
            new_emails.append(address)
    changed: dict[str, tuple[str | None, str | None]]
    if client is None:
        action, changed = "created", {k: (None, to_text(v)) for k, v in values.items()}
    else:
        changed = diff_fields(client, values)
        action = "updated" if changed or new_emails else "unchanged"
    plan.clients.append(
        PlannedClient(details, values, tuple(new_emails), action, changed)
    )
    return client


def plan_import(
    ledger: Ledger,
    path: Path,
    *,
    column_map: Mapping[str, str] | None = None,
    date_format: str | None = None,
    clients_path: Path | None = None,
) -> ImportPlan:
    """Read ``path`` (and a clients file) and work out every change, writing nothing."""
    user_map = dict(column_map or {})
    table = read_table(path, lambda record: _looks_like_header(record, user_map))
    layout_name, positions, layout = resolve_columns(
        table.headers, user_map, path.name
    )
    plan = ImportPlan(path, layout_name)
    drafts, row_clients = read_invoice_rows(
        table, positions, layout, DateReader(date_format), plan
    )

    listed = read_clients_file(clients_path) if clients_path else {}
    ledger_clients = {c.name.casefold(): c for c in ledger.list_clients()}
    for key, details in row_clients.items():
        merged = listed.get(key, ClientDetails(details.name))
        merged.merge(details)
        if key in ledger_clients:
            # Keep the ledger's spelling, so "ACME" does not become a second client.
            merged.name = ledger_clients[key].name
        row_clients[key] = merged
        _plan_client(ledger, merged, ledger_clients.get(key), plan)
    _check_shared_emails(row_clients)

    for draft in drafts:
        if draft.status == "draft":
            plan.skipped.append(f"{draft.number}: draft invoice, not yet sent")
            continue
        key = draft.client.casefold()
        _plan_invoice(
            table, ledger, draft, row_clients[key], ledger_clients.get(key), plan
        )
        client = ledger_clients.get(key)
        if not row_clients[key].emails and not (client and client.emails):
            plan.needs_email.append(draft.number)
    return plan


def _looks_like_header(record: list[str], user_map: Mapping[str, str]) -> bool:
    if formats.detect_layout(record) is not None:
        return True
    normalized = {formats.normalize_header(h) for h in record}
    return bool(user_map) and set(user_map) <= normalized


def _check_shared_emails(clients: Mapping[str, ClientDetails]) -> None:
    owners: dict[str, str] = {}
    for details in clients.values():
        for address in details.emails:
            other = owners.setdefault(address, details.name)
            if other != details.name:
                raise InputError(
                    f"email {address} is given for both {other!r} and {details.name!r}; "
                    "one address can belong to one client only"
                )


def apply_plan(ledger: Ledger, plan: ImportPlan) -> None:
    """Write ``plan`` in one transaction, logging every change as source "import"."""
    with ledger.transaction():
        for planned_client in plan.clients:
            name = planned_client.details.name
            existing = ledger.get_client(name)
            if existing is None or planned_client.values:
                ledger.set_client(name, source="import", **planned_client.values)
            for address in planned_client.new_emails:
                ledger.add_email(name, address, source="import")
        for planned in plan.invoices:
            if planned.action == "created":
                ledger.add_invoice(planned.invoice, source="import")
            elif planned.action == "updated":
                ledger.set_invoice(
                    planned.invoice.number, source="import", **planned.values
                )
    logger.info(
        "imported %s: %d created, %d updated, %d unchanged",
        plan.path.name,
        plan.count("created"),
        plan.count("updated"),
        plan.count("unchanged"),
    )


def import_invoices(
    ledger: Ledger,
    path: Path,
    *,
    column_map: Mapping[str, str] | None = None,
    date_format: str | None = None,
    clients_path: Path | None = None,
    dry_run: bool = False,
) -> ImportPlan:
    """Plan the import of ``path`` and, unless ``dry_run``, apply it."""
    plan = plan_import(
        ledger,
        path,
        column_map=column_map,
        date_format=date_format,
        clients_path=clients_path,
    )
    if not dry_run:
        apply_plan(ledger, plan)
    return plan
