"""Draft reminders in Gmail for the ladder stages that fall within the horizon.

``draft_reminders`` first reconciles the drafts it made before: a draft the
user deleted in Gmail marks its reminder ``skipped`` (never drafted again), and
a draft the user edited is kept as edited. Then, for each unpaid invoice whose
sent check reports ``sent``, it gets the next stage from the ladder, and drafts
each stage not yet claimed whose day is within ``horizon_days``.

One reminder covers one stage of one or more invoices of one client in one
currency: invoices in different currencies get separate messages, so amounts
in different currencies never share a total. Invoices are combined when the
ladder gives them the same stage and repeat. A stage that may go out late
(``after`` direction) is planned on the latest of the invoices' days, so no
invoice is chased before its own day. A stage that must not go out late
(``before``, the gentle note) combines only invoices with the same day.

Idempotence rests on the ledger: each (invoice, stage, repeat) belongs to one
reminder whatever its status, and a draft left behind by a run that stopped
between ``drafts.create`` and the ledger write is found by its
``X-Assistant-Reminder`` header and adopted, not created twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from email import policy
from typing import Any
from zoneinfo import ZoneInfo

from assistant import attention, reminders
from assistant.business_days import BusinessCalendar
from assistant.clock import Clock, from_epoch_ms
from assistant.compose import (
    InvoiceFile,
    InvoiceMail,
    Mailbox,
    ReminderMessage,
    SenderIdentity,
    build_reminder_message,
    choose_sender,
    sender_identities,
)
from assistant.config import Config
from assistant.errors import GmailError, InputError, LedgerError
from assistant.gmail import GmailClient
from assistant.gmail_resources import (
    addresses,
    decode_base64url,
    decode_header_value,
    header_map,
    message_ids,
)
from assistant.invoice_check import invoices_to_check
from assistant.ladder import (
    CallClientTask,
    InvoiceState,
    NoReminder,
    Overrides,
    SendCheck,
    SentReminder,
    StageDue,
    next_step,
)
from assistant.ledger import Client, Invoice, Ledger, SentEvidence
from assistant.reminders import Reminder, reminder_uid
from assistant.send_window import Direction, SendPlanner
from assistant.stopping import blocking_reason
from assistant.templating import (
    InvoiceItem,
    PaymentOption,
    ReminderContext,
    choose_signature,
    render_reminder,
)

logger = logging.getLogger(__name__)

SOURCE = "draft"
DRAFT_DELETED = "draft deleted in Gmail"
# Threads already logged as gone, so a watch loop logs each one once.
_GONE_THREADS_LOGGED: set[str] = set()


@dataclass
class DraftReport:
    """The outcome of one drafting run: reminders by what happened, and what needs the user."""

    drafted: list[Reminder] = field(default_factory=list)
    existing: list[Reminder] = field(default_factory=list)
    skipped: list[Reminder] = field(default_factory=list)
    needs_user: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Candidate:
    """One invoice whose next stage is due within the horizon."""

    invoice: Invoice
    client: Client
    evidence: SentEvidence
    due: StageDue


def draft_reminders(
    ledger: Ledger,
    gmail: GmailClient,
    config: Config,
    clock: Clock,
    *,
    horizon_days: int | None = None,
    numbers: Sequence[str] = (),
) -> DraftReport:
    """Reconcile earlier drafts, then draft the stages due within the horizon."""
    horizon = config.drafts_horizon_days if horizon_days is None else horizon_days
    if horizon < 0:
        raise InputError(f"invalid horizon {horizon} days; give 0 or more days")
    report = DraftReport()
    invoices = invoices_to_check(ledger, numbers)
    edited = reconcile_drafts(ledger, gmail, clock, report)

    candidates = _candidates(ledger, gmail, config, clock, invoices, horizon, report)
    if candidates:
        run = _DraftRun(ledger, gmail, config, clock, report)
        for group in group_candidates(candidates):
            run.draft_group(group)

    requested = {invoice.number for invoice in invoices}
    new = {reminder.uid for reminder in report.drafted}
    report.existing = [
        reminder
        for reminder in ledger.reminders.list(reminders.OPEN_STATUSES)
        if reminder.uid not in new and set(reminder.invoice_numbers) & requested
    ]
    logger.info(
        "drafting done: %d new, %d existing (%d edited in Gmail), %d skipped",
        len(report.drafted), len(report.existing), edited, len(report.skipped),
    )
    return report


# -- reconciling earlier drafts ------------------------------------------------


def reconcile_drafts(
    ledger: Ledger, gmail: GmailClient, clock: Clock, report: DraftReport
) -> int:
    """Bring open reminders in line with their Gmail drafts; return how many were edited.

    A deleted draft (drafts.get returns 404) marks its reminder skipped. An
    edited draft (Gmail gives it a new message id, as drafts.update does) is
    kept: the ledger records the new message id and headers, not the old text.
    """
    edited = 0
    book = ledger.reminders
    for reminder in book.list((reminders.DRAFTED, reminders.APPROVED)):
        if reminder.draft_id is None:
            continue
        try:
            draft = gmail.get_draft(reminder.draft_id, fmt="metadata")
        except GmailError as exc:
            if exc.status != 404:
                raise
            report.skipped.append(_mark_deleted(ledger, reminder))
            continue
        message = draft.get("message", {})
        if message.get("id") and message["id"] != reminder.draft_message_id:
            _record_edit(ledger, reminder, message)
            edited += 1
    return edited


def _mark_deleted(ledger: Ledger, reminder: Reminder) -> Reminder:
    with ledger.transaction():
        skipped = ledger.reminders.transition(
            reminder.uid,
            (reminders.DRAFTED, reminders.APPROVED),
            reminders.SKIPPED,
            source=SOURCE,
            detail=DRAFT_DELETED,
        )
        ledger.attention.resolve(attention.APPROVAL, reminder.uid, source=SOURCE)
    logger.info(
        "reminder %s skipped: its draft %s was deleted in Gmail",
        reminder.uid, reminder.draft_id,
    )
    return skipped


def _record_edit(ledger: Ledger, reminder: Reminder, message: dict[str, Any]) -> None:
    headers = header_map(message)
    changes: dict[str, Any] = {"draft_message_id": message["id"]}
    if message.get("threadId"):
        changes["thread_id"] = message["threadId"]
    if "to" in headers:
        changes["to"] = addresses(headers["to"])
    if "cc" in headers or "to" in headers:
        changes["cc"] = addresses(headers.get("cc"))
    if "subject" in headers:
        changes["subject"] = decode_header_value(headers["subject"])
    ledger.reminders.update(reminder.uid, source=SOURCE, **changes)
    logger.info(
        "draft %s of reminder %s was edited in Gmail; keeping the edited version",
        reminder.draft_id, reminder.uid,
    )


# -- deciding what is due ------------------------------------------------------


def _candidates(
    ledger: Ledger,
    gmail: GmailClient,
    config: Config,
    clock: Clock,
    invoices: Sequence[Invoice],
    horizon: int,
    report: DraftReport,
) -> list[_Candidate]:
    found = []
    for invoice in invoices:
        try:
            candidate = _candidate(ledger, gmail, config, clock, invoice, horizon, report)
        except (GmailError, InputError, LedgerError) as exc:
            # One invoice's failure must not stop drafting for the others.
            logger.warning("invoice %s not considered for drafting: %s", invoice.number, exc)
            report.needs_user.append((invoice.number, f"reminder not drafted: {exc}"))
            continue
        if candidate is not None:
            found.append(candidate)
    return found


def _candidate(
    ledger: Ledger,
    gmail: GmailClient,
    config: Config,
    clock: Clock,
    invoice: Invoice,
    horizon: int,
    report: DraftReport,
) -> _Candidate | None:
    if invoice.status != "open" or invoice.balance <= 0:
        return None
    evidence = ledger.get_evidence(invoice.number)
    reason = _not_sent_reason(evidence)
    if reason is not None:
        report.needs_user.append((invoice.number, reason))
        return None
    assert evidence is not None
    client = ledger.get_client(invoice.client) or Client(name=invoice.client)
    today = clock.now().astimezone(_client_zone(invoice, client, config)).date()
    blocked = blocking_reason(ledger, invoice.number, today)
    if blocked is not None:
        logger.info("invoice %s not chased: %s", invoice.number, blocked)
        if not _paused(invoice, client, today):
            report.needs_user.append((invoice.number, blocked))
        return None
    state = invoice_state(ledger, gmail, invoice, client, evidence)
    done = reminders_done(ledger, invoice.number, clock)
    step = next_step(state, done, config.ladder, clock, config.user_defaults())
    return _consider(ledger, invoice, client, evidence, step, clock, horizon, report)


def _not_sent_reason(evidence: SentEvidence | None) -> str | None:
    if evidence is None:
        return "not checked yet: run 'assistant check' to look for it in Sent"
    if evidence.status != "sent" or evidence.sent_at is None:
        detail = f": {evidence.detail}" if evidence.detail else ""
        return f"sent check status {evidence.status}{detail}"
    if evidence.message_id is None or evidence.thread_id is None:
        return "the sent check found no Gmail message to reply to; run 'assistant check'"
    return None


def _client_zone(invoice: Invoice, client: Client, config: Config) -> ZoneInfo:
    return ZoneInfo(invoice.timezone or client.timezone or config.user.timezone)


def _paused(invoice: Invoice, client: Client, today: date) -> bool:
    """Return True when the user paused the invoice or client; that needs nothing more."""
    pauses = [day for day in (invoice.paused_until, client.paused_until) if day]
    return any(today <= day for day in pauses)


def _consider(
    ledger: Ledger,
    invoice: Invoice,
    client: Client,
    evidence: SentEvidence,
    step: StageDue | CallClientTask | NoReminder,
    clock: Clock,
    horizon: int,
    report: DraftReport,
) -> _Candidate | None:
    if isinstance(step, NoReminder):
        logger.debug("invoice %s: no reminder (%s)", invoice.number, step.detail)
        return None
    if isinstance(step, CallClientTask):
        _add_call(ledger, invoice, client, step, clock, horizon, report)
        return None
    today = clock.now().astimezone(ZoneInfo(step.timezone)).date()
    if step.due_on > today + timedelta(days=horizon):
        return None
    owner = ledger.reminders.claimed(invoice.number, step.stage, step.repeat_index)
    if owner is not None:
        return None
    return _Candidate(invoice, client, evidence, step)


def _add_call(
    ledger: Ledger,
    invoice: Invoice,
    client: Client,
    task: CallClientTask,
    clock: Clock,
    horizon: int,
    report: DraftReport,
) -> None:
    # The ladder has no zone in a call task; the client's, else UTC, dates it.
    zone = ZoneInfo(invoice.timezone or client.timezone or "UTC")
    if task.due_on > clock.now().astimezone(zone).date() + timedelta(days=horizon):
        return
    detail = (
        f"call {client.name} about invoice {invoice.number}: "
        f"{task.reminders_sent} reminder(s) sent and still unpaid"
    )
    due_at = datetime.combine(task.due_on, time(9), tzinfo=zone).astimezone(timezone.utc)
    ledger.attention.add(
        attention.CALL, invoice.number, detail,
        invoice_number=invoice.number, due_at=due_at, source=SOURCE,
    )
    report.needs_user.append((invoice.number, f"{detail}, from {task.due_on.isoformat()}"))


def invoice_state(
    ledger: Ledger,
    gmail: GmailClient,
    invoice: Invoice,
    client: Client,
    evidence: SentEvidence,
) -> InvoiceState:
    """Map the ledger's invoice, client and evidence to the ladder's view of them."""
    return InvoiceState(
        number=invoice.number,
        due_on=invoice.due_date,
        sent_at=evidence.sent_at,
        amount_due=invoice.balance,
        send_check=SendCheck.CONFIRMED,
        client_country=client.country,
        client_timezone=client.timezone,
        client_messages=client_messages(ledger, gmail, invoice.number, client, evidence),
        client_overrides=Overrides(
            stages_off=frozenset(client.stages_off),
            language=client.language,
            timezone=client.timezone,
            paused_until=client.paused_until,
        ),
        invoice_overrides=Overrides(
            stages_off=frozenset(invoice.stages_off),
            language=invoice.language,
            timezone=invoice.timezone,
            paused_until=invoice.paused_until,
        ),
    )


def client_messages(
    ledger: Ledger,
    gmail: GmailClient,
    number: str,
    client: Client,
    evidence: SentEvidence,
) -> tuple[datetime, ...]:
    """Return when the client wrote in the invoice's threads since it was sent."""
    threads = [evidence.thread_id]
    for reminder in ledger.reminders.for_invoice(number):
        threads += [reminder.thread_id, *reminder.extra_thread_ids]
    own = {address.lower() for address in client.emails}
    moments = []
    for thread_id in dict.fromkeys(t for t in threads if t):
        thread = _read_thread(gmail, thread_id, number)
        for message in thread.get("messages", []):
            sender = addresses(header_map(message).get("from"))
            received = from_epoch_ms(int(message.get("internalDate", "0")))
            sent_at = evidence.sent_at
            if sender and sender[0] in own and (sent_at is None or received > sent_at):
                moments.append(received)
    return tuple(sorted(moments))


