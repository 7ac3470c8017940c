"""The mailbox's SQLite connection: transactions, counters and history pruning.

``MailboxDatabase`` is the base of every part of ``MailStore``. ``store.py``
opens the connection and creates the schema. The other parts (labels, history,
messages, threads, drafts) build on the transactions and counters here.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from assistant.clock import to_epoch_ms
from assistant.sandbox import ids
from assistant.sandbox.clock import SandboxClock

DEFAULT_USER_EMAIL = "me@sandbox.local"


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


class MailboxDatabase:
    """The connection, lock and counters shared by the parts of ``MailStore``."""

    _conn: sqlite3.Connection
    _lock: threading.RLock
    _in_write: bool
    _clock: SandboxClock
    _retention: int | None
    _counters: _Counters
    _user_email: str
    _label_ids: set[str]

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
