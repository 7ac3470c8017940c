"""Read what the sent check needs from Gmail, cheaply, and cache it locally.

The mailbox is never walked message by message. Searches (``q``) narrow it to
candidates: sent mail naming an invoice number or addressed to a client,
drafts naming a number, delivery failure notices, and other mail naming a
number. Candidates are read in batches. messages.get costs 5 quota units
whatever the format. Sent mail and drafts are read in ``full`` at once,
because their parts are needed to find the attachment carrying the invoice.
Other mail is read with ``format=metadata``, and in full only when its subject
does not name a number. Attachment text (PDF) is read only when neither subject, body
nor attachment names settle a sent message.

Everything read is cached in the ledger database. A later run first asks
history.list what changed since the last one: when nothing did and the
invoices to check are the same, it reads nothing more. A 404 from history.list
(the start point is older than Gmail keeps) means one full resync.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import sqlite_utils

from assistant.bounces import detect_delivery_failure
from assistant.clock import Clock, from_epoch_ms
from assistant.gmail import GmailClient, HistoryExpired
from assistant.gmail_resources import decode_base64url, to_mailbox_message
from assistant.invoice_match import contains_invoice_number
from assistant.pdf_text import extract_pdf_text
from assistant.sent_check import Bounce, InvoiceTarget, MailboxMessage, needs_attachment_text

log = logging.getLogger(__name__)

METADATA_HEADERS = [
    "From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
]
# Search terms per q. Longer searches still work (the client library sends a
# URL over 2,048 characters as a POST with X-HTTP-Method-Override), but short
# ones stay readable in logs and cheap to parse.
TERMS_PER_QUERY = 20
BOUNCE_QUERY = (
    "{from:mailer-daemon from:postmaster from:\"mail delivery subsystem\""
    " subject:\"delivery status notification\" subject:undeliverable"
    " subject:\"undelivered mail\" subject:\"returned mail\""
    " subject:\"delivery failure\" subject:\"failure notice\"}"
)

ProgressCallback = Callable[[str, int, int], None]


@dataclass
class MailSnapshot:
    """The messages and bounces the sent check classifies from."""

    messages: list[MailboxMessage] = field(default_factory=list)
    bounces: list[Bounce] = field(default_factory=list)


def _quote(term: str) -> str:
    return '"' + term.replace('"', " ") + '"'


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def candidate_queries(targets: Sequence[InvoiceTarget]) -> list[tuple[str, str]]:
    """Return ``(kind, q)`` searches that find every message the check may need.

    ``kind`` is "outgoing" for sent mail and drafts, "other" for the rest.
    """
    numbers = sorted({t.number for t in targets})
    client_addresses = sorted({a for t in targets for a in t.client_addresses})
    queries: list[tuple[str, str]] = []
    for group in _chunks(numbers, TERMS_PER_QUERY):
        terms = " ".join(_quote(n) for n in group)
        queries.append(("outgoing", f"in:sent {{{terms}}}"))
        queries.append(("outgoing", f"in:drafts {{{terms}}}"))
        queries.append(("other", f"-in:sent -in:drafts {{{terms}}}"))
    # Three operators per address, so fewer addresses per search.
    for group in _chunks(client_addresses, TERMS_PER_QUERY // 2):
        terms = " ".join(f"to:{a} cc:{a} bcc:{a}" for a in group)
        queries.append(("outgoing", f"in:sent {{{terms}}}"))
    return queries


class MailCache:
    """Gmail resources and derived facts kept in the ledger database."""

    def __init__(self, db: sqlite_utils.Database, account: str):
        self.db = db
        self.account = account

    def get(self, message_id: str) -> dict[str, Any] | None:
        rows = self.db.query(
            "select * from mail_cache where account = ? and message_id = ?",
            [self.account, message_id],
        )
        return next(iter(rows), None)

    def put(self, message_id: str, **values: Any) -> None:
        existing = self.get(message_id) or {}
        row = {**existing, **values, "account": self.account, "message_id": message_id}
        self.db.table("mail_cache").upsert(row, pk=("account", "message_id"))

    def drop(self, message_id: str) -> None:
        self.db.execute(
            "delete from mail_cache where account = ? and message_id = ?",
            [self.account, message_id],
        )

    def clear(self) -> None:
        self.db.execute("delete from mail_cache where account = ?", [self.account])

    def state(self) -> dict[str, Any] | None:
        rows = self.db.query("select * from mail_sync_state where account = ?", [self.account])
        return next(iter(rows), None)

    def save_state(self, **values: Any) -> None:
        row = {**(self.state() or {}), **values, "account": self.account}
        self.db.table("mail_sync_state").upsert(row, pk="account")


def targets_fingerprint(targets: Sequence[InvoiceTarget]) -> str:
    """Return a digest of the invoices and addresses a run searched for."""
    parts = sorted(f"{t.number}|{','.join(sorted(t.client_addresses))}" for t in targets)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class MailReader:
    """Collect a ``MailSnapshot`` for a set of invoices through a ``GmailClient``."""

    def __init__(
        self,
        client: GmailClient,
        cache: MailCache,
        clock: Clock,
        progress: ProgressCallback | None = None,
    ):
        self.client = client
        self.cache = cache
        self.clock = clock
        self.progress = progress or (lambda stage, done, total: None)

    def snapshot(self, targets: Sequence[InvoiceTarget]) -> MailSnapshot:
        """Bring the cache up to date for ``targets`` and return what it holds."""
        history_id = self._sync_history()
        fingerprint = targets_fingerprint(targets)
        state = self.cache.state() or {}
        unchanged = (
            state.get("fingerprint") == fingerprint
            and state.get("history_id") == history_id
            and state.get("candidate_ids") is not None
        )
        if unchanged:
            log.info("mailbox unchanged since history id %s; using the cache", history_id)
            found = json.loads(state["candidate_ids"])
        else:
            found = self._search(targets)
        messages = self._read_messages(found["outgoing"], found["other"], targets)
        bounces = self._read_bounces(found["bounce"])
        self.cache.save_state(
            fingerprint=fingerprint,
            history_id=history_id,
            candidate_ids=json.dumps(found),
            synced_at=self.clock.now().isoformat(),
        )
        return MailSnapshot(messages=messages, bounces=bounces)

    # -- history -------------------------------------------------------------
    def _sync_history(self) -> str:
        """Apply changes since the last run to the cache; return the new history id."""
        state = self.cache.state()
        if not state or not state.get("history_id"):
            return str(self.client.profile()["historyId"])
        try:
            records, history_id = self.client.list_history(int(state["history_id"]))
        except HistoryExpired:
            log.warning(
                "history id %s is no longer kept by Gmail; resyncing the cache in full",
                state["history_id"],
            )
            self.cache.clear()
            self.cache.save_state(history_id=None, candidate_ids=None)
            return str(self.client.profile()["historyId"])
        for record in records:
            self._apply_history(record)
        return str(history_id)

    def _apply_history(self, record: dict[str, Any]) -> None:
        for entry in record.get("messagesDeleted", []):
            self.cache.drop(entry["message"]["id"])
        for key in ("labelsAdded", "labelsRemoved"):
            for entry in record.get(key, []):
                message = entry["message"]
                if self.cache.get(message["id"]) is not None:
                    self.cache.put(message["id"], label_ids=json.dumps(message.get("labelIds", [])))

    # -- searching -------------------------------------------------------------
    def _search(self, targets: Sequence[InvoiceTarget]) -> dict[str, list[str]]:
        found: dict[str, dict[str, None]] = {"outgoing": {}, "other": {}, "bounce": {}}
        queries = candidate_queries(targets) + [("bounce", f"in:anywhere {BOUNCE_QUERY}")]
        for done, (kind, query) in enumerate(queries, start=1):
            for message_id in self.client.list_message_ids(query):
                found[kind][message_id] = None
            self.progress("search", done, len(queries))
        outgoing = found["outgoing"]
        other = [i for i in found["other"] if i not in outgoing]
        return {"outgoing": list(outgoing), "other": other, "bounce": list(found["bounce"])}

    # -- reading ---------------------------------------------------------------
    def _read_messages(
        self,
        outgoing: Sequence[str],
        other: Sequence[str],
        targets: Sequence[InvoiceTarget],
    ) -> list[MailboxMessage]:
        numbers = [t.number for t in targets]
        self._fetch_missing(outgoing, "full", {"full"})
        self._fetch_missing(other, "metadata", {"metadata", "full"})
        unsettled = [
            i for i in other if not self._subject_names_any(self._cached_message(i), numbers)
        ]
        self._fetch_missing(unsettled, "full", {"full"})

        ids = list(outgoing) + list(other)
        messages = [m for m in (self._cached_message(i) for i in ids) if m is not None]
        self._read_attachment_texts(messages, numbers)
        return messages

    @staticmethod
    def _subject_names_any(message: MailboxMessage | None, numbers: Sequence[str]) -> bool:
        if message is None:
            return True
        return any(contains_invoice_number(message.subject, n) for n in numbers)

    def _fetch_missing(self, ids: Sequence[str], fmt: str, good_levels: set[str]) -> None:
        missing = []
        for message_id in ids:
            row = self.cache.get(message_id)
            if row is None or row.get("level") not in good_levels:
                missing.append(message_id)
        if not missing:
            return
        headers = METADATA_HEADERS if fmt == "metadata" else None
        results = self.client.get_messages(missing, fmt=fmt, metadata_headers=headers)
        for done, message_id in enumerate(missing, start=1):
            resource = results.get(message_id)
            if isinstance(resource, dict):
                self.cache.put(
                    message_id,
                    level=fmt,
                    resource=json.dumps(resource),
                    label_ids=json.dumps(resource.get("labelIds", [])),
                )
            else:
                log.warning("message %s could not be read: %s", message_id, resource)
            self.progress(f"read {fmt}", done, len(missing))

    def _cached_message(self, message_id: str) -> MailboxMessage | None:
        row = self.cache.get(message_id)
        if row is None or not row.get("resource"):
            return None
        resource = json.loads(row["resource"])
        if row.get("label_ids"):
            resource["labelIds"] = json.loads(row["label_ids"])
        message = to_mailbox_message(resource)
        texts = json.loads(row.get("attachment_texts") or "{}")
        for attachment in message.attachments:
            attachment.text = texts.get(attachment.filename)
        return message

    def _read_attachment_texts(
        self, messages: Sequence[MailboxMessage], numbers: Sequence[str]
    ) -> None:
        wanted = [(m, a) for m in messages for a in needs_attachment_text(m, numbers)]
        wanted = [(m, a) for m, a in wanted if m.is_sent or m.is_draft]
        for done, (message, attachment) in enumerate(wanted, start=1):
            if attachment.attachment_id is None:
                continue
            data = self.client.get_attachment(message.message_id, attachment.attachment_id)
            attachment.text = extract_pdf_text(data, name=attachment.filename)
            row = self.cache.get(message.message_id) or {}
            texts = json.loads(row.get("attachment_texts") or "{}")
            texts[attachment.filename] = attachment.text
            self.cache.put(message.message_id, attachment_texts=json.dumps(texts))
            self.progress("read attachments", done, len(wanted))

    def _read_bounces(self, ids: Sequence[str]) -> list[Bounce]:
        self._fetch_missing(ids, "raw", {"raw"})
        bounces: list[Bounce] = []
        for message_id in ids:
            row = self.cache.get(message_id)
            if row is None or not row.get("resource"):
                continue
            resource = json.loads(row["resource"])
            # A notice that gave up on a temporary condition still means the
            # invoice was not delivered, so both kinds count.
            failure = detect_delivery_failure(decode_base64url(resource.get("raw", "")))
            if failure is None:
                continue
            bounces.append(
                Bounce(
                    message_id=message_id,
                    received_at=from_epoch_ms(int(resource.get("internalDate", "0"))),
                    original_rfc822_message_id=failure.original_message_id,
                    failed_addresses=frozenset(a.lower() for a in failure.failed_addresses),
                    original_subject=failure.original_subject,
                )
            )
        return bounces