def _read_thread(gmail: GmailClient, thread_id: str, number: str) -> dict[str, Any]:
    """Return a thread's metadata, or an empty thread when it no longer exists.

    Deleting the only draft of a thread (an URGENT reminder starts its own)
    deletes the thread, so threads.get answers 404 from then on.
    """
    try:
        return gmail.get_thread(thread_id, fmt="metadata", metadata_headers=["From"])
    except GmailError as exc:
        if exc.status != 404:
            raise
    if thread_id not in _GONE_THREADS_LOGGED:
        _GONE_THREADS_LOGGED.add(thread_id)
        logger.info(
            "thread %s of invoice %s no longer exists; no client messages there",
            thread_id, number,
        )
    return {}


def reminders_done(ledger: Ledger, number: str, clock: Clock) -> list[SentReminder]:
    """Return the invoice's stages the ladder counts as done.

    A sent reminder counts at its send time. A skipped one counts too, at the
    earlier of its planned time and now, so the ladder moves past a stage the
    user chose to skip instead of waiting on it.
    """
    done = []
    now = clock.now()
    for reminder in ledger.reminders.for_invoice(number):
        if reminder.status == reminders.SENT:
            done.append(SentReminder(reminder.stage, reminder.sent_at or reminder.planned_send_at))
        elif reminder.status == reminders.SKIPPED:
            done.append(SentReminder(reminder.stage, min(reminder.planned_send_at, now)))
    return done


