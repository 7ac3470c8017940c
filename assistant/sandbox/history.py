"""Mailbox history: one record per change, read back by history.list."""

from __future__ import annotations

import json
from typing import Any

from assistant.sandbox import ids
from assistant.sandbox.database import MailboxDatabase, _Stored
from assistant.sandbox.errors import InvalidArgument, NotFound
from assistant.sandbox.paging import _page_size

_HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
_HISTORY_FIELDS = {
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}


class HistoryOperations(MailboxDatabase):
    """Recording changes as history records, and history.list."""

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
