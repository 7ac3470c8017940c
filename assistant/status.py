"""The status report: aging by currency, and per invoice what happens next and what needs the user.

The report reads only the ledger, never Gmail, so it works offline. Its one
write is the ``call`` attention item "call the client the day after the due
date": once an unpaid invoice is 1 or more days overdue and not paused, the
report records that item (key ``NUMBER:after-due-date``) unless it was
recorded before, resolved or not. Drafting records the call due once the
email ladder has run out, keyed by the invoice number. Until drafting has
recorded it, the report lists that call from the ladder without recording it.

Days overdue count calendar days in the user's time zone. Amounts are summed
per currency only, never across currencies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_precision

from assistant import attention
from assistant.attention import AttentionItem
from assistant.business_days import BusinessCalendar
from assistant.clock import Clock
from assistant.config import Config
from assistant.drafting import reminders_done
from assistant.ladder import (
    CallClientTask,
    InvoiceState,
    NoReminder,
    Overrides,
    SendCheck,
    StageDue,
    next_step,
)
from assistant.ledger import Client, Invoice, Ledger
from assistant.reminders import (
    APPROVED,
    DRAFTED,
    SENDING,
    SENT,
    SKIPPED,
    WITHDRAWN,
    Reminder,
)
from assistant.send_window import SendPlanner
from assistant.stopping import blocking_reason

logger = logging.getLogger(__name__)

BUCKETS = ("current", "1-30", "31-60", "61-90", "over_90")
UNCHECKED = "unchecked"
AFTER_DUE_DATE = "after-due-date"
STATUS_SOURCE = "status"
# Reminders that keep the next action with the assistant, in the order shown.
_PENDING = (SENDING, APPROVED, DRAFTED)
# The sent check found the invoice went out from the user's mailbox.
_CONFIRMED = {"sent"}
_NOT_SENT = {"draft_only", "not_found", "bounced"}
# Two misses in a row is when sending raises the missed_windows item.
MISSED_WINDOWS_LIMIT = 2
# Names of the ladder stages in text for people; JSON keeps the stage names.
STAGE_LABELS = {
    "receipt_check": "did you receive it?",
    "gentle": "gentle",
    "early_late": "early late",
    "late_late": "URGENT",
    "call_client": "call the client",
}


def stage_label(stage: str) -> str:
    """Return the label people see for a ladder stage, such as "early late"."""
    return STAGE_LABELS.get(stage, stage.replace("_", " "))


def reminder_name(stage: str) -> str:
    """Return 'the "LABEL" reminder' for a ladder stage, for use in sentences."""
    return f'the "{stage_label(stage)}" reminder'


@dataclass(frozen=True)
class InvoiceStatus:
    """One unpaid invoice: where its reminders stand and what needs the user."""

    number: str
    client: str
    currency: str
    amount_due: Decimal
    due_date: date
    days_overdue: int  # 0 while not yet due
    check_status: str
    stage: str | None  # latest reminder not skipped or withdrawn, sent or not
    next_action: str  # for JSON, with stage names
    next_action_at: datetime | None  # aware UTC
    paused_until: date | None
    needs_user: tuple[str, ...]
    last_sent_stage: str | None = None
    next_action_text: str = ""  # next_action for people, with stage labels


@dataclass(frozen=True)
class StatusReport:
    today: date  # in the user's zone
    invoices: tuple[InvoiceStatus, ...]
    aging: dict[str, dict[str, Decimal]]  # currency -> bucket -> amount due
    needs_user: tuple[str, ...] = field(default=())  # items tied to no invoice


def aging_bucket(days_overdue: int) -> str:
    """Return the bucket for a number of days overdue: 0 or fewer is current."""
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return "over_90"


def zero(currency: str) -> Decimal:
    return Decimal(0).quantize(Decimal(1).scaleb(-get_currency_precision(currency)))


def aging_totals(invoices: list[Invoice], today: date) -> dict[str, dict[str, Decimal]]:
    """Sum balances per currency and bucket; every bucket of a currency is present."""
    totals: dict[str, dict[str, Decimal]] = {}
    for invoice in invoices:
        buckets = totals.setdefault(
            invoice.currency, {name: zero(invoice.currency) for name in BUCKETS}
        )
        bucket = aging_bucket((today - invoice.due_date).days)
        buckets[bucket] += invoice.balance
    return dict(sorted(totals.items()))


def status_report(
    ledger: Ledger, config: Config, clock: Clock, *, record_calls: bool = True
) -> StatusReport:
    """Build the report from the ledger alone; see the module text for its one write."""
    today = clock.now().astimezone(ZoneInfo(config.user.timezone)).date()
    invoices = ledger.list_invoices(unpaid_only=True)
    if record_calls:
        record_overdue_calls(ledger, invoices, today)

    items = ledger.attention.open_items()
    reminder_items = _items_by_reminder(ledger, items)
    rows = tuple(
        _invoice_status(ledger, config, clock, invoice, today, reminder_items)
        for invoice in invoices
    )
    numbers = {invoice.number for invoice in invoices}
    loose = [
        describe_item(item)
        for item in items
        if (item.invoice_number is None and item.key not in reminder_items)
        or (item.invoice_number is not None and item.invoice_number not in numbers)
    ]
    return StatusReport(today, rows, aging_totals(invoices, today), tuple(_unique(loose)))


def record_overdue_calls(ledger: Ledger, invoices: list[Invoice], today: date) -> list[str]:
    """Record "call the client" for each unpaid invoice 1+ days overdue; return the new ones."""
    added = []
    for invoice in invoices:
        if (today - invoice.due_date).days < 1 or _paused_until(ledger, invoice, today):
            continue
        detail = (
            f"Call {invoice.client} about invoice {invoice.number}: it was due "
            f"{invoice.due_date.isoformat()} and is unpaid"
        )
        if ledger.attention.add(
            attention.CALL,
            f"{invoice.number}:{AFTER_DUE_DATE}",
            detail,
            invoice_number=invoice.number,
            source=STATUS_SOURCE,
        ):
            logger.info("invoice %s is overdue; recorded a call for the user", invoice.number)
            added.append(invoice.number)
    return added


def _items_by_reminder(
    ledger: Ledger, items: list[AttentionItem]
) -> dict[str, list[AttentionItem]]:
    """Group the items keyed by a reminder uid and carrying no invoice number."""
    grouped: dict[str, list[AttentionItem]] = {}
    for item in items:
        if item.invoice_number is None and ledger.reminders.get(item.key) is not None:
            grouped.setdefault(item.key, []).append(item)
    return grouped


def _paused_until(ledger: Ledger, invoice: Invoice, today: date) -> date | None:
    """Return the later of the invoice's and the client's pause dates, if still ahead."""
    client = ledger.get_client(invoice.client)
    dates = [d for d in (invoice.paused_until, client and client.paused_until) if d]
    latest = max(dates) if dates else None
    return latest if latest is not None and latest >= today else None


def _invoice_status(
    ledger: Ledger,
    config: Config,
    clock: Clock,
    invoice: Invoice,
    today: date,
    reminder_items: dict[str, list[AttentionItem]],
) -> InvoiceStatus:
    reminders = ledger.reminders.for_invoice(invoice.number)
    evidence = ledger.get_evidence(invoice.number)
    check_status = evidence.status if evidence else UNCHECKED
    action = _next_action(ledger, config, clock, invoice, reminders)
    ladder_call = action.call

    items = list(ledger.attention.open_items(invoice.number))
    for reminder in reminders:
        items.extend(reminder_items.get(reminder.uid, []))
    needs = _needs_user(invoice, reminders, items, check_status, config)
    # Drafting records the end-of-ladder call under the invoice number.
    call_recorded = any(i.kind == attention.CALL and i.key == invoice.number for i in items)
    if ladder_call is not None and ladder_call.due_on <= today and not call_recorded:
        needs.append(
            f"Call {invoice.client} about invoice {invoice.number}: every email "
            "reminder has gone out."
        )
    return InvoiceStatus(
        number=invoice.number,
        client=invoice.client,
        currency=invoice.currency,
        amount_due=invoice.balance,
        due_date=invoice.due_date,
        days_overdue=max(0, (today - invoice.due_date).days),
        check_status=check_status,
        stage=_current_stage(reminders),
        next_action=action.action,
        next_action_at=action.at,
        paused_until=_paused_until(ledger, invoice, today),
        needs_user=tuple(_unique(needs)),
        last_sent_stage=_last_sent_stage(reminders),
        next_action_text=action.text,
    )


def _current_stage(reminders: list[Reminder]) -> str | None:
    live = [r for r in reminders if r.status not in (SKIPPED, WITHDRAWN)]
    return live[-1].stage if live else None


def _last_sent_stage(reminders: list[Reminder]) -> str | None:
    sent = [r for r in reminders if r.status == SENT and r.sent_at is not None]
    return max(sent, key=lambda r: r.sent_at or r.planned_send_at).stage if sent else None


# --- next action -----------------------------------------------------------------


@dataclass(frozen=True)
class NextAction:
    """What the assistant does next for an invoice, in JSON words and in words for people."""

    action: str  # with stage names, such as "draft the early_late reminder"
    text: str  # with stage labels, such as 'draft the "early late" reminder'
    at: datetime | None = None  # aware UTC
    call: CallClientTask | None = None  # the ladder's call task, when that is next


_PENDING_VERBS = {
    DRAFTED: "send {} once approved",
    APPROVED: "send {}",
    SENDING: "confirm {} went out",
}


def _stage_action(verb: str, stage: str, at: datetime | None) -> NextAction:
    return NextAction(
        verb.format(f"the {stage} reminder"), verb.format(reminder_name(stage)), at
    )


def _no_action(reason: str) -> NextAction:
    return NextAction(f"none: {reason}", f"nothing: {reason}")


def _next_action(
    ledger: Ledger,
    config: Config,
    clock: Clock,
    invoice: Invoice,
    reminders: list[Reminder],
) -> NextAction:
    """Return the next action for the invoice and its time."""
    pending = [r for r in reminders if r.status in _PENDING]
    if pending:
        first = min(pending, key=lambda r: r.planned_send_at)
        return _stage_action(_PENDING_VERBS[first.status], first.stage, first.planned_send_at)

    today = clock.now().astimezone(ZoneInfo(config.user.timezone)).date()
    reason = blocking_reason(ledger, invoice.number, today)
    if reason is not None:
        return _no_action(reason)

    step = next_step(
        _invoice_state(ledger, invoice),
        reminders_done(ledger, invoice.number, clock),
        config.ladder,
        clock,
        config.user_defaults(),
    )
    if isinstance(step, StageDue):
        planner = SendPlanner(
            config.send_window, ZoneInfo(step.timezone), BusinessCalendar(step.country)
        )
        planned = planner.plan(step.reminder_id, step.due_on, step.direction)
        # A window already gone today moves on, as it would for the sending side.
        at = planner.next_send_time(step.reminder_id, planned, clock.now())
        return _stage_action("draft {}", step.stage, at)
    if isinstance(step, CallClientTask):
        zone = ZoneInfo(_zone_name(ledger, invoice, config))
        at = datetime.combine(step.due_on, time(0, 0), tzinfo=zone).astimezone(timezone.utc)
        return NextAction("call the client", "call the client", at, step)
    assert isinstance(step, NoReminder)
    return _no_action(step.detail)


def _zone_name(ledger: Ledger, invoice: Invoice, config: Config) -> str:
    client = ledger.get_client(invoice.client)
    return invoice.timezone or (client and client.timezone) or config.user.timezone


def send_check(status: str | None) -> SendCheck:
    if status in _CONFIRMED:
        return SendCheck.CONFIRMED
    if status in _NOT_SENT:
        return SendCheck.NOT_FOUND
    return SendCheck.PENDING


def _overrides(source: Client | Invoice | None) -> Overrides:
    if source is None:
        return Overrides()
    return Overrides(
        stages_off=frozenset(source.stages_off),
        language=source.language,
        timezone=source.timezone,
        paused_until=source.paused_until,
    )


def _invoice_state(ledger: Ledger, invoice: Invoice) -> InvoiceState:
    """Build the ladder's view of the invoice from the ledger alone."""
    client = ledger.get_client(invoice.client)
    evidence = ledger.get_evidence(invoice.number)
    return InvoiceState(
        number=invoice.number,
        due_on=invoice.due_date,
        sent_at=evidence.sent_at if evidence else None,
        amount_due=invoice.balance,
        send_check=send_check(evidence.status if evidence else None),
        client_country=client.country if client else None,
        client_timezone=client.timezone if client else None,
        client_overrides=_overrides(client),
        invoice_overrides=_overrides(invoice),
    )


