"""Reading CSV exports: the header row, column mapping and the values in cells.

A ``Table`` contains a file's rows under its header with their line numbers, and a
``Cell`` keeps where each value came from, so every error names the file, line
and column. Dates are read without guessing day/month order, and amounts and
currencies go through ``assistant.money``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from assistant import export_formats as formats
from assistant.errors import InputError, UsageError
from assistant.money import ParsedAmount, parse_amount, validate_currency

HEADER_SEARCH_ROWS = 15  # report exports put a title block above the header
_REQUIRED_FIELDS = {"number", "client", "issue_date", "amount", "line_amount"}


@dataclass(frozen=True)
class Table:
    """The rows of a CSV file under its header, each with its line number."""

    path: Path
    header_line: int
    headers: list[str]
    rows: list[tuple[int, list[str]]]


@dataclass(frozen=True)
class Cell:
    """A value with where it came from, for error messages."""

    text: str
    line: int
    column: str


# --- reading CSV files ------------------------------------------------------


def read_table(
    path: Path,
    is_header: Callable[[list[str]], bool],
    missing_header: str | None = None,
) -> Table:
    """Read ``path`` and find its header row among the first rows.

    When no row qualifies, raise InputError with ``missing_header``, or take
    the first non-empty row when that is None so the caller can explain it.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError(f"file not found: {path}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path.name} is not UTF-8 text; export or save it as CSV UTF-8"
        ) from exc
    dialect = _sniff(text)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows = []
    try:
        for record in reader:
            rows.append((reader.line_num, record))
    except csv.Error as exc:
        raise InputError(
            f"{path.name}, line {reader.line_num}: invalid CSV ({exc})"
        ) from exc
    filled = [(n, r) for n, r in rows if any(c.strip() for c in r)]
    if not filled:
        raise InputError(
            f"{path.name} is empty; it needs a header row and invoice rows"
        )
    for index, (line, record) in enumerate(filled[:HEADER_SEARCH_ROWS]):
        if is_header(record):
            return Table(path, line, [h.strip() for h in record], filled[index + 1 :])
    if missing_header is not None:
        raise InputError(f"{path.name}: {missing_header}")
    line, record = filled[0]
    return Table(path, line, [h.strip() for h in record], filled[1:])


