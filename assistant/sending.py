"""Send approved reminders exactly once, and settle sends that a crash interrupted.

The send path of one reminder:

1. Re-check through the API right before sending: new inbox mail processed, no
   invoice blocked (``stopping.blocking_reason``), no client message in its
   threads since the draft was made, and the draft still there.
2. ``approved`` -> ``sending``, committed before drafts.send is called.
3. drafts.send.
4. ``sending`` -> ``sent``, with the sent message id and time.

A crash or a lost response after step 2 leaves the reminder ``sending``.
``recover_in_flight``, the first step of every pass, settles it by looking in
Sent for a message whose ``X-Assistant-Reminder`` header equals the reminder's
uid. Gmail may replace the Message-ID of a sent message, so that id is never
the evidence. Found: ``sent``. Not found while the draft still exists: back to
``approved``, because drafts.send deletes the draft of a message it sends.
Not found and the draft gone: ``failed``, for the user to look at, never a
blind second send.

Test hook: when the environment variable ``ASSISTANT_TEST_CRASH_AT`` names one
of ``CRASH_POINTS``, the process ends with ``os._exit(1)`` at that point of the
send path, so tests can kill a run where a real crash could happen. In-process
tests replace ``crash_hook`` instead.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from email.utils import parseaddr
from typing import Any, Callable
from zoneinfo import ZoneInfo

from assistant import attention as kinds
from assistant.business_days import BusinessCalendar
from assistant.clock import Clock, from_epoch_ms, parse_instant, to_epoch_ms
from assistant.config import Config
from assistant.drafting import rerender_draft
from assistant.errors import AuthError, GmailError, InputError
from assistant.gmail import GmailClient, OutcomeUnknown, decode_base64url
from assistant.ledger import Ledger
from assistant.reminders import (
    APPROVED,
    DRAFTED,
    FAILED,
    REMINDER_HEADER,
    SENDING,
    SENT,
    SKIPPED,
    WITHDRAWN,
    Reminder,
)
from assistant.send_window import Direction, SendPlanner, catch_up
from assistant.inbox import process_inbox
from assistant.stopping import blocking_reason

logger = logging.getLogger(__name__)

CRASH_ENV = "ASSISTANT_TEST_CRASH_AT"
# before_claim: nothing written yet; before_send: `sending` committed, drafts.send
# not called; after_send: drafts.send returned; before_ledger: the sent message
# was checked and `sent` is about to be written.
CRASH_POINTS = ("before_claim", "before_send", "after_send", "before_ledger")

# A send whose response was lost may still be running at Gmail. A reminder
# stays `sending` for this long after its send started before a missing Sent
# message counts as "never sent".
# NOTE: Gmail documents no upper bound for a send in progress; two minutes is a
# conservative guess, far above the sandbox, which sends before it responds.
SEND_SETTLE_TIME = timedelta(minutes=2)
# Margin for the in:sent search, against clock skew between this machine and Gmail.
SEARCH_MARGIN = timedelta(days=1)
MISSED_WINDOWS_WARNING = 2

# Results of one reminder's turn in send_due or recover_in_flight.
RESULT_SENT = "sent"
RESULT_IN_FLIGHT = "in_flight"  # still `sending`; settled by a later pass
RESULT_RETRY = "retry"  # settled as never sent; back to `approved`
RESULT_HELD = "held"  # a client wrote in the thread; not sent, user notified
RESULT_RESCHEDULED = "rescheduled"  # window missed; moved to the next one
RESULT_SKIPPED = "skipped"  # the draft was deleted in Gmail
RESULT_WITHDRAWN = "withdrawn"  # an invoice is blocked (paid, replied to, paused, ...)
RESULT_FAILED = "failed"  # needs the user


@dataclass(frozen=True)
class SendOutcome:
    """The result of one reminder's send or recovery step."""

    uid: str
    invoice_numbers: tuple[str, ...]
    result: str
    message_id: str | None = None
    detail: str = ""


def _exit_at_crash_point(point: str) -> None:
    if os.environ.get(CRASH_ENV) == point:
        logger.warning("test hook %s=%s: ending the process now", CRASH_ENV, point)
        logging.shutdown()
        os._exit(1)