def group_candidates(candidates: Sequence[_Candidate]) -> list[list[_Candidate]]:
    """Group invoices into reminders: one client, stage, repeat, currency and zone.

    A ``before`` stage groups only invoices with the same day, because moving
    it to another invoice's day could take it past its own.
    """
    groups: dict[tuple[Any, ...], list[_Candidate]] = {}
    for candidate in candidates:
        due = candidate.due
        key: tuple[Any, ...] = (
            candidate.client.name, due.stage, due.repeat_index,
            candidate.invoice.currency, due.language, due.timezone, due.country,
        )
        if due.direction is Direction.BEFORE:
            key += (due.due_on,)
        groups.setdefault(key, []).append(candidate)
    return [
        sorted(group, key=lambda c: (c.evidence.sent_at, c.invoice.number))
        for group in groups.values()
    ]


# -- drafting one reminder ------------------------------------------------------


class _DraftRun:
    """State shared by the reminders drafted in one run: identities and orphans."""

    def __init__(
        self,
        ledger: Ledger,
        gmail: GmailClient,
        config: Config,
        clock: Clock,
        report: DraftReport,
    ):
        self.ledger = ledger
        self.gmail = gmail
        self.config = config
        self.clock = clock
        self.report = report
        self.identities = sender_identities(gmail.send_as())
        self._orphans: dict[str, dict[str, Any]] | None = None

    def draft_group(self, group: list[_Candidate]) -> None:
        numbers = [c.invoice.number for c in group]
        try:
            reminder = self._draft(group)
        except (InputError, GmailError) as exc:
            logger.warning("reminder for invoice(s) %s not drafted: %s", ", ".join(numbers), exc)
            for number in numbers:
                self.report.needs_user.append((number, f"reminder not drafted: {exc}"))
            return
        if reminder is not None:
            self.report.drafted.append(reminder)

    def _draft(self, group: list[_Candidate]) -> Reminder | None:
        first = group[0]
        due = first.due
        stage_day = max(c.due.due_on for c in group)
        uid = reminder_uid(due.stage, due.repeat_index, [c.invoice.number for c in group])
        planned = self._plan(uid, due, stage_day)
        message = self.compose(uid, group, stage_day)
        return self._store(uid, group, message, stage_day, planned)

    def compose(self, uid: str, group: list[_Candidate], day: date) -> ReminderMessage:
        """Render the reminder's text as of ``day`` and build its MIME message."""
        due = group[0].due
        mails = [read_invoice_mail(self.gmail, c.invoice.number, c.evidence) for c in group]
        oldest = min(mails, key=lambda mail: mail.sent_at)
        identity, _ = choose_sender(oldest.sender, self.identities)
        rendered = render_reminder(
            due.template, due.language, self._context(group, identity, day)
        )
        return build_reminder_message(
            uid, mails, rendered, self.identities,
            urgent_prefix=due.subject_prefix,
            keep_in_thread=self.config.keep_urgent_in_thread,
        )

    def _plan(self, uid: str, due: StageDue, day: Any) -> datetime:
        planner = SendPlanner(
            window=self.config.send_window,
            zone=ZoneInfo(due.timezone),
            calendar=BusinessCalendar(due.country),
        )
        planned = planner.plan(uid, day, due.direction)
        now = self.clock.now()
        return planned if planned > now else planner.next_send_time(uid, planned, now)

    def _context(
        self, group: list[_Candidate], identity: SenderIdentity, day: Any
    ) -> ReminderContext:
        user = self.config.user
        sender_name = user.name or identity.display_name or identity.email
        client = group[0].client
        return ReminderContext(
            client_name=client.name,
            invoices=[
                InvoiceItem(
                    number=c.invoice.number,
                    amount=c.invoice.amount,
                    currency=c.invoice.currency,
                    due_date=c.invoice.due_date,
                    amount_paid=c.invoice.amount_paid,
                )
                for c in group
            ],
            today=day,
            sender_name=sender_name,
            business_name=user.business_name,
            signature=choose_signature(
                identity.signature_html, user.signature, sender_name, user.business_name
            ),
            payment_options=[
                PaymentOption(o.kind, o.label, o.details) for o in self.config.payment_options
            ],
            contact_name=client.contact_first_name,
        )

    def _store(
        self,
        uid: str,
        group: list[_Candidate],
        message: ReminderMessage,
        stage_day: Any,
        planned: datetime,
    ) -> Reminder | None:
        draft = self._orphan(uid) or self.gmail.create_draft(message.raw, message.thread_id)
        draft_message = draft.get("message", {})
        thread_id = draft_message.get("threadId") or message.thread_id
        extra = [t for t in (message.thread_id, *message.extra_thread_ids) if t and t != thread_id]
        reminder = Reminder(
            uid=uid,
            stage=group[0].due.stage,
            repeat_index=group[0].due.repeat_index,
            client=group[0].client.name,
            invoice_numbers=tuple(c.invoice.number for c in group),
            status=reminders.DRAFTED,
            stage_day=stage_day,
            planned_send_at=planned,
            to=message.to,
            cc=message.cc,
            subject=message.subject,
            thread_id=thread_id,
            extra_thread_ids=tuple(dict.fromkeys(extra)),
            in_reply_to=message.in_reply_to,
            references=message.references,
            draft_id=draft["id"],
            draft_message_id=draft_message.get("id"),
            detail="; ".join(message.notes),
        )
        return self._record(reminder)

    def _record(self, reminder: Reminder) -> Reminder | None:
        try:
            with self.ledger.transaction():
                stored = self.ledger.reminders.add(reminder, source=SOURCE)
                self.ledger.attention.add(
                    attention.APPROVAL,
                    reminder.uid,
                    _approval_detail(reminder),
                    invoice_number=reminder.invoice_numbers[0],
                    message_id=reminder.draft_message_id,
                    due_at=reminder.planned_send_at,
                    source=SOURCE,
                )
        except LedgerError:
            # Another run claimed a stage in the meantime, so its draft is the one kept.
            assert reminder.draft_id is not None
            self.gmail.delete_draft(reminder.draft_id)
            logger.warning("reminder %s was drafted by another run; removed the copy", reminder.uid)
            return None
        logger.info(
            "drafted reminder %s (draft %s) for invoice(s) %s, planned %s",
            reminder.uid, reminder.draft_id, ", ".join(reminder.invoice_numbers),
            reminder.planned_send_at.isoformat(),
        )
        return stored

    def _orphan(self, uid: str) -> dict[str, Any] | None:
        """Return a draft for ``uid`` that a stopped run created but never recorded."""
        if self._orphans is None:
            self._orphans = find_orphan_drafts(self.ledger, self.gmail)
        return self._orphans.pop(uid, None)