# --- what needs the user ------------------------------------------------------------

_KIND_SENTENCES = {
    attention.APPROVAL: "Approve or skip a reminder draft: {}",
    attention.REPLY: "Read the client's reply: {}",
    attention.BOUNCE: "A message bounced; check the client's address: {}",
    attention.PAYMENT: "Confirm the payment with 'assistant paid' if it arrived: {}",
    attention.NOT_SENT: "Confirm that the invoice was sent: {}",
    attention.CALL: "{}",
    attention.MISSED_WINDOWS: "Reminders missed their send windows: {}",
}


# The fix for an invoice that never reached the client's address.
_FIX_ADDRESS = (
    "fix the client's address with 'assistant client set', then send the invoice again"
)


def describe_item(item: AttentionItem, template: str | None = None) -> str:
    """Turn an attention item into a sentence; ``template`` replaces the kind's own."""
    sentence = (template or _KIND_SENTENCES.get(item.kind, "{}")).format(
        item.detail.rstrip(".")
    )
    return sentence if sentence.endswith((".", "?", "!")) else sentence + "."


def _bounce_sentence(item: AttentionItem, check_status: str, reminders: list[Reminder]) -> str:
    """Say whether the invoice or a reminder bounced, with the fix for each."""
    # Reminders go out only once the invoice is confirmed as sent, so with none
    # sent, or with the sent check showing the bounce, the invoice bounced.
    reminder_sent = any(r.status == SENT for r in reminders)
    if check_status == "bounced" or not reminder_sent:
        return describe_item(item, f"{{}}. It was the invoice itself: {_FIX_ADDRESS}.")
    resume = f"'assistant resume {item.invoice_number}'" if item.invoice_number else (
        "'assistant resume' for the invoice"
    )
    return describe_item(
        item,
        "{}. It was a reminder: fix the client's address with 'assistant client set', "
        f"then run {resume}.",
    )