# Called at each of CRASH_POINTS; tests may replace it.
crash_hook: Callable[[str], None] = _exit_at_crash_point


# -- where and when a reminder may go out ----------------------------------


def client_zone(ledger: Ledger, reminder: Reminder, default: str = "UTC") -> ZoneInfo:
    """Return the time zone the reminder's client reads mail in."""
    for number in reminder.invoice_numbers:
        invoice = ledger.get_invoice(number)
        if invoice is not None and invoice.timezone:
            return ZoneInfo(invoice.timezone)
    client = ledger.get_client(reminder.client)
    if client is not None and client.timezone:
        return ZoneInfo(client.timezone)
    return ZoneInfo(default)


def planner_for(ledger: Ledger, config: Config, reminder: Reminder) -> SendPlanner:
    """Return the send planner in the reminder's client zone and holiday calendar."""
    client = ledger.get_client(reminder.client)
    country = (client.country if client else None) or config.user.country
    return SendPlanner(
        window=config.send_window,
        zone=client_zone(ledger, reminder, config.user.timezone),
        calendar=BusinessCalendar(country),
    )


def client_today(ledger: Ledger, reminder: Reminder, clock: Clock, zone: str) -> date:
    return clock.now().astimezone(client_zone(ledger, reminder, zone)).date()


# -- withdrawing ------------------------------------------------------------


def withdraw_unwanted(ledger: Ledger, gmail: GmailClient, clock: Clock) -> list[Reminder]:
    """Withdraw drafted and approved reminders whose invoices must not be chased now.

    Each withdrawn reminder loses its Gmail draft, becomes ``withdrawn`` with
    the reason, and gets an attention item. A draft that cannot be deleted now
    leaves its reminder as it is, for the next pass.
    """
    withdrawn = []
    for reminder in ledger.reminders.list([DRAFTED, APPROVED]):
        reason = unwanted_reason(ledger, reminder, clock)
        if reason is None:
            continue
        try:
            withdrawn.append(withdraw(ledger, gmail, reminder, reason))
        except GmailError as exc:
            logger.error(
                "Could not delete draft %s of reminder %s, left for the next pass: %s",
                reminder.draft_id, reminder.uid, exc,
            )
    return withdrawn


def unwanted_reason(
    ledger: Ledger, reminder: Reminder, clock: Clock, zone: str = "UTC"
) -> str | None:
    """Return why one of the reminder's invoices must not be chased now, or None."""
    today = client_today(ledger, reminder, clock, zone)
    for number in reminder.invoice_numbers:
        reason = blocking_reason(ledger, number, today)
        if reason is not None:
            return reason
    return None


def withdraw(ledger: Ledger, gmail: GmailClient, reminder: Reminder, reason: str) -> Reminder:
    """Delete the reminder's draft, mark it ``withdrawn`` and tell the user why."""
    # The draft goes first: a crash after it leaves an open reminder whose
    # draft is gone, which the next pass withdraws again (404 is fine).
    if reminder.draft_id:
        _delete_draft(gmail, reminder.draft_id)
    updated = ledger.reminders.transition(
        reminder.uid, [DRAFTED, APPROVED], WITHDRAWN, source="run", detail=reason
    )
    ledger.attention.resolve(kinds.APPROVAL, reminder.uid, source="run")
    kind = _withdrawal_kind(reason)
    told = {item.kind for item in ledger.attention.open_items(reminder.invoice_numbers[0])}
    if kind is not None and kind not in told:
        ledger.attention.add(
            kind,
            f"withdrawn:{reminder.uid}",
            f"Reminder {reminder.uid} was withdrawn and its draft deleted: {reason}",
            invoice_number=reminder.invoice_numbers[0],
        )
    logger.info(
        "Draft withdrawn: reminder %s for %s (%s)",
        reminder.uid, ", ".join(reminder.invoice_numbers), reason,
    )
    return updated


def _delete_draft(gmail: GmailClient, draft_id: str) -> None:
    try:
        gmail.delete_draft(draft_id)
    except GmailError as exc:
        if exc.status != 404:
            raise


