"""The invoice ledger: clients, invoices, sent evidence and the audit log, in SQLite.

``Ledger`` wraps a sqlite-utils ``Database`` whose schema comes only from
``assistant.migrations``. Every mutation writes its audit events in the same
transaction as the change, stamped by the injected clock, so the log never
disagrees with the data. Nested calls share the caller's transaction through
savepoints, which lets an import wrap hundreds of changes in one transaction.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import zoneinfo
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import holidays
from babel.core import Locale, UnknownLocaleError
from sqlite_utils import Database

from assistant.clock import Clock, parse_instant
from assistant.errors import InputError, LedgerError
from assistant.attention import AttentionList
from assistant.reminders import ReminderBook
from assistant.migrations import EVIDENCE_STATUSES, INVOICE_STATUSES, migrate
from assistant.money import parse_decimal, to_currency_precision, validate_currency

logger = logging.getLogger(__name__)

DEFAULT_PAYMENT_TERMS_DAYS = 30


@dataclass(frozen=True)
class Client:
    """A client and the settings that shape its reminders."""

    name: str
    contact_first_name: str | None = None
    timezone: str | None = None
    country: str | None = None
    language: str | None = None
    payment_terms_days: int | None = None
    paused_until: date | None = None
    stages_off: tuple[str, ...] = ()
    auto_approve: bool = False
    emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invoice:
    """An invoice as the ledger stores it; money is always Decimal."""

    number: str
    client: str
    amount: Decimal
    currency: str
    issue_date: date
    due_date: date
    amount_paid: Decimal = Decimal("0")
    status: str = "open"
    paid_on: date | None = None
    paused_until: date | None = None
    stages_off: tuple[str, ...] = ()
    language: str | None = None
    timezone: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def balance(self) -> Decimal:
        return self.amount - self.amount_paid


@dataclass(frozen=True)
class SentEvidence:
    """What the Sent-folder check found for one invoice."""

    invoice_number: str
    status: str
    checked_at: datetime
    message_id: str | None = None
    rfc822_message_id: str | None = None
    thread_id: str | None = None
    sent_at: datetime | None = None
    recipients: tuple[str, ...] = ()
    attachment_name: str | None = None
    attachment_id: str | None = None
    detail: str = ""
    other_message_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Event:
    """One audit-log entry: a field change or an action on an entity."""

    entity: str
    key: str
    field: str
    old_value: str | None
    new_value: str | None
    at: str
    source: str


@dataclass(frozen=True)
class Change:
    """The outcome of a write: what was created or updated, field by field."""

    key: str
    action: Literal["created", "updated", "unchanged"]
    fields: Mapping[str, tuple[str | None, str | None]]


CLIENT_FIELDS = tuple(
    f.name for f in fields(Client) if f.name not in ("name", "emails")
)
INVOICE_FIELDS = tuple(
    f.name
    for f in fields(Invoice)
    if f.name not in ("number", "created_at", "updated_at")
)
# checked_at moves on every check; logging it would bury the real changes.
EVIDENCE_FIELDS = tuple(
    f.name
    for f in fields(SentEvidence)
    if f.name not in ("invoice_number", "checked_at")
)


# --- validation -----------------------------------------------------------


def validate_timezone(name: str) -> str:
    zone = name.strip()
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin "
            "or America/New_York"
        ) from exc
    return zone


def validate_country(code: str) -> str:
    normalized = code.strip().upper()
    if normalized not in holidays.list_supported_countries():
        raise InputError(
            f"unknown or unsupported country {code!r}; use an ISO 3166-1 alpha-2 "
            "code such as DE, US or JP"
        )
    return normalized


def validate_language(tag: str) -> str:
    """Return a BCP 47 tag such as ``en`` or ``pt-BR`` if Babel has its locale."""
    try:
        locale = Locale.parse(tag.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise InputError(
            f"unknown language {tag!r}; use a BCP 47 tag such as en, de or ja"
        ) from exc
    return "-".join(
        part for part in (locale.language, locale.script, locale.territory) if part
    )


def validate_email(address: str) -> str:
    normalized = address.strip().lower()
    local, _, domain = normalized.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in normalized):
        raise InputError(
            f"invalid email address {address!r}; write it as name@example.com"
        )
    return normalized


def validate_invoice(invoice: Invoice) -> Invoice:
    """Return ``invoice`` with normalized currency and amounts, or raise InputError."""
    number = invoice.number.strip()
    if not number:
        raise InputError("missing invoice number")
    currency = validate_currency(invoice.currency)
    amount = to_currency_precision(invoice.amount, currency)
    if amount <= 0:
        raise InputError(
            f"invoice {number}: amount must be greater than zero, not {amount}"
        )
    paid = to_currency_precision(invoice.amount_paid, currency)
    if paid < 0:
        raise InputError(f"invoice {number}: amount paid cannot be negative ({paid})")
    if invoice.due_date < invoice.issue_date:
        raise InputError(
            f"invoice {number}: due date {invoice.due_date} is before the issue "
            f"date {invoice.issue_date}"
        )
    if invoice.status not in INVOICE_STATUSES:
        raise InputError(
            f"invoice {number}: invalid status {invoice.status!r}; use one of "
            + ", ".join(INVOICE_STATUSES)
        )
    return replace(
        invoice,
        number=number,
        currency=currency,
        amount=amount,
        amount_paid=paid,
        language=validate_language(invoice.language) if invoice.language else None,
        timezone=validate_timezone(invoice.timezone) if invoice.timezone else None,
    )


def _validate_client_value(name: str, value: Any) -> Any:
    if value is None or name in ("paused_until", "stages_off", "auto_approve"):
        return tuple(value) if name == "stages_off" else value
    if name == "timezone":
        return validate_timezone(value)
    if name == "country":
        return validate_country(value)
    if name == "language":
        return validate_language(value)
    if name == "payment_terms_days" and (not isinstance(value, int) or value < 0):
        raise InputError(
            f"invalid payment terms {value!r}; give a whole number of days"
        )
    if name == "contact_first_name":
        return value.strip() or None
    return value


# --- conversion between records, columns and event text -------------------


def to_text(value: Any) -> str | None:
    """Render a field value as event text: ISO dates, plain decimals, JSON lists."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return json.dumps(list(value))
    return str(value)