def _needs_user(
    invoice: Invoice,
    reminders: list[Reminder],
    items: list[AttentionItem],
    check_status: str,
    config: Config,
) -> list[str]:
    user_zone = ZoneInfo(config.user.timezone)
    needs = []
    drafted = {r.uid: r for r in reminders if r.status == DRAFTED}
    for reminder in drafted.values():
        planned = reminder.planned_send_at.astimezone(user_zone)
        needs.append(
            f"Approve, edit or skip the draft of {reminder_name(reminder.stage)}, planned for "
            f"{planned:%Y-%m-%d %H:%M} {user_zone.key}: run 'assistant review'."
        )
    for reminder in reminders:
        missed_item = any(i.kind == attention.MISSED_WINDOWS for i in items)
        open_status = reminder.status in _PENDING
        if open_status and reminder.missed_windows >= MISSED_WINDOWS_LIMIT and not missed_item:
            needs.append(
                f"{reminder_name(reminder.stage).capitalize()} missed "
                f"{reminder.missed_windows} send windows in a row; check that the "
                "assistant runs on send days."
            )
    for item in items:
        if item.kind == attention.APPROVAL and item.key in drafted:
            continue
        if item.kind == attention.BOUNCE:
            needs.append(_bounce_sentence(item, check_status, reminders))
        else:
            needs.append(describe_item(item))
    # A not_sent item, or a bounce item for a bounced invoice, already says it.
    explained = any(i.kind == attention.NOT_SENT for i in items) or (
        check_status == "bounced" and any(i.kind == attention.BOUNCE for i in items)
    )
    if check_status not in _CONFIRMED and not explained:
        needs.append(_not_confirmed(invoice.number, check_status))
    return needs