def _withdrawal_kind(reason: str) -> str | None:
    """Return the attention kind for a withdrawal the user did not cause, else None.

    A payment, a void invoice or a pause is the user's own doing, so it needs
    no item; a reply, an away notice or a bounce does.
    """
    # NOTE: blocking_reason returns a sentence, not a code, so the kind is
    # read from its words.
    text = reason.lower()
    if "bounced" in text:
        return kinds.BOUNCE
    if "replied" in text or "away until" in text:
        return kinds.REPLY
    return None


# -- sending ----------------------------------------------------------------


def send_due(
    ledger: Ledger, gmail: GmailClient, config: Config, clock: Clock
) -> list[SendOutcome]:
    """Send every approved reminder whose planned time has come, at most once each.

    A planned time missed while the machine was off is caught up only on the
    same day in the client's zone and before ``send_window.latest_catch_up``;
    after that the reminder moves to the next window.
    """
    outcomes = []
    for reminder in ledger.reminders.list([APPROVED]):
        now = clock.now()
        if reminder.planned_send_at > now:
            continue
        superseded = superseded_reason(ledger, config, reminder, reminder.planned_send_at)
        if superseded is not None:
            outcomes.append(_withdraw_superseded(ledger, gmail, reminder, superseded))
            continue
        planner = planner_for(ledger, config, reminder)
        latest = config.send_window.latest_catch_up
        if catch_up(reminder.planned_send_at, now, latest, planner.zone) is None:
            outcomes.append(move_to_next_window(ledger, gmail, config, planner, reminder, now))
            continue
        gap_day = gap_ends_on(ledger, config, planner, reminder)
        if gap_day is not None and planner.local_day(now) < gap_day:
            outcomes.append(_wait_for_gap(ledger, gmail, config, planner, reminder, gap_day))
            continue
        outcomes.append(send_reminder(ledger, gmail, config, clock, reminder))
    return outcomes


def _stage_rank(config: Config, stage: str) -> int:
    names = [rule.name for rule in config.ladder.stages]
    return names.index(stage) if stage in names else -1


def superseded_reason(
    ledger: Ledger, config: Config, reminder: Reminder, planned: datetime
) -> str | None:
    """Return why a later stage of one of the invoices makes this reminder pointless.

    An earlier, milder stage must never reach the client after a later stage:
    not once the later one was sent, and not when it is planned at or before
    ``planned``, the time this reminder would go out.
    """
    rank = _stage_rank(config, reminder.stage)
    for number in reminder.invoice_numbers:
        for other in ledger.reminders.for_invoice(number):
            if other.uid == reminder.uid or _stage_rank(config, other.stage) <= rank:
                continue
            if other.status in (SENDING, SENT):
                return (
                    f"the later {other.stage} reminder {other.uid} for invoice {number} "
                    "was already sent"
                )
            if other.status in (DRAFTED, APPROVED) and other.planned_send_at <= planned:
                when = other.planned_send_at.isoformat()
                return (
                    f"the later {other.stage} reminder {other.uid} for invoice {number} "
                    f"is planned first, at {when}"
                )
    return None


def _withdraw_superseded(
    ledger: Ledger, gmail: GmailClient, reminder: Reminder, reason: str
) -> SendOutcome:
    withdraw(ledger, gmail, reminder, reason)
    return SendOutcome(reminder.uid, reminder.invoice_numbers, RESULT_WITHDRAWN, detail=reason)


def gap_ends_on(
    ledger: Ledger, config: Config, planner: SendPlanner, reminder: Reminder
) -> date | None:
    """Return the first client day ``ladder.min_days_between_reminders`` allows, or None.

    The gap counts from the latest reminder already sent for any of the
    reminder's invoices, in the client's calendar days, as the ladder counts it.
    """
    sent_days = [
        planner.local_day(other.sent_at)
        for number in reminder.invoice_numbers
        for other in ledger.reminders.for_invoice(number)
        if other.uid != reminder.uid and other.status == SENT and other.sent_at is not None
    ]
    if not sent_days:
        return None
    return max(sent_days) + timedelta(days=config.ladder.min_days_between_reminders)


