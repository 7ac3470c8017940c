"""The threads.* methods: list threads and get one with its messages."""

from __future__ import annotations

from typing import Any

from assistant.sandbox import ids
from assistant.sandbox.errors import InvalidArgument, NotFound
from assistant.sandbox.messages import MessageOperations, _message_resource
from assistant.sandbox.paging import _after_token, _page_size

# threads.get has no raw format.
_THREAD_FORMATS = ("minimal", "full", "metadata")


class ThreadOperations(MessageOperations):
    """threads.list and threads.get."""

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