# Why an invoice is not confirmed as sent, and what to do, per sent-check status.
_NOT_CONFIRMED_REASONS = {
    UNCHECKED: "the sent check has not run; run 'assistant check {number}'",
    "not_found": (
        "the sent check found no sent message with it; send the invoice if it never "
        "went out, then run 'assistant check {number}'"
    ),
    "draft_only": (
        "it is only in an unsent Gmail draft; send it from Gmail, then run "
        "'assistant check {number}'"
    ),
    "bounced": f"the invoice bounced; {_FIX_ADDRESS}",
    "sent_to_other_address": (
        "it went to another address than the client's on record; if that address "
        "is right, add it with 'assistant client set', otherwise send the invoice "
        "to the right address; then run 'assistant check {number}'"
    ),
}


def _not_confirmed(number: str, check_status: str) -> str:
    reason = _NOT_CONFIRMED_REASONS.get(
        check_status,
        f"the sent check found the status {check_status}; run 'assistant check {{number}}'",
    )
    return f"Invoice {number} is not confirmed as sent: {reason.format(number=number)}."


def _unique(sentences: list[str]) -> list[str]:
    return list(dict.fromkeys(sentences))


# --- JSON ------------------------------------------------------------------------------


def _utc_text(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def invoice_json(row: InvoiceStatus) -> dict[str, object]:
    return {
        "number": row.number,
        "client": row.client,
        "currency": row.currency,
        "amount_due": str(row.amount_due),
        "due_date": row.due_date.isoformat(),
        "days_overdue": row.days_overdue,
        "check_status": row.check_status,
        "stage": row.stage,
        "next_action": row.next_action,
        "next_action_at": _utc_text(row.next_action_at),
        "paused_until": row.paused_until.isoformat() if row.paused_until else None,
        "needs_user": list(row.needs_user),
    }


def report_json(report: StatusReport) -> dict[str, object]:
    """Return the documented ``status --json`` shape; amounts are decimal strings."""
    return {
        "invoices": [invoice_json(row) for row in report.invoices],
        "aging": {
            currency: {bucket: str(amount) for bucket, amount in buckets.items()}
            for currency, buckets in report.aging.items()
        },
        "needs_user": list(report.needs_user),
    }