def _wait_for_gap(
    ledger: Ledger,
    gmail: GmailClient,
    config: Config,
    planner: SendPlanner,
    reminder: Reminder,
    gap_day: date,
) -> SendOutcome:
    """Move a reminder that would go out too soon after the last one to the gap's end."""
    planned = planner.plan(reminder.uid, gap_day, Direction.AFTER)
    if _passes_due_date(ledger, config, reminder, planner, planned):
        reason = (
            "it would have gone out within ladder.min_days_between_reminders of the "
            "previous reminder, and after that its due date has passed"
        )
        return _skip_by_system(ledger, gmail, reminder, reason)
    ledger.reminders.update(reminder.uid, source="run", planned_send_at=planned)
    logger.info(
        "Reminder %s moved to %s to keep %d day(s) after the previous reminder",
        reminder.uid, planned.isoformat(), config.ladder.min_days_between_reminders,
    )
    detail = f"moved to {planned.isoformat()} (minimum days between reminders)"
    return SendOutcome(reminder.uid, reminder.invoice_numbers, RESULT_RESCHEDULED, detail=detail)


def _skip_by_system(
    ledger: Ledger, gmail: GmailClient, reminder: Reminder, reason: str
) -> SendOutcome:
    """Delete the reminder's draft, so it cannot be sent by hand, then mark it skipped."""
    if reminder.draft_id:
        _delete_draft(gmail, reminder.draft_id)
    updated = ledger.reminders.transition(
        reminder.uid, [APPROVED], SKIPPED, source="run", detail=reason
    )
    ledger.attention.resolve(kinds.APPROVAL, reminder.uid, source="run")
    logger.warning("Reminder %s skipped and its draft deleted: %s", reminder.uid, reason)
    return SendOutcome(updated.uid, updated.invoice_numbers, RESULT_SKIPPED, detail=reason)


def move_to_next_window(
    ledger: Ledger,
    gmail: GmailClient,
    config: Config,
    planner: SendPlanner,
    reminder: Reminder,
    now: datetime,
) -> SendOutcome:
    """Plan a reminder whose window passed unsent into the next window.

    A miss counts only when the reminder was approved before its window; one
    approved late just moves. After two misses in a row the user is notified.
    A reminder that would then go out after a later stage is withdrawn.
    """
    planned = planner.next_send_time(reminder.uid, reminder.planned_send_at, now)
    approved_in_time = (
        reminder.approved_at is None or reminder.approved_at <= reminder.planned_send_at
    )
    if _passes_due_date(ledger, config, reminder, planner, planned):
        cause = (
            "while the assistant was not running" if approved_in_time
            else "before it was approved"
        )
        reason = f"its last send window before the due date passed {cause}"
        return _skip_by_system(ledger, gmail, reminder, reason)
    superseded = superseded_reason(ledger, config, reminder, planned)
    if superseded is not None:
        return _withdraw_superseded(ledger, gmail, reminder, superseded)

    missed = reminder.missed_windows + (1 if approved_in_time else 0)
    ledger.reminders.update(
        reminder.uid, source="run", planned_send_at=planned, missed_windows=missed
    )
    logger.info(
        "Reminder %s missed its window at %s; moved to %s",
        reminder.uid, reminder.planned_send_at.isoformat(), planned.isoformat(),
    )
    if missed >= MISSED_WINDOWS_WARNING:
        _warn_missed_windows(ledger, reminder, missed, planned)
    detail = f"moved to {planned.isoformat()}"
    return SendOutcome(reminder.uid, reminder.invoice_numbers, RESULT_RESCHEDULED, detail=detail)


def _passes_due_date(
    ledger: Ledger, config: Config, reminder: Reminder, planner: SendPlanner, planned: datetime
) -> bool:
    """Return True when a stage that must go out before the due date would not."""
    rules = {rule.name: rule for rule in config.ladder.stages}
    rule = rules.get(reminder.stage)
    if rule is None or rule.direction is not Direction.BEFORE:
        return False
    day = planner.local_day(planned)
    invoices = [ledger.get_invoice(n) for n in reminder.invoice_numbers]
    return any(invoice is not None and day >= invoice.due_date for invoice in invoices)


