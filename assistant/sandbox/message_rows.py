"""Writing messages: their rows, their thread, label changes and deletion.

Every method that adds, changes or removes a message (messages.*, drafts.*
and loading) goes through ``MessageRows``, which also records each change in
the history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from assistant.sandbox import ids
from assistant.sandbox import message_format as mf
from assistant.sandbox.database import _Stored
from assistant.sandbox.errors import NotFound
from assistant.sandbox.history import HistoryOperations
from assistant.sandbox.labels import LabelOperations

logger = logging.getLogger(__name__)


class MessageRows(LabelOperations, HistoryOperations):
    """Row-level writes of messages, on which the API methods build."""

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
        continue_thread: str | None = None,
        _on_unparsed: Callable[[str], None] | None = None,
    ) -> _Stored:
        labels = list(dict.fromkeys(label_ids))
        self._require_labels(labels)
        summary = self._summarize_or_none(raw, _on_unparsed)
        message_id = self._next_message_id()

        if continue_thread:
            chosen_thread: str | None = continue_thread
        elif gmail_thread_key:
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
