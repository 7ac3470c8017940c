"""The dunning ladder: which reminder stage comes next for an invoice, and on which day.

The default ladder, from gentle to firm:

1. ``receipt_check`` asks whether the invoice arrived. It is due 5 business days
   after sending, only while the client has not written in the thread since and
   the due date is still more than 2 business days away.
2. ``gentle`` is a friendly note 1 business day before the due date. When that
   day has no send window it moves earlier, and it is never sent on or after the
   due date.
3. ``early_late`` follows a grace period of 3 business days after the due date.
4. ``late_late`` starts 5 business days after the due date, with a subject that
   starts with URGENT, and repeats every 7 days, at most 3 sends in all.
5. Then the user gets a task to call the client, in place of more email.

Days are the client's calendar days, in the client's time zone, and business
days skip the client's weekends and public holidays. Each stage's day is the
send-window day it will go out on, so the rules above hold for the real send
day. Everything here is a pure function of its inputs and of ``today``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assistant.business_days import BusinessCalendar
from assistant.clock import Clock
from assistant.errors import InputError
from assistant.send_window import Direction, SendWindow, window_day

CALL_CLIENT = "call_client"


class SendCheck(enum.StrEnum):
    """Whether the Sent folder shows that the invoice really went out."""

    CONFIRMED = "confirmed"
    PENDING = "pending"
    NOT_FOUND = "not_found"


class StopReason(enum.StrEnum):
    NOT_SENT = "not_sent"
    PAID = "paid"
    PAUSED = "paused"
    ANSWERED = "answered"
    FINISHED = "finished"


@dataclass(frozen=True)
class StageRule:
    """One dunning stage.

    The stage's day is ``offset_business_days`` from the due date (negative
    before it). A stage with ``after_sending_business_days`` is due that many
    business days after sending instead, and the offset is then the latest day
    it may go out. ``direction`` sets which way to look for a send-window day:
    ``before`` stages never go out after their day, ``after`` stages never
    before it.
    """

    name: str
    template: str
    offset_business_days: int
    direction: Direction
    enabled: bool = True
    subject_prefix: str = ""
    after_sending_business_days: int | None = None
    repeat_every_days: int = 0
    max_sends: int = 1


@dataclass(frozen=True)
class CallRule:
    """The task for the user to call the client once the emails have run out."""

    enabled: bool = True
    days_after_last_reminder: int = 7


DEFAULT_STAGES = (
    StageRule(
        name="receipt_check",
        template="receipt_check",
        offset_business_days=-3,
        direction=Direction.AFTER,
        after_sending_business_days=5,
    ),
    StageRule(
        name="gentle",
        template="gentle",
        offset_business_days=-1,
        direction=Direction.BEFORE,
    ),
    StageRule(
        name="early_late",
        template="early_late",
        offset_business_days=3,
        direction=Direction.AFTER,
    ),
    StageRule(
        name="late_late",
        template="late_late",
        offset_business_days=5,
        direction=Direction.AFTER,
        subject_prefix="URGENT",
        repeat_every_days=7,
        max_sends=3,
    ),
)


@dataclass(frozen=True)
class Ladder:
    stages: tuple[StageRule, ...] = DEFAULT_STAGES
    call_client: CallRule = CallRule()
    min_days_between_reminders: int = 2
    send_window: SendWindow = SendWindow()

    def stage_names(self) -> list[str]:
        return [rule.name for rule in self.stages] + [CALL_CLIENT]


@dataclass(frozen=True)
class Overrides:
    """Per-client or per-invoice changes to the ladder.

    ``paused_until`` is inclusive: reminders resume the day after it.
    """

    stages_off: frozenset[str] = frozenset()
    language: str | None = None
    timezone: str | None = None
    paused_until: date | None = None


def merge_overrides(client: Overrides, invoice: Overrides) -> Overrides:
    """Combine client and invoice overrides; the invoice's language and zone win.

    Stages turned off at either level stay off, and the later pause date wins,
    so neither level can undo a stop set at the other.
    """
    pauses = [day for day in (client.paused_until, invoice.paused_until) if day]
    return Overrides(
        stages_off=client.stages_off | invoice.stages_off,
        language=invoice.language or client.language,
        timezone=invoice.timezone or client.timezone,
        paused_until=max(pauses) if pauses else None,
    )


@dataclass(frozen=True)
class UserDefaults:
    """The user's own settings, used where the client's are unknown."""

    timezone: str = "UTC"
    country: str | None = None
    language: str = "en"


@dataclass(frozen=True)
class InvoiceState:
    """Facts about one invoice and its thread that the ladder decides on."""

    number: str
    due_on: date
    sent_at: datetime | None
    amount_due: Decimal
    send_check: SendCheck
    client_country: str | None = None
    client_timezone: str | None = None
    client_messages: tuple[datetime, ...] = ()
    client_overrides: Overrides = Overrides()
    invoice_overrides: Overrides = Overrides()


@dataclass(frozen=True)
class SentReminder:
    stage: str
    sent_at: datetime


@dataclass(frozen=True)
class StageDue:
    """The next reminder: its stage, the day it goes out and how to write it."""

    invoice_number: str
    stage: str
    due_on: date
    repeat_index: int
    template: str
    direction: Direction
    subject_prefix: str
    language: str
    timezone: str
    country: str | None

    @property
    def reminder_id(self) -> str:
        """A stable id such as ``INV-1042:gentle:0``, the seed of its send time."""
        return f"{self.invoice_number}:{self.stage}:{self.repeat_index}"


@dataclass(frozen=True)
class CallClientTask:
    invoice_number: str
    due_on: date
    reminders_sent: int


@dataclass(frozen=True)
class NoReminder:
    reason: StopReason
    detail: str


LadderStep = StageDue | CallClientTask | NoReminder


@dataclass(frozen=True)
class _Situation:
    """The facts every stage rule is judged against, in the client's zone."""

    invoice: InvoiceState
    ladder: Ladder
    calendar: BusinessCalendar
    zone: ZoneInfo
    today: date
    sent_on: date
    done: tuple[SentReminder, ...] = field(default=())

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def last_reminder_day(self) -> date | None:
        emails = [r.sent_at for r in self.done if r.stage != CALL_CLIENT]
        return self.local_day(max(emails)) if emails else None

    def sends_of(self, stage: str) -> list[datetime]:
        return sorted(r.sent_at for r in self.done if r.stage == stage)


