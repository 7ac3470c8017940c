"""Reminders: one row per drafted email, from planning to sending.

A reminder covers one stage (and repeat) of one or more invoices of one client
in one currency. Its life, each step recorded in the audit log:

``drafted`` (a Gmail draft exists, waiting for approval) -> ``approved`` ->
``sending`` (written before drafts.send is called) -> ``sent``.

Side exits: ``skipped`` (the user skipped it, or deleted its draft in Gmail;
never drafted again), ``withdrawn`` (no longer wanted: paid, answered, paused;
its draft is deleted), ``failed`` (sending failed in a way that needs the user).

Each (invoice, stage, repeat) belongs to at most one reminder, whatever its
status, which is what makes drafting idempotent. ``uid`` is put in the
``X-Assistant-Reminder`` header of the draft, so a sent reminder can be found
in Sent after a crash even if Gmail replaced its Message-ID.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Iterable, Mapping

from sqlite_utils import Database

from assistant.errors import LedgerError

REMINDER_HEADER = "X-Assistant-Reminder"

DRAFTED = "drafted"
APPROVED = "approved"
SENDING = "sending"
SENT = "sent"
SKIPPED = "skipped"
WITHDRAWN = "withdrawn"
FAILED = "failed"
STATUSES = (DRAFTED, APPROVED, SENDING, SENT, SKIPPED, WITHDRAWN, FAILED)
OPEN_STATUSES = (DRAFTED, APPROVED, SENDING)


@dataclass(frozen=True)
class Reminder:
    """One reminder email and where it is in its life."""

    uid: str  # also the X-Assistant-Reminder header value
    stage: str
    repeat_index: int
    client: str
    invoice_numbers: tuple[str, ...]
    status: str
    stage_day: date  # the client-calendar day the ladder chose
    planned_send_at: datetime  # aware UTC
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    thread_id: str | None = None  # the Gmail thread the draft is in
    extra_thread_ids: tuple[str, ...] = ()  # other threads the ledger follows
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    draft_id: str | None = None
    draft_message_id: str | None = None  # message id when the assistant last wrote it
    sent_message_id: str | None = None
    sent_at: datetime | None = None
    approved_at: datetime | None = None
    created_at: datetime | None = None
    missed_windows: int = 0
    detail: str = ""


def reminder_uid(stage: str, repeat_index: int, invoice_numbers: Iterable[str]) -> str:
    """Return the stable id of a reminder, such as ``gentle.0.INV-1042+INV-1043``."""
    numbers = "+".join(sorted(invoice_numbers))
    return f"{stage}.{repeat_index}.{numbers}"


def create_reminder_tables(db: Database) -> None:
    """Create the reminders and their invoice links (a ledger migration)."""
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    db.execute(
        f"""
        CREATE TABLE reminders (
            uid TEXT PRIMARY KEY,
            stage TEXT NOT NULL,
            repeat_index INTEGER NOT NULL DEFAULT 0,
            client TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ({statuses})),
            stage_day TEXT NOT NULL,            -- ISO date, client calendar
            planned_send_at TEXT NOT NULL,      -- ISO 8601 UTC
            recipients_to TEXT NOT NULL DEFAULT '[]',
            recipients_cc TEXT NOT NULL DEFAULT '[]',
            subject TEXT NOT NULL DEFAULT '',
            thread_id TEXT,
            extra_thread_ids TEXT NOT NULL DEFAULT '[]',
            in_reply_to TEXT,
            "references" TEXT NOT NULL DEFAULT '[]',
            draft_id TEXT,
            draft_message_id TEXT,
            sent_message_id TEXT,
            sent_at TEXT,
            approved_at TEXT,
            created_at TEXT,
            missed_windows INTEGER NOT NULL DEFAULT 0,
            detail TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute(
        """
        CREATE TABLE reminder_invoices (
            reminder_uid TEXT NOT NULL REFERENCES reminders (uid),
            invoice_number TEXT NOT NULL,
            stage TEXT NOT NULL,
            repeat_index INTEGER NOT NULL,
            UNIQUE (invoice_number, stage, repeat_index)
        )
        """
    )
    db.execute("CREATE INDEX reminders_status ON reminders (status, planned_send_at)")
    db.execute("CREATE INDEX reminder_invoices_uid ON reminder_invoices (reminder_uid)")


_LIST_COLUMNS = {
    "to": "recipients_to",
    "cc": "recipients_cc",
    "extra_thread_ids": "extra_thread_ids",
    "references": "references",
}
_DATETIME_FIELDS = ("planned_send_at", "sent_at", "approved_at", "created_at")


def _to_row(reminder: Reminder) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name in Reminder.__dataclass_fields__:
        value = getattr(reminder, name)
        if name == "invoice_numbers":
            continue
        if name in _LIST_COLUMNS:
            row[_LIST_COLUMNS[name]] = json.dumps(list(value))
        elif isinstance(value, (date, datetime)):
            row[name] = value.isoformat()
        else:
            row[name] = value
    return row