def _warn_missed_windows(
    ledger: Ledger, reminder: Reminder, missed: int, planned: datetime
) -> None:
    detail = (
        f"Reminder {reminder.uid} missed {missed} send windows in a row because the "
        "assistant was not running then; it now goes out at "
        f"{planned.isoformat()}. Run the assistant on an always-on machine (see "
        "docs/scheduling.md for systemd, launchd and cron) or widen [send_window]."
    )
    ledger.attention.add(
        kinds.MISSED_WINDOWS, reminder.uid, detail, invoice_number=reminder.invoice_numbers[0]
    )
    logger.warning("%s", detail)


def send_reminder(
    ledger: Ledger, gmail: GmailClient, config: Config, clock: Clock, reminder: Reminder
) -> SendOutcome:
    """Check one approved reminder through the API and send it exactly once."""
    hold = presend_check(ledger, gmail, config, clock, reminder)
    if hold is not None:
        return hold

    crash_hook("before_claim")
    # Committed before the call: from here on a crash leaves `sending`, which
    # recover_in_flight settles by looking in Sent, never by sending again.
    claimed = ledger.reminders.transition(reminder.uid, [APPROVED], SENDING, source="send")
    crash_hook("before_send")
    try:
        sent = gmail.send_draft(str(claimed.draft_id))
    except OutcomeUnknown as exc:
        logger.warning("Reminder %s may or may not have gone out: %s", claimed.uid, exc)
        return settle_in_flight(ledger, gmail, clock, claimed)
    except AuthError:
        ledger.reminders.transition(claimed.uid, [SENDING], APPROVED, source="send")
        raise
    except GmailError as exc:
        return _send_rejected(ledger, claimed, exc)
    crash_hook("after_send")
    return _record_sent(ledger, gmail, clock, claimed, str(sent["id"]))


def _record_sent(
    ledger: Ledger, gmail: GmailClient, clock: Clock, reminder: Reminder, message_id: str
) -> SendOutcome:
    sent_at = clock.now()
    try:
        message = gmail.get_message(message_id, "metadata", [REMINDER_HEADER])
        sent_at = from_epoch_ms(int(message["internalDate"]))
        if header_value(message, REMINDER_HEADER) != reminder.uid:
            logger.warning(
                "Sent message %s of reminder %s lacks its %s header; a crash at this "
                "point could not have been settled from Sent",
                message_id, reminder.uid, REMINDER_HEADER,
            )
    except GmailError as exc:
        # drafts.send returned, so the message went out; only the check is lost.
        logger.warning("Could not read back sent message %s: %s", message_id, exc)
    crash_hook("before_ledger")
    ledger.reminders.transition(
        reminder.uid, [SENDING], SENT, source="send",
        sent_message_id=message_id, sent_at=sent_at,
    )
    ledger.attention.resolve(kinds.MISSED_WINDOWS, reminder.uid, source="send")
    logger.info(
        "Reminder sent: %s for %s as message %s",
        reminder.uid, ", ".join(reminder.invoice_numbers), message_id,
    )
    return SendOutcome(reminder.uid, reminder.invoice_numbers, RESULT_SENT, message_id)


def _send_rejected(ledger: Ledger, reminder: Reminder, exc: GmailError) -> SendOutcome:
    """Record a send that Gmail rejected with an error, so nothing went out."""
    if exc.status == 404:
        detail = "its draft was deleted in Gmail before it could be sent"
        ledger.reminders.transition(
            reminder.uid, [SENDING], SKIPPED, source="send", detail=detail
        )
        logger.info("Reminder %s skipped: %s", reminder.uid, detail)
        return SendOutcome(reminder.uid, reminder.invoice_numbers, RESULT_SKIPPED, detail=detail)
    detail = f"Gmail rejected the send: {exc}"
    _fail(ledger, reminder, detail)
    return SendOutcome(reminder.uid, reminder.invoice_numbers, RESULT_FAILED, detail=detail)


