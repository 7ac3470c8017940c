"""The sandbox mailbox, kept in SQLite.

The schema below is shared with ``query.py``, which compiles a Gmail ``q``
string into a condition over these tables, so change both together.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from assistant.clock import to_epoch_ms
from assistant.sandbox import ids
from assistant.sandbox import message_format as mf
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.errors import AlreadyExists, InvalidArgument, NotFound

logger = logging.getLogger(__name__)

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

# Gmail's system labels, as labels.list returns them for a personal account.
SYSTEM_LABELS = (
    "INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT",
    "CHAT", "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES", "CATEGORY_FORUMS",
)


# Visibility of the system labels, as labels.list returns them for a personal
# account (UNREAD and CATEGORY_PERSONAL carry none).
_SYSTEM_VISIBILITY = {
    "INBOX": ("hide", "labelShow"),
    "SENT": ("hide", "labelShow"),
    "UNREAD": (None, None),
    "CATEGORY_PERSONAL": (None, None),
}
_DEFAULT_SYSTEM_VISIBILITY = ("hide", "labelHide")

# Labels that messages.modify rejects: Gmail returns 400 "Invalid label: SENT".
_IMMUTABLE_LABELS = frozenset({"SENT", "DRAFT"})
_HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
_HISTORY_FIELDS = {
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}
_FORMATS = ("minimal", "full", "metadata", "raw")
# threads.get has no raw format.
_THREAD_FORMATS = ("minimal", "full", "metadata")
MAX_PAGE_SIZE = 500
DEFAULT_USER_EMAIL = "me@sandbox.local"
_EXCLUDE_SPAM_TRASH = (
    "NOT EXISTS (SELECT 1 FROM message_labels x WHERE x.message_seq = m.seq"
    " AND x.label_id IN ('SPAM', 'TRASH'))"
)


@dataclass
class _Stored:
    """A message just written: what the API returns for it."""

    seq: int
    id: str
    thread_id: str
    label_ids: list[str]
    draft_id: str | None = None

    def minimal(self) -> dict[str, Any]:
        return {"id": self.id, "threadId": self.thread_id, "labelIds": self.label_ids}


@dataclass
class _Counters:
    """Sequences kept in ``meta`` and advanced inside write transactions."""

    history_id: int = 1
    message_number: int = 0
    draft_number: int = 0
    label_number: int = 0
    pruned_through: int = 0


class MailStore:
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

    # -- transactions and counters -----------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """Run a block in one transaction; on error roll back data and counters."""
        with self._lock:
            if self._in_write:
                # A nested block (a label created while a load is running) joins
                # the open transaction.
                yield self._conn
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_write = True
            try:
                yield self._conn
                self._prune_history()
                self._save_meta()
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                self._load_meta()
                raise
            finally:
                self._in_write = False

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _load_meta(self) -> None:
        with self._lock:
            counters = _Counters()
            for name in counters.__dataclass_fields__:
                stored = self._meta(name)
                if stored is not None:
                    setattr(counters, name, int(stored))
            self._counters = counters
            self._user_email = self._meta("user_email") or DEFAULT_USER_EMAIL
            self._label_ids = {
                row[0] for row in self._conn.execute("SELECT id FROM labels")
            }

    def _save_meta(self) -> None:
        for name in self._counters.__dataclass_fields__:
            self._set_meta(name, str(getattr(self._counters, name)))

    def _next_history_id(self) -> int:
        self._counters.history_id += 1
        return self._counters.history_id

    def _next_message_id(self) -> str:
        now_ms = to_epoch_ms(self._clock.now())
        number = ids.next_message_number(self._counters.message_number, now_ms)
        self._counters.message_number = number
        return ids.message_id_text(number)

    def _now_ms(self) -> int:
        return to_epoch_ms(self._clock.now())

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

    # -- labels -------------------------------------------------------------

    def _ensure_system_labels(self) -> None:
        for label_id in SYSTEM_LABELS:
            message_vis, list_vis = _SYSTEM_VISIBILITY.get(label_id, _DEFAULT_SYSTEM_VISIBILITY)
            self._conn.execute(
                "INSERT OR IGNORE INTO labels (id, name, type, message_list_visibility,"
                " label_list_visibility) VALUES (?, ?, 'system', ?, ?)",
                (label_id, label_id, message_vis, list_vis),
            )

    def list_labels(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, name, type, message_list_visibility, label_list_visibility,"
                " text_color, background_color FROM labels ORDER BY type, rowid"
            ).fetchall()
        return [_label_resource(row) for row in rows]

    def get_label(self, label_id: str) -> dict[str, Any]:
        """labels.get, with messagesTotal, messagesUnread, threadsTotal, threadsUnread."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id, name, type, message_list_visibility, label_list_visibility,"
                " text_color, background_color FROM labels WHERE id = ?",
                (label_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"Label {label_id!r} not found")
            counts = self._conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT m.thread_id),"
                " COALESCE(SUM(u.label_id IS NOT NULL), 0),"
                " COUNT(DISTINCT CASE WHEN u.label_id IS NOT NULL THEN m.thread_id END)"
                " FROM message_labels l JOIN messages m ON m.seq = l.message_seq"
                " LEFT JOIN message_labels u ON u.message_seq = m.seq"
                " AND u.label_id = 'UNREAD' WHERE l.label_id = ?",
                (label_id,),
            ).fetchone()
        resource = _label_resource(row)
        resource["messagesTotal"] = counts[0]
        resource["threadsTotal"] = counts[1]
        resource["messagesUnread"] = counts[2]
        resource["threadsUnread"] = counts[3]
        return resource

    def create_label(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("name") or "").strip()
        if not name:
            raise InvalidArgument("Invalid label name: a label needs a non-empty name")
        color = body.get("color") or {}
        with self._write() as conn:
            if self._label_id_unlocked(name) is not None:
                # Gmail returns 409 "Label name exists or conflicts", ignoring case.
                raise AlreadyExists("Label name exists or conflicts")
            self._counters.label_number += 1
            label_id = f"Label_{self._counters.label_number}"
            conn.execute(
                "INSERT INTO labels (id, name, type, message_list_visibility,"
                " label_list_visibility, text_color, background_color)"
                " VALUES (?, ?, 'user', ?, ?, ?, ?)",
                (
                    label_id, name, body.get("messageListVisibility"),
                    body.get("labelListVisibility"), color.get("textColor"),
                    color.get("backgroundColor"),
                ),
            )
            self._label_ids.add(label_id)
        logger.info("label %s created", label_id)
        with self._lock:
            row = self._conn.execute(
                "SELECT id, name, type, message_list_visibility, label_list_visibility,"
                " text_color, background_color FROM labels WHERE id = ?",
                (label_id,),
            ).fetchone()
        return _label_resource(row)

    def label_id(self, name: str) -> str | None:
        """Return the id of the label called ``name`` (any case), or None."""
        with self._lock:
            return self._label_id_unlocked(name)

    def _label_id_unlocked(self, name: str) -> str | None:
        row = self._conn.execute(
            "SELECT id FROM labels WHERE name = ? COLLATE NOCASE OR id = ?", (name, name)
        ).fetchone()
        return None if row is None else str(row[0])

    def _require_labels(self, label_ids: Iterable[str]) -> None:
        for label_id in label_ids:
            if label_id not in self._label_ids:
                raise InvalidArgument(f"Invalid label: {label_id}")

    # -- writing messages ---------------------------------------------------

    def add_message(
        self,
        raw: bytes,
        *,
        label_ids: list[str] | tuple[str, ...] = (),
        thread_id: str | None = None,
        gmail_thread_key: str | None = None,
        internal_date_ms: int | None = None,
        thread_by_headers: bool = False,
    ) -> dict[str, Any]:
        """Store one message and return its minimal resource (id, threadId, labelIds).

        Threading, as Gmail does it for insert, import, send and drafts: with
        ``thread_id`` the message joins that thread only when its References or
        In-Reply-To name a message of the thread and its subject matches ignoring
        Re:/Fwd: prefixes; otherwise, and without ``thread_id``, it starts a new
        thread. ``thread_by_headers`` (used when loading mail that has no thread
        information) joins the thread of a referenced message with a matching
        subject even without ``thread_id``. ``gmail_thread_key`` is Takeout's
        X-GM-THRID: messages sharing a key share a thread. A message that cannot be
        parsed is stored raw with ``parsed`` 0. internalDate defaults to the Date
        header for loaded mail (``thread_by_headers`` or ``gmail_thread_key``) and
        to the sandbox clock otherwise.
        """
        with self._write():
            stored = self._insert(
                raw, label_ids=label_ids, thread_id=thread_id,
                gmail_thread_key=gmail_thread_key, internal_date_ms=internal_date_ms,
                thread_by_headers=thread_by_headers,
            )
        return stored.minimal()

    def add_messages(
        self,
        items: Iterable[tuple[bytes, dict[str, Any]]],
        *,
        batch_size: int = 5000,
        on_kept_raw: Callable[[int, str], None] | None = None,
    ) -> list[str]:
        """Store many messages, committing every ``batch_size``; return their ids.

        Each item is ``(raw, keyword arguments of add_message)``. A failed batch
        rolls back whole, so no message is half-written; earlier batches stay.
        ``on_kept_raw(index, reason)`` is called for each message stored unparsed.
        """
        stored_ids: list[str] = []
        iterator = iter(enumerate(items))
        while True:
            with self._write():
                count = 0
                for index, (raw, options) in iterator:
                    stored = self._insert(raw, **options, _on_unparsed=(
                        None if on_kept_raw is None
                        else (lambda reason, i=index: on_kept_raw(i, reason))
                    ))
                    stored_ids.append(stored.id)
                    count += 1
                    if count >= batch_size:
                        break
            if count < batch_size:
                return stored_ids

    def _insert(
        self,
        raw: bytes,
        *,
        label_ids: Iterable[str] = (),
        thread_id: str | None = None,
        gmail_thread_key: str | None = None,
        internal_date_ms: int | None = None,
        thread_by_headers: bool = False,
        date_from_header: bool | None = None,
        draft_id: str | None = None,
        _on_unparsed: Callable[[str], None] | None = None,
    ) -> _Stored:
        labels = list(dict.fromkeys(label_ids))
        self._require_labels(labels)
        summary = self._summarize_or_none(raw, _on_unparsed)
        message_id = self._next_message_id()

        if gmail_thread_key:
            chosen_thread = ids.thread_id_for_gmail_key(gmail_thread_key)
        else:
            chosen_thread = self._choose_thread(summary, thread_id, thread_by_headers)
        if date_from_header is None:
            date_from_header = thread_by_headers or bool(gmail_thread_key)
        if internal_date_ms is None and date_from_header and summary is not None:
            internal_date_ms = summary.date_ms
        if internal_date_ms is None:
            internal_date_ms = self._now_ms()

        history_id = self._next_history_id()
        seq = self._write_message_rows(
            raw, summary, message_id, chosen_thread or message_id, history_id,
            internal_date_ms, labels,
        )
        stored = _Stored(seq, message_id, chosen_thread or message_id, sorted(labels))
        self._record_history(history_id, "messageAdded", stored, [], stored.label_ids)
        if "DRAFT" in labels:
            # Every message labelled DRAFT is a draft, as in Gmail.
            stored.draft_id = draft_id or self._next_draft_id()
            self._conn.execute(
                "INSERT INTO drafts (id, message_id) VALUES (?, ?)",
                (stored.draft_id, stored.id),
            )
        return stored

    def _next_draft_id(self) -> str:
        self._counters.draft_number += 1
        return ids.draft_id_text(self._counters.draft_number)

    def _summarize_or_none(
        self, raw: bytes, on_unparsed: Callable[[str], None] | None
    ) -> mf.MessageSummary | None:
        try:
            return mf.summarize(raw)
        except mf.UnparseableMessage as exc:
            logger.warning("message of %d bytes kept raw: %s", len(raw), exc)
            if on_unparsed is not None:
                on_unparsed(str(exc))
            return None

    def _write_message_rows(
        self, raw: bytes, summary: mf.MessageSummary | None, message_id: str,
        thread_id: str, history_id: int, internal_date_ms: int, labels: list[str],
    ) -> int:
        facts = summary or mf.MessageSummary()
        cursor = self._conn.execute(
            "INSERT INTO messages (id, thread_id, history_id, internal_date, size_estimate,"
            " raw, parsed, rfc822_msgid, subject, has_attachment, snippet)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message_id, thread_id, history_id, internal_date_ms, len(raw), raw,
                int(summary is not None), facts.rfc822_msgid, facts.subject,
                int(facts.has_attachment), facts.snippet,
            ),
        )
        seq = int(cursor.lastrowid or 0)
        self._conn.executemany(
            "INSERT INTO message_labels (label_id, message_seq) VALUES (?, ?)",
            [(label, seq) for label in labels],
        )
        self._conn.executemany(
            "INSERT INTO message_addresses (message_seq, field, address, name)"
            " VALUES (?, ?, ?, ?)",
            [(seq, field, address, name) for field, address, name in facts.addresses],
        )
        self._conn.execute(
            "INSERT INTO messages_fts (rowid, subject, sender, to_text, cc_text, bcc_text,"
            " body, filenames) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                seq, facts.subject, facts.sender_text, facts.to_text, facts.cc_text,
                facts.bcc_text, facts.body_text, "\n".join(facts.filenames),
            ),
        )
        return seq

    def _choose_thread(
        self, summary: mf.MessageSummary | None, requested: str | None, by_headers: bool
    ) -> str | None:
        """Return the thread a new message joins, or None when it starts its own.

        Gmail's rule (Message.threadId in the API reference, and the guide
        "Managing threads"): the requested threadId, References or In-Reply-To
        naming a message of that thread, and a matching Subject.
        """
        if summary is None or (requested is None and not by_headers):
            return None
        references = summary.thread_references
        if not references:
            return None
        subject = mf.normalize_subject(summary.subject)
        placeholders = ",".join("?" * len(references))
        rows = self._conn.execute(
            "SELECT rfc822_msgid, thread_id, subject FROM messages"
            f" WHERE rfc822_msgid COLLATE NOCASE IN ({placeholders})",
            references,
        ).fetchall()
        order = {ref.lower(): rank for rank, ref in enumerate(references)}
        rows.sort(key=lambda row: order.get(str(row[0]).lower(), len(order)))
        for _, thread_id, parent_subject in rows:
            if requested is not None and thread_id != requested:
                continue
            if self._subject_matches_thread(subject, thread_id, parent_subject):
                return str(thread_id)
        return None

    def _subject_matches_thread(self, subject: str, thread_id: str, parent: str) -> bool:
        if mf.normalize_subject(parent) == subject:
            return True
        subjects = self._conn.execute(
            "SELECT subject FROM messages WHERE thread_id = ?", (thread_id,)
        ).fetchall()
        return any(mf.normalize_subject(row[0]) == subject for row in subjects)

    def _record_history(
        self, history_id: int, kind: str, stored: _Stored, changed: list[str],
        labels_after: list[str],
    ) -> None:
        self._conn.execute(
            "INSERT INTO history (id, kind, message_id, thread_id, label_ids,"
            " message_label_ids) VALUES (?, ?, ?, ?, ?, ?)",
            (
                history_id, kind, stored.id, stored.thread_id, json.dumps(changed),
                json.dumps(labels_after),
            ),
        )

    def _prune_history(self) -> None:
        if self._retention is None:
            return
        row = self._conn.execute(
            "SELECT id FROM history ORDER BY id DESC LIMIT 1 OFFSET ?", (self._retention,)
        ).fetchone()
        if row is None:
            return
        self._conn.execute("DELETE FROM history WHERE id <= ?", (row[0],))
        self._counters.pruned_through = max(self._counters.pruned_through, int(row[0]))

    def _stored(self, message_id: str) -> _Stored:
        row = self._conn.execute(
            "SELECT seq, id, thread_id FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"Message {message_id!r} not found")
        return _Stored(row[0], row[1], row[2], self._labels_of(row[0]))

    def _labels_of(self, seq: int) -> list[str]:
        rows = self._conn.execute(
            "SELECT label_id FROM message_labels WHERE message_seq = ? ORDER BY label_id",
            (seq,),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def _change_labels(self, stored: _Stored, add: list[str], remove: list[str]) -> _Stored:
        """Apply label changes, one history record for additions and one for removals."""
        current = set(stored.label_ids)
        added = [label for label in dict.fromkeys(add) if label not in current]
        removed = [
            label for label in dict.fromkeys(remove) if label in current and label not in add
        ]
        if added:
            self._conn.executemany(
                "INSERT INTO message_labels (label_id, message_seq) VALUES (?, ?)",
                [(label, stored.seq) for label in added],
            )
            current.update(added)
            stored.label_ids = sorted(current)
            self._touch(stored, "labelAdded", added)
        if removed:
            self._conn.executemany(
                "DELETE FROM message_labels WHERE label_id = ? AND message_seq = ?",
                [(label, stored.seq) for label in removed],
            )
            current.difference_update(removed)
            stored.label_ids = sorted(current)
            self._touch(stored, "labelRemoved", removed)
        return stored

    def _touch(self, stored: _Stored, kind: str, changed: list[str]) -> None:
        history_id = self._next_history_id()
        self._conn.execute(
            "UPDATE messages SET history_id = ? WHERE seq = ?", (history_id, stored.seq)
        )
        self._record_history(history_id, kind, stored, changed, stored.label_ids)

    def _delete(self, stored: _Stored) -> None:
        self._conn.execute("DELETE FROM messages_fts WHERE rowid = ?", (stored.seq,))
        self._conn.execute("DELETE FROM messages WHERE seq = ?", (stored.seq,))
        self._conn.execute("DELETE FROM drafts WHERE message_id = ?", (stored.id,))
        self._record_history(
            self._next_history_id(), "messageDeleted", stored, [], stored.label_ids
        )

    # -- messages API -------------------------------------------------------

    def send_message(self, raw: bytes, *, thread_id: str | None = None) -> dict[str, Any]:
        """messages.send: add Date and Message-ID when missing, label SENT."""
        with self._write():
            stored = self._send(raw, thread_id)
        logger.info("message %s sent in thread %s", stored.id, stored.thread_id)
        return stored.minimal()

    def _send(self, raw: bytes, thread_id: str | None) -> _Stored:
        # NOTE: Gmail writes Message-IDs such as <CA...@mail.gmail.com>; the
        # sandbox marks its own with the sandbox.local domain.
        completed = mf.add_missing_headers(
            raw,
            [
                ("From", self._user_email),
                ("Date", mf.format_date_header(self._clock.now())),
                ("Message-ID", f"<{uuid.uuid4().hex}@sandbox.local>"),
            ],
        )
        summary = self._summarize_or_none(completed, None)
        if summary is not None and not summary.recipients:
            # Gmail returns 400 "Recipient address required" for mail without To, Cc or Bcc.
            raise InvalidArgument("Recipient address required")
        return self._insert(
            completed, label_ids=["SENT"], thread_id=thread_id, date_from_header=False
        )

    def insert_message(
        self, raw: bytes, *, label_ids: list[str], thread_id: str | None = None,
        internal_date_source: str = "receivedTime",
    ) -> dict[str, Any]:
        """messages.insert and messages.import (the latter also runs no filters here)."""
        if internal_date_source not in ("receivedTime", "dateHeader"):
            raise InvalidArgument(
                f"Invalid internalDateSource {internal_date_source!r};"
                " use receivedTime or dateHeader"
            )
        with self._write():
            stored = self._insert(
                raw, label_ids=label_ids, thread_id=thread_id,
                date_from_header=internal_date_source == "dateHeader",
            )
        return stored.minimal()

    def modify_message(
        self, message_id: str, add: list[str], remove: list[str]
    ) -> dict[str, Any]:
        """messages.modify; SENT and DRAFT cannot be added or removed (400)."""
        if not add and not remove:
            # Gmail rejects an empty modify request with this message.
            raise InvalidArgument("No label add or removes specified")
        for label in list(add) + list(remove):
            if label in _IMMUTABLE_LABELS:
                raise InvalidArgument(f"Invalid label: {label}")
        with self._write():
            self._require_labels(list(add) + list(remove))
            stored = self._change_labels(self._stored(message_id), list(add), list(remove))
        return stored.minimal()

    def trash_message(self, message_id: str) -> dict[str, Any]:
        # NOTE: Gmail documents only "moves the message to the trash"; as in the
        # web interface, a trashed message leaves the inbox, so INBOX is removed.
        with self._write():
            stored = self._change_labels(self._stored(message_id), ["TRASH"], ["INBOX"])
        return stored.minimal()

    def untrash_message(self, message_id: str) -> dict[str, Any]:
        # NOTE: untrash only removes TRASH; INBOX is not restored.
        with self._write():
            stored = self._change_labels(self._stored(message_id), [], ["TRASH"])
        return stored.minimal()

    def delete_message(self, message_id: str) -> None:
        with self._write():
            self._delete(self._stored(message_id))
        logger.info("message %s deleted", message_id)

    def attachment(self, message_id: str, attachment_id: str) -> dict[str, Any]:
        """attachments.get: {"attachmentId", "size", "data" (base64url)}."""
        with self._lock:
            row = self._conn.execute(
                "SELECT raw, parsed FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"Message {message_id!r} not found")
        part_id = mf.part_id_for(attachment_id)
        if part_id is None:
            raise NotFound(f"Attachment {attachment_id!r} not found in message {message_id}")
        raw = bytes(row[0])
        data = raw if not row[1] and part_id == "" else mf.find_part_bytes(raw, part_id)
        if data is None:
            raise NotFound(f"Attachment {attachment_id!r} not found in message {message_id}")
        return {"attachmentId": attachment_id, "size": len(data), "data": mf.base64url(data)}

    # -- reading messages ---------------------------------------------------

    def message_resource(
        self, message_id: str, fmt: str = "full", metadata_headers: list[str] | None = None
    ) -> dict[str, Any]:
        """messages.get in format minimal, full, metadata or raw."""
        if fmt not in _FORMATS:
            raise InvalidArgument(f"Invalid format {fmt!r}; use one of {', '.join(_FORMATS)}")
        with self._lock:
            row = self._conn.execute(
                "SELECT seq, id, thread_id, history_id, internal_date, size_estimate,"
                " snippet, parsed, raw FROM messages WHERE id = ?",
                (message_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"Message {message_id!r} not found")
            labels = self._labels_of(row[0])
        return _message_resource(row, labels, fmt, metadata_headers)

    def list_messages(
        self,
        *,
        q: str | None = None,
        label_ids: list[str] | None = None,
        include_spam_trash: bool = False,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> dict[str, Any]:
        """messages.list: {"messages": [{id, threadId}], "nextPageToken", "resultSizeEstimate"}.

        Newest first by internalDate. ``q`` goes through ``query.compile_query``.
        """
        limit = _page_size(max_results)
        with self._lock:
            where, params = self._conditions(q, label_ids, include_spam_trash)
            page_where, page_params = _after_token(page_token, "m.internal_date", "m.seq")
            rows = self._conn.execute(
                "SELECT m.id, m.thread_id, m.internal_date, m.seq FROM messages m"
                f" WHERE {where} AND {page_where}"
                " ORDER BY m.internal_date DESC, m.seq DESC LIMIT ?",
                params + page_params + [limit + 1],
            ).fetchall()
            total = self._conn.execute(
                f"SELECT COUNT(*) FROM messages m WHERE {where}", params
            ).fetchone()[0]
        result: dict[str, Any] = {}
        if rows[:limit]:
            result["messages"] = [{"id": r[0], "threadId": r[1]} for r in rows[:limit]]
        if len(rows) > limit:
            result["nextPageToken"] = ids.encode_page_token(rows[limit - 1][2], rows[limit - 1][3])
        result["resultSizeEstimate"] = total
        return result

    def _conditions(
        self, q: str | None, label_ids: list[str] | None, include_spam_trash: bool
    ) -> tuple[str, list[Any]]:
        """A WHERE clause over alias ``m`` for the list methods' filters."""
        clauses = ["1"]
        params: list[Any] = []
        named_spam_trash = False
        for label in label_ids or []:
            clauses.append(
                "EXISTS (SELECT 1 FROM message_labels y WHERE y.message_seq = m.seq"
                " AND y.label_id = ?)"
            )
            params.append(label)
            named_spam_trash = named_spam_trash or label in ("SPAM", "TRASH")
        if q and q.strip():
            from assistant.sandbox.query import compile_query

            compiled = compile_query(
                q,
                resolve_label=self._label_id_unlocked,
                now=self._clock.now(),
                user_email=self._user_email,
            )
            clauses.append(f"({compiled.sql})")
            params.extend(compiled.params)
            named_spam_trash = named_spam_trash or compiled.includes_spam_trash
        if not include_spam_trash and not named_spam_trash:
            clauses.append(_EXCLUDE_SPAM_TRASH)
        return " AND ".join(clauses), params

    # -- threads ------------------------------------------------------------

    def list_threads(
        self,
        *,
        q: str | None = None,
        label_ids: list[str] | None = None,
        include_spam_trash: bool = False,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> dict[str, Any]:
        """threads.list: {"threads": [{id, snippet, historyId}], "nextPageToken", ...}.

        A thread is listed when any of its messages matches, ordered by its
        newest matching message ("Managing threads" guide).
        """
        limit = _page_size(max_results)
        with self._lock:
            where, params = self._conditions(q, label_ids, include_spam_trash)
            page_where, page_params = _after_token(page_token, "newest", "last_seq")
            rows = self._conn.execute(
                "SELECT m.thread_id, MAX(m.internal_date) AS newest, MAX(m.seq) AS last_seq"
                f" FROM messages m WHERE {where} GROUP BY m.thread_id"
                f" HAVING {page_where} ORDER BY newest DESC, last_seq DESC LIMIT ?",
                params + page_params + [limit + 1],
            ).fetchall()
            total = self._conn.execute(
                f"SELECT COUNT(DISTINCT m.thread_id) FROM messages m WHERE {where}", params
            ).fetchone()[0]
            threads = [self._thread_summary(row[0]) for row in rows[:limit]]
        result: dict[str, Any] = {}
        if threads:
            result["threads"] = threads
        if len(rows) > limit:
            result["nextPageToken"] = ids.encode_page_token(rows[limit - 1][1], rows[limit - 1][2])
        result["resultSizeEstimate"] = total
        return result

    def _thread_summary(self, thread_id: str) -> dict[str, Any]:
        row = self._conn.execute(
            "SELECT snippet, (SELECT MAX(history_id) FROM messages WHERE thread_id = ?)"
            " FROM messages WHERE thread_id = ? ORDER BY internal_date DESC, seq DESC LIMIT 1",
            (thread_id, thread_id),
        ).fetchone()
        return {"id": thread_id, "snippet": row[0], "historyId": str(row[1])}

    def thread_resource(
        self, thread_id: str, fmt: str = "full", metadata_headers: list[str] | None = None
    ) -> dict[str, Any]:
        """threads.get: the thread's messages oldest first, in the given format."""
        if fmt not in _THREAD_FORMATS:
            raise InvalidArgument(
                f"Invalid format {fmt!r}; use one of {', '.join(_THREAD_FORMATS)}"
            )
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, id, thread_id, history_id, internal_date, size_estimate,"
                " snippet, parsed, raw FROM messages WHERE thread_id = ?"
                " ORDER BY internal_date, seq",
                (thread_id,),
            ).fetchall()
            labels = [self._labels_of(row[0]) for row in rows]
        if not rows:
            raise NotFound(f"Thread {thread_id!r} not found")
        messages = [
            _message_resource(row, row_labels, fmt, metadata_headers)
            for row, row_labels in zip(rows, labels)
        ]
        return {
            "id": thread_id,
            "historyId": str(max(row[3] for row in rows)),
            "messages": messages,
        }

    # -- drafts -------------------------------------------------------------

    def create_draft(self, raw: bytes, *, thread_id: str | None = None) -> dict[str, Any]:
        """drafts.create: {"id", "message": {id, threadId, labelIds}}."""
        with self._write():
            stored = self._insert(
                raw, label_ids=["DRAFT"], thread_id=thread_id, date_from_header=False
            )
        draft_id = stored.draft_id
        logger.info("draft %s created in thread %s", draft_id, stored.thread_id)
        return {"id": draft_id, "message": stored.minimal()}

    def update_draft(
        self, draft_id: str, raw: bytes, *, thread_id: str | None = None
    ) -> dict[str, Any]:
        """drafts.update: same draft id, new message id."""
        with self._write():
            old = self._stored(self._draft_message_id(draft_id))
            self._delete(old)
            stored = self._insert(
                raw, label_ids=["DRAFT"], thread_id=thread_id, date_from_header=False,
                draft_id=draft_id,
            )
        return {"id": draft_id, "message": stored.minimal()}

    def get_draft(self, draft_id: str, fmt: str = "full") -> dict[str, Any]:
        with self._lock:
            message_id = self._draft_message_id(draft_id)
            return {"id": draft_id, "message": self.message_resource(message_id, fmt)}

    def list_drafts(
        self, *, q: str | None = None, max_results: int = 100,
        page_token: str | None = None, include_spam_trash: bool = False,
    ) -> dict[str, Any]:
        """drafts.list: newest first, ``q`` filtering the draft messages."""
        limit = _page_size(max_results)
        with self._lock:
            where, params = self._conditions(q, None, include_spam_trash)
            page_where, page_params = _after_token(page_token, "m.internal_date", "m.seq")
            rows = self._conn.execute(
                "SELECT d.id, m.id, m.thread_id, m.internal_date, m.seq"
                " FROM drafts d JOIN messages m ON m.id = d.message_id"
                f" WHERE {where} AND {page_where}"
                " ORDER BY m.internal_date DESC, m.seq DESC LIMIT ?",
                params + page_params + [limit + 1],
            ).fetchall()
            total = self._conn.execute(
                "SELECT COUNT(*) FROM drafts d JOIN messages m ON m.id = d.message_id"
                f" WHERE {where}",
                params,
            ).fetchone()[0]
        result: dict[str, Any] = {}
        if rows[:limit]:
            result["drafts"] = [
                {"id": r[0], "message": {"id": r[1], "threadId": r[2]}} for r in rows[:limit]
            ]
        if len(rows) > limit:
            result["nextPageToken"] = ids.encode_page_token(rows[limit - 1][3], rows[limit - 1][4])
        result["resultSizeEstimate"] = total
        return result

    def delete_draft(self, draft_id: str) -> None:
        with self._write():
            self._delete(self._stored(self._draft_message_id(draft_id)))
        logger.info("draft %s deleted", draft_id)

    def send_draft(
        self, draft_id: str, raw: bytes | None = None, *, thread_id: str | None = None
    ) -> dict[str, Any]:
        """drafts.send: delete the draft, return the sent message labelled SENT.

        ``raw`` given replaces the draft's content first, as the API allows. The
        sent message asks for the draft's thread unless ``thread_id`` is given.
        """
        with self._write():
            draft = self._stored(self._draft_message_id(draft_id))
            row = self._conn.execute(
                "SELECT raw FROM messages WHERE seq = ?", (draft.seq,)
            ).fetchone()
            content = raw if raw is not None else bytes(row[0])
            self._delete(draft)
            stored = self._send(content, thread_id or draft.thread_id)
        logger.info("draft %s sent as message %s", draft_id, stored.id)
        return stored.minimal()

    def _draft_message_id(self, draft_id: str) -> str:
        row = self._conn.execute(
            "SELECT message_id FROM drafts WHERE id = ?", (draft_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"Draft {draft_id!r} not found")
        return str(row[0])

    # -- history ------------------------------------------------------------

    def current_history_id(self) -> int:
        return self._counters.history_id

    def list_history(
        self,
        start_history_id: int,
        *,
        history_types: list[str] | None = None,
        label_id: str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> dict[str, Any]:
        """history.list; NotFound when start_history_id is older than the retained history."""
        limit = _page_size(max_results)
        for kind in history_types or []:
            if kind not in _HISTORY_TYPES:
                raise InvalidArgument(
                    f"Invalid historyTypes value {kind!r}; use one of {', '.join(_HISTORY_TYPES)}"
                )
        with self._lock:
            if start_history_id < self._counters.pruned_through:
                # "Synchronizing clients with Gmail": an out-of-date startHistoryId
                # gets HTTP 404, and the client must do a full sync.
                raise NotFound(
                    f"startHistoryId {start_history_id} is older than the retained history"
                    " (404); do a full sync"
                )
            after = start_history_id
            if page_token:
                after = max(after, ids.decode_page_token(page_token, 1)[0])
            rows = self._history_rows(after, history_types, label_id, limit + 1)
            current = self._counters.history_id
        result: dict[str, Any] = {}
        if rows[:limit]:
            result["history"] = [_history_record(row) for row in rows[:limit]]
        if len(rows) > limit:
            result["nextPageToken"] = ids.encode_page_token(rows[limit - 1][0])
        result["historyId"] = str(current)
        return result

    def _history_rows(
        self, after: int, kinds: list[str] | None, label_id: str | None, limit: int
    ) -> list[tuple[Any, ...]]:
        sql = (
            "SELECT id, kind, message_id, thread_id, label_ids, message_label_ids"
            " FROM history WHERE id > ?"
        )
        params: list[Any] = [after]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        if label_id:
            pattern = f'%"{label_id}"%'
            sql += " AND (label_ids LIKE ? OR message_label_ids LIKE ?)"
            params.extend([pattern, pattern])
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        return self._conn.execute(sql, params).fetchall()


# -- resource shaping --------------------------------------------------------


def _label_resource(row: tuple[Any, ...]) -> dict[str, Any]:
    resource: dict[str, Any] = {"id": row[0], "name": row[1]}
    if row[3]:
        resource["messageListVisibility"] = row[3]
    if row[4]:
        resource["labelListVisibility"] = row[4]
    if row[5] or row[6]:
        resource["color"] = {"textColor": row[5], "backgroundColor": row[6]}
    resource["type"] = row[2]
    return resource


def _message_resource(
    row: tuple[Any, ...], labels: list[str], fmt: str, metadata_headers: list[str] | None
) -> dict[str, Any]:
    _, message_id, thread_id, history_id, internal_date, size, snippet, parsed, raw = row
    resource: dict[str, Any] = {
        "id": message_id,
        "threadId": thread_id,
        "labelIds": labels,
        "snippet": snippet,
        "sizeEstimate": size,
        "historyId": str(history_id),
        "internalDate": str(internal_date),
    }
    data = bytes(raw)
    if fmt == "raw":
        resource["raw"] = mf.base64url(data)
    elif fmt == "full":
        resource["payload"] = mf.payload_resource(data) if parsed else mf.unparsed_payload(data)
    elif fmt == "metadata":
        resource["payload"] = (
            mf.metadata_payload(data, metadata_headers) if parsed
            else {"mimeType": "application/octet-stream", "headers": []}
        )
    return resource


def _history_record(row: tuple[Any, ...]) -> dict[str, Any]:
    history_id, kind, message_id, thread_id, changed, labels_after = row
    message = {"id": message_id, "threadId": thread_id, "labelIds": json.loads(labels_after)}
    record: dict[str, Any] = {
        "id": str(history_id),
        "messages": [{"id": message_id, "threadId": thread_id}],
    }
    if kind in ("messageAdded", "messageDeleted"):
        record[_HISTORY_FIELDS[kind]] = [{"message": message}]
    else:
        record[_HISTORY_FIELDS[kind]] = [{"message": message, "labelIds": json.loads(changed)}]
    return record


def _page_size(max_results: int) -> int:
    # messages.list, threads.list and history.list: default 100, at most 500.
    if max_results < 1:
        raise InvalidArgument(f"Invalid maxResults {max_results}; use 1 to {MAX_PAGE_SIZE}")
    return min(max_results, MAX_PAGE_SIZE)


def _after_token(
    token: str | None, date_column: str, seq_column: str
) -> tuple[str, list[Any]]:
    """A keyset condition for rows after the page that ended at ``token``."""
    if not token:
        return "1", []
    date, seq = ids.decode_page_token(token, 2)
    return (
        f"({date_column} < ? OR ({date_column} = ? AND {seq_column} < ?))",
        [date, date, seq],
    )
