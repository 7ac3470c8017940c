"""Importing invoice CSVs into a real ledger file: layouts, grouping, errors."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from assistant.clock import SimulatedClock
from assistant.errors import InputError, UsageError
from assistant.invoice_import import import_invoices, parse_column_map
from assistant.ledger import Ledger

# Hand-written samples shaped like each tool's export; not real exports.
LAYOUT_SAMPLES = {
    "plain template": (
        "number,client,email,amount,currency,issue_date,due_date\n"
        "INV-1,Acme GmbH,ap@acme.example,1200.00,EUR,2026-03-01,2026-03-31\n"
    ),
    "Xero": (
        "*ContactName,EmailAddress,*InvoiceNumber,*InvoiceDate,*DueDate,Total,"
        "Description,LineAmount,Currency,Type,Status\n"
        "Acme GmbH,ap@acme.example,INV-1,1 Mar 2026,31 Mar 2026,1200.00,Design,1000.00,"
        "EUR,Sales invoice,Awaiting Payment\n"
        "Acme GmbH,ap@acme.example,INV-1,1 Mar 2026,31 Mar 2026,1200.00,Hosting,200.00,"
        "EUR,Sales invoice,Awaiting Payment\n"
    ),
    "FreshBooks": (
        "Client Name,Invoice #,Date Issued,Invoice Status,Date Paid,Item Name,Rate,"
        "Quantity,Line Subtotal,Line Total,Currency\n"
        "Acme GmbH,INV-1,2026-03-01,sent,,Design,500,2,1000.00,1000.00,EUR\n"
        "Acme GmbH,INV-1,2026-03-01,sent,,Hosting,200,1,200.00,200.00,EUR\n"
    ),
    "Wave": (
        "Invoice Number,Customer,Invoice Date,Due Date,Currency,Invoice Total,"
        "Invoice Tax Total,Invoice Paid,Last Payment Date\n"
        "INV-1,Acme GmbH,2026-03-01,2026-03-31,EUR,1200.00,0.00,0.00,\n"
    ),
    "Wave (invoice items)": (
        "invoice_num,customer,invoice_date,due_date,currency,product,description,"
        "quantity,amount,taxes\n"
        "INV-1,Acme GmbH,2026-03-01,2026-03-31,EUR,Design,,1,1000.00,\n"
        "INV-1,Acme GmbH,2026-03-01,2026-03-31,EUR,Hosting,,1,200.00,\n"
    ),
    "Harvest": (
        "Issue Date,Last Payment Date,ID,PO Number,Client,Subject,Invoice Amount,"
        "Paid Amount,Balance,Subtotal,Discount,Tax,Tax2,Currency,Currency Symbol,"
        "Document Type\n"
        "2026-03-01,,INV-1,,Acme GmbH,March work,1200.00,0.00,1200.00,1200.00,,,,"
        "Euro - EUR,€,Invoice\n"
    ),
    "QuickBooks Online": (
        '"Acme Consulting LLC",,,,,,,\n'
        "Invoice List,,,,,,,\n"
        '"March 1-31, 2026",,,,,,,\n'
        "\n"
        ",Date,Transaction type,Num,Customer,Due date,Amount,Open balance\n"
        ",2026-03-01,Invoice,INV-1,Acme GmbH,2026-03-31,EUR 1200.00,EUR 1200.00\n"
        ",2026-03-02,Payment,,Acme GmbH,,-50.00,\n"
        "Total,,,,,,EUR 1200.00,\n"
    ),
    "QuickBooks Online (sales detail)": (
        ",Transaction date,Transaction type,Num,Customer full name,Description,"
        "Quantity,Sales price,Amount,Balance\n"
        "Design,,,,,,,,,\n"
        ",2026-03-01,Invoice,INV-1,Acme GmbH,Design,1,1000.00,EUR 1000.00,1000.00\n"
        ",2026-03-01,Invoice,INV-1,Acme GmbH,Hosting,1,200.00,EUR 200.00,1200.00\n"
    ),
    "Invoice Ninja": (
        "Number,Client,Date,Due Date,Amount,Balance,Paid to Date,Status,Currency\n"
        "INV-1,Acme GmbH,2026-03-01,2026-03-31,1200.00,1200.00,0.00,Sent,EUR\n"
    ),
}


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    opened = Ledger.open(
        tmp_path / "ledger.db",
        SimulatedClock(datetime(2026, 3, 2, tzinfo=timezone.utc)),
    )
    yield opened
    opened.close()


def write(tmp_path: Path, text: str, name: str = "invoices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def dump(ledger: Ledger) -> dict[str, list[tuple]]:
    tables = ("clients", "client_emails", "invoices", "sent_evidence", "events")
    return {
        t: ledger.db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables
    }


@pytest.mark.parametrize("layout", sorted(LAYOUT_SAMPLES))
def test_export_layout_recognised(ledger: Ledger, tmp_path: Path, layout: str) -> None:
    plan = import_invoices(ledger, write(tmp_path, LAYOUT_SAMPLES[layout]))
    invoice = ledger.get_invoice("INV-1")
    assert plan.layout == layout
    assert invoice is not None
    assert invoice.client == "Acme GmbH"
    assert invoice.amount == Decimal("1200.00")
    assert invoice.currency == "EUR"
    assert invoice.issue_date == date(2026, 3, 1)
    assert invoice.due_date == date(2026, 3, 31)
    assert invoice.status == "open"


def test_xero_total_wins_over_line_sum(ledger: Ledger, tmp_path: Path) -> None:
    text = LAYOUT_SAMPLES["Xero"].replace(",200.00,", ",150.00,")
    import_invoices(ledger, write(tmp_path, text))
    invoice = ledger.get_invoice("INV-1")
    assert invoice is not None
    assert invoice.amount == Decimal("1200.00")


def test_line_items_grouped_by_number(ledger: Ledger, tmp_path: Path) -> None:
    text = (
        LAYOUT_SAMPLES["FreshBooks"]
        + "Beta Ltd,INV-2,2026-03-05,sent,,Audit,1,1,99.50,99.50,GBP\n"
    )
    plan = import_invoices(ledger, write(tmp_path, text))
    assert plan.count("created") == 2
    first, second = ledger.get_invoice("INV-1"), ledger.get_invoice("INV-2")
    assert first is not None and second is not None
    assert first.amount == Decimal("1200.00")
    assert second.amount == Decimal("99.50")
    assert second.currency == "GBP"


def test_rows_of_one_invoice_must_agree(ledger: Ledger, tmp_path: Path) -> None:
    text = LAYOUT_SAMPLES["FreshBooks"].replace(
        "Acme GmbH,INV-1,2026-03-01,sent,,Hosting",
        "Other Ltd,INV-1,2026-03-01,sent,,Hosting",
    )
    with pytest.raises(
        InputError, match="line 3: client Other Ltd differs from Acme GmbH on line 2"
    ):
        import_invoices(ledger, write(tmp_path, text))


def test_missing_due_date_uses_net_30(ledger: Ledger, tmp_path: Path) -> None:
    plan = import_invoices(ledger, write(tmp_path, LAYOUT_SAMPLES["Harvest"]))
    invoice = ledger.get_invoice("INV-1")
    assert invoice is not None
    assert invoice.due_date == date(2026, 3, 31)
    assert plan.derived_due_dates == [
        "INV-1: due 2026-03-31 from the default net 30 (30 days)"
    ]


def test_missing_due_date_uses_client_terms(ledger: Ledger, tmp_path: Path) -> None:
    ledger.set_client("Acme GmbH", payment_terms_days=14)
    plan = import_invoices(ledger, write(tmp_path, LAYOUT_SAMPLES["Harvest"]))
    invoice = ledger.get_invoice("INV-1")
    assert invoice is not None
    assert invoice.due_date == date(2026, 3, 15)
    assert "client's payment terms (14 days)" in plan.derived_due_dates[0]


def test_clients_file_supplies_emails(ledger: Ledger, tmp_path: Path) -> None:
    # FreshBooks clients export columns, as Invoice Ninja's importer reads them.
    clients = write(
        tmp_path,
        "Organization,First Name,Last Name,Email,Phone\n"
        "Acme GmbH,Jana,Becker,jana@acme.example,\n"
        "acme gmbh,Ops,Team,AP@acme.example,\n",
        "clients.csv",
    )
    text = (
        LAYOUT_SAMPLES["FreshBooks"]
        + "Beta Ltd,INV-2,2026-03-05,sent,,Audit,1,1,99.50,99.50,GBP\n"
    )
    plan = import_invoices(ledger, write(tmp_path, text), clients_path=clients)
    client = ledger.get_client("Acme GmbH")
    assert client is not None
    assert client.emails == ("jana@acme.example", "ap@acme.example")
    assert client.contact_first_name == "Ops"
    assert plan.needs_email == ["INV-2"]
    assert ledger.get_invoice("INV-2") is not None


def test_wave_customers_file_sets_terms_and_currency(
    ledger: Ledger, tmp_path: Path
) -> None:
    clients = write(
        tmp_path,
        "customer_name,email,contact_first_name,country,customer_currency,Payment Terms\n"
        "Acme GmbH,ap@acme.example,Jana,CA,CAD,Net 15\n",
        "customers.csv",
    )
    text = 'number,client,amount,issue_date\nINV-1,Acme GmbH,"$1,200",2026-03-01\n'
    import_invoices(ledger, write(tmp_path, text), clients_path=clients)
    invoice = ledger.get_invoice("INV-1")
    assert invoice is not None
    assert invoice.currency == "CAD"
    assert invoice.due_date == date(2026, 3, 16)


def test_existing_client_email_satisfies_invoice(
    ledger: Ledger, tmp_path: Path
) -> None:
    ledger.add_email("Acme GmbH", "ap@acme.example")
    plan = import_invoices(ledger, write(tmp_path, LAYOUT_SAMPLES["FreshBooks"]))
    assert plan.needs_email == []


def test_client_name_matches_ledger_case(ledger: Ledger, tmp_path: Path) -> None:
    ledger.set_client("ACME GmbH")
    import_invoices(ledger, write(tmp_path, LAYOUT_SAMPLES["Wave"]))
    invoice = ledger.get_invoice("INV-1")
    assert invoice is not None
    assert invoice.client == "ACME GmbH"
    assert [c.name for c in ledger.list_clients()] == ["ACME GmbH"]


@pytest.mark.parametrize(
    ("dates", "date_format", "expected"),
    [
        ("13/04/2026", None, date(2026, 4, 13)),
        ("04/13/2026", None, date(2026, 4, 13)),
        ("04/04/2026", None, date(2026, 4, 4)),
        ("03/04/2026", "%d/%m/%Y", date(2026, 4, 3)),
        ("03/04/2026", "%m/%d/%Y", date(2026, 3, 4)),
        ("03.04.2026", None, date(2026, 4, 3)),
        ("3 Apr 2026", None, date(2026, 4, 3)),
        ("Apr 3, 2026", "%d/%m/%Y", date(2026, 4, 3)),
    ],
)
def test_dates_read_one_way(
    ledger: Ledger, tmp_path: Path, dates: str, date_format: str | None, expected: date
) -> None:
    text = f'number,client,amount,currency,issue_date\nINV-1,Acme,100,EUR,"{dates}"\n'
    import_invoices(ledger, write(tmp_path, text), date_format=date_format)
    invoice = ledger.get_invoice("INV-1")
    assert invoice is not None
    assert invoice.issue_date == expected


def test_ambiguous_date_is_an_error(ledger: Ledger, tmp_path: Path) -> None:
    text = "number,client,amount,currency,issue_date\nINV-1,Acme,100,EUR,03/04/2026\n"
    with pytest.raises(InputError) as caught:
        import_invoices(ledger, write(tmp_path, text))
    message = str(caught.value)
    assert "invoices.csv, line 2, column 'issue_date'" in message
    assert "ambiguous date '03/04/2026'" in message
    assert "--date-format %d/%m/%Y or %m/%d/%Y" in message


def test_mixed_date_orders_are_an_error(ledger: Ledger, tmp_path: Path) -> None:
    text = (
        "number,client,amount,currency,issue_date\n"
        "INV-1,Acme,100,EUR,13/04/2026\n"
        "INV-2,Acme,100,EUR,04/14/2026\n"
    )
    with pytest.raises(
        InputError, match="month-first, but line 2 has a day-first date"
    ):
        import_invoices(ledger, write(tmp_path, text))


def test_ambiguous_dollar_needs_currency(ledger: Ledger, tmp_path: Path) -> None:
    text = 'number,client,amount,issue_date\nINV-1,Acme,"$1,200.00",2026-03-01\n'
    with pytest.raises(InputError) as caught:
        import_invoices(ledger, write(tmp_path, text))
    assert "line 2, column 'amount'" in str(caught.value)
    assert "stands for USD, CAD" in str(caught.value)


def test_dollar_resolved_by_row_country(ledger: Ledger, tmp_path: Path) -> None:
    text = 'number,client,amount,issue_date,country\nINV-1,Acme,"$1,200.00",2026-03-01,AU\n'
    import_invoices(ledger, write(tmp_path, text))
    invoice = ledger.get_invoice("INV-1")
    assert invoice is not None
    assert invoice.currency == "AUD"
    assert invoice.amount == Decimal("1200.00")


def test_symbol_gives_currency(ledger: Ledger, tmp_path: Path) -> None:
    text = 'number,client,amount,issue_date\nINV-1,Acme,"¥120,000",2026-03-01\nINV-2,Acme,"1.234,50 €",2026-03-01\n'
    import_invoices(ledger, write(tmp_path, text))
    yen, euro = ledger.get_invoice("INV-1"), ledger.get_invoice("INV-2")
    assert yen is not None and euro is not None
    assert (yen.amount, yen.currency) == (Decimal("120000"), "JPY")
    assert (euro.amount, euro.currency) == (Decimal("1234.50"), "EUR")


@pytest.mark.parametrize(
    ("bad_row", "column", "value"),
    [
        ("INV-3,Acme,-,EUR,2026-03-01", "amount", "'-'"),
        ("INV-3,Acme,1.234,EUR,2026-03-01", "amount", "'1.234'"),
        ("INV-3,Acme,100,EURO,2026-03-01", "currency", "'EURO'"),
        ("INV-3,Acme,100,EUR,2026-02-30", "issue_date", "'2026-02-30'"),
    ],
)
def test_broken_row_leaves_ledger_untouched(
    ledger: Ledger, tmp_path: Path, bad_row: str, column: str, value: str
) -> None:
    import_invoices(
        ledger,
        write(
            tmp_path,
            "number,client,amount,currency,issue_date\nINV-1,Acme,100,EUR,2026-03-01\n",
        ),
    )
    before = dump(ledger)
    text = (
        "number,client,amount,currency,issue_date\n"
        "INV-1,Acme,150,EUR,2026-03-01\n"
        "INV-2,Acme,100,EUR,2026-03-01\n"
        f"{bad_row}\n"
    )
    with pytest.raises(InputError) as caught:
        import_invoices(ledger, write(tmp_path, text))
    assert f"invoices.csv, line 4, column '{column}'" in str(caught.value)
    assert value in str(caught.value)
    assert dump(ledger) == before


def test_write_failure_rolls_back_whole_import(ledger: Ledger, tmp_path: Path) -> None:
    # The second client claims the first client's address only at write time.
    before = dump(ledger)
    text = (
        "number,client,email,amount,currency,issue_date\n"
        "INV-1,Acme,ap@acme.example,100,EUR,2026-03-01\n"
        "INV-2,Beta,ap@acme.example,100,EUR,2026-03-01\n"
    )
    with pytest.raises(
        InputError, match="ap@acme.example is given for both 'Acme' and 'Beta'"
    ):
        import_invoices(ledger, write(tmp_path, text))
    assert dump(ledger) == before


def test_reimport_updates_and_logs_events(ledger: Ledger, tmp_path: Path) -> None:
    path = write(tmp_path, LAYOUT_SAMPLES["plain template"])
    import_invoices(ledger, path)
    ledger.record_payment("INV-1", Decimal("200"), date(2026, 3, 10))
    path.write_text(LAYOUT_SAMPLES["plain template"].replace("1200.00", "1300.00"))
    plan = import_invoices(ledger, path)
    invoice = ledger.get_invoice("INV-1")
    assert plan.count("updated") == 1
    assert plan.invoices[0].fields == {"amount": ("1200.00", "1300.00")}
    assert invoice is not None
    assert invoice.amount == Decimal("1300.00")
    assert invoice.amount_paid == Decimal(
        "200.00"
    )  # the file says nothing about payments
    last = ledger.events("invoice", "INV-1")[-1]
    assert (last.field, last.old_value, last.new_value, last.source) == (
        "amount",
        "1200.00",
        "1300.00",
        "import",
    )
    assert import_invoices(ledger, path).count("unchanged") == 1


def test_paid_columns_mark_invoice_paid(ledger: Ledger, tmp_path: Path) -> None:
    text = LAYOUT_SAMPLES["Invoice Ninja"].replace(
        "1200.00,1200.00,0.00,Sent", "1200.00,0.00,1200.00,Paid"
    )
    import_invoices(ledger, write(tmp_path, text))
    invoice = ledger.get_invoice("INV-1")
    assert invoice is not None
    assert invoice.status == "paid"
    assert invoice.balance == Decimal("0.00")


def test_draft_and_credit_rows_skipped(ledger: Ledger, tmp_path: Path) -> None:
    text = LAYOUT_SAMPLES["Xero"] + (
        "Acme GmbH,,CN-1,1 Mar 2026,31 Mar 2026,50.00,Refund,50.00,EUR,Sales credit note,Paid\n"
        "Acme GmbH,,INV-2,1 Mar 2026,31 Mar 2026,50.00,Later,50.00,EUR,Sales invoice,Draft\n"
    )
    plan = import_invoices(ledger, write(tmp_path, text))
    assert [i.number for i in ledger.list_invoices()] == ["INV-1"]
    assert plan.skipped == [
        "1 row(s) that are not invoices (credit notes, payments)",
        "INV-2: draft invoice, not yet sent",
    ]


def test_dry_run_writes_nothing(ledger: Ledger, tmp_path: Path) -> None:
    before = dump(ledger)
    plan = import_invoices(
        ledger, write(tmp_path, LAYOUT_SAMPLES["Xero"]), dry_run=True
    )
    assert plan.count("created") == 1
    assert dump(ledger) == before


def test_column_map_reads_custom_headers(ledger: Ledger, tmp_path: Path) -> None:
    text = "Ref,Customer Co,Total EUR,Billed,Pay by,Notes\nA-7,Acme,EUR 250,2026-03-01,2026-03-15,x\n"
    column_map = parse_column_map(
        [
            "Ref=number",
            "Customer Co=client",
            "Total EUR=amount",
            "Billed=issue_date",
            "Pay by=due_date",
            "Notes=ignore",
        ]
    )
    plan = import_invoices(ledger, write(tmp_path, text), column_map=column_map)
    assert plan.layout == "custom mapping"
    invoice = ledger.get_invoice("A-7")
    assert invoice is not None
    assert invoice.due_date == date(2026, 3, 15)


def test_column_map_rejects_unknown_field() -> None:
    with pytest.raises(
        UsageError, match="unknown field 'total'; valid fields: number, client"
    ):
        parse_column_map(["Amount=total"])


def test_unrecognised_header_explains_map(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(
        InputError,
        match="invoices.csv: unrecognised header row: foo, bar.*--map COLUMN=FIELD",
    ):
        import_invoices(ledger, write(tmp_path, "foo,bar\n1,2\n"))


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        ("number,client,email,amount,currency,due_date", "issue_date"),
        ("number,client,email,currency,issue_date,due_date", "amount"),
    ],
)
def test_plain_header_names_missing_column(
    ledger: Ledger, tmp_path: Path, header: str, missing: str
) -> None:
    path = write(tmp_path, header + "\n" + ",".join("x" * len(header.split(","))))
    with pytest.raises(InputError) as raised:
        import_invoices(ledger, path)
    message = str(raised.value)
    assert message.startswith("invoices.csv: ")
    assert "plain template" in message
    assert f"missing the required column(s) {missing}" in message
    assert f"--map COLUMN={missing}" in message


def test_truncated_row_is_an_error(ledger: Ledger, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "number,client,email,amount,currency,issue_date,due_date\n"
        "INV-1,Acme GmbH,ap@acme.example,1200.00,EUR,2026-03-01,2026-03-31\n"
        "INV-2,Acme GmbH,ap@acme.example,800.00,EUR,2026-03-02\n",
    )
    before = dump(ledger)
    with pytest.raises(
        InputError, match="invoices.csv, line 3: expected 7 fields .*found 6"
    ):
        import_invoices(ledger, path)
    assert dump(ledger) == before


def test_unquoted_comma_in_amount_is_an_error(ledger: Ledger, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "number,client,amount,currency,issue_date\n"
        "INV-1,Acme GmbH,1,200.00,EUR,2026-03-01\n",
    )
    with pytest.raises(InputError, match="line 2: expected 5 fields .*found 6"):
        import_invoices(ledger, path)


def test_trailing_empty_fields_are_tolerated(ledger: Ledger, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "number,client,email,amount,currency,issue_date,due_date,\n"
        "INV-1,Acme GmbH,ap@acme.example,1200.00,EUR,2026-03-01,2026-03-31\n"
        "INV-2,Acme GmbH,ap@acme.example,800.00,EUR,2026-03-02,2026-04-01,,\n",
    )
    plan = import_invoices(ledger, path)
    assert plan.count("created") == 2
