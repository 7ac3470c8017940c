"""The ledger on a real SQLite file: migrations, clients, invoices, evidence, events."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlite_utils import Database

from assistant import migrations
from assistant.clock import SimulatedClock
from assistant.errors import InputError, LedgerError
from assistant.ledger import Client, Invoice, Ledger, SentEvidence

START = datetime(2026, 3, 2, 5, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


@pytest.fixture
def ledger(tmp_path: Path, clock: SimulatedClock) -> Ledger:
    opened = Ledger.open(tmp_path / "data" / "ledger.db", clock)
    yield opened
    opened.close()


def make_invoice(number: str = "INV-1", **changes: object) -> Invoice:
    values: dict[str, object] = {
        "number": number,
        "client": "Acme GmbH",
        "amount": Decimal("1200.00"),
        "currency": "EUR",
        "issue_date": date(2026, 3, 1),
        "due_date": date(2026, 3, 31),
    }
    values.update(changes)
    return Invoice(**values)  # type: ignore[arg-type]


# --- migrations ---------------------------------------------------------------


def test_open_creates_parent_and_records_migrations(
    tmp_path: Path, clock: SimulatedClock
) -> None:
    path = tmp_path / "nested" / "dir" / "ledger.db"
    Ledger.open(path, clock).close()
    rows = list(Database(path).query("SELECT * FROM schema_migrations"))
    assert path.exists()
    assert [r["version"] for r in rows] == list(
        range(1, len(migrations.MIGRATIONS) + 1)
    )
    assert rows[0]["name"] == "create_ledger_tables"
    assert rows[0]["applied_at"] == START.isoformat()


def test_migrations_run_once(tmp_path: Path, clock: SimulatedClock) -> None:
    path = tmp_path / "ledger.db"
    Ledger.open(path, clock).close()
    clock.advance(timedelta(days=1))
    ledger = Ledger.open(path, clock)
    assert migrations.migrate(ledger.db, clock) == []
    rows = list(ledger.db.query("SELECT applied_at FROM schema_migrations"))
    assert [r["applied_at"] for r in rows] == [START.isoformat()] * len(migrations.MIGRATIONS)
    ledger.close()


def test_appended_migration_applies_once(tmp_path: Path, clock: SimulatedClock) -> None:
    calls = []

    def add_notes_column(db: Database) -> None:
        calls.append(1)
        db.execute("ALTER TABLE invoices ADD COLUMN notes TEXT")

    db = Database(tmp_path / "ledger.db")
    extended = [*migrations.MIGRATIONS, add_notes_column]
    applied = migrations.migrate(db, clock, extended)
    shipped = [m.__name__ for m in migrations.MIGRATIONS]
    assert [m.name for m in applied] == [*shipped, "add_notes_column"]
    assert migrations.migrate(db, clock, extended) == []
    assert calls == [1]
    assert "notes" in db["invoices"].columns_dict


def test_failing_migration_rolls_back(tmp_path: Path, clock: SimulatedClock) -> None:
    def broken(db: Database) -> None:
        db.execute("CREATE TABLE half_done (id INTEGER)")
        raise sqlite3.OperationalError("disk on fire")

    db = Database(tmp_path / "ledger.db")
    with pytest.raises(sqlite3.OperationalError):
        migrations.migrate(db, clock, [*migrations.MIGRATIONS, broken])
    assert "half_done" not in db.table_names()
    shipped = list(range(1, len(migrations.MIGRATIONS) + 1))
    assert [m.version for m in migrations.applied_migrations(db)] == shipped


def test_newer_database_asks_for_upgrade(tmp_path: Path, clock: SimulatedClock) -> None:
    path = tmp_path / "ledger.db"
    Ledger.open(path, clock).close()
    db = Database(path)
    db.execute("INSERT INTO schema_migrations VALUES (99, 'from_the_future', 'x')")
    db.conn.commit()
    with pytest.raises(LedgerError, match="schema version 99.*upgrade"):
        Ledger.open(path, clock)


def test_open_copy_never_writes_file(tmp_path: Path, clock: SimulatedClock) -> None:
    path = tmp_path / "ledger.db"
    with_invoice = Ledger.open(path, clock)
    with_invoice.add_invoice(make_invoice())
    with_invoice.close()
    before = path.read_bytes()
    copy = Ledger.open_copy(path, clock)
    copy.add_invoice(make_invoice("INV-2"))
    assert copy.get_invoice("INV-1") is not None
    copy.close()
    assert path.read_bytes() == before
    assert Ledger.open_copy(tmp_path / "missing.db", clock).list_invoices() == []
    assert not (tmp_path / "missing.db").exists()


# --- clients --------------------------------------------------------------------


def test_set_client_validates_fields(ledger: Ledger) -> None:
    change = ledger.set_client(
        "Acme GmbH",
        timezone="Europe/Berlin",
        country="de",
        language="de-de",
        payment_terms_days=14,
        contact_first_name="Jana",
    )
    client = ledger.get_client("Acme GmbH")
    assert change.action == "created"
    assert client is not None
    assert client.country == "DE"
    assert client.language == "de-DE"
    assert client.payment_terms_days == 14


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Mars/Olympus", "'Mars/Olympus'.*Europe/Berlin"),
        ("country", "XX", "'XX'.*ISO 3166"),
        ("language", "zz-nope", "'zz-nope'.*BCP 47"),
        ("payment_terms_days", -3, "payment terms"),
    ],
)
def test_set_client_rejects_bad_values(
    ledger: Ledger, field: str, value: object, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        ledger.set_client("Acme GmbH", **{field: value})
    assert ledger.get_client("Acme GmbH") is None


def test_set_client_keeps_fields_not_given(ledger: Ledger) -> None:
    ledger.set_client("Acme GmbH", timezone="Europe/Berlin", payment_terms_days=14)
    change = ledger.set_client("Acme GmbH", language="en")
    client = ledger.get_client("Acme GmbH")
    assert change.fields == {"language": (None, "en")}
    assert client is not None
    assert client.timezone == "Europe/Berlin"
    assert client.payment_terms_days == 14


def test_emails_lower_cased_and_found(ledger: Ledger) -> None:
    ledger.add_email("Acme GmbH", "AP@Acme.Example")
    ledger.add_email("Acme GmbH", "jana@acme.example")
    client = ledger.find_client_by_email("ap@ACME.example")
    assert client is not None
    assert client.name == "Acme GmbH"
    assert client.emails == ("ap@acme.example", "jana@acme.example")
    assert ledger.add_email("Acme GmbH", "ap@acme.example").action == "unchanged"


def test_email_of_other_client_rejected(ledger: Ledger) -> None:
    ledger.add_email("Acme GmbH", "ap@acme.example")
    with pytest.raises(InputError, match="already belongs to client 'Acme GmbH'"):
        ledger.add_email("Other Ltd", "ap@acme.example")


def test_invalid_email_rejected(ledger: Ledger) -> None:
    with pytest.raises(InputError, match="'not an email'"):
        ledger.add_email("Acme GmbH", "not an email")


# --- invoices -------------------------------------------------------------------


def test_invoice_round_trip_keeps_decimals(ledger: Ledger) -> None:
    ledger.add_invoice(make_invoice(amount=Decimal("1200"), currency="eur"))
    invoice = ledger.get_invoice("INV-1")
    stored = ledger.db.execute("SELECT amount, typeof(amount) FROM invoices").fetchone()
    assert invoice is not None
    assert invoice.amount == Decimal("1200.00")
    assert invoice.currency == "EUR"
    assert invoice.balance == Decimal("1200.00")
    assert stored == ("1200.00", "text")


def test_add_invoice_rejects_duplicate_number(ledger: Ledger) -> None:
    ledger.add_invoice(make_invoice())
    with pytest.raises(InputError, match="INV-1 already exists"):
        ledger.add_invoice(make_invoice())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"currency": "EURO"}, "unknown currency"),
        ({"amount": Decimal("0")}, "greater than zero"),
        ({"due_date": date(2026, 2, 1)}, "before the issue date"),
        ({"amount": Decimal("1.5"), "currency": "JPY"}, "more decimals than JPY"),
        ({"timezone": "Nowhere/City"}, "unknown time zone"),
    ],
)
def test_add_invoice_rejects_bad_values(
    ledger: Ledger, changes: dict, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        ledger.add_invoice(make_invoice(**changes))
    assert ledger.list_invoices() == []


def test_upsert_invoice_logs_changed_fields(
    ledger: Ledger, clock: SimulatedClock
) -> None:
    assert ledger.upsert_invoice(make_invoice()).action == "created"
    clock.advance(timedelta(hours=1))
    change = ledger.upsert_invoice(make_invoice(amount=Decimal("1300")))
    assert change.action == "updated"
    assert change.fields == {"amount": ("1200.00", "1300.00")}
    assert (
        ledger.upsert_invoice(make_invoice(amount=Decimal("1300"))).action
        == "unchanged"
    )
    last = ledger.events("invoice", "INV-1")[-1]
    assert (last.field, last.old_value, last.new_value) == (
        "amount",
        "1200.00",
        "1300.00",
    )
    assert last.at == (START + timedelta(hours=1)).isoformat()


def test_list_invoices_filters(ledger: Ledger) -> None:
    ledger.add_invoice(make_invoice("INV-1"))
    ledger.add_invoice(make_invoice("INV-2", due_date=date(2026, 3, 10)))
    ledger.add_invoice(make_invoice("INV-3", status="void"))
    ledger.record_payment("INV-1", Decimal("1200"), date(2026, 3, 20))
    assert [i.number for i in ledger.list_invoices()] == ["INV-2", "INV-1", "INV-3"]
    assert [i.number for i in ledger.list_invoices(unpaid_only=True)] == ["INV-2"]
    assert [i.number for i in ledger.list_invoices(status="paid")] == ["INV-1"]
    with pytest.raises(InputError, match="invalid status"):
        ledger.list_invoices(status="late")


def test_partial_payment_lowers_balance(ledger: Ledger) -> None:
    ledger.add_invoice(make_invoice())
    invoice = ledger.record_payment("INV-1", Decimal("200"), date(2026, 3, 5))
    assert invoice.balance == Decimal("1000.00")
    assert invoice.status == "open"
    paid = ledger.record_payment("INV-1", Decimal("1000.00"), date(2026, 3, 9))
    assert paid.balance == Decimal("0.00")
    assert paid.status == "paid"
    assert paid.paid_on == date(2026, 3, 9)
    payments = [
        e.new_value for e in ledger.events("invoice", "INV-1") if e.field == "payment"
    ]
    assert payments == ["200.00 on 2026-03-05", "1000.00 on 2026-03-09"]


def test_overpayment_rejected(ledger: Ledger) -> None:
    ledger.add_invoice(make_invoice())
    with pytest.raises(InputError, match="exceeds the balance 1200.00 EUR"):
        ledger.record_payment("INV-1", Decimal("1500"), date(2026, 3, 5))
    with pytest.raises(InputError, match="INV-404 not found"):
        ledger.record_payment("INV-404", Decimal("1"), date(2026, 3, 5))


def test_failed_write_leaves_no_events(ledger: Ledger) -> None:
    ledger.add_invoice(make_invoice())
    before = ledger.events()
    with pytest.raises(InputError):
        with ledger.transaction():
            ledger.set_invoice("INV-1", amount=Decimal("999"))
            ledger.add_invoice(make_invoice())  # duplicate: rolls back the whole block
    invoice = ledger.get_invoice("INV-1")
    assert invoice is not None
    assert invoice.amount == Decimal("1200.00")
    assert ledger.events() == before


# --- sent evidence ------------------------------------------------------------


def test_evidence_round_trip_and_events(ledger: Ledger, clock: SimulatedClock) -> None:
    ledger.add_invoice(make_invoice())
    evidence = SentEvidence(
        invoice_number="INV-1",
        status="sent",
        checked_at=clock.now(),
        message_id="18c2",
        thread_id="18c1",
        sent_at=START - timedelta(days=1),
        recipients=("ap@acme.example",),
        attachment_name="INV-1.pdf",
        detail="Sent to ap@acme.example with INV-1.pdf attached.",
    )
    assert ledger.set_evidence(evidence).action == "created"
    assert ledger.get_evidence("INV-1") == evidence
    clock.advance(timedelta(days=1))
    later = SentEvidence(**{**evidence.__dict__, "checked_at": clock.now()})
    assert ledger.set_evidence(later).action == "unchanged"
    bounced = SentEvidence(**{**later.__dict__, "status": "bounced"})
    assert ledger.set_evidence(bounced).fields == {"status": ("sent", "bounced")}
    assert ledger.events("evidence")[-1].source == "check"


def test_evidence_status_validated(ledger: Ledger, clock: SimulatedClock) -> None:
    ledger.add_invoice(make_invoice())
    with pytest.raises(InputError, match="invalid evidence status 'maybe'"):
        ledger.set_evidence(SentEvidence("INV-1", "maybe", clock.now()))


def test_client_lookup_ignores_case_and_spacing(ledger: Ledger) -> None:
    ledger.set_client("New Co", timezone="Europe/Berlin")
    change = ledger.set_client("  new   co ", payment_terms_days=14)
    ledger.add_email("NEW CO", "ap@newco.example")
    client = ledger.get_client("new co")
    assert change.key == "New Co"
    assert [c.name for c in ledger.list_clients()] == ["New Co"]
    assert client is not None
    assert client.payment_terms_days == 14
    assert client.emails == ("ap@newco.example",)


def test_invoice_joins_client_ignoring_case(ledger: Ledger) -> None:
    ledger.set_client("Acme GmbH", timezone="Europe/Berlin")
    ledger.add_invoice(
        Invoice("INV-1", "acme gmbh", Decimal("10"), "EUR", date(2026, 3, 1),
                date(2026, 3, 31))
    )
    invoice = ledger.get_invoice("INV-1")
    assert [c.name for c in ledger.list_clients()] == ["Acme GmbH"]
    assert invoice is not None
    assert invoice.client == "Acme GmbH"


def test_create_client_rejects_case_twin(ledger: Ledger) -> None:
    ledger.set_client("New Co", timezone="Europe/Berlin")
    with pytest.raises(InputError, match="existing client 'New Co'"):
        ledger._create_client(Client(name="NEW CO"), "cli")