def _fail(ledger: Ledger, reminder: Reminder, detail: str) -> None:
    ledger.reminders.transition(reminder.uid, [SENDING], FAILED, source="send", detail=detail)
    ledger.attention.add(
        kinds.NOT_SENT,
        f"reminder:{reminder.uid}",
        f"Reminder {reminder.uid} needs you: {detail}",
        invoice_number=reminder.invoice_numbers[0],
    )
    logger.error("Reminder %s failed: %s", reminder.uid, detail)


# -- checks right before a send ----------------------------------------------


def presend_check(
    ledger: Ledger, gmail: GmailClient, config: Config, clock: Clock, reminder: Reminder
) -> SendOutcome | None:
    """Return why the reminder must not go out now (acting on it), or None to send."""
    process_inbox(ledger, gmail, config, clock)
    reason = unwanted_reason(ledger, reminder, clock, config.user.timezone)
    if reason is not None:
        withdraw(ledger, gmail, reminder, reason)
        return SendOutcome(reminder.uid, reminder.invoice_numbers, RESULT_WITHDRAWN, detail=reason)

    draft = _current_draft(gmail, reminder)
    if draft is None:
        detail = "its draft was deleted in Gmail"
        ledger.reminders.transition(
            reminder.uid, [APPROVED], SKIPPED, source="send", detail=detail
        )
        logger.info("Reminder %s skipped: %s", reminder.uid, detail)
        return SendOutcome(reminder.uid, reminder.invoice_numbers, RESULT_SKIPPED, detail=detail)

    threads = _thread_ids(reminder, draft)
    client_message = find_client_message(ledger, gmail, reminder, threads)
    if client_message is not None:
        return _hold_for_reply(ledger, reminder, client_message)

    send_day = client_today(ledger, reminder, clock, config.user.timezone)
    if send_day != reminder.stage_day and not _edited_in_gmail(ledger, reminder, draft):
        # The text counts days overdue as of stage_day; sent on another day
        # it would state a stale count, so it is written again for today.
        try:
            rerender_draft(ledger, gmail, config, reminder, send_day)
        except (GmailError, InputError) as exc:
            detail = f"its text could not be brought up to date for {send_day}: {exc}"
            logger.warning("Reminder %s not sent now: %s", reminder.uid, detail)
            return SendOutcome(
                reminder.uid, reminder.invoice_numbers, RESULT_HELD, detail=detail
            )
    elif header_value(draft["message"], REMINDER_HEADER) != reminder.uid:
        restore_reminder_header(gmail, reminder, draft)
    return None


def _edited_in_gmail(ledger: Ledger, reminder: Reminder, draft: dict[str, Any]) -> bool:
    """Return True when the user changed the draft in Gmail since the assistant wrote it.

    drafts.update gives the draft a new message id. Drafting records an edit
    it notices under the source ``draft``, so the audit log keeps the fact.
    """
    if draft.get("message", {}).get("id") != reminder.draft_message_id:
        return True
    return any(
        event.field == "draft_message_id" and event.source == "draft"
        for event in ledger.events("reminder", reminder.uid)
    )


def _current_draft(gmail: GmailClient, reminder: Reminder) -> dict[str, Any] | None:
    if not reminder.draft_id:
        return None
    try:
        return gmail.get_draft(reminder.draft_id, fmt="metadata")
    except GmailError as exc:
        if exc.status == 404:
            return None
        raise


def _thread_ids(reminder: Reminder, draft: dict[str, Any] | None = None) -> list[str]:
    ids = [reminder.thread_id, *reminder.extra_thread_ids]
    if draft is not None:
        ids.append(draft.get("message", {}).get("threadId"))
    return list(dict.fromkeys(i for i in ids if i))


def client_addresses(ledger: Ledger, reminder: Reminder) -> set[str]:
    client = ledger.get_client(reminder.client)
    known = set(client.emails if client else ())
    known.update(parseaddr(a)[1] for a in (*reminder.to, *reminder.cc))
    return {address.strip().lower() for address in known if address}


