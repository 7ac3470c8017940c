"""The sandbox mailbox, kept in SQLite.

The schema below is shared with ``query.py``, which compiles a Gmail ``q``
string into a condition over these tables, so change both together.
"""

from __future__ import annotations

from typing import Any

from assistant.sandbox.clock import SandboxClock

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


class MailStore:
    """One user's mailbox: messages, labels, threads, drafts and history.

    Every method is safe to call from several threads; the store serialises
    access to its SQLite connection. Methods that return API resources return
    plain dicts already shaped as Gmail's JSON (camelCase keys, ids and
    historyIds as strings, internalDate as a string of epoch milliseconds).
    Errors are ``assistant.sandbox.errors.ApiError`` subclasses.

    ``path`` None keeps the mailbox in memory; a path keeps it across restarts.
    """

    def __init__(
        self,
        path: str | None = None,
        *,
        clock: SandboxClock | None = None,
        history_retention: int | None = None,
    ) -> None:
        raise NotImplementedError

    # -- owner and profile -------------------------------------------------
    user_email: str

    def set_user_email(self, address: str) -> None: ...
    def guess_user_email(self) -> str | None:
        """Return the most frequent From address among messages labelled SENT."""
        ...
    def profile(self) -> dict[str, Any]:
        """users.getProfile: emailAddress, messagesTotal, threadsTotal, historyId."""
        ...
    def send_as(self) -> list[dict[str, Any]]:
        """settings.sendAs.list entries: the owner, isPrimary, signature ('' by default)."""
        ...
    def set_signature(self, address: str, signature_html: str) -> None: ...

    # -- labels -------------------------------------------------------------
    def list_labels(self) -> list[dict[str, Any]]: ...
    def get_label(self, label_id: str) -> dict[str, Any]:
        """labels.get, with messagesTotal, messagesUnread, threadsTotal, threadsUnread."""
        ...
    def create_label(self, body: dict[str, Any]) -> dict[str, Any]: ...
    def label_id(self, name: str) -> str | None:
        """Return the id of the label called ``name`` (any case), or None."""
        ...

    # -- messages -----------------------------------------------------------
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
        header for loaded mail and to the sandbox clock otherwise.
        """
        ...
    def message_resource(
        self, message_id: str, fmt: str = "full", metadata_headers: list[str] | None = None
    ) -> dict[str, Any]:
        """messages.get in format minimal, full, metadata or raw."""
        ...
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
        ...
    def send_message(self, raw: bytes, *, thread_id: str | None = None) -> dict[str, Any]:
        """messages.send: add Date and Message-ID when missing, label SENT."""
        ...
    def insert_message(
        self, raw: bytes, *, label_ids: list[str], thread_id: str | None = None,
        internal_date_source: str = "receivedTime",
    ) -> dict[str, Any]:
        """messages.insert and messages.import (the latter also runs no filters here)."""
        ...
    def modify_message(
        self, message_id: str, add: list[str], remove: list[str]
    ) -> dict[str, Any]:
        """messages.modify; SENT and DRAFT cannot be added or removed (400)."""
        ...
    def trash_message(self, message_id: str) -> dict[str, Any]: ...
    def untrash_message(self, message_id: str) -> dict[str, Any]: ...
    def delete_message(self, message_id: str) -> None: ...
    def attachment(self, message_id: str, attachment_id: str) -> dict[str, Any]:
        """attachments.get: {"attachmentId", "size", "data" (base64url)}."""
        ...

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
        """threads.list: {"threads": [{id, snippet, historyId}], "nextPageToken", ...}."""
        ...
    def thread_resource(
        self, thread_id: str, fmt: str = "full", metadata_headers: list[str] | None = None
    ) -> dict[str, Any]: ...

    # -- drafts -------------------------------------------------------------
    def create_draft(self, raw: bytes, *, thread_id: str | None = None) -> dict[str, Any]:
        """drafts.create: {"id", "message": {id, threadId, labelIds}}."""
        ...
    def update_draft(
        self, draft_id: str, raw: bytes, *, thread_id: str | None = None
    ) -> dict[str, Any]:
        """drafts.update: same draft id, new message id."""
        ...
    def get_draft(
        self, draft_id: str, fmt: str = "full"
    ) -> dict[str, Any]: ...
    def list_drafts(
        self, *, q: str | None = None, max_results: int = 100,
        page_token: str | None = None, include_spam_trash: bool = False,
    ) -> dict[str, Any]: ...
    def delete_draft(self, draft_id: str) -> None: ...
    def send_draft(
        self, draft_id: str, raw: bytes | None = None, *, thread_id: str | None = None
    ) -> dict[str, Any]:
        """drafts.send: delete the draft, return the sent message labelled SENT.

        ``raw`` given replaces the draft's content first, as the API allows.
        """
        ...

    # -- history ------------------------------------------------------------
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
        ...
    def current_history_id(self) -> int: ...

    def close(self) -> None: ...
