"""Labels: the system labels every mailbox has and the labels.* methods."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from assistant.sandbox.database import MailboxDatabase
from assistant.sandbox.errors import AlreadyExists, InvalidArgument, NotFound

logger = logging.getLogger(__name__)

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


class LabelOperations(MailboxDatabase):
    """labels.list, labels.get and labels.create, and label lookups by name."""

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
