"""The dunning ladder across an invoice's life, with overrides and stop conditions."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.business_days import BusinessCalendar
from assistant.clock import SimulatedClock
from assistant.errors import InputError
from assistant.ladder import (
    CALL_CLIENT,
    CallClientTask,
    InvoiceState,
    Ladder,
    NoReminder,
    Overrides,
    SendCheck,
    SentReminder,
    StageDue,
    StopReason,
    UserDefaults,
    merge_overrides,
    next_step,
)
from assistant.send_window import Direction

LADDER = Ladder()

# Sent on Monday 2 March 2026, due Tuesday 31 March; weekends only, in UTC.
INVOICE = InvoiceState(
    number="INV-1042",
    due_on=date(2026, 3, 31),
    sent_at=datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc),
    amount_due=Decimal("1200.00"),
    send_check=SendCheck.CONFIRMED,
)


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=timezone.utc)


def _sent(stage: str, day: date) -> SentReminder:
    return SentReminder(
        stage, datetime(day.year, day.month, day.day, 5, 17, tzinfo=timezone.utc)
    )


def _step(
    today: date,
    done: list[SentReminder] | None = None,
    invoice: InvoiceState = INVOICE,
    user: UserDefaults = UserDefaults(),
) -> object:
    return next_step(invoice, done or [], LADDER, SimulatedClock(_at(today)), user)


RECEIPT = _sent("receipt_check", date(2026, 3, 10))
GENTLE = _sent("gentle", date(2026, 3, 26))
EARLY = _sent("early_late", date(2026, 4, 7))
LATE = [_sent("late_late", date(2026, 4, d)) for d in (9, 16, 23)]


@pytest.mark.parametrize(
    ("today", "done", "stage", "day", "repeat"),
    [
        (date(2026, 3, 3), [], "receipt_check", date(2026, 3, 10), 0),
        (date(2026, 3, 10), [], "receipt_check", date(2026, 3, 10), 0),
        (date(2026, 3, 11), [RECEIPT], "gentle", date(2026, 3, 26), 0),
        (date(2026, 3, 27), [RECEIPT, GENTLE], "early_late", date(2026, 4, 7), 0),
        (date(2026, 4, 8), [RECEIPT, GENTLE, EARLY], "late_late", date(2026, 4, 9), 0),
        (
            date(2026, 4, 10),
            [RECEIPT, GENTLE, EARLY, *LATE[:1]],
            "late_late",
            date(2026, 4, 16),
            1,
        ),
        (
            date(2026, 4, 17),
            [RECEIPT, GENTLE, EARLY, *LATE[:2]],
            "late_late",
            date(2026, 4, 23),
            2,
        ),
        # The machine was off: a missed gentle note is dropped on the due date...
        (date(2026, 3, 31), [RECEIPT], "early_late", date(2026, 4, 7), 0),
        # ... and a missed early_late gives way once late_late's day has come.
        (date(2026, 4, 9), [RECEIPT, GENTLE], "late_late", date(2026, 4, 9), 0),
        # A missed receipt check still goes out while the due date is far enough...
        (date(2026, 3, 25), [], "receipt_check", date(2026, 3, 25), 0),
        # ... but with no window day left before the due date both early stages go.
        (date(2026, 3, 27), [], "early_late", date(2026, 4, 7), 0),
    ],
)
def test_ladder_timeline(
    today: date, done: list[SentReminder], stage: str, day: date, repeat: int
) -> None:
    step = _step(today, done)
    assert isinstance(step, StageDue), step
    assert step.stage == stage
    assert step.due_on == day
    assert step.repeat_index == repeat


def test_call_task_after_late_late_runs_out() -> None:
    step = _step(date(2026, 4, 24), [RECEIPT, GENTLE, EARLY, *LATE])
    assert isinstance(step, CallClientTask)
    assert step.due_on == date(2026, 4, 30)
    assert step.reminders_sent == 6


def test_ladder_finished_after_call() -> None:
    called = SentReminder(CALL_CLIENT, _at(date(2026, 4, 30)))
    step = _step(date(2026, 5, 1), [RECEIPT, GENTLE, EARLY, *LATE, called])
    assert isinstance(step, NoReminder)
    assert step.reason is StopReason.FINISHED


def test_late_late_subject_prefix() -> None:
    step = _step(date(2026, 4, 8), [RECEIPT, GENTLE, EARLY])
    assert isinstance(step, StageDue)
    assert step.subject_prefix == "URGENT"
    assert step.direction is Direction.AFTER
    assert step.reminder_id == "INV-1042:late_late:0"


def test_receipt_check_skipped_when_due_soon() -> None:
    soon = replace(INVOICE, due_on=date(2026, 3, 12))
    step = _step(date(2026, 3, 3), invoice=soon)
    assert isinstance(step, StageDue)
    assert step.stage == "gentle"
    assert step.due_on == date(2026, 3, 11)


def test_receipt_check_skipped_after_client_wrote() -> None:
    wrote = replace(INVOICE, client_messages=(_at(date(2026, 3, 4)),))
    step = _step(date(2026, 3, 5), invoice=wrote)
    assert isinstance(step, StageDue)
    assert step.stage == "gentle"


def test_reply_after_reminder_stops_ladder() -> None:
    replied = replace(INVOICE, client_messages=(_at(date(2026, 3, 11)),))
    step = _step(date(2026, 3, 12), [RECEIPT], invoice=replied)
    assert isinstance(step, NoReminder)
    assert step.reason is StopReason.ANSWERED


def test_message_before_reminder_does_not_stop() -> None:
    early_message = replace(INVOICE, client_messages=(_at(date(2026, 3, 9)),))
    step = _step(date(2026, 3, 12), [RECEIPT], invoice=early_message)
    assert isinstance(step, StageDue)
    assert step.stage == "gentle"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (dict(amount_due=Decimal("0")), StopReason.PAID),
        (dict(sent_at=None), StopReason.NOT_SENT),
        (dict(send_check=SendCheck.PENDING), StopReason.NOT_SENT),
        (dict(send_check=SendCheck.NOT_FOUND), StopReason.NOT_SENT),
        (
            dict(invoice_overrides=Overrides(paused_until=date(2026, 3, 10))),
            StopReason.PAUSED,
        ),
        (
            dict(client_overrides=Overrides(paused_until=date(2026, 4, 1))),
            StopReason.PAUSED,
        ),
    ],
)
def test_stop_reasons(change: dict[str, object], reason: StopReason) -> None:
    step = _step(date(2026, 3, 10), invoice=replace(INVOICE, **change))  # type: ignore[arg-type]
    assert isinstance(step, NoReminder)
    assert step.reason is reason
    assert "INV-1042" in step.detail


def test_pause_ends_after_its_day() -> None:
    paused = replace(
        INVOICE, invoice_overrides=Overrides(paused_until=date(2026, 3, 9))
    )
    step = _step(date(2026, 3, 10), invoice=paused)
    assert isinstance(step, StageDue)


def test_pause_uses_client_time_zone() -> None:
    # 16:00 UTC on 9 March is already 10 March in Tokyo, the day after the pause.
    paused = replace(
        INVOICE,
        client_timezone="Asia/Tokyo",
        invoice_overrides=Overrides(paused_until=date(2026, 3, 9)),
    )
    clock = SimulatedClock(datetime(2026, 3, 9, 16, 0, tzinfo=timezone.utc))
    in_tokyo = next_step(paused, [], LADDER, clock)
    assert isinstance(in_tokyo, StageDue)
    assert in_tokyo.timezone == "Asia/Tokyo"
    in_utc = next_step(replace(paused, client_timezone=None), [], LADDER, clock)
    assert isinstance(in_utc, NoReminder)


def test_stages_off_merge_client_and_invoice() -> None:
    invoice = replace(
        INVOICE,
        client_overrides=Overrides(stages_off=frozenset({"receipt_check"})),
        invoice_overrides=Overrides(stages_off=frozenset({"early_late"})),
    )
    first = _step(date(2026, 3, 3), invoice=invoice)
    assert isinstance(first, StageDue)
    assert first.stage == "gentle"
    after_gentle = _step(date(2026, 3, 27), [GENTLE], invoice=invoice)
    assert isinstance(after_gentle, StageDue)
    assert after_gentle.stage == "late_late"
    assert after_gentle.due_on == date(2026, 4, 7)


def test_call_client_can_be_turned_off() -> None:
    invoice = replace(
        INVOICE, client_overrides=Overrides(stages_off=frozenset({CALL_CLIENT}))
    )
    step = _step(date(2026, 4, 24), [RECEIPT, GENTLE, EARLY, *LATE], invoice=invoice)
    assert isinstance(step, NoReminder)
    assert step.reason is StopReason.FINISHED


def test_unknown_stage_off_rejected() -> None:
    invoice = replace(
        INVOICE, invoice_overrides=Overrides(stages_off=frozenset({"polite"}))
    )
    with pytest.raises(InputError, match="INV-1042.*polite"):
        _step(date(2026, 3, 3), invoice=invoice)


def test_unknown_time_zone_rejected() -> None:
    with pytest.raises(InputError, match="'Mars/Base'"):
        _step(date(2026, 3, 3), invoice=replace(INVOICE, client_timezone="Mars/Base"))


def test_language_override_order() -> None:
    invoice = replace(
        INVOICE,
        client_overrides=Overrides(language="fr"),
        invoice_overrides=Overrides(language="de"),
    )
    step = _step(date(2026, 3, 3), invoice=invoice, user=UserDefaults(language="en"))
    assert isinstance(step, StageDue)
    assert step.language == "de"
    plain = _step(date(2026, 3, 3), user=UserDefaults(language="nl"))
    assert isinstance(plain, StageDue)
    assert plain.language == "nl"


def test_merge_overrides_keeps_later_pause() -> None:
    merged = merge_overrides(
        Overrides(paused_until=date(2026, 5, 1), timezone="Europe/Paris"),
        Overrides(paused_until=date(2026, 4, 1), timezone="Europe/Berlin"),
    )
    assert merged.paused_until == date(2026, 5, 1)
    assert merged.timezone == "Europe/Berlin"


def test_client_holidays_move_gentle_note() -> None:
    # Due Tuesday 7 April 2026: Easter Monday and Good Friday are German holidays.
    invoice = replace(INVOICE, due_on=date(2026, 4, 7), client_country="DE")
    step = _step(date(2026, 3, 20), [RECEIPT], invoice=invoice)
    assert isinstance(step, StageDue)
    assert step.stage == "gentle"
    assert step.due_on == date(2026, 4, 2)
    assert step.country == "DE"


def test_user_country_used_when_client_unknown() -> None:
    invoice = replace(INVOICE, due_on=date(2026, 4, 7))
    step = _step(
        date(2026, 3, 20), [RECEIPT], invoice=invoice, user=UserDefaults(country="DE")
    )
    assert isinstance(step, StageDue)
    assert step.due_on == date(2026, 4, 2)


@settings(max_examples=150, deadline=None)
@given(
    sent_on=st.dates(date(2026, 1, 5), date(2026, 10, 30)),
    terms=st.integers(1, 60),
    elapsed=st.integers(0, 90),
    country=st.sampled_from([None, "US", "DE", "JP", "GB"]),
)
def test_first_reminder_respects_rules(
    sent_on: date, terms: int, elapsed: int, country: str | None
) -> None:
    invoice = replace(
        INVOICE,
        sent_at=_at(sent_on, 9),
        due_on=sent_on + timedelta(days=terms),
        client_country=country,
    )
    today = sent_on + timedelta(days=elapsed)
    step = _step(today, invoice=invoice)
    calendar = BusinessCalendar(country)
    if not isinstance(step, StageDue):
        assert isinstance(step, CallClientTask)
        return
    assert step.due_on >= today
    assert step.due_on > sent_on
    assert step.due_on.weekday() in {1, 2, 3}
    assert not calendar.is_holiday(step.due_on)
    if step.stage == "receipt_check":
        assert calendar.business_days_between(sent_on, step.due_on) >= 5
        # Offsets count like add_business_days: the due date itself is not counted.
        assert step.due_on <= calendar.add_business_days(invoice.due_on, -3)
    if step.stage == "gentle":
        assert step.due_on < invoice.due_on
    if step.stage in {"early_late", "late_late"}:
        assert calendar.business_days_between(invoice.due_on, step.due_on) >= 3
