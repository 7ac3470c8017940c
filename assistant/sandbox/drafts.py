"""The drafts.* methods: a draft is a message labelled DRAFT with a draft id."""

from __future__ import annotations

import logging
from typing import Any

from assistant.sandbox import ids
from assistant.sandbox.errors import NotFound
from assistant.sandbox.messages import MessageOperations
from assistant.sandbox.paging import _after_token, _page_size

logger = logging.getLogger(__name__)


class DraftOperations(MessageOperations):
    """drafts.create, update, get, list, delete and send."""

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
            # NOTE: a draft that started its own thread is sent into that same
            # thread: Gmail returns the draft's threadId for the sent message
            # (observed behaviour; the reference does not state it).
            others = self._conn.execute(
                "SELECT COUNT(*) FROM messages WHERE thread_id = ? AND seq != ?",
                (draft.thread_id, draft.seq),
            ).fetchone()[0]
            keep = draft.thread_id if not others and thread_id in (None, draft.thread_id) else None
            self._delete(draft)
            stored = self._send(content, thread_id or draft.thread_id, continue_thread=keep)
        logger.info("draft %s sent as message %s", draft_id, stored.id)
        return stored.minimal()

    def _draft_message_id(self, draft_id: str) -> str:
        row = self._conn.execute(
            "SELECT message_id FROM drafts WHERE id = ?", (draft_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"Draft {draft_id!r} not found")
        return str(row[0])