def rerender_draft(
    ledger: Ledger, gmail: GmailClient, config: Config, reminder: Reminder, day: date
) -> Reminder:
    """Write the reminder's draft again with its text as of ``day``, in the same thread.

    Used when a send moves to another day than the one the text was written
    for, so the day count it states stays true. The caller checks first that
    the user did not edit the draft, because this replaces its content.
    """
    group = [
        _stage_candidate(ledger, config, number, reminder, day)
        for number in reminder.invoice_numbers
    ]
    run = _DraftRun(ledger, gmail, config, ledger.clock, DraftReport())
    message = run.compose(reminder.uid, group, day)
    assert reminder.draft_id is not None
    draft = gmail.update_draft(reminder.draft_id, message.raw, reminder.thread_id)
    updated = ledger.reminders.update(
        reminder.uid,
        source="send",
        stage_day=day,
        subject=message.subject,
        draft_message_id=draft.get("message", {}).get("id"),
    )
    logger.info(
        "draft %s of reminder %s written again for %s, the day it now goes out",
        reminder.draft_id, reminder.uid, day.isoformat(),
    )
    return updated


def _stage_candidate(
    ledger: Ledger, config: Config, number: str, reminder: Reminder, day: date
) -> _Candidate:
    invoice = ledger.get_invoice(number)
    evidence = ledger.get_evidence(number)
    if invoice is None or evidence is None or _not_sent_reason(evidence) is not None:
        raise InputError(
            f"reminder {reminder.uid} cannot be written again: invoice {number} or its "
            "sent check is missing; run 'assistant check'"
        )
    client = ledger.get_client(invoice.client) or Client(name=invoice.client)
    rules = {rule.name: rule for rule in config.ladder.stages}
    rule = rules[reminder.stage]
    due = StageDue(
        invoice_number=number,
        stage=rule.name,
        due_on=day,
        repeat_index=reminder.repeat_index,
        template=rule.template,
        direction=rule.direction,
        subject_prefix=rule.subject_prefix,
        language=invoice.language or client.language or config.user_defaults().language,
        timezone=str(_client_zone(invoice, client, config)),
        country=client.country or config.user.country,
    )
    return _Candidate(invoice, client, evidence, due)