def resolve_zone(name: str, invoice_number: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"invoice {invoice_number}: unknown time zone {name!r}; use an IANA "
            "name such as Europe/Berlin"
        ) from exc


def next_step(
    invoice: InvoiceState,
    done: list[SentReminder] | tuple[SentReminder, ...],
    ladder: Ladder,
    clock: Clock,
    user: UserDefaults = UserDefaults(),
) -> LadderStep:
    """Decide the invoice's next reminder stage and its day, a call task, or nothing."""
    overrides = merge_overrides(invoice.client_overrides, invoice.invoice_overrides)
    _check_stage_names(overrides.stages_off, ladder, invoice.number)
    zone_name = overrides.timezone or invoice.client_timezone or user.timezone
    zone = resolve_zone(zone_name, invoice.number)
    today = clock.now().astimezone(zone).date()

    stop = _stop_reason(invoice, tuple(done), overrides, today)
    if stop is not None:
        return stop
    assert invoice.sent_at is not None  # _stop_reason returns NOT_SENT otherwise

    country = invoice.client_country or user.country
    situation = _Situation(
        invoice=invoice,
        ladder=ladder,
        calendar=BusinessCalendar(country),
        zone=zone,
        today=today,
        sent_on=invoice.sent_at.astimezone(zone).date(),
        done=tuple(done),
    )
    language = overrides.language or user.language
    due = _next_stage(situation, overrides.stages_off, language, zone_name, country)
    if due is not None:
        return due
    return _call_or_finish(situation, overrides.stages_off)


def _check_stage_names(names: frozenset[str], ladder: Ladder, number: str) -> None:
    unknown = sorted(names - set(ladder.stage_names()))
    if unknown:
        raise InputError(
            f"invoice {number}: unknown stage {', '.join(unknown)} in stages off; "
            f"use {', '.join(ladder.stage_names())}"
        )


def _stop_reason(
    invoice: InvoiceState,
    done: tuple[SentReminder, ...],
    overrides: Overrides,
    today: date,
) -> NoReminder | None:
    if invoice.sent_at is None or invoice.send_check is not SendCheck.CONFIRMED:
        return NoReminder(
            StopReason.NOT_SENT,
            f"invoice {invoice.number} has no confirmed copy in the Sent folder",
        )
    if invoice.amount_due <= 0:
        return NoReminder(StopReason.PAID, f"invoice {invoice.number} is paid")
    if overrides.paused_until is not None and today <= overrides.paused_until:
        return NoReminder(
            StopReason.PAUSED,
            f"reminders for invoice {invoice.number} are paused until "
            f"{overrides.paused_until.isoformat()}",
        )

    # A reply after our latest reminder means the client is engaged, so a person
    # should read it before any more automatic mail goes out.
    # NOTE: the ladder stays stopped until the reply is older than a new
    # reminder; resuming it after a reply is left to the caller.
    reminders = [r.sent_at for r in done if r.stage != CALL_CLIENT]
    if reminders and any(m > max(reminders) for m in invoice.client_messages):
        return NoReminder(
            StopReason.ANSWERED,
            f"the client replied in the thread of invoice {invoice.number} "
            "after the latest reminder",
        )
    return None


