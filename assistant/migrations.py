"""The ledger schema, built and changed only by ordered, recorded migrations.

Each migration is a function of the database, and its version is its position
in ``MIGRATIONS`` counted from 1. To change the schema, append a function; never
edit, reorder or remove one that has shipped, because databases in the field
have recorded it as applied. Each migration runs once, inside one transaction
together with its row in ``schema_migrations``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlite_utils import Database

from assistant.clock import Clock
from assistant.errors import LedgerError

logger = logging.getLogger(__name__)

Migration = Callable[[Database], None]

INVOICE_STATUSES = ("open", "paid", "void")
EVIDENCE_STATUSES = (
    "sent",
    "sent_to_other_address",
    "draft_only",
    "bounced",
    "not_found",
)


def _check(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"CHECK ({column} IN ({quoted}))"


def create_ledger_tables(db: Database) -> None:
    """Create clients, their email addresses, invoices, sent evidence and events."""
    db.execute(
        """
        CREATE TABLE clients (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            contact_first_name TEXT,
            timezone TEXT,                 -- IANA name such as Europe/Berlin
            country TEXT,                  -- ISO 3166-1 alpha-2
            language TEXT,                 -- BCP 47 tag such as en or ja
            payment_terms_days INTEGER CHECK (payment_terms_days >= 0),
            paused_until TEXT,             -- ISO date
            stages_off TEXT NOT NULL DEFAULT '[]',   -- JSON list of stage names
            auto_approve INTEGER NOT NULL DEFAULT 0 CHECK (auto_approve IN (0, 1)),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE client_emails (
            id INTEGER PRIMARY KEY,
            client_id INTEGER NOT NULL REFERENCES clients (id),
            address TEXT NOT NULL UNIQUE,  -- lower-cased
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX client_emails_client ON client_emails (client_id)")
    _create_invoices(db)
    _create_sent_evidence(db)
    db.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            entity TEXT NOT NULL,          -- client, invoice, evidence
            key TEXT NOT NULL,             -- client name or invoice number
            field TEXT NOT NULL,           -- changed field, or an action such as created
            old_value TEXT,
            new_value TEXT,
            at TEXT NOT NULL,              -- UTC ISO 8601
            source TEXT NOT NULL           -- import, cli, check, ...
        )
        """
    )
    db.execute("CREATE INDEX events_entity_key ON events (entity, key)")


def _create_invoices(db: Database) -> None:
    # Amounts are TEXT holding exact decimals; REAL would round cents.
    db.execute(
        f"""
        CREATE TABLE invoices (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            client_id INTEGER NOT NULL REFERENCES clients (id),
            amount TEXT NOT NULL,
            currency TEXT NOT NULL,        -- ISO 4217
            issue_date TEXT NOT NULL,      -- ISO date
            due_date TEXT NOT NULL,        -- ISO date
            amount_paid TEXT NOT NULL DEFAULT '0',
            paid_on TEXT,                  -- ISO date of the latest payment
            status TEXT NOT NULL DEFAULT 'open' {_check("status", INVOICE_STATUSES)},
            paused_until TEXT,
            stages_off TEXT NOT NULL DEFAULT '[]',
            language TEXT,
            timezone TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX invoices_client ON invoices (client_id)")
    db.execute("CREATE INDEX invoices_status ON invoices (status)")


def _create_sent_evidence(db: Database) -> None:
    db.execute(
        f"""
        CREATE TABLE sent_evidence (
            invoice_number TEXT PRIMARY KEY REFERENCES invoices (number),
            status TEXT NOT NULL {_check("status", EVIDENCE_STATUSES)},
            message_id TEXT,
            rfc822_message_id TEXT,
            thread_id TEXT,
            sent_at TEXT,                  -- UTC ISO 8601
            recipients TEXT NOT NULL DEFAULT '[]',
            attachment_name TEXT,
            attachment_id TEXT,
            detail TEXT NOT NULL DEFAULT '',
            other_message_ids TEXT NOT NULL DEFAULT '[]',
            checked_at TEXT NOT NULL
        )
        """
    )


# The schema history, oldest first. Append new migrations at the end.
def create_mail_cache_tables(db: Database) -> None:
    """Create the local cache of Gmail messages read by the sent check.

    ``mail_cache`` keeps each message resource as fetched (``level`` is the
    format it was read in) with the text of attachments read so far;
    ``mail_sync_state`` keeps, per Gmail account, the history id of the last
    sync and what that sync searched for.
    """
    db.execute(
        """
        CREATE TABLE mail_cache (
            account TEXT NOT NULL,
            message_id TEXT NOT NULL,
            level TEXT,                    -- metadata, full or raw
            resource TEXT,                 -- the Gmail message resource, JSON
            label_ids TEXT,                -- JSON, kept current from history.list
            attachment_texts TEXT,         -- JSON: file name -> extracted text
            PRIMARY KEY (account, message_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE mail_sync_state (
            account TEXT PRIMARY KEY,
            history_id TEXT,
            fingerprint TEXT,              -- digest of the invoices searched for
            candidate_ids TEXT,            -- JSON: message ids found, by kind
            synced_at TEXT
        )
        """
    )


def create_reminder_tables(db: Database) -> None:
    """Create the reminders and the invoice stages each one covers."""
    from assistant.reminders import create_reminder_tables as create

    create(db)


def create_attention_table(db: Database) -> None:
    """Create the list of items that need the user."""
    from assistant.attention import create_attention_table as create

    create(db)


def create_stopping_tables(db: Database) -> None:
    """Create what stops chasing: holds, payments, the inbox cursor and digests.

    ``chase_holds`` keeps why an invoice must not be chased: a client's reply
    or a bounce (``until`` NULL, until the user resumes) or an automatic reply
    stating a return date (``until`` that date, inclusive). ``payments`` keeps
    each payment recorded, with the reference a bank export gives it.
    ``inbox_state`` keeps the history id the inbox was last read up to, and
    ``inbox_messages`` each Gmail message already classified. ``digests``
    keeps one row per day a digest was sent or attempted, in the user's zone.
    """
    db.execute(
        """
        CREATE TABLE chase_holds (
            invoice_number TEXT NOT NULL,
            reason TEXT NOT NULL CHECK (reason IN ('reply', 'bounce', 'auto_reply')),
            message_id TEXT NOT NULL,      -- Gmail message id
            detail TEXT NOT NULL DEFAULT '',
            until TEXT,                    -- ISO date, inclusive; NULL: until resumed
            created_at TEXT NOT NULL,
            cleared_at TEXT,
            PRIMARY KEY (invoice_number, reason, message_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE payments (
            id INTEGER PRIMARY KEY,
            invoice_number TEXT NOT NULL,
            amount TEXT NOT NULL,          -- exact decimal
            currency TEXT NOT NULL,
            paid_on TEXT NOT NULL,         -- ISO date
            reference TEXT,
            source TEXT NOT NULL,          -- cli, import
            recorded_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX payments_invoice ON payments (invoice_number)")
    db.execute(
        """
        CREATE TABLE inbox_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            account TEXT NOT NULL,
            history_id TEXT NOT NULL,
            scanned_at TEXT NOT NULL,      -- UTC ISO 8601 of the last read
            full_scan_at TEXT              -- UTC ISO 8601 of the last search by q
        )
        """
    )
    db.execute(
        """
        CREATE TABLE inbox_messages (
            message_id TEXT PRIMARY KEY,   -- Gmail message id
            thread_id TEXT,
            outcome TEXT NOT NULL,         -- reply, automatic, bounce, payment, ignored
            invoice_numbers TEXT NOT NULL DEFAULT '[]',
            processed_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE digests (
            day TEXT PRIMARY KEY,          -- ISO date in the user's time zone
            status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'unknown')),
            message_id TEXT,
            item_count INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        )
        """
    )


MIGRATIONS: list[Migration] = [
    create_ledger_tables,
    create_mail_cache_tables,
    create_reminder_tables,
    create_attention_table,
    create_stopping_tables,
]


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    applied_at: str


def _ensure_migrations_table(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )
        """
    )


