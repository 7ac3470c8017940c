"""Header layouts of the CSV files that invoicing tools export.

A layout maps column headers to the import's field names and lists marker
headers that identify it. Headers compare after ``normalize_header``, so case,
spacing, a byte-order mark and Xero's ``*`` for required columns do not matter.
Where a column name could not be confirmed from a public source, a NOTE says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Fields an invoice CSV column can map to, with --map help text.
INVOICE_FIELDS: dict[str, str] = {
    "number": "invoice number (required)",
    "client": "client or customer name (required)",
    "email": "client email address; several may be separated by ; or ,",
    "amount": "invoice total, repeated on each line-item row",
    "line_amount": "line-item total, summed per invoice when there is no total",
    "amount_paid": "amount paid so far",
    "balance": "amount still due; amount_paid becomes amount minus balance",
    "paid_on": "date of payment; a date here marks the invoice paid",
    "currency": "ISO 4217 currency code such as EUR",
    "issue_date": "invoice date (required)",
    "due_date": "due date; when missing it is derived from the payment terms",
    "status": "invoice status such as paid, draft or void",
    "row_type": "transaction type; rows that are not invoices are skipped",
    "contact": "contact first name for the greeting",
    "language": "client language as a BCP 47 tag such as en or ja",
    "timezone": "client time zone as an IANA name such as Europe/Berlin",
    "country": "client country as an ISO 3166-1 alpha-2 code such as DE",
    "ignore": "a column to leave out",
}

# Fields a clients or contacts CSV column can map to.
CLIENT_FILE_FIELDS = (
    "client",
    "email",
    "contact",
    "country",
    "timezone",
    "language",
    "terms",
    "currency",
)


def normalize_header(header: str) -> str:
    text = header.replace("\ufeff", "").strip().lstrip("*").strip()
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class ExportLayout:
    """One tool's CSV header layout."""

    name: str
    columns: Mapping[str, str]  # normalized header -> field
    markers: Sequence[frozenset[str]]  # any one full set identifies the layout
    # Report-style exports interleave section and total rows that carry no
    # invoice number; those rows are skipped instead of rejected.
    skips_rows_without_number: bool = False

    def match_score(self, headers: set[str]) -> int:
        return max((len(m) for m in self.markers if m <= headers), default=0)


def _layout(
    name: str,
    columns: Mapping[str, str],
    *markers: set[str],
    skips_rows_without_number: bool = False,
) -> ExportLayout:
    return ExportLayout(
        name,
        {normalize_header(k): v for k, v in columns.items()},
        tuple(frozenset(normalize_header(h) for h in m) for m in markers),
        skips_rows_without_number,
    )


# The plain template documented in the README: one row per invoice.
PLAIN_TEMPLATE = _layout(
    "plain template",
    {field: field for field in INVOICE_FIELDS if field != "ignore"},
    {"number", "client", "amount", "issue_date"},
)

# Xero invoice export, one row per line item with the invoice Total repeated.
# Columns from the "Xero templates" page of Milient's Moment docs, which
# follows Xero's invoice import/export template:
# https://docs.milientsoftware.com/help/moment-by-topic/integrations/file-exports/file-export-accounting-system/xero/xero-templates
XERO = _layout(
    "Xero",
    {
        "ContactName": "client",
        "EmailAddress": "email",
        "InvoiceNumber": "number",
        "InvoiceDate": "issue_date",
        "DueDate": "due_date",
        "Total": "amount",
        "InvoiceAmountPaid": "amount_paid",
        "LineAmount": "line_amount",
        "Currency": "currency",
        "Type": "row_type",
        "Status": "status",
    },
    {"ContactName", "InvoiceNumber", "InvoiceDate"},
)

# FreshBooks "Invoice Details" report: one row per line item, no email and no
# due date. Columns as read by Invoice Ninja's FreshBooks importer
# (invoiceninja/invoiceninja, app/Import/Transformer/Freshbooks/InvoiceTransformer.php)
# and by delveteams/freshbooks-invoice-summary (process_invoice_details.py).
FRESHBOOKS = _layout(
    "FreshBooks",
    {
        "Client Name": "client",
        "Invoice #": "number",
        "Date Issued": "issue_date",
        "Invoice Status": "status",
        "Date Paid": "paid_on",
        "Line Total": "line_amount",
        "Currency": "currency",
    },
    {"Client Name", "Invoice #", "Date Issued"},
)