def find_client_message(
    ledger: Ledger, gmail: GmailClient, reminder: Reminder, thread_ids: list[str]
) -> dict[str, Any] | None:
    """Return the first message from a client address in the threads since the draft was made.

    A message whose ``reply`` attention item the user has resolved (read it,
    or ran ``assistant resume``) no longer stops the reminder.
    """
    addresses = client_addresses(ledger, reminder)
    since = to_epoch_ms(reminder.created_at) if reminder.created_at else 0
    for thread_id in thread_ids:
        try:
            thread = gmail.get_thread(thread_id, "metadata", ["From"])
        except GmailError as exc:
            if exc.status == 404:
                continue
            raise
        for message in thread.get("messages", []):
            labels = set(message.get("labelIds", []))
            if labels & {"SENT", "DRAFT"} or int(message.get("internalDate", 0)) <= since:
                continue
            sender = parseaddr(header_value(message, "From") or "")[1].lower()
            if sender in addresses and not _reply_read(ledger, reminder, str(message["id"])):
                return message
    return None


def _reply_key(invoice_number: str, message_id: str) -> str:
    # The key the inbox uses for its reply items, so both name one item.
    return f"{invoice_number}/{message_id}"


def _reply_read(ledger: Ledger, reminder: Reminder, message_id: str) -> bool:
    keys = [_reply_key(number, message_id) for number in reminder.invoice_numbers]
    rows = ledger.db.execute(
        "SELECT 1 FROM attention WHERE kind = ? AND resolved_at IS NOT NULL"
        f" AND key IN ({', '.join('?' for _ in keys)})",
        [kinds.REPLY, *keys],
    ).fetchall()
    return bool(rows)


def _hold_for_reply(
    ledger: Ledger, reminder: Reminder, message: dict[str, Any]
) -> SendOutcome:
    message_id = str(message["id"])
    detail = (
        f"the client wrote in the thread (message {message_id}) after reminder "
        f"{reminder.uid} was drafted, so it was not sent. Read the message, then run "
        f"'assistant resume' to let it go out, or skip it"
    )
    for number in reminder.invoice_numbers:
        ledger.attention.add(
            kinds.REPLY,
            _reply_key(number, message_id),
            f"Invoice {number}: {detail}",
            invoice_number=number,
            message_id=message_id,
            source="send",
        )
    logger.info("Reminder %s held: client message %s", reminder.uid, message_id)
    return SendOutcome(reminder.uid, reminder.invoice_numbers, RESULT_HELD, detail=detail)


def restore_reminder_header(
    gmail: GmailClient, reminder: Reminder, draft: dict[str, Any]
) -> None:
    """Put the ``X-Assistant-Reminder`` header back into a draft that lost it.

    The header is what lets a crash be settled from Sent. The draft's content,
    possibly edited by the user, is kept as it is.
    """
    # NOTE: whether Gmail's web editor keeps custom headers when the user
    # edits a draft is not documented, so a missing header is repaired here.
    raw_draft = gmail.get_draft(str(reminder.draft_id), fmt="raw")
    raw = decode_base64url(raw_draft["message"]["raw"])
    message = message_from_bytes(raw, policy=policy.default)
    del message[REMINDER_HEADER]
    message[REMINDER_HEADER] = reminder.uid
    thread_id = draft.get("message", {}).get("threadId")
    gmail.update_draft(str(reminder.draft_id), message.as_bytes(), thread_id)
    logger.warning(
        "Draft %s of reminder %s had lost its %s header; restored it",
        reminder.draft_id, reminder.uid, REMINDER_HEADER,
    )


def header_value(message: dict[str, Any], name: str) -> str | None:
    """Return a header of a Gmail message resource (format metadata or full)."""
    for header in message.get("payload", {}).get("headers", []):
        if str(header.get("name", "")).lower() == name.lower():
            return str(header.get("value", "")).strip()
    return None


# -- recovery ---------------------------------------------------------------


def recover_in_flight(
    ledger: Ledger, gmail: GmailClient, clock: Clock
) -> list[SendOutcome]:
    """Settle every reminder left ``sending`` by a crash or a lost response."""
    return [settle_in_flight(ledger, gmail, clock, r) for r in ledger.reminders.list([SENDING])]


