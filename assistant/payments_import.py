"""Import payments from a CSV file, such as a bank or payment-provider export.

Columns: ``number`` (the invoice), ``amount``, ``date``, and optionally
``currency`` and ``reference``. Every row is checked before anything is
written, and all rows are then recorded in one transaction, so a bad row
leaves the ledger as it was. A row whose reference was already recorded for
the invoice is skipped, which makes importing the same export twice safe. A
row without a reference is skipped when a payment of the same amount on the
same day is already recorded. Double counting is worse than asking the user
to add a rare second identical payment with ``assistant paid``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from assistant.errors import InputError
from assistant.invoice_import import Cell, DateReader, Table, read_table
from assistant.ledger import Invoice, Ledger
from assistant.money import AMBIGUOUS_SYMBOLS, parse_amount, to_currency_precision, validate_currency
from assistant.stopping import record_paid, store_payment

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("number", "amount", "date")
OPTIONAL_COLUMNS = ("currency", "reference")
COLUMN_ALIASES = {
    "invoice": "number",
    "invoice_number": "number",
    "invoice number": "number",
    "paid_on": "date",
    "payment date": "date",
    "ref": "reference",
}


@dataclass(frozen=True)
class PaymentRow:
    """One checked row: which invoice, how much, when, and where it came from."""

    line: int
    number: str
    amount: Decimal
    currency: str
    paid_on: date
    reference: str | None
    overpaid: Decimal = Decimal("0")  # the part above the balance, when allowed


@dataclass
class PaymentPlan:
    """The rows to record and those skipped as already recorded, with reasons."""

    path: Path
    rows: list[PaymentRow] = field(default_factory=list)
    skipped: list[tuple[PaymentRow, str]] = field(default_factory=list)
    dry_run: bool = False


def import_payments(
    ledger: Ledger,
    path: Path,
    *,
    allow_overpayment: bool = False,
    dry_run: bool = False,
    date_format: str | None = None,
) -> PaymentPlan:
    """Check every row of ``path``, then record them all in one transaction."""
    table = read_table(
        path,
        lambda record: _is_header(record),
        missing_header="no header row with number, amount and date columns; add one",
    )
    columns = _columns(table)
    plan = PaymentPlan(path, dry_run=dry_run)
    dates = DateReader(date_format)
    with ledger.transaction():
        balances: dict[str, Decimal] = {}
        for line, record in table.rows:
            cells = _cells(table, columns, line, record)
            row = _read_row(ledger, table, cells, dates)
            duplicate = _already_recorded(ledger, row, plan.rows)
            if duplicate:
                plan.skipped.append((row, duplicate))
                continue
            plan.rows.append(_check_balance(ledger, table, cells, row, balances,
                                            allow_overpayment))
        if not dry_run:
            for row in plan.rows:
                _record(ledger, row)
    logger.info("imported %d payment(s) from %s", len(plan.rows), path.name)
    return plan


def _is_header(record: list[str]) -> bool:
    names = {_canonical(cell) for cell in record}
    return all(column in names for column in REQUIRED_COLUMNS)


def _canonical(header: str) -> str:
    name = header.strip().lower()
    return COLUMN_ALIASES.get(name, name)


def _columns(table: Table) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, header in enumerate(table.headers):
        name = _canonical(header)
        if name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
            if name in columns:
                raise InputError(
                    f"{table.path.name}, line {table.header_line}: two columns mean "
                    f"{name!r}; keep one"
                )
            columns[name] = index
    return columns


def _cells(table: Table, columns: dict[str, int], line: int, record: list[str]) -> dict[str, Cell]:
    cells = {}
    for name, index in columns.items():
        text = record[index].strip() if index < len(record) else ""
        cells[name] = Cell(text, line, table.headers[index])
    return cells


def _where(table: Table, cell: Cell) -> str:
    return f"{table.path.name}, line {cell.line}, column {cell.column!r}"


def _read_row(
    ledger: Ledger, table: Table, cells: dict[str, Cell], dates: DateReader
) -> PaymentRow:
    """Read one row and check it against its invoice."""
    number_cell = cells["number"]
    invoice = ledger.get_invoice(number_cell.text) if number_cell.text else None
    if invoice is None:
        raise InputError(
            f"{_where(table, number_cell)}: invoice {number_cell.text!r} not found "
            "in the ledger; import the invoice first or fix the number"
        )
    if invoice.status == "void":
        raise InputError(
            f"{_where(table, number_cell)}: invoice {invoice.number} is void and "
            "cannot take a payment"
        )
    amount, currency = _amount(table, cells, invoice)
    reference = cells["reference"].text if "reference" in cells else ""
    return PaymentRow(
        line=number_cell.line,
        number=invoice.number,
        amount=amount,
        currency=currency,
        paid_on=_date(table, cells["date"], dates),
        reference=reference or None,
    )


def _check_balance(
    ledger: Ledger,
    table: Table,
    cells: dict[str, Cell],
    row: PaymentRow,
    balances: dict[str, Decimal],
    allow_overpayment: bool,
) -> PaymentRow:
    """Check the row against the balance left after the file's earlier rows."""
    if row.number not in balances:
        invoice = ledger.get_invoice(row.number)
        assert invoice is not None
        balances[row.number] = invoice.balance
    balance = balances[row.number]
    overpaid = max(row.amount - max(balance, Decimal("0")), Decimal("0"))
    if overpaid and not allow_overpayment:
        raise InputError(
            f"{_where(table, cells['amount'])}: payment {row.amount} {row.currency} "
            f"exceeds the balance {balance} {row.currency} of invoice {row.number}; "
            "fix the row, or pass --allow-overpayment to record it anyway"
        )
    balances[row.number] = balance - row.amount
    return replace(row, overpaid=overpaid)


