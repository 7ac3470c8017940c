"""The messages.* methods: send, insert, modify, trash, delete, get and list."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from assistant.sandbox import ids
from assistant.sandbox import message_format as mf
from assistant.sandbox.database import _Stored
from assistant.sandbox.errors import InvalidArgument, NotFound
from assistant.sandbox.message_rows import MessageRows
from assistant.sandbox.paging import _after_token, _page_size

logger = logging.getLogger(__name__)

# Labels that messages.modify rejects: Gmail returns 400 "Invalid label: SENT".
_IMMUTABLE_LABELS = frozenset({"SENT", "DRAFT"})
_FORMATS = ("minimal", "full", "metadata", "raw")
_EXCLUDE_SPAM_TRASH = (
    "NOT EXISTS (SELECT 1 FROM message_labels x WHERE x.message_seq = m.seq"
    " AND x.label_id IN ('SPAM', 'TRASH'))"
)


class MessageOperations(MessageRows):
    """messages.* methods, and the list filters that threads and drafts share."""

    def send_message(self, raw: bytes, *, thread_id: str | None = None) -> dict[str, Any]:
        """messages.send: add Date and Message-ID when missing, label SENT."""
        with self._write():
            stored = self._send(raw, thread_id)
        logger.info("message %s sent in thread %s", stored.id, stored.thread_id)
        return stored.minimal()

    def _send(
        self, raw: bytes, thread_id: str | None, continue_thread: str | None = None
    ) -> _Stored:
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
            completed,
            label_ids=["SENT"],
            thread_id=thread_id,
            date_from_header=False,
            continue_thread=continue_thread,
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