# Wave invoice list ("invoices.csv"), one row per invoice. Columns as read by
# Invoice Ninja's Wave importer (app/Import/Transformer/Wave/InvoiceTransformer.php).
# NOTE: not confirmed against Wave's own documentation.
WAVE = _layout(
    "Wave",
    {
        "Invoice Number": "number",
        "Customer": "client",
        "Customer Name": "client",
        "Invoice Date": "issue_date",
        "Transaction Date": "issue_date",
        "Due Date": "due_date",
        "Currency": "currency",
        "Invoice Total": "amount",
        "Invoice Paid": "amount_paid",
    },
    {"Invoice Number", "Invoice Total"},
)

# Wave data export "invoice_items.csv", one row per line item, as read by
# etienne/wave-custom-invoice (index.js). NOTE: that script treats "amount"
# as the line total; Wave's documentation was not found to confirm it.
WAVE_ITEMS = _layout(
    "Wave (invoice items)",
    {
        "invoice_num": "number",
        "customer": "client",
        "invoice_date": "issue_date",
        "due_date": "due_date",
        "currency": "currency",
        "amount": "line_amount",
    },
    {"invoice_num", "customer", "invoice_date"},
)

# Harvest invoice report export ("All invoices"), one row per invoice; "ID" is
# the invoice number and there is no due date column. Columns from a public
# Harvest-to-Yield migration script that reads this export: Issue Date, Last
# Payment Date, ID, PO Number, Client, Subject, Invoice Amount, Paid Amount,
# Balance, Subtotal, Discount, Tax, Tax2, Currency, Currency Symbol, Document Type.
# NOTE: the "Invoice ID"/"Amount"/"Due Date" variant is accepted too but was
# not confirmed from a public export.
HARVEST = _layout(
    "Harvest",
    {
        "ID": "number",
        "Invoice ID": "number",
        "Client": "client",
        "Issue Date": "issue_date",
        "Due Date": "due_date",
        "Invoice Amount": "amount",
        "Amount": "amount",
        "Paid Amount": "amount_paid",
        "Balance": "balance",
        "Currency": "currency",
        "Document Type": "row_type",
    },
    {"ID", "Client", "Issue Date", "Invoice Amount"},
    {"Invoice ID", "Client", "Issue Date"},
)

# QuickBooks Online report exports (Invoice List, A/R Aging Detail): a title
# block above the header, section and "Total for" rows without a number.
# Column names as they appear in QuickBooks report exports quoted by public
# parsers' test fixtures. NOTE: not confirmed against Intuit's documentation.
QUICKBOOKS = _layout(
    "QuickBooks Online",
    {
        "Num": "number",
        "No.": "number",
        "Customer": "client",
        "Customer full name": "client",
        "Customer email": "email",
        "Date": "issue_date",
        "Transaction date": "issue_date",
        "Due date": "due_date",
        "Amount": "amount",
        "Open balance": "balance",
        "Transaction type": "row_type",
        "Currency": "currency",
    },
    {"Transaction type", "Num", "Due date"},
    {"Transaction type", "No.", "Due date"},
    skips_rows_without_number=True,
)

# QuickBooks Online "Sales by Product/Service Detail": one row per line item,
# "Amount" is the line total. Same source and caveat as QUICKBOOKS.
QUICKBOOKS_SALES = _layout(
    "QuickBooks Online (sales detail)",
    {
        "Num": "number",
        "Customer": "client",
        "Customer full name": "client",
        "Transaction date": "issue_date",
        "Date": "issue_date",
        "Amount": "line_amount",
        "Transaction type": "row_type",
    },
    {"Transaction type", "Num", "Sales price"},
    skips_rows_without_number=True,
)