def _column(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return to_text(value)


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _instant(text: str | None) -> datetime | None:
    return parse_instant(text) if text else None


def _client_from_row(row: Mapping[str, Any], emails: tuple[str, ...]) -> Client:
    return Client(
        name=row["name"],
        contact_first_name=row["contact_first_name"],
        timezone=row["timezone"],
        country=row["country"],
        language=row["language"],
        payment_terms_days=row["payment_terms_days"],
        paused_until=_date(row["paused_until"]),
        stages_off=tuple(json.loads(row["stages_off"])),
        auto_approve=bool(row["auto_approve"]),
        emails=emails,
    )


def _invoice_from_row(row: Mapping[str, Any]) -> Invoice:
    return Invoice(
        number=row["number"],
        client=row["client_name"],
        amount=parse_decimal(row["amount"]),
        currency=row["currency"],
        issue_date=date.fromisoformat(row["issue_date"]),
        due_date=date.fromisoformat(row["due_date"]),
        amount_paid=parse_decimal(row["amount_paid"]),
        status=row["status"],
        paid_on=_date(row["paid_on"]),
        paused_until=_date(row["paused_until"]),
        stages_off=tuple(json.loads(row["stages_off"])),
        language=row["language"],
        timezone=row["timezone"],
        created_at=_instant(row["created_at"]),
        updated_at=_instant(row["updated_at"]),
    )


def _evidence_from_row(row: Mapping[str, Any]) -> SentEvidence:
    return SentEvidence(
        invoice_number=row["invoice_number"],
        status=row["status"],
        checked_at=parse_instant(row["checked_at"]),
        message_id=row["message_id"],
        rfc822_message_id=row["rfc822_message_id"],
        thread_id=row["thread_id"],
        sent_at=_instant(row["sent_at"]),
        recipients=tuple(json.loads(row["recipients"])),
        attachment_name=row["attachment_name"],
        attachment_id=row["attachment_id"],
        detail=row["detail"],
        other_message_ids=tuple(json.loads(row["other_message_ids"])),
    )


def diff_fields(
    current: Any, wanted: Mapping[str, Any]
) -> dict[str, tuple[str | None, str | None]]:
    """Return the fields of ``wanted`` whose values differ from ``current``'s.

    Values compare as Python values, so ``Decimal("1200")`` equals ``1200.00``.
    """
    changed = {}
    for name, value in wanted.items():
        old = getattr(current, name)
        if old != value:
            changed[name] = (to_text(old), to_text(value))
    return changed


_INVOICE_SELECT = """
    SELECT invoices.*, clients.name AS client_name
    FROM invoices JOIN clients ON clients.id = invoices.client_id
"""


class Ledger:
    """The ledger database; every write is validated and logged as events."""

    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    @classmethod
    def open(cls, path: Path, clock: Clock) -> Ledger:
        """Open or create the ledger at ``path`` and bring its schema up to date."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = Database(path)
            db.execute("PRAGMA foreign_keys = ON")
            migrate(db, clock)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise LedgerError(f"cannot open the ledger at {path}: {exc}") from exc
        return cls(db, clock)

    @classmethod
    def open_copy(cls, path: Path, clock: Clock) -> Ledger:
        """Open an in-memory copy of the ledger at ``path``, for dry runs.

        Writes to the copy, migrations included, never reach the file; a missing
        file gives an empty ledger.
        """
        if not path.exists():
            return cls.in_memory(clock)
        db = Database(memory=True)
        try:
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                source.backup(db.conn)
            finally:
                source.close()
            db.execute("PRAGMA foreign_keys = ON")
            migrate(db, clock)
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot read the ledger at {path}: {exc}") from exc
        return cls(db, clock)

    @classmethod
    def in_memory(cls, clock: Clock) -> Ledger:
        db = Database(memory=True)
        db.execute("PRAGMA foreign_keys = ON")
        migrate(db, clock)
        return cls(db, clock)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[Ledger]:
        """Group several writes; all of them commit, or none."""
        with self.db.atomic():
            yield self

    def _now(self) -> str:
        return self.clock.now().isoformat()

    @property
    def reminders(self) -> ReminderBook:
        """The reminders drafted and sent for this ledger's invoices."""
        return ReminderBook(self.db, self._log, self.clock.now)

    @property
    def attention(self) -> AttentionList:
        """The items that need the user."""
        return AttentionList(self.db, self._log, self.clock.now)

    def _log(
        self, entity: str, key: str, changes: Mapping[str, Any], source: str
    ) -> None:
        at = self._now()
        self.db.table("events").insert_all(
            {
                "entity": entity,
                "key": key,
                "field": name,
                "old_value": old,
                "new_value": new,
                "at": at,
                "source": source,
            }
            for name, (old, new) in changes.items()
        )

    def events(self, entity: str | None = None, key: str | None = None) -> list[Event]:
        """Return the audit log, oldest first, optionally for one entity or key."""
        where, params = [], []
        for column, value in (("entity", entity), ("key", key)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT entity, key, field, old_value, new_value, at, source FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [Event(*row) for row in self.db.execute(sql + " ORDER BY id", params)]

    # --- clients ----------------------------------------------------------

    def _client_id(self, name: str) -> int | None:
        stored = self.client_name(name)
        if stored is None:
            return None
        row = self.db.execute(
            "SELECT id FROM clients WHERE name = ?", [stored]
        ).fetchone()
        return row[0] if row else None

    def client_name(self, name: str) -> str | None:
        """Return the stored spelling of client ``name``, matched ignoring case.

        Surrounding and repeated whitespace is ignored too. Python's casefold
        is used because SQLite's NOCASE folds ASCII letters only.
        """
        wanted = " ".join(name.split()).casefold()
        exact = self.db.execute(
            "SELECT name FROM clients WHERE name = ?", [name.strip()]
        ).fetchone()
        if exact:
            return str(exact[0])
        for (stored,) in self.db.execute("SELECT name FROM clients"):
            if " ".join(stored.split()).casefold() == wanted:
                return str(stored)
        return None

    def get_client(self, name: str) -> Client | None:
        stored = self.client_name(name)
        if stored is None:
            return None
        rows = list(self.db.query("SELECT * FROM clients WHERE name = ?", [stored]))
        if not rows:
            return None
        emails = tuple(
            row[0]
            for row in self.db.execute(
                "SELECT address FROM client_emails WHERE client_id = ? ORDER BY id",
                [rows[0]["id"]],
            )
        )
        return _client_from_row(rows[0], emails)

    def list_clients(self) -> list[Client]:
        names = [
            row[0] for row in self.db.execute("SELECT name FROM clients ORDER BY name")
        ]
        return [client for name in names if (client := self.get_client(name))]

    def set_client(self, name: str, *, source: str = "cli", **values: Any) -> Change:
        """Create the client or change only the fields given; others stay as they are."""
        name = name.strip()
        if not name:
            raise InputError("missing client name")
        unknown = set(values) - set(CLIENT_FIELDS)
        if unknown:
            raise InputError(
                f"unknown client field(s) {', '.join(sorted(unknown))}; valid fields: "
                + ", ".join(CLIENT_FIELDS)
            )
        wanted = {
            key: _validate_client_value(key, value) for key, value in values.items()
        }
        with self.db.atomic():
            current = self.get_client(name)
            if current is None:
                return self._create_client(Client(name=name, **wanted), source)
            name = current.name
            changed = diff_fields(current, wanted)
            if not changed:
                return Change(name, "unchanged", {})
            columns = {key: _column(wanted[key]) for key in changed}
            columns["updated_at"] = self._now()
            self.db.table("clients").update(self._ensure_client(name, source), columns)
            self._log("client", name, changed, source)
        return Change(name, "updated", changed)

    def upsert_client(self, client: Client, *, source: str = "cli") -> Change:
        """Set every field of ``client``, then add its emails (none are removed)."""
        values = {name: getattr(client, name) for name in CLIENT_FIELDS}
        with self.db.atomic():
            change = self.set_client(client.name, source=source, **values)
            for address in client.emails:
                self.add_email(client.name, address, source=source)
        return change

    def _create_client(self, client: Client, source: str) -> Change:
        existing = self.client_name(client.name)
        if existing is not None:
            raise InputError(
                f"client {client.name!r} differs from existing client {existing!r} "
                f"only in case or spacing; use the name {existing!r}"
            )
        now = self._now()
        row = {name: _column(getattr(client, name)) for name in CLIENT_FIELDS}
        self.db.table("clients").insert(
            {"name": client.name, **row, "created_at": now, "updated_at": now}
        )
        created: dict[str, tuple[str | None, str | None]] = {
            name: (None, to_text(getattr(client, name)))
            for name in CLIENT_FIELDS
            if getattr(client, name) not in (None, (), False)
        }
        self._log(
            "client", client.name, {"created": (None, client.name), **created}, source
        )
        return Change(client.name, "created", created)

    def add_email(self, name: str, address: str, *, source: str = "cli") -> Change:
        """Add an address to the client, creating the client if needed."""
        address = validate_email(address)
        with self.db.atomic():
            name = self.client_name(name) or name.strip()
            owner = self.find_client_by_email(address)
            if owner is not None and owner.name != name:
                raise InputError(
                    f"email {address} already belongs to client {owner.name!r}; "
                    "one address can belong to one client only"
                )
            if owner is not None:
                return Change(name, "unchanged", {})
            if self._client_id(name) is None:
                self.set_client(name, source=source)
            self.db.table("client_emails").insert(
                {
                    "client_id": self._client_id(name),
                    "address": address,
                    "created_at": self._now(),
                }
            )
            self._log("client", name, {"email_added": (None, address)}, source)
        return Change(name, "updated", {"email_added": (None, address)})

    def find_client_by_email(self, address: str) -> Client | None:
        row = self.db.execute(
            "SELECT clients.name FROM client_emails JOIN clients "
            "ON clients.id = client_emails.client_id WHERE address = ?",
            [address.strip().lower()],
        ).fetchone()
        return self.get_client(row[0]) if row else None

    # --- invoices ---------------------------------------------------------

    def get_invoice(self, number: str) -> Invoice | None:
        rows = list(
            self.db.query(_INVOICE_SELECT + " WHERE number = ?", [number.strip()])
        )
        return _invoice_from_row(rows[0]) if rows else None

    def list_invoices(
        self, status: str | None = None, unpaid_only: bool = False
    ) -> list[Invoice]:
        """Return invoices ordered by due date; ``unpaid_only`` keeps open ones with a balance."""
        if status is not None and status not in INVOICE_STATUSES:
            raise InputError(
                f"invalid status {status!r}; use one of " + ", ".join(INVOICE_STATUSES)
            )
        where, params = [], []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if unpaid_only:
            where.append("status = 'open'")
        sql = _INVOICE_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        invoices = [
            _invoice_from_row(r)
            for r in self.db.query(sql + " ORDER BY due_date, number", params)
        ]
        return [i for i in invoices if not unpaid_only or i.balance > 0]

    def add_invoice(self, invoice: Invoice, *, source: str = "cli") -> Change:
        """Store a new invoice; raise InputError if its number is already taken."""
        invoice = validate_invoice(invoice)
        with self.db.atomic():
            if self.get_invoice(invoice.number) is not None:
                raise InputError(
                    f"invoice {invoice.number} already exists; use a new number, "
                    "or import the file again to update it"
                )
            return self._create_invoice(invoice, source)

    def upsert_invoice(self, invoice: Invoice, *, source: str = "cli") -> Change:
        """Create the invoice, or update every field that differs; log each change."""
        invoice = validate_invoice(invoice)
        values = {name: getattr(invoice, name) for name in INVOICE_FIELDS}
        with self.db.atomic():
            if self.get_invoice(invoice.number) is None:
                return self._create_invoice(invoice, source)
            return self.set_invoice(invoice.number, source=source, **values)

    def set_invoice(self, number: str, *, source: str = "cli", **values: Any) -> Change:
        """Change only the given fields of an existing invoice, validated as a whole."""
        unknown = set(values) - set(INVOICE_FIELDS)
        if unknown:
            raise InputError(
                f"unknown invoice field(s) {', '.join(sorted(unknown))}; valid fields: "
                + ", ".join(INVOICE_FIELDS)
            )
        with self.db.atomic():
            current = self.get_invoice(number)
            if current is None:
                raise InputError(f"invoice {number} not found; add or import it first")
            if "stages_off" in values:
                values["stages_off"] = tuple(values["stages_off"])
            if "client" in values:
                values["client"] = self.client_name(values["client"]) or values["client"]
            wanted = validate_invoice(replace(current, **values))
            changed = diff_fields(
                current, {key: getattr(wanted, key) for key in values}
            )
            if not changed:
                return Change(number, "unchanged", {})
            columns = {
                key: _column(getattr(wanted, key)) for key in changed if key != "client"
            }
            if "client" in changed:
                columns["client_id"] = self._ensure_client(wanted.client, source)
            columns["updated_at"] = self._now()
            self.db.execute(
                "UPDATE invoices SET "
                + ", ".join(f"{column} = ?" for column in columns)
                + " WHERE number = ?",
                [*columns.values(), current.number],
            )
            self._log("invoice", current.number, changed, source)
        return Change(current.number, "updated", changed)

    def _ensure_client(self, name: str, source: str) -> int:
        if self._client_id(name) is None:
            self.set_client(name, source=source)
        client_id = self._client_id(name)
        assert client_id is not None
        return client_id

    def _create_invoice(self, invoice: Invoice, source: str) -> Change:
        now = self._now()
        row = {
            name: _column(getattr(invoice, name))
            for name in INVOICE_FIELDS
            if name != "client"
        }
        row["client_id"] = self._ensure_client(invoice.client, source)
        self.db.table("invoices").insert(
            {"number": invoice.number, **row, "created_at": now, "updated_at": now}
        )
        created: dict[str, tuple[str | None, str | None]] = {
            name: (None, to_text(getattr(invoice, name)))
            for name in INVOICE_FIELDS
            if getattr(invoice, name) not in (None, ())
        }
        self._log(
            "invoice",
            invoice.number,
            {"created": (None, invoice.number), **created},
            source,
        )
        return Change(invoice.number, "created", created)

    def record_payment(
        self, number: str, amount: Decimal, paid_on: date, *, source: str = "cli"
    ) -> Invoice:
        """Add a payment; the invoice becomes paid when its balance reaches zero."""
        with self.db.atomic():
            invoice = self.get_invoice(number)
            if invoice is None:
                raise InputError(f"invoice {number} not found; add or import it first")
            if invoice.status == "void":
                raise InputError(f"invoice {number} is void and cannot take a payment")
            amount = to_currency_precision(amount, invoice.currency)
            if amount <= 0:
                raise InputError(f"payment must be greater than zero, not {amount}")
            if amount > invoice.balance:
                raise InputError(
                    f"payment {amount} {invoice.currency} exceeds the balance "
                    f"{invoice.balance} {invoice.currency} of invoice {number}"
                )
            paid = invoice.amount_paid + amount
            status = "paid" if paid >= invoice.amount else invoice.status
            self.set_invoice(
                number, source=source, amount_paid=paid, paid_on=paid_on, status=status
            )
            self._log(
                "invoice",
                invoice.number,
                {"payment": (None, f"{amount} on {paid_on}")},
                source,
            )
        updated = self.get_invoice(number)
        assert updated is not None
        return updated

    # --- sent evidence ----------------------------------------------------

    def get_evidence(self, number: str) -> SentEvidence | None:
        rows = list(
            self.db.query(
                "SELECT * FROM sent_evidence WHERE invoice_number = ?", [number]
            )
        )
        return _evidence_from_row(rows[0]) if rows else None

    def set_evidence(self, evidence: SentEvidence, *, source: str = "check") -> Change:
        """Store the latest Sent-folder evidence for an invoice, logging what changed."""
        if evidence.status not in EVIDENCE_STATUSES:
            raise InputError(
                f"invalid evidence status {evidence.status!r}; use one of "
                + ", ".join(EVIDENCE_STATUSES)
            )
        number = evidence.invoice_number
        row = {name: to_text(getattr(evidence, name)) for name in EVIDENCE_FIELDS}
        row["checked_at"] = to_text(evidence.checked_at)
        with self.db.atomic():
            if self.get_invoice(number) is None:
                raise InputError(f"invoice {number} not found; add or import it first")
            current = self.get_evidence(number)
            changed: dict[str, tuple[str | None, str | None]]
            if current is None:
                changed = {
                    name: (None, to_text(getattr(evidence, name)))
                    for name in EVIDENCE_FIELDS
                    if getattr(evidence, name) not in (None, (), "")
                }
            else:
                changed = diff_fields(
                    current, {name: getattr(evidence, name) for name in EVIDENCE_FIELDS}
                )
            self.db.table("sent_evidence").upsert(
                {"invoice_number": number, **row}, pk="invoice_number"
            )
            if changed:
                self._log("evidence", number, changed, source)
        action: Literal["created", "updated", "unchanged"] = "unchanged"
        if current is None:
            action = "created"
        elif changed:
            action = "updated"
        return Change(number, action, changed)
