"""The sandbox mailbox, kept in SQLite.

The schema below is shared with ``query.py``, which compiles a Gmail ``q``
string into a condition over these tables, so change both together.
``MailStore`` is assembled from one part per API resource: ``labels``,
``history``, ``message_rows`` and ``messages``, ``threads`` and ``drafts``,
all on the connection and transactions of ``database``.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.database import DEFAULT_USER_EMAIL
from assistant.sandbox.drafts import DraftOperations
from assistant.sandbox.errors import InvalidArgument, NotFound
from assistant.sandbox.labels import SYSTEM_LABELS
from assistant.sandbox.paging import MAX_PAGE_SIZE
from assistant.sandbox.threads import ThreadOperations

__all__ = [
    "DEFAULT_USER_EMAIL",
    "MAX_PAGE_SIZE",
    "SCHEMA",
    "SYSTEM_LABELS",
    "MailStore",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    type TEXT NOT NULL,                       -- 'system' or 'user'
    message_list_visibility TEXT,
    label_list_visibility TEXT,
    text_color TEXT,
    background_color TEXT
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,                  -- also the rowid of messages_fts
    id TEXT NOT NULL UNIQUE,                  -- Gmail message id, 16 hex digits
    thread_id TEXT NOT NULL,
    history_id INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,           -- epoch milliseconds
    size_estimate INTEGER NOT NULL,
    raw BLOB NOT NULL,                        -- the RFC 822 bytes as stored
    parsed INTEGER NOT NULL DEFAULT 1,        -- 0: unparseable, kept as raw bytes
    rfc822_msgid TEXT,                        -- Message-ID without <>, as written
    subject TEXT NOT NULL DEFAULT '',
    has_attachment INTEGER NOT NULL DEFAULT 0,
    snippet TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_thread ON messages (thread_id);
CREATE INDEX IF NOT EXISTS messages_date ON messages (internal_date);
CREATE INDEX IF NOT EXISTS messages_msgid ON messages (rfc822_msgid COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS message_labels (
    label_id TEXT NOT NULL,
    message_seq INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
    PRIMARY KEY (label_id, message_seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS message_labels_seq ON message_labels (message_seq, label_id);
-- One row per address in From, To, Cc, Bcc and Delivered-To, lower-cased.
CREATE TABLE IF NOT EXISTS message_addresses (
    message_seq INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
    field TEXT NOT NULL,                      -- 'from', 'to', 'cc', 'bcc', 'deliveredto'
    address TEXT NOT NULL,                    -- 'ana@example.com'
    name TEXT NOT NULL DEFAULT ''             -- display name, as decoded
);
CREATE INDEX IF NOT EXISTS message_addresses_address
    ON message_addresses (address, field, message_seq);
CREATE INDEX IF NOT EXISTS message_addresses_seq ON message_addresses (message_seq);
-- Full-text index, rowid = messages.seq. Columns hold decoded text:
-- sender/to_text/cc_text/bcc_text carry names and addresses, filenames the
-- attachment file names one per line, body the decoded text of text/* parts.
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5 (
    subject, sender, to_text, cc_text, bcc_text, body, filenames,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS drafts (
    id TEXT PRIMARY KEY,                      -- 'r' followed by digits, as Gmail's
    message_id TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,                   -- the historyId of the change
    kind TEXT NOT NULL,                       -- messageAdded, messageDeleted, labelAdded, labelRemoved
    message_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    label_ids TEXT NOT NULL DEFAULT '[]',     -- JSON: labels added or removed
    message_label_ids TEXT NOT NULL DEFAULT '[]'  -- JSON: the message's labels after the change
);
"""


class MailStore(DraftOperations, ThreadOperations):
    """One user's mailbox: messages, labels, threads, drafts and history.

    Every method is safe to call from several threads; the store serialises
    access to its SQLite connection. Methods that return API resources return
    plain dicts already shaped as Gmail's JSON (camelCase keys, ids and
    historyIds as strings, internalDate as a string of epoch milliseconds).
    Errors are ``assistant.sandbox.errors.ApiError`` subclasses.

    ``path`` None keeps the mailbox in memory; a path keeps it across restarts.
    ``history_retention`` N keeps only the newest N history records.
    """

    def __init__(
        self,
        path: str | None = None,
        *,
        clock: SandboxClock | None = None,
        history_retention: int | None = None,
    ) -> None:
        if history_retention is not None and history_retention < 1:
            raise ValueError(f"history_retention must be at least 1, got {history_retention}")
        self._clock = clock or SandboxClock()
        self._retention = history_retention
        self._lock = threading.RLock()
        self._in_write = False
        self._conn = sqlite3.connect(
            ":memory:" if path is None else str(path),
            check_same_thread=False,
            isolation_level=None,
        )
        if path is not None:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        # About 256 MiB of page cache: broad searches over a large mailbox are
        # mostly page reads (negative values are KiB, per SQLite's docs).
        self._conn.execute("PRAGMA cache_size=-262144")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(SCHEMA)
        self._load_meta()
        with self._write():
            self._ensure_system_labels()
        self._load_meta()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- owner and profile -------------------------------------------------

    @property
    def clock(self) -> SandboxClock:
        """The clock that dates new messages; the server's clock endpoints set it."""
        return self._clock

    @property
    def user_email(self) -> str:
        return self._user_email

    def set_user_email(self, address: str) -> None:
        if "@" not in address:
            raise InvalidArgument(f"Invalid email address {address!r}; use name@domain")
        with self._write():
            self._set_meta("user_email", address)
        self._user_email = address

    def guess_user_email(self) -> str | None:
        """Return the most frequent From address among messages labelled SENT."""
        with self._lock:
            row = self._conn.execute(
                "SELECT a.address, COUNT(*) AS uses FROM message_addresses a"
                " JOIN message_labels l ON l.message_seq = a.message_seq"
                " AND l.label_id = 'SENT' WHERE a.field = 'from'"
                " GROUP BY a.address ORDER BY uses DESC, a.address LIMIT 1"
            ).fetchone()
        return None if row is None else str(row[0])

    def profile(self) -> dict[str, Any]:
        """users.getProfile: emailAddress, messagesTotal, threadsTotal, historyId."""
        with self._lock:
            messages, threads = self._conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT thread_id) FROM messages"
            ).fetchone()
            return {
                "emailAddress": self._user_email,
                "messagesTotal": messages,
                "threadsTotal": threads,
                "historyId": str(self._counters.history_id),
            }

    def send_as(self) -> list[dict[str, Any]]:
        """settings.sendAs.list entries: the owner, isPrimary, signature ('' by default)."""
        with self._lock:
            signature = self._meta(f"signature:{self._user_email.lower()}") or ""
        return [
            {
                "sendAsEmail": self._user_email,
                "displayName": "",
                "replyToAddress": "",
                "signature": signature,
                "isPrimary": True,
                "isDefault": True,
                "treatAsAlias": False,
            }
        ]

    def set_signature(self, address: str, signature_html: str) -> None:
        if address.lower() != self._user_email.lower():
            raise NotFound(f"Send-as address {address!r} not found; use {self._user_email}")
        with self._write():
            self._set_meta(f"signature:{address.lower()}", signature_html)