def applied_migrations(db: Database) -> list[AppliedMigration]:
    if "schema_migrations" not in db.table_names():
        return []
    rows = db.execute(
        "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
    ).fetchall()
    return [AppliedMigration(*row) for row in rows]


def migrate(
    db: Database, clock: Clock, migrations: list[Migration] | None = None
) -> list[AppliedMigration]:
    """Apply every migration the database lacks, in order; return the new ones.

    Raises LedgerError when the database records a version this code does not
    have, because an older program could damage a newer schema.
    """
    ordered = MIGRATIONS if migrations is None else migrations
    with db.atomic():
        _ensure_migrations_table(db)
    current = max((m.version for m in applied_migrations(db)), default=0)
    if current > len(ordered):
        raise LedgerError(
            f"the ledger {db_label(db)} has schema version {current}, newer than "
            f"this program's {len(ordered)}; upgrade invoice-reminder-assistant "
            "before using this ledger"
        )

    applied = []
    for version, migration in enumerate(ordered, start=1):
        if version <= current:
            continue
        record = AppliedMigration(version, migration.__name__, clock.now().isoformat())
        with db.atomic():
            # Another process may have applied it since the check above.
            if _is_recorded(db, version):
                continue
            migration(db)
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) "
                "VALUES (?, ?, ?)",
                [record.version, record.name, record.applied_at],
            )
        logger.info("applied ledger migration %d (%s)", version, record.name)
        applied.append(record)
    return applied


def _is_recorded(db: Database, version: int) -> bool:
    row = db.execute(
        "SELECT 1 FROM schema_migrations WHERE version = ?", [version]
    ).fetchone()
    return row is not None


def db_label(db: Database) -> str:
    row = db.execute("PRAGMA database_list").fetchone()
    return row[2] if row and row[2] else "(in memory)"