# Invoice Ninja invoice export. Its columns are the translated labels of the
# export's keys (number, client, date, due_date, amount, balance, paid_to_date,
# status, currency_id) in invoiceninja/invoiceninja app/Export/CSV/InvoiceExport.php.
# NOTE: the English labels below are inferred from those keys, not from a file.
INVOICE_NINJA = _layout(
    "Invoice Ninja",
    {
        "Number": "number",
        "Invoice Number": "number",
        "Client": "client",
        "Client Name": "client",
        "Date": "issue_date",
        "Invoice Date": "issue_date",
        "Due Date": "due_date",
        "Amount": "amount",
        "Balance": "balance",
        "Paid to Date": "amount_paid",
        "Status": "status",
        "Currency": "currency",
        "Contact Email": "email",
        "Client Email": "email",
    },
    {"Number", "Client", "Paid to Date"},
    {"Invoice Number", "Client Name", "Paid to Date"},
)

INVOICE_LAYOUTS: tuple[ExportLayout, ...] = (
    XERO,
    FRESHBOOKS,
    WAVE,
    WAVE_ITEMS,
    HARVEST,
    QUICKBOOKS_SALES,
    QUICKBOOKS,
    INVOICE_NINJA,
    PLAIN_TEMPLATE,
)


def detect_layout(headers: Sequence[str]) -> ExportLayout | None:
    """Return the layout whose markers best match ``headers``, or None."""
    present = {normalize_header(h) for h in headers}
    best, best_score = None, 0
    for layout in INVOICE_LAYOUTS:
        score = layout.match_score(present)
        if score > best_score:
            best, best_score = layout, score
    return best


@dataclass(frozen=True)
class NearLayout:
    """A layout that a header row almost matches, and the marker headers it lacks."""

    layout: ExportLayout
    missing: tuple[str, ...]  # normalized headers, in the layout's column order


def closest_layout(headers: Sequence[str]) -> NearLayout | None:
    """Return the layout missing the fewest marker headers, when that is close.

    Close means at most half of one marker set is missing and at least two of
    its headers are present, so the error for a file that lost a column can
    name that column instead of reporting an unrecognised header row.
    """
    present = {normalize_header(h) for h in headers}
    best: NearLayout | None = None
    best_rank = (0, 0)
    for layout in INVOICE_LAYOUTS:
        for marker in layout.markers:
            missing = marker - present
            found = len(marker) - len(missing)
            if not missing or found < 2 or len(missing) * 2 > len(marker):
                continue
            # The minimum of missing headers wins; a tie goes to more headers found.
            rank = (len(missing), -found)
            if best is None or rank < best_rank:
                best_rank = rank
                order = list(layout.columns)
                ordered = sorted(
                    missing, key=lambda h: order.index(h) if h in order else len(order)
                )
                best = NearLayout(layout, tuple(ordered))
    return best


# Headers of client and contact exports, mapped to CLIENT_FILE_FIELDS.
# Xero contacts: ContactName, EmailAddress, FirstName (the Xero contact shape
# shown in Zynk's "Exporting Contacts from Xero" docs). FreshBooks clients:
# Organization, First Name, Email; Wave customers: customer_name, email,
# contact_first_name, country, customer_currency, Payment Terms (both as read
# by Invoice Ninja's FreshBooks and Wave ClientTransformer.php). QuickBooks
# customer lists: "Customer full name", Email. NOTE: Harvest and Invoice Ninja
# client exports were not confirmed; their likely "Client"/"Name" and
# "Email" headers are covered by the generic names.
CLIENT_COLUMNS: dict[str, str] = {
    normalize_header(header): field
    for header, field in {
        "ContactName": "client",
        "Organization": "client",
        "customer_name": "client",
        "Customer full name": "client",
        "Customer": "client",
        "Customer Name": "client",
        "Client": "client",
        "Client Name": "client",
        "Company": "client",
        "Company Name": "client",
        "Name": "client",
        "EmailAddress": "email",
        "Email": "email",
        "Email Address": "email",
        "E-mail": "email",
        "Contact Email": "email",
        "FirstName": "contact",
        "First Name": "contact",
        "contact_first_name": "contact",
        "Contact First Name": "contact",
        "contact": "contact",
        "country": "country",
        "POCountry": "country",
        "timezone": "timezone",
        "Time Zone": "timezone",
        "language": "language",
        "terms": "terms",
        "Payment Terms": "terms",
        "payment_terms_days": "terms",
        "currency": "currency",
        "customer_currency": "currency",
    }.items()
}
