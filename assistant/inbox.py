"""Read new mail about tracked invoices and stop chasing when the client replies.

Each run asks history.list (historyTypes messageAdded) what arrived since the
history id the last run stored, so a run with nothing new costs one call. The
first run starts from the profile's current history id and searches once by
``q`` for mail that came before it: the messages of the invoice and reminder
threads, mail from client addresses, bounces and payment notices since the
invoices were sent. A 404 from history.list (Gmail no longer keeps history
that old, see https://developers.google.com/workspace/gmail/api/guides/sync)
triggers the same search once, from the last run on.

A message is read in full (``format=raw``) only when it is in a tracked
thread, or its metadata shows it comes from a client address, names a tracked
message in In-Reply-To or References, or looks like a bounce or a payment
notice. Then:

- a bounce of the invoice or of a reminder holds the invoice (attention ``bounce``);
- a person's reply holds the invoice until the user resumes it (attention
  ``reply`` with the reply's new text, quotes removed);
- an automatic reply is not an answer, but a return date it states holds the
  invoice through that date, so the next reminder goes out after it;
- a payment notice naming the invoice opens attention ``payment`` proposing
  ``assistant paid``; it is never applied by itself.

Every message is handled once: its Gmail id is recorded with the outcome in
the same transaction as the holds and attention items it caused.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from assistant.attention import BOUNCE, PAYMENT, REPLY
from assistant.bounces import BOUNCE_SENDERS, BOUNCE_SUBJECTS, detect_delivery_failure
from assistant.clock import Clock
from assistant.config import Config
from assistant.gmail import GmailClient, HistoryExpired
from assistant.gmail_resources import addresses, decode_base64url, header_map, message_ids
from assistant.invoice_match import find_invoice_numbers
from assistant.ledger import Ledger
from assistant.mail_parse import ParsedMessage, parse_message
from assistant.mail_sync import BOUNCE_QUERY
from assistant.payment_notices import (
    BANK_WORDS,
    PAYMENT_PHRASES,
    PROVIDER_DOMAINS,
    PaymentNotice,
    detect_payment_notice,
)
from assistant.reminders import REMINDER_HEADER
from assistant.replies import ReplyKind, classify_reply
from assistant.stopping import HOLD_AUTO_REPLY, HOLD_BOUNCE, HOLD_REPLY, add_hold

logger = logging.getLogger(__name__)

METADATA_HEADERS = [
    "From", "Subject", "Return-Path", "Content-Type", "In-Reply-To", "References",
    "X-Failed-Recipients",
]
# Labels of the user's own mail, which is never the client's reply.
OWN_LABELS = frozenset({"SENT", "DRAFT"})
# Addresses or numbers per q search, as in the sent check's searches.
TERMS_PER_QUERY = 25
# How much of a reply's new text goes into the attention item.
MAX_REPLY_TEXT = 2_000
RETURNED_REMINDER = re.compile(
    rf"^{re.escape(REMINDER_HEADER)}:\s*(\S+)", re.IGNORECASE | re.MULTILINE
)
MESSAGE_ID_TOKEN = re.compile(rb"<[^<>\s]{3,250}>")

OUTCOMES = ("reply", "automatic", "bounce", "payment", "ignored")


@dataclass(frozen=True)
class InboxEvent:
    """The meaning of one message for the invoices it concerns."""

    kind: str  # reply, automatic, bounce, payment
    message_id: str
    thread_id: str
    invoice_numbers: tuple[str, ...]
    detail: str
    return_date: date | None = None  # automatic replies: the day the sender is back
    payment: PaymentNotice | None = None  # payment notices: what was reported


@dataclass
class InboxReport:
    """The outcome of one inbox run."""

    history_id: int | None = None
    searched: bool = False  # True when the run searched by q (first run, expired history)
    messages_read: int = 0
    events: list[InboxEvent] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[InboxEvent]:
        return [event for event in self.events if event.kind == kind]

    @property
    def replies(self) -> list[InboxEvent]:
        return self.of_kind("reply")

    @property
    def bounces(self) -> list[InboxEvent]:
        return self.of_kind("bounce")

    @property
    def payments(self) -> list[InboxEvent]:
        return self.of_kind("payment")

    @property
    def automatic(self) -> list[InboxEvent]:
        return self.of_kind("automatic")


@dataclass
class Tracked:
    """The open invoices and the threads, message ids and addresses that lead to them."""

    numbers: tuple[str, ...] = ()
    by_thread: dict[str, set[str]] = field(default_factory=dict)
    by_message_id: dict[str, set[str]] = field(default_factory=dict)
    by_address: dict[str, set[str]] = field(default_factory=dict)
    by_reminder: dict[str, set[str]] = field(default_factory=dict)
    first_sent: datetime | None = None

    def from_threads(self, thread_id: str) -> set[str]:
        return set(self.by_thread.get(thread_id, set()))

    def from_ids(self, ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for message_id in ids:
            found |= self.by_message_id.get(message_id.lower(), set())
        return found


def tracked_invoices(ledger: Ledger) -> Tracked:
    """Collect the open invoices with a balance and what leads to each of them."""
    tracked = Tracked()
    invoices = ledger.list_invoices(unpaid_only=True)
    tracked.numbers = tuple(invoice.number for invoice in invoices)
    open_numbers = set(tracked.numbers)
    for invoice in invoices:
        evidence = ledger.get_evidence(invoice.number)
        if evidence is not None and evidence.thread_id:
            tracked.by_thread.setdefault(evidence.thread_id, set()).add(invoice.number)
        if evidence is not None and evidence.rfc822_message_id:
            key = evidence.rfc822_message_id.lower()
            tracked.by_message_id.setdefault(key, set()).add(invoice.number)
        if evidence is not None and evidence.sent_at is not None:
            if tracked.first_sent is None or evidence.sent_at < tracked.first_sent:
                tracked.first_sent = evidence.sent_at
        client = ledger.get_client(invoice.client)
        for address in client.emails if client else ():
            tracked.by_address.setdefault(address, set()).add(invoice.number)
    for reminder in ledger.reminders.list():
        numbers = set(reminder.invoice_numbers) & open_numbers
        if not numbers:
            continue
        tracked.by_reminder.setdefault(reminder.uid, set()).update(numbers)
        for thread_id in (reminder.thread_id, *reminder.extra_thread_ids):
            if thread_id:
                tracked.by_thread.setdefault(thread_id, set()).update(numbers)
    return tracked


# --- the run ------------------------------------------------------------------


def process_inbox(
    ledger: Ledger, gmail: GmailClient, config: Config, clock: Clock
) -> InboxReport:
    """Read mail that arrived since the last run and act on what concerns open invoices."""
    tracked = tracked_invoices(ledger)
    state = _state(ledger)
    report = InboxReport()
    if state is None:
        profile = gmail.profile()
        account = str(profile["emailAddress"]).lower()
        report.history_id = int(profile["historyId"])
        since = tracked.first_sent
        references = _search(gmail, tracked, since)
        report.searched = True
    else:
        account = state["account"]
        try:
            references, report.history_id = _read_history(gmail, int(state["history_id"]))
        except HistoryExpired:
            logger.warning("Gmail history expired; searching the mailbox once instead")
            report.history_id = int(gmail.profile()["historyId"])
            since = datetime.fromisoformat(state["scanned_at"])
            if tracked.first_sent is not None:
                since = min(since, tracked.first_sent)
            references = _search(gmail, tracked, since)
            report.searched = True

    new = [ref for ref in references if not _processed(ledger, ref["id"])]
    candidates = _select_candidates(gmail, tracked, new, own={account, config.user.email})
    _handle_candidates(ledger, gmail, tracked, candidates, report, account)
    _save_state(ledger, account, report, clock)
    logger.info(
        "inbox read: %d new message(s), %d read in full, %d event(s)",
        len(new), report.messages_read, len(report.events),
    )
    return report


def _read_history(gmail: GmailClient, start: int) -> tuple[list[dict[str, Any]], int]:
    records, history_id = gmail.list_history(start, ["messageAdded"])
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        for added in record.get("messagesAdded", []):
            message = added.get("message", {})
            if message.get("id"):
                found[message["id"]] = message
    return list(found.values()), history_id


def _search(
    gmail: GmailClient, tracked: Tracked, since: datetime | None
) -> list[dict[str, Any]]:
    """Find, by q and by thread, the mail that may concern the tracked invoices."""
    found: dict[str, dict[str, Any]] = {}
    for thread_id in sorted(tracked.by_thread):
        thread = gmail.get_thread(thread_id, fmt="minimal")
        for message in thread.get("messages", []):
            found[message["id"]] = message
    for q in search_queries(tracked, since):
        for message_id in gmail.list_message_ids(q=q):
            found.setdefault(message_id, {"id": message_id})
    return list(found.values())


def search_queries(tracked: Tracked, since: datetime | None) -> list[str]:
    """Return the q searches for mail from clients, bounces and payment notices.

    ``after:2026/03/01`` is a calendar day in Pacific time, not UTC (see the
    note in assistant/sandbox/query.py), so the search starts one day before
    the first invoice was sent to be sure to cover it.
    """
    after = f" after:{(since - timedelta(days=1)):%Y/%m/%d}" if since else ""
    outside = "-in:sent -in:drafts"
    queries = [f"{BOUNCE_QUERY}{after}"]
    providers = " ".join(f"from:{domain}" for domain in PROVIDER_DOMAINS)
    queries.append(f"{{{providers}}} {outside}{after}")
    client_addresses = sorted(tracked.by_address)
    for start in range(0, len(client_addresses), TERMS_PER_QUERY):
        group = client_addresses[start : start + TERMS_PER_QUERY]
        terms = " ".join(f"from:{address}" for address in group)
        queries.append(f"{{{terms}}} {outside}{after}")
    numbers = list(tracked.numbers)
    for start in range(0, len(numbers), TERMS_PER_QUERY):
        group = numbers[start : start + TERMS_PER_QUERY]
        terms = " ".join('"' + number.replace('"', " ") + '"' for number in group)
        queries.append(f"{{{terms}}} {outside}{after}")
    return queries


def _select_candidates(
    gmail: GmailClient,
    tracked: Tracked,
    references: Sequence[dict[str, Any]],
    own: set[str | None],
) -> list[dict[str, Any]]:
    """Return the messages worth reading in full; record nothing yet.

    Messages of tracked threads are candidates at once. Others are read with
    ``format=metadata`` first, because most mail has nothing to do with invoices.
    """
    if not references:
        return []
    unknown = [ref["id"] for ref in references if "threadId" not in ref]
    resources = gmail.get_messages(unknown, "metadata", METADATA_HEADERS) if unknown else {}
    known = {ref["id"]: ref for ref in references if "threadId" in ref}
    candidates = []
    for ref in references:
        resource = known.get(ref["id"]) or resources.get(ref["id"])
        if resource is None or OWN_LABELS & set(resource.get("labelIds", [])):
            continue
        if resource["threadId"] in tracked.by_thread:
            candidates.append(resource)
            continue
        if "payload" not in resource:
            resource = gmail.get_message(resource["id"], "metadata", METADATA_HEADERS)
        if _worth_reading(resource, tracked, own):
            candidates.append(resource)
    return candidates


def _worth_reading(resource: dict[str, Any], tracked: Tracked, own: set[str | None]) -> bool:
    headers = header_map(resource)
    senders = addresses(headers.get("from"))
    sender = senders[0] if senders else ""
    if sender in own:
        return False
    if sender in tracked.by_address:
        return True
    ids = message_ids(headers.get("in-reply-to")) + message_ids(headers.get("references"))
    if tracked.from_ids(ids):
        return True
    return looks_like_bounce(headers, sender) or looks_like_payment(headers, sender)


def looks_like_bounce(headers: dict[str, str], sender: str) -> bool:
    """Tell from headers alone whether a message may be a delivery failure notice."""
    local = sender.partition("@")[0]
    content_type = headers.get("content-type", "").lower()
    return (
        bool(BOUNCE_SENDERS.match(local))
        or headers.get("return-path", "").strip() == "<>"
        or "x-failed-recipients" in headers
        or "report-type=delivery-status" in content_type.replace('"', "").replace(" ", "")
        or bool(BOUNCE_SUBJECTS.search(headers.get("subject", "")))
    )


def looks_like_payment(headers: dict[str, str], sender: str) -> bool:
    """Tell from headers alone whether a message may be a payment notification."""
    domain = sender.rpartition("@")[2]
    if any(domain == known or domain.endswith("." + known) for known in PROVIDER_DOMAINS):
        return True
    subject = headers.get("subject", "")
    return bool(PAYMENT_PHRASES.search(subject)) or bool(
        BANK_WORDS.search(f"{headers.get('from', '')} {domain}")
    )


# --- classifying one message --------------------------------------------------


def _handle_candidates(
    ledger: Ledger,
    gmail: GmailClient,
    tracked: Tracked,
    candidates: list[dict[str, Any]],
    report: InboxReport,
    account: str,
) -> None:
    raw_resources = gmail.get_messages([c["id"] for c in candidates], "raw")
    for candidate in candidates:
        resource = raw_resources.get(candidate["id"])
        if resource is None:
            continue
        report.messages_read += 1
        raw = decode_base64url(resource.get("raw", ""))
        events = classify_message(
            tracked, resource["id"], resource["threadId"], raw, own={account}
        )
        with ledger.transaction():
            if _processed(ledger, resource["id"]):
                continue
            for event in events:
                _apply(ledger, event)
            _mark_processed(ledger, resource["id"], resource["threadId"], events)
        report.events.extend(events)


def classify_message(
    tracked: Tracked, message_id: str, thread_id: str, raw: bytes, *, own: set[str]
) -> list[InboxEvent]:
    """Decide what one message means for the tracked invoices; touches nothing."""
    parsed = parse_message(raw)
    if parsed.sender in own:
        return []
    failure = detect_delivery_failure(parsed)
    if failure is not None:
        numbers = _bounced_invoices(tracked, thread_id, parsed, raw, failure.failed_addresses)
        if not numbers:
            return []
        kind = "permanent" if failure.permanent else "temporary"
        detail = (
            f"a message to {', '.join(failure.failed_addresses) or 'the client'} "
            f"bounced ({kind} failure: {failure.diagnostic or 'no reason given'})"
        )
        return [InboxEvent("bounce", message_id, thread_id, numbers, detail)]
    if _is_status_report(parsed):
        # A delay notice or a read receipt is not the client's reply.
        return []

    events = []
    notice = detect_payment_notice(parsed, tracked.numbers)
    if notice is not None:
        events.append(_payment_event(notice, message_id, thread_id))
    numbers = _answered_invoices(tracked, thread_id, parsed)
    if numbers:
        event = _reply_event(parsed, message_id, thread_id, numbers)
        if event is not None:
            events.append(event)
    return events


def _is_status_report(parsed: ParsedMessage) -> bool:
    report_types = ("message/delivery-status", "message/disposition-notification")
    return any(part.get_content_type() in report_types for part in parsed.message.walk())


def _answered_invoices(
    tracked: Tracked, thread_id: str, parsed: ParsedMessage
) -> tuple[str, ...]:
    numbers = tracked.from_threads(thread_id)
    numbers |= tracked.from_ids([*(parsed.references or []), parsed.in_reply_to or ""])
    if not numbers and parsed.sender in tracked.by_address:
        client_numbers = tracked.by_address[parsed.sender]
        text = f"{parsed.subject}\n{parsed.body_text[:20_000]}"
        named = find_invoice_numbers(text, sorted(client_numbers))
        # NOTE: a client writing outside the invoice threads about no invoice
        # in particular holds all of the client's invoices; the user resumes
        # those it does not concern.
        numbers = set(named) or set(client_numbers)
    return tuple(sorted(numbers))


def _bounced_invoices(
    tracked: Tracked,
    thread_id: str,
    parsed: ParsedMessage,
    raw: bytes,
    failed_addresses: Sequence[str],
) -> tuple[str, ...]:
    """Find the invoices whose invoice or reminder message bounced.

    The returned copy often carries the reminder's X-Assistant-Reminder header
    and the invoice's Message-ID in its References, so the raw text is searched
    for both. The bounce's own thread counts too, because Gmail files a bounce
    in the thread of the message that bounced.
    """
    text = raw.decode("latin-1")
    numbers = tracked.from_threads(thread_id)
    for uid in RETURNED_REMINDER.findall(text):
        numbers |= tracked.by_reminder.get(uid, set())
    numbers |= tracked.from_ids(m.decode("latin-1") for m in MESSAGE_ID_TOKEN.findall(raw))
    if not numbers:
        for address in failed_addresses:
            client_numbers = tracked.by_address.get(address.lower(), set())
            named = find_invoice_numbers(text[:200_000], sorted(client_numbers))
            numbers |= set(named) or client_numbers
    return tuple(sorted(numbers))


def _reply_event(
    parsed: ParsedMessage, message_id: str, thread_id: str, numbers: tuple[str, ...]
) -> InboxEvent | None:
    classification = classify_reply(parsed)
    sender = parsed.sender or "an unknown sender"
    if classification.kind is ReplyKind.HUMAN:
        text = classification.new_text[:MAX_REPLY_TEXT] or "(no new text)"
        return InboxEvent("reply", message_id, thread_id, numbers, f"{sender} wrote: {text}")
    if classification.kind is ReplyKind.AUTOMATIC:
        back = classification.return_date
        detail = f"automatic reply from {sender} ({classification.reason})"
        if back is not None:
            detail += f"; back on {back.isoformat()}"
        return InboxEvent(
            "automatic", message_id, thread_id, numbers, detail, return_date=back
        )
    return None


def _payment_event(notice: PaymentNotice, message_id: str, thread_id: str) -> InboxEvent:
    detail = (
        f"{notice.provider} reports a payment of {notice.amount} {notice.currency}"
        f" naming {', '.join(notice.invoice_numbers)}"
    )
    return InboxEvent(
        "payment", message_id, thread_id, notice.invoice_numbers, detail, payment=notice
    )


# --- recording ----------------------------------------------------------------


def _apply(ledger: Ledger, event: InboxEvent) -> None:
    for number in event.invoice_numbers:
        key = f"{number}/{event.message_id}"
        if event.kind == "bounce":
            add_hold(ledger, number, HOLD_BOUNCE, event.message_id, event.detail)
            ledger.attention.add(BOUNCE, key, f"Invoice {number}: {event.detail}",
                                 invoice_number=number, message_id=event.message_id,
                                 source="inbox")
        elif event.kind == "reply":
            add_hold(ledger, number, HOLD_REPLY, event.message_id, event.detail[:200])
            ledger.attention.add(REPLY, key, f"Invoice {number}: {event.detail}",
                                 invoice_number=number, message_id=event.message_id,
                                 source="inbox")
        elif event.kind == "automatic":
            _hold_until_return(ledger, number, event)
        elif event.kind == "payment":
            ledger.attention.add(PAYMENT, key, _payment_detail(ledger, number, event),
                                 invoice_number=number, message_id=event.message_id,
                                 source="inbox")


def _hold_until_return(ledger: Ledger, number: str, event: InboxEvent) -> None:
    # An automatic reply is no answer; only a stated return date delays chasing.
    if event.return_date is None:
        return
    add_hold(
        ledger, number, HOLD_AUTO_REPLY, event.message_id, event.detail,
        until=event.return_date,
    )


def _payment_detail(ledger: Ledger, number: str, event: InboxEvent) -> str:
    """Propose the command that records the payment, with its amount and date."""
    notice = event.payment
    assert notice is not None
    proposal = f"assistant paid {number} --amount {notice.amount}"
    if notice.paid_on is not None:
        proposal += f" --date {notice.paid_on.isoformat()}"
    invoice = ledger.get_invoice(number)
    warning = ""
    if invoice is not None and invoice.currency != notice.currency:
        warning = (
            f" The notice is in {notice.currency} but the invoice is in "
            f"{invoice.currency}; convert the amount before recording it."
        )
    return f"Invoice {number}: {event.detail}.{warning} If it is right, run: {proposal}"


def _state(ledger: Ledger) -> dict[str, Any] | None:
    rows = list(ledger.db.query("SELECT * FROM inbox_state WHERE id = 1"))
    return dict(rows[0]) if rows else None


def _save_state(ledger: Ledger, account: str, report: InboxReport, clock: Clock) -> None:
    now = clock.now().isoformat()
    row: dict[str, Any] = {
        "id": 1,
        "account": account,
        "history_id": str(report.history_id),
        "scanned_at": now,
    }
    if report.searched:
        row["full_scan_at"] = now
    ledger.db.table("inbox_state").upsert(row, pk="id")


def _processed(ledger: Ledger, message_id: str) -> bool:
    row = ledger.db.execute(
        "SELECT 1 FROM inbox_messages WHERE message_id = ?", [message_id]
    ).fetchone()
    return row is not None


def _mark_processed(
    ledger: Ledger, message_id: str, thread_id: str, events: list[InboxEvent]
) -> None:
    kinds = [event.kind for event in events]
    outcome = next((kind for kind in OUTCOMES if kind in kinds), "ignored")
    numbers = sorted({number for event in events for number in event.invoice_numbers})
    ledger.db.table("inbox_messages").insert(
        {
            "message_id": message_id,
            "thread_id": thread_id,
            "outcome": outcome,
            "invoice_numbers": json.dumps(numbers),
            "processed_at": ledger.clock.now().isoformat(),
        }
    )