def _from_row(row: Mapping[str, Any], numbers: tuple[str, ...]) -> Reminder:
    values: dict[str, Any] = {"invoice_numbers": numbers}
    for name in Reminder.__dataclass_fields__:
        if name == "invoice_numbers":
            continue
        if name in _LIST_COLUMNS:
            values[name] = tuple(json.loads(row[_LIST_COLUMNS[name]] or "[]"))
        elif name == "stage_day":
            values[name] = date.fromisoformat(row[name])
        elif name in _DATETIME_FIELDS:
            values[name] = datetime.fromisoformat(row[name]) if row[name] else None
        else:
            values[name] = row[name]
    return Reminder(**values)


class ReminderBook:
    """Reminders kept in the ledger database, with every change in the audit log.

    ``log`` is the ledger's event writer: ``log(entity, key, fields, source)``
    with ``fields`` mapping a field name to ``(old, new)``.
    """

    def __init__(self, db: Database, log: Any, now: Any):
        self.db = db
        self._log = log
        self._now = now

    def get(self, uid: str) -> Reminder | None:
        rows = list(self.db.query('SELECT * FROM reminders WHERE uid = ?', [uid]))
        return _from_row(rows[0], self._numbers(uid)) if rows else None

    def _numbers(self, uid: str) -> tuple[str, ...]:
        rows = self.db.query(
            "SELECT invoice_number FROM reminder_invoices WHERE reminder_uid = ?"
            " ORDER BY invoice_number",
            [uid],
        )
        return tuple(r["invoice_number"] for r in rows)

    def list(self, statuses: Iterable[str] | None = None) -> builtins.list[Reminder]:
        """Return reminders, by planned send time, optionally of some statuses."""
        sql = "SELECT * FROM reminders"
        params: list[Any] = []
        wanted = list(statuses or [])
        if wanted:
            sql += f" WHERE status IN ({', '.join('?' for _ in wanted)})"
            params = wanted
        rows = list(self.db.query(sql + " ORDER BY planned_send_at, uid", params))
        return [_from_row(r, self._numbers(r["uid"])) for r in rows]

    def for_invoice(self, number: str) -> builtins.list[Reminder]:
        rows = self.db.query(
            "SELECT reminder_uid FROM reminder_invoices WHERE invoice_number = ?", [number]
        )
        found = [self.get(r["reminder_uid"]) for r in rows]
        return sorted((r for r in found if r), key=lambda r: r.planned_send_at)

    def claimed(self, number: str, stage: str, repeat_index: int) -> str | None:
        """Return the uid of the reminder that covers this invoice stage, if any."""
        rows = list(
            self.db.query(
                "SELECT reminder_uid FROM reminder_invoices"
                " WHERE invoice_number = ? AND stage = ? AND repeat_index = ?",
                [number, stage, repeat_index],
            )
        )
        return rows[0]["reminder_uid"] if rows else None

    def add(self, reminder: Reminder, *, source: str = "draft") -> Reminder:
        """Record a new reminder; raise LedgerError if a stage is already claimed."""
        with self.db.atomic():
            for number in reminder.invoice_numbers:
                owner = self.claimed(number, reminder.stage, reminder.repeat_index)
                if owner is not None:
                    raise LedgerError(
                        f"invoice {number} already has reminder {owner} for stage"
                        f" {reminder.stage}; it is never drafted twice"
                    )
            stored = replace(reminder, created_at=reminder.created_at or self._now())
            self.db.table("reminders").insert(_to_row(stored))
            for number in reminder.invoice_numbers:
                self.db.table("reminder_invoices").insert(
                    {
                        "reminder_uid": reminder.uid,
                        "invoice_number": number,
                        "stage": reminder.stage,
                        "repeat_index": reminder.repeat_index,
                    }
                )
            self._log("reminder", reminder.uid, {"status": (None, reminder.status)}, source)
        return stored

    def update(self, uid: str, *, source: str, **changes: Any) -> Reminder:
        """Change fields of a reminder, logging each change; return the new record."""
        with self.db.atomic():
            current = self.get(uid)
            if current is None:
                raise LedgerError(f"reminder {uid} not found")
            updated = replace(current, **changes)
            old_row, new_row = _to_row(current), _to_row(updated)
            diff = {
                name: (_text(old_row[name]), _text(new_row[name]))
                for name in new_row
                if old_row[name] != new_row[name]
            }
            if diff:
                self.db.table("reminders").update(uid, {k: new_row[k] for k in diff})
                self._log("reminder", uid, diff, source)
        return updated

    def transition(
        self, uid: str, expected: Iterable[str], status: str, *, source: str, **changes: Any
    ) -> Reminder:
        """Move a reminder to ``status`` only if it is in one of ``expected``.

        The check and the write happen in one transaction, so two runs cannot
        both move the same reminder, for instance both start sending it.
        """
        allowed = tuple(expected)
        with self.db.atomic():
            current = self.get(uid)
            if current is None:
                raise LedgerError(f"reminder {uid} not found")
            if current.status not in allowed:
                raise LedgerError(
                    f"reminder {uid} is {current.status}, not {' or '.join(allowed)}"
                )
            return self.update(uid, source=source, status=status, **changes)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