def _sniff(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        return csv.excel


def parse_column_map(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``--map COLUMN=FIELD`` options into normalized header -> field."""
    mapping = {}
    for pair in pairs:
        column, sep, target = pair.rpartition("=")
        target = target.strip().lower()
        if not sep or not column.strip():
            raise UsageError(
                f"invalid --map {pair!r}; write it as COLUMN=FIELD, e.g. 'Inv No=number'"
            )
        if target not in formats.INVOICE_FIELDS:
            raise UsageError(
                f"invalid --map {pair!r}: unknown field {target!r}; valid fields: "
                + ", ".join(formats.INVOICE_FIELDS)
            )
        mapping[formats.normalize_header(column)] = target
    return mapping


def resolve_columns(
    headers: Sequence[str], user_map: Mapping[str, str], file_name: str = "the file"
) -> tuple[str, dict[int, str], formats.ExportLayout | None]:
    """Map column positions to fields from the detected layout and ``--map``.

    ``file_name`` starts every error message, so the user knows which file to fix.
    """
    layout = formats.detect_layout(headers)
    normalized = [formats.normalize_header(h) for h in headers]
    missing = [column for column in user_map if column not in normalized]
    if missing:
        raise UsageError(
            f"--map names column(s) not in {file_name}: {', '.join(missing)}; "
            f"the file has: {', '.join(h for h in headers if h)}"
        )
    if layout is None and not user_map:
        raise _unrecognised_header(headers, file_name)
    base = dict(layout.columns) if layout else {f: f for f in formats.INVOICE_FIELDS}
    base.update(user_map)
    positions: dict[int, str] = {}
    for index, header in enumerate(normalized):
        target = base.get(header)
        if target and target != "ignore" and target not in positions.values():
            positions[index] = target
    for required in ("number", "client", "issue_date"):
        if required not in positions.values():
            raise InputError(
                f"{file_name}: no column for the required {required} field; add one "
                f"or map it with --map COLUMN={required}"
            )
    if not {"amount", "line_amount"} & set(positions.values()):
        raise InputError(
            f"{file_name}: no column for the required amount field; add one or map "
            "it with --map COLUMN=amount"
        )
    name = layout.name if layout else "custom mapping"
    return (name + " with --map" if user_map and layout else name), positions, layout


def _unrecognised_header(headers: Sequence[str], file_name: str) -> InputError:
    near = formats.closest_layout(headers)
    if near is not None:
        fields = [near.layout.columns.get(h, h) for h in near.missing]
        required = "required " if set(fields) <= _REQUIRED_FIELDS else ""
        return InputError(
            f"{file_name}: the header row looks like the {near.layout.name} layout "
            f"but is missing the {required}column(s) {', '.join(near.missing)}; add "
            "the column(s), or map an existing column with "
            + ", ".join(f"--map COLUMN={field}" for field in fields)
        )
    return InputError(
        f"{file_name}: unrecognised header row: "
        + ", ".join(h for h in headers if h)
        + "; use the plain template columns (number, client, email, amount, "
        "currency, issue_date, due_date) or map your columns with --map COLUMN=FIELD"
    )


def check_row_length(table: Table, line: int, record: list[str]) -> None:
    """Reject a row with fewer fields than the header, or with values beyond it.

    A short row would otherwise leave its last columns empty without a word,
    and extra values usually come from an unquoted comma inside a value.
    Missing or extra empty fields at the end are tolerated, because exports
    often trim or pad them.
    """
    expected = len(table.headers)
    while expected and not table.headers[expected - 1]:
        expected -= 1  # unnamed trailing columns hold nothing the import reads
    found = len(record)
    if found < expected:
        raise InputError(
            f"{table.path.name}, line {line}: expected {expected} fields as in the "
            f"header row, found {found}; fill in the missing fields or add the "
            "missing commas"
        )
    extra = [text for text in record[len(table.headers):] if text.strip()]
    if extra:
        raise InputError(
            f"{table.path.name}, line {line}: expected {len(table.headers)} fields as "
            f"in the header row, found {found}; put a value that contains a comma "
            'in double quotes, such as "1,200.00"'
        )


# --- dates -----------------------------------------------------------------

_NUMERIC_DATE = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ][0-9:.]+Z?)?$")
_NAMED_FORMATS = (
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d-%b-%Y",
    "%b %d %Y",
)


class DateReader:
    """Read dates in ISO or an export's form, refusing day/month guesses.

    A numeric date such as 03/04/2026 reads as 3 April or 4 March, so it is an
    error unless ``date_format`` settles it; 13/04/2026 has only one reading.
    """

    def __init__(self, date_format: str | None):
        self.date_format = date_format
        self._orders: dict[str, str] = {}  # "day-first"/"month-first" -> where seen

    def read(self, cell: Cell) -> date:
        text = cell.text.strip()
        if self.date_format:
            try:
                return datetime.strptime(text, self.date_format).date()
            except ValueError:
                pass
        iso = _ISO_DATE.match(text)
        if iso:
            return self._build(cell, int(iso[1]), int(iso[2]), int(iso[3]))
        numeric = _NUMERIC_DATE.match(text)
        if numeric and not self.date_format:
            return self._read_numeric(cell, numeric)
        for fmt in _NAMED_FORMATS:
            try:
                return datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        if self.date_format:
            raise InputError(
                f"invalid date {cell.text!r}: it does not match --date-format "
                f"{self.date_format}; fix the date or the format"
            )
        raise InputError(
            f"invalid date {cell.text!r}; write it as 2026-03-02, or pass "
            "--date-format such as %d/%m/%Y"
        )

    def _read_numeric(self, cell: Cell, match: re.Match[str]) -> date:
        first, sep, second, year = int(match[1]), match[2], int(match[3]), int(match[4])
        if sep == ".":
            # Dotted dates are day-first wherever they are written (de, ru, ...).
            return self._build(cell, year, second, first)
        if first != second and first <= 12 and second <= 12:
            raise InputError(
                f"ambiguous date {cell.text!r}: it reads as day {first} of month "
                f"{second} or month {first} day {second}; pass --date-format "
                f"%d{sep}%m{sep}%Y or %m{sep}%d{sep}%Y"
            )
        order = "day-first" if first > 12 else "month-first" if second > 12 else None
        if order:
            other = "month-first" if order == "day-first" else "day-first"
            if other in self._orders:
                raise InputError(
                    f"date {cell.text!r} is {order}, but {self._orders[other]} has a "
                    f"{other} date; pass --date-format for this file"
                )
            self._orders.setdefault(order, f"line {cell.line}")
        day, month = (first, second) if order == "day-first" else (second, first)
        return self._build(cell, year, month, day)

    @staticmethod
    def _build(cell: Cell, year: int, month: int, day: int) -> date:
        try:
            return date(year, month, day)
        except ValueError as exc:
            raise InputError(f"invalid date {cell.text!r}: {exc}") from exc


# --- cells of a row ------------------------------------------------------


def _where(table: Table, cell: Cell) -> str:
    return f"{table.path.name}, line {cell.line}, column {cell.column!r}"


def _row_cells(
    table: Table, positions: Mapping[int, str], line: int, record: list[str]
) -> dict[str, Cell]:
    cells = {}
    for index, target in positions.items():
        text = record[index].strip() if index < len(record) else ""
        if text:
            cells[target] = Cell(text, line, table.headers[index])
    return cells


def _currency_of(cell: Cell) -> str:
    text = cell.text.strip()
    # Harvest writes names such as "United States Dollar - USD".
    if " - " in text:
        text = text.rsplit(" - ", 1)[1]
    return validate_currency(text)


def _money(table: Table, cells: Mapping[str, Cell], name: str) -> ParsedAmount | None:
    cell = cells.get(name)
    if cell is None:
        return None
    try:
        return parse_amount(cell.text)
    except InputError as exc:
        raise InputError(f"{_where(table, cell)}: {exc}") from exc


def _date_cell(table: Table, dates: DateReader, cell: Cell) -> date:
    try:
        return dates.read(cell)
    except InputError as exc:
        raise InputError(f"{_where(table, cell)}: {exc}") from exc