def _amount(table: Table, cells: dict[str, Cell], invoice: Invoice) -> tuple[Decimal, str]:
    cell = cells["amount"]
    try:
        parsed = parse_amount(cell.text)
    except InputError as exc:
        raise InputError(f"{_where(table, cell)}: {exc}") from exc
    currencies = {invoice.currency}
    if parsed.currency:
        currencies.add(parsed.currency)
    elif parsed.symbol in AMBIGUOUS_SYMBOLS:
        # "$" or "kr" fits the invoice only if the invoice's currency writes it so.
        if invoice.currency not in AMBIGUOUS_SYMBOLS[parsed.symbol]:
            currencies.add(AMBIGUOUS_SYMBOLS[parsed.symbol][0])
    currency_cell = cells.get("currency")
    if currency_cell is not None and currency_cell.text:
        try:
            currencies.add(validate_currency(currency_cell.text))
        except InputError as exc:
            raise InputError(f"{_where(table, currency_cell)}: {exc}") from exc
    if len(currencies) > 1:
        other = sorted(currencies - {invoice.currency})
        raise InputError(
            f"{_where(table, currency_cell or cell)}: payment in {', '.join(other)} "
            f"for invoice {invoice.number} in {invoice.currency}; convert it and "
            f"enter the {invoice.currency} amount credited"
        )
    if parsed.amount <= 0:
        raise InputError(
            f"{_where(table, cell)}: payment must be greater than zero, not {cell.text!r}"
        )
    return to_currency_precision(parsed.amount, invoice.currency), invoice.currency


def _date(table: Table, cell: Cell, dates: DateReader) -> date:
    if not cell.text:
        raise InputError(f"{_where(table, cell)}: missing payment date; write it as 2026-03-02")
    try:
        return dates.read(cell)
    except InputError as exc:
        raise InputError(f"{_where(table, cell)}: {exc}") from exc


def _already_recorded(ledger: Ledger, row: PaymentRow, earlier: list[PaymentRow]) -> str | None:
    if row.reference is not None:
        found = ledger.db.execute(
            "SELECT 1 FROM payments WHERE invoice_number = ? AND reference = ?",
            [row.number, row.reference],
        ).fetchone()
        if found or any(e.number == row.number and e.reference == row.reference
                        for e in earlier):
            return f"reference {row.reference} is already recorded"
        return None
    found = ledger.db.execute(
        "SELECT 1 FROM payments WHERE invoice_number = ? AND amount = ? AND paid_on = ?",
        [row.number, str(row.amount), row.paid_on.isoformat()],
    ).fetchone()
    return "the same amount on the same day is already recorded" if found else None


def _record(ledger: Ledger, row: PaymentRow) -> None:
    """Record a row; an allowed overpayment raises amount_paid above the amount."""
    invoice = ledger.get_invoice(row.number)
    assert invoice is not None
    within_balance = row.amount - row.overpaid
    if within_balance > 0:
        record_paid(ledger, row.number, row.paid_on, within_balance,
                    reference=row.reference, source="import")
    if row.overpaid:
        current = ledger.get_invoice(row.number)
        assert current is not None
        ledger.set_invoice(
            row.number, source="import", amount_paid=current.amount_paid + row.overpaid,
            status="paid", paid_on=row.paid_on,
        )
        store_payment(ledger, current, row.overpaid, row.paid_on, row.reference, "import")
