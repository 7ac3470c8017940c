"""What needs the user: replies to read, bounces, proposed payments, calls to make.

Each item has a ``kind`` and a ``key`` that make it unique (adding the same item
twice keeps one), an optional invoice number and Gmail message id, and a
sentence for the user. An item stays open until the user, or the assistant
when the cause goes away, resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from sqlite_utils import Database

# Kinds of item, as stored.
APPROVAL = "approval"  # a drafted reminder waits for approval
REPLY = "reply"  # the client wrote; chasing is paused until the user reads it
BOUNCE = "bounce"  # a reminder bounced; chasing is paused
PAYMENT = "payment"  # a payment notice names the invoice; confirm with 'assistant paid'
NOT_SENT = "not_sent"  # the sent check cannot show the invoice went out
CALL = "call"  # call the client: day after the due date, or the ladder has ended
MISSED_WINDOWS = "missed_windows"  # two send windows in a row passed while off
KINDS = (APPROVAL, REPLY, BOUNCE, PAYMENT, NOT_SENT, CALL, MISSED_WINDOWS)


@dataclass(frozen=True)
class AttentionItem:
    kind: str
    key: str
    detail: str
    created_at: datetime
    invoice_number: str | None = None
    message_id: str | None = None
    due_at: datetime | None = None
    resolved_at: datetime | None = None


def create_attention_table(db: Database) -> None:
    """Create the table of items that need the user (a ledger migration)."""
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    db.execute(
        f"""
        CREATE TABLE attention (
            kind TEXT NOT NULL CHECK (kind IN ({kinds})),
            key TEXT NOT NULL,
            invoice_number TEXT,
            message_id TEXT,
            detail TEXT NOT NULL,
            created_at TEXT NOT NULL,
            due_at TEXT,
            resolved_at TEXT,
            PRIMARY KEY (kind, key)
        )
        """
    )


def _from_row(row: dict[str, Any]) -> AttentionItem:
    def instant(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return AttentionItem(
        kind=row["kind"],
        key=row["key"],
        detail=row["detail"],
        created_at=datetime.fromisoformat(row["created_at"]),
        invoice_number=row["invoice_number"],
        message_id=row["message_id"],
        due_at=instant(row["due_at"]),
        resolved_at=instant(row["resolved_at"]),
    )


class AttentionList:
    """Open and resolved items in the ledger database, logged to the audit log."""

    def __init__(self, db: Database, log: Any, now: Callable[[], datetime]):
        self.db = db
        self._log = log
        self._now = now

    def add(
        self,
        kind: str,
        key: str,
        detail: str,
        *,
        invoice_number: str | None = None,
        message_id: str | None = None,
        due_at: datetime | None = None,
        source: str = "run",
    ) -> bool:
        """Add an item unless one with the same kind and key exists; return True if added."""
        if kind not in KINDS:
            raise ValueError(f"unknown attention kind {kind!r}")
        with self.db.atomic():
            existing = list(
                self.db.query(
                    "SELECT 1 FROM attention WHERE kind = ? AND key = ?", [kind, key]
                )
            )
            if existing:
                return False
            self.db.table("attention").insert(
                {
                    "kind": kind,
                    "key": key,
                    "invoice_number": invoice_number,
                    "message_id": message_id,
                    "detail": detail,
                    "created_at": self._now().isoformat(),
                    "due_at": due_at.isoformat() if due_at else None,
                    "resolved_at": None,
                }
            )
            self._log("attention", f"{kind}:{key}", {"opened": (None, detail)}, source)
        return True

    def open_items(self, invoice_number: str | None = None) -> list[AttentionItem]:
        sql = "SELECT * FROM attention WHERE resolved_at IS NULL"
        params: list[Any] = []
        if invoice_number is not None:
            sql += " AND invoice_number = ?"
            params.append(invoice_number)
        rows = self.db.query(sql + " ORDER BY created_at, kind, key", params)
        return [_from_row(dict(r)) for r in rows]

    def resolve(self, kind: str, key: str, *, source: str = "cli") -> bool:
        """Mark an open item resolved; return False when there was none."""
        with self.db.atomic():
            rows = list(
                self.db.query(
                    "SELECT 1 FROM attention WHERE kind = ? AND key = ? AND resolved_at IS NULL",
                    [kind, key],
                )
            )
            if not rows:
                return False
            self.db.execute(
                "UPDATE attention SET resolved_at = ? WHERE kind = ? AND key = ?",
                [self._now().isoformat(), kind, key],
            )
            self._log("attention", f"{kind}:{key}", {"resolved": (None, "yes")}, source)
        return True