def _approval_detail(reminder: Reminder) -> str:
    when = reminder.planned_send_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"approve the {reminder.stage} reminder for invoice(s) "
        f"{', '.join(reminder.invoice_numbers)} to {', '.join(reminder.to)}, "
        f"planned for {when}"
    )


def find_orphan_drafts(ledger: Ledger, gmail: GmailClient) -> dict[str, dict[str, Any]]:
    """Return Gmail drafts that carry a reminder header but are unknown to the ledger."""
    known = {r.draft_id for r in ledger.reminders.list() if r.draft_id}
    unknown = [d for d in gmail.list_drafts() if d["id"] not in known]
    if not unknown:
        return {}
    by_message = {d["message"]["id"]: d for d in unknown}
    messages = gmail.get_messages(
        by_message, fmt="metadata", metadata_headers=[reminders.REMINDER_HEADER]
    )
    found = {}
    for message_id, message in messages.items():
        uid = header_map(message).get(reminders.REMINDER_HEADER.lower())
        if uid:
            draft = by_message[message_id]
            found[uid.strip()] = {"id": draft["id"], "message": message}
            logger.info("adopting draft %s left for reminder %s", draft["id"], uid)
    return found


# -- reading the invoice message ---------------------------------------------------


def read_invoice_mail(gmail: GmailClient, number: str, evidence: SentEvidence) -> InvoiceMail:
    """Read the sent invoice message and its invoice attachment from Gmail."""
    assert evidence.message_id is not None and evidence.sent_at is not None
    resource = gmail.get_message(evidence.message_id, fmt="full")
    headers = header_map(resource)
    ids = message_ids(headers.get("message-id"))
    return InvoiceMail(
        invoice_number=number,
        gmail_id=resource["id"],
        thread_id=resource.get("threadId") or evidence.thread_id or resource["id"],
        rfc822_message_id=ids[0] if ids else evidence.rfc822_message_id,
        sender=(addresses(headers.get("from")) or ("",))[0],
        to=_address_list("To", headers.get("to")),
        cc=_address_list("Cc", headers.get("cc")),
        subject=decode_header_value(headers.get("subject", "")),
        references=message_ids(headers.get("references")),
        sent_at=evidence.sent_at,
        attachment=_invoice_file(gmail, resource, evidence),
    )