def _open_rules(situation: _Situation, stages_off: frozenset[str]) -> list[StageRule]:
    """Stages still to come: after the highest stage done, never back down the ladder."""
    rules = list(situation.ladder.stages)
    done_names = {r.stage for r in situation.done}
    reached = max((i for i, r in enumerate(rules) if r.name in done_names), default=-1)

    open_rules = []
    if reached >= 0:
        current = rules[reached]
        if len(situation.sends_of(current.name)) < current.max_sends:
            open_rules.append(current)
    open_rules.extend(rules[reached + 1 :])
    return [r for r in open_rules if r.enabled and r.name not in stages_off]


def _pick_stage(situation: _Situation, stages_off: frozenset[str]) -> tuple[StageRule, date] | None:
    """Pick the first open stage that still applies, unless a later one is overdue.

    When the machine was off past a later stage's day, the earlier, milder
    stage is skipped: the latest stage whose own day has come goes out instead.
    """
    applicable: list[tuple[StageRule, date, date]] = []
    for rule in _open_rules(situation, stages_off):
        target, day = _stage_day(rule, situation)
        if day is not None:
            applicable.append((rule, target, day))
    if not applicable:
        return None

    overdue = [entry for entry in applicable if entry[1] <= situation.today]
    rule, _, day = overdue[-1] if overdue else applicable[0]
    return rule, day


def _next_stage(
    situation: _Situation,
    stages_off: frozenset[str],
    language: str,
    zone_name: str,
    country: str | None,
) -> StageDue | None:
    picked = _pick_stage(situation, stages_off)
    if picked is None:
        return None
    rule, day = picked
    return StageDue(
        invoice_number=situation.invoice.number,
        stage=rule.name,
        due_on=day,
        repeat_index=len(situation.sends_of(rule.name)),
        template=rule.template,
        direction=rule.direction,
        subject_prefix=rule.subject_prefix,
        language=language,
        timezone=zone_name,
        country=country,
    )


def _earliest_day(rule: StageRule, situation: _Situation) -> date:
    calendar = situation.calendar
    earliest = max(situation.today, situation.sent_on + timedelta(days=1))
    if rule.after_sending_business_days is not None:
        after_sending = rule.after_sending_business_days
        earliest = max(earliest, calendar.add_business_days(situation.sent_on, after_sending))
    last = situation.last_reminder_day()
    if last is not None:
        gap = timedelta(days=situation.ladder.min_days_between_reminders)
        earliest = max(earliest, last + gap)
    return earliest


def _stage_day(rule: StageRule, situation: _Situation) -> tuple[date, date | None]:
    """Return the stage's own day and its send day; None when it no longer applies."""
    invoice, calendar = situation.invoice, situation.calendar
    window = situation.ladder.send_window
    if rule.after_sending_business_days is not None and _client_wrote(situation):
        return situation.today, None  # the client wrote, so the invoice arrived

    target = calendar.add_business_days(invoice.due_on, rule.offset_business_days)
    latest: date | None = target if rule.direction is Direction.BEFORE else None
    if rule.after_sending_business_days is not None:
        after_sending = rule.after_sending_business_days
        latest = target
        target = calendar.add_business_days(situation.sent_on, after_sending)
    sends = situation.sends_of(rule.name)
    if sends:
        target = situation.local_day(sends[-1]) + timedelta(days=rule.repeat_every_days)

    earliest = _earliest_day(rule, situation)
    if rule.direction is Direction.BEFORE:
        day = window_day(target, Direction.BEFORE, window, calendar)
        if day < earliest:
            day = window_day(earliest, Direction.AFTER, window, calendar)
    else:
        day = window_day(max(target, earliest), Direction.AFTER, window, calendar)
    if latest is not None and day > latest:
        return target, None
    return target, day


def _client_wrote(situation: _Situation) -> bool:
    sent_at = situation.invoice.sent_at
    return any(sent_at is None or m > sent_at for m in situation.invoice.client_messages)


def _call_or_finish(situation: _Situation, stages_off: frozenset[str]) -> LadderStep:
    invoice = situation.invoice
    rule = situation.ladder.call_client
    called = any(r.stage == CALL_CLIENT for r in situation.done)
    if called or not rule.enabled or CALL_CLIENT in stages_off:
        return NoReminder(
            StopReason.FINISHED,
            f"every reminder stage for invoice {invoice.number} is done or off",
        )

    last = situation.last_reminder_day() or invoice.due_on
    start = max(last, invoice.due_on) + timedelta(days=rule.days_after_last_reminder)
    day = situation.calendar.roll_forward(max(start, situation.today))
    reminders = [r for r in situation.done if r.stage != CALL_CLIENT]
    return CallClientTask(invoice.number, day, len(reminders))