def settle_in_flight(
    ledger: Ledger, gmail: GmailClient, clock: Clock, reminder: Reminder
) -> SendOutcome:
    """Decide from Sent and Drafts whether a ``sending`` reminder went out."""
    started = sending_started_at(ledger, reminder)
    found = find_sent_message(gmail, reminder, started)
    if found is not None:
        sent_at = from_epoch_ms(int(found["internalDate"]))
        ledger.reminders.transition(
            reminder.uid, [SENDING], SENT, source="recover",
            sent_message_id=str(found["id"]), sent_at=sent_at,
        )
        logger.info(
            "Reminder sent (found in Sent after an interrupted send): %s for %s as "
            "message %s", reminder.uid, ", ".join(reminder.invoice_numbers), found["id"],
        )
        return SendOutcome(reminder.uid, reminder.invoice_numbers, RESULT_SENT, str(found["id"]))

    if clock.now() - started < SEND_SETTLE_TIME:
        logger.info("Reminder %s is still settling; checked again next pass", reminder.uid)
        return SendOutcome(reminder.uid, reminder.invoice_numbers, RESULT_IN_FLIGHT)
    if _current_draft(gmail, reminder) is not None:
        detail = "an interrupted send never went out; it will be sent again"
        ledger.reminders.transition(
            reminder.uid, [SENDING], APPROVED, source="recover", detail=detail
        )
        logger.info("Reminder %s: %s", reminder.uid, detail)
        return SendOutcome(reminder.uid, reminder.invoice_numbers, RESULT_RETRY, detail=detail)
    detail = (
        "its send was interrupted, it is not in Sent and its draft is gone; check "
        "Gmail's Sent folder before sending it yourself"
    )
    _fail(ledger, reminder, detail)
    return SendOutcome(reminder.uid, reminder.invoice_numbers, RESULT_FAILED, detail=detail)


def sending_started_at(ledger: Ledger, reminder: Reminder) -> datetime:
    """Return when the reminder last became ``sending``, from the audit log."""
    started = [
        event.at
        for event in ledger.events("reminder", reminder.uid)
        if event.field == "status" and event.new_value == SENDING
    ]
    if started:
        return parse_instant(max(started))
    fallback = reminder.approved_at or reminder.created_at or reminder.planned_send_at
    return fallback


def find_sent_message(
    gmail: GmailClient, reminder: Reminder, since: datetime
) -> dict[str, Any] | None:
    """Return the SENT message carrying the reminder's uid header, or None.

    Its threads are read first. An URGENT reminder may have started a thread
    of its own, so Sent is also searched for mail to its recipients since the
    send started.
    """
    for thread_id in _thread_ids(reminder):
        try:
            thread = gmail.get_thread(thread_id, "metadata", [REMINDER_HEADER])
        except GmailError as exc:
            if exc.status == 404:
                continue
            raise
        found = _carrying_uid(thread.get("messages", []), reminder.uid)
        if found is not None:
            return found
    query = _sent_query(reminder, since)
    ids = gmail.list_message_ids(q=query)
    messages = gmail.get_messages(ids, "metadata", [REMINDER_HEADER])
    return _carrying_uid(list(messages.values()), reminder.uid)


def _sent_query(reminder: Reminder, since: datetime) -> str:
    # Gmail's after: takes epoch seconds ("Search and filter messages",
    # https://developers.google.com/workspace/gmail/api/guides/filtering).
    after = int((since - SEARCH_MARGIN).timestamp())
    recipients = [parseaddr(a)[1] for a in reminder.to if parseaddr(a)[1]]
    terms = " ".join(f"to:{a}" for a in recipients)
    return f"in:sent after:{after}" + (f" {{{terms}}}" if terms else "")


def _carrying_uid(messages: list[dict[str, Any]], uid: str) -> dict[str, Any] | None:
    for message in messages:
        if "SENT" in message.get("labelIds", []) and header_value(
            message, REMINDER_HEADER
        ) == uid:
            return message
    return None