def _address_list(name: str, value: str | None) -> tuple[Mailbox, ...]:
    """Parse an address-list header, decoding RFC 2047 display names."""
    if not value:
        return ()
    header = policy.default.header_factory(name, value)
    return tuple(
        Mailbox(address.addr_spec, address.display_name)
        for address in getattr(header, "addresses", ())
        if "@" in address.addr_spec
    )


def _invoice_file(
    gmail: GmailClient, resource: dict[str, Any], evidence: SentEvidence
) -> InvoiceFile | None:
    """Return the attachment the sent check matched, byte for byte, or None."""
    if not evidence.attachment_name:
        return None
    parts = [p for p in _walk(resource.get("payload", {})) if p.get("filename")]
    # Gmail's attachment ids may change between reads, so the part is found by
    # the id the check stored and otherwise by its file name.
    part = next(
        (p for p in parts if p.get("body", {}).get("attachmentId") == evidence.attachment_id),
        None,
    ) or next(
        (p for p in parts if decode_header_value(p["filename"]) == evidence.attachment_name),
        None,
    )
    if part is None:
        logger.warning(
            "invoice %s: attachment %s not found in message %s",
            evidence.invoice_number, evidence.attachment_name, resource["id"],
        )
        return None
    body = part.get("body", {})
    if body.get("data"):
        data = decode_base64url(body["data"])
    else:
        data = gmail.get_attachment(resource["id"], body["attachmentId"])
    return InvoiceFile(
        filename=decode_header_value(part["filename"]),
        content_type=part.get("mimeType") or "application/octet-stream",
        data=data,
    )


def _walk(part: dict[str, Any]) -> list[dict[str, Any]]:
    found = [part]
    for child in part.get("parts", []) or []:
        found += _walk(child)
    return found

