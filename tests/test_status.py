"""The status report over a real SQLite ledger: aging, next actions and what needs the user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from assistant import attention
from assistant.clock import SimulatedClock
from assistant.config import Config, load_config
from assistant.ledger import Invoice, Ledger, SentEvidence
from assistant.reminders import DRAFTED, SENT, Reminder, reminder_uid
from assistant.status import (
    BUCKETS,
    aging_bucket,
    report_json,
    status_report,
)

# Thursday, 09:00 UTC.
NOW = datetime(2026, 5, 14, 9, 0, tzinfo=timezone.utc)
TODAY = NOW.date()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(NOW)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(tmp_path / "no-config.toml")


@pytest.fixture
def ledger(tmp_path: Path, clock: SimulatedClock) -> Iterator[Ledger]:
    opened = Ledger.open(tmp_path / "ledger.db", clock)
    yield opened
    opened.close()


def add_invoice(
    ledger: Ledger,
    number: str,
    days_overdue: int,
    amount: str,
    currency: str = "EUR",
    client: str = "Azure Interior",
    paid: str = "0",
) -> Invoice:
    due = TODAY - timedelta(days=days_overdue)
    invoice = Invoice(
        number=number,
        client=client,
        amount=Decimal(amount),
        currency=currency,
        issue_date=due - timedelta(days=30),
        due_date=due,
        amount_paid=Decimal(paid),
    )
    ledger.add_invoice(invoice)
    return invoice


def confirm_sent(ledger: Ledger, number: str, sent_at: datetime) -> None:
    ledger.set_evidence(
        SentEvidence(
            invoice_number=number,
            status="sent",
            checked_at=NOW,
            message_id=f"m-{number}",
            thread_id=f"t-{number}",
            sent_at=sent_at,
        )
    )


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-5, "current"),
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "over_90"),
        (400, "over_90"),
    ],
)
def test_aging_bucket_boundaries(days: int, bucket: str) -> None:
    assert aging_bucket(days) == bucket


def test_aging_buckets_from_ledger(ledger: Ledger, config: Config, clock: SimulatedClock) -> None:
    for index, days in enumerate((0, 1, 30, 31, 60, 61, 90, 91)):
        add_invoice(ledger, f"E-{days}", days, f"{100 + index}.00")

    report = status_report(ledger, config, clock)

    assert report.aging == {
        "EUR": {
            "current": Decimal("100.00"),
            "1-30": Decimal("101.00") + Decimal("102.00"),
            "31-60": Decimal("103.00") + Decimal("104.00"),
            "61-90": Decimal("105.00") + Decimal("106.00"),
            "over_90": Decimal("107.00"),
        }
    }
    overdue = {row.number: row.days_overdue for row in report.invoices}
    assert overdue["E-0"] == 0
    assert overdue["E-91"] == 91


def test_aging_never_sums_currencies(
    ledger: Ledger, config: Config, clock: SimulatedClock
) -> None:
    add_invoice(ledger, "E-1", 10, "1200.00", "EUR")
    add_invoice(ledger, "U-1", 10, "990.00", "USD", client="Delta Inc")
    add_invoice(ledger, "J-1", 45, "120000", "JPY", client="Nihon KK")
    add_invoice(ledger, "J-2", 5, "30000", "JPY", client="Nihon KK")

    aging = report_json(status_report(ledger, config, clock))["aging"]

    assert aging == {
        "EUR": {"current": "0.00", "1-30": "1200.00", "31-60": "0.00", "61-90": "0.00",
                "over_90": "0.00"},
        "JPY": {"current": "0", "1-30": "30000", "31-60": "120000", "61-90": "0",
                "over_90": "0"},
        "USD": {"current": "0.00", "1-30": "990.00", "31-60": "0.00", "61-90": "0.00",
                "over_90": "0.00"},
    }


def test_aging_uses_balance_and_skips_paid(
    ledger: Ledger, config: Config, clock: SimulatedClock
) -> None:
    add_invoice(ledger, "E-1", 10, "1000.00", paid="250.00")
    add_invoice(ledger, "E-2", 10, "500.00")
    ledger.record_payment("E-2", Decimal("500.00"), TODAY)

    report = status_report(ledger, config, clock)

    assert [row.number for row in report.invoices] == ["E-1"]
    assert report.invoices[0].amount_due == Decimal("750.00")
    assert report.aging["EUR"]["1-30"] == Decimal("750.00")


def test_json_shape(ledger: Ledger, config: Config, clock: SimulatedClock) -> None:
    add_invoice(ledger, "E-1", -10, "1200.00")
    confirm_sent(ledger, "E-1", NOW - timedelta(days=20))

    data = report_json(status_report(ledger, config, clock))

    assert set(data) >= {"invoices", "aging"}
    row = data["invoices"][0]
    assert set(row) == {
        "number", "client", "currency", "amount_due", "due_date", "days_overdue",
        "check_status", "stage", "next_action", "next_action_at", "paused_until",
        "needs_user",
    }
    assert row["amount_due"] == "1200.00"
    assert row["due_date"] == (TODAY + timedelta(days=10)).isoformat()
    assert row["days_overdue"] == 0
    assert row["check_status"] == "sent"
    assert row["stage"] is None
    assert row["paused_until"] is None
    assert isinstance(row["needs_user"], list)
    assert set(data["aging"]["EUR"]) == set(BUCKETS)


def test_unchecked_invoice_needs_sent_check(
    ledger: Ledger, config: Config, clock: SimulatedClock
) -> None:
    add_invoice(ledger, "E-1", -10, "100.00")

    row = status_report(ledger, config, clock).invoices[0]

    assert row.check_status == "unchecked"
    assert row.next_action.startswith("none: ")
    assert row.next_action_at is None
    assert any("not confirmed as sent" in s and "assistant check" in s for s in row.needs_user)


def test_not_found_invoice_needs_user(
    ledger: Ledger, config: Config, clock: SimulatedClock
) -> None:
    add_invoice(ledger, "E-1", -10, "100.00")
    ledger.set_evidence(SentEvidence("E-1", "not_found", NOW))

    row = status_report(ledger, config, clock).invoices[0]

    assert row.check_status == "not_found"
    assert any("found no sent message" in s for s in row.needs_user)
    assert not any("found not found" in s for s in row.needs_user)


@pytest.mark.parametrize(
    ("check_status", "advice"),
    [
        ("not_found", "found no sent message with it"),
        ("draft_only", "send it from Gmail"),
        ("bounced", "the invoice bounced; fix the client's address with 'assistant client set'"),
        ("sent_to_other_address", "it went to another address"),
    ],
)
def test_unsent_invoice_advice_per_status(
    ledger: Ledger, config: Config, clock: SimulatedClock, check_status: str, advice: str
) -> None:
    add_invoice(ledger, "E-1", -10, "100.00")
    ledger.set_evidence(SentEvidence("E-1", check_status, NOW))

    needs = status_report(ledger, config, clock).invoices[0].needs_user

    assert any(advice in s for s in needs), needs
    assert not any("check the Sent folder" in s for s in needs), needs
    if "_" in check_status:
        assert not any(check_status in s for s in needs), "internal status names stay out"


def test_next_stage_from_ladder(ledger: Ledger, config: Config, clock: SimulatedClock) -> None:
    # Due in 10 days and sent 20 days ago, with no reply: the receipt check is
    # due now, and goes out on the next Tue-Thu window day.
    add_invoice(ledger, "E-1", -10, "100.00")
    confirm_sent(ledger, "E-1", NOW - timedelta(days=20))

    row = status_report(ledger, config, clock).invoices[0]

    assert row.next_action == "draft the receipt_check reminder"
    assert row.next_action_text == 'draft the "did you receive it?" reminder'
    assert row.next_action_at is not None
    assert row.next_action_at > NOW
    assert row.next_action_at.date() < TODAY + timedelta(days=10)
    assert row.next_action_at.weekday() in (1, 2, 3)


def _reminder(number: str, stage: str, status: str, planned: datetime, **extra: object) -> Reminder:
    return Reminder(
        uid=reminder_uid(stage, 0, [number]),
        stage=stage,
        repeat_index=0,
        client="Azure Interior",
        invoice_numbers=(number,),
        status=status,
        stage_day=planned.date(),
        planned_send_at=planned,
        **extra,  # type: ignore[arg-type]
    )


def test_drafted_reminder_is_next_and_needs_approval(
    ledger: Ledger, config: Config, clock: SimulatedClock
) -> None:
    add_invoice(ledger, "E-1", 5, "100.00")
    confirm_sent(ledger, "E-1", NOW - timedelta(days=40))
    planned = datetime(2026, 5, 19, 5, 17, tzinfo=timezone.utc)
    reminder = ledger.reminders.add(_reminder("E-1", "early_late", DRAFTED, planned))
    ledger.attention.add(
        attention.APPROVAL, reminder.uid, "early_late reminder for E-1 is drafted"
    )

    row = status_report(ledger, config, clock).invoices[0]

    assert row.stage == "early_late"
    assert row.next_action == "send the early_late reminder once approved"
    assert row.next_action_text == 'send the "early late" reminder once approved'
    assert row.next_action_at == planned
    assert row.last_sent_stage is None, "a draft is not sent"
    approvals = [s for s in row.needs_user if "assistant review" in s]
    assert len(approvals) == 1, "the approval item and the draft give one sentence"
    assert "2026-05-19 05:17 UTC" in approvals[0]
    assert '"early late"' in approvals[0]
    assert "early_late" not in approvals[0]


def test_stage_is_latest_reminder(ledger: Ledger, config: Config, clock: SimulatedClock) -> None:
    add_invoice(ledger, "E-1", 20, "100.00")
    confirm_sent(ledger, "E-1", NOW - timedelta(days=60))
    sent_at = NOW - timedelta(days=15)
    ledger.reminders.add(
        _reminder("E-1", "gentle", SENT, sent_at, sent_at=sent_at, sent_message_id="s1")
    )
    later = NOW - timedelta(days=10)
    ledger.reminders.add(
        _reminder("E-1", "early_late", SENT, later, sent_at=later, sent_message_id="s2")
    )

    row = status_report(ledger, config, clock).invoices[0]

    assert row.stage == "early_late"
    assert row.last_sent_stage == "early_late"
    assert row.next_action == "draft the late_late reminder"
    assert row.next_action_text == 'draft the "URGENT" reminder'


def test_last_sent_stage_skips_drafts(
    ledger: Ledger, config: Config, clock: SimulatedClock
) -> None:
    add_invoice(ledger, "E-1", 5, "100.00")
    confirm_sent(ledger, "E-1", NOW - timedelta(days=40))
    sent_at = NOW - timedelta(days=7)
    ledger.reminders.add(
        _reminder("E-1", "gentle", SENT, sent_at, sent_at=sent_at, sent_message_id="s1")
    )
    ledger.reminders.add(
        _reminder("E-1", "early_late", DRAFTED, NOW + timedelta(days=5))
    )

    row = status_report(ledger, config, clock).invoices[0]

    assert row.stage == "early_late", "JSON keeps the latest reminder"
    assert row.last_sent_stage == "gentle"
    assert row.next_action_text == 'send the "early late" reminder once approved'


def _bounce(ledger: Ledger, number: str) -> None:
    ledger.attention.add(
        attention.BOUNCE,
        f"{number}/b-1",
        f"Invoice {number}: a message to ap@azure.example bounced (permanent failure)",
        invoice_number=number,
        message_id="b-1",
    )


def test_bounced_invoice_says_invoice_bounced(
    ledger: Ledger, config: Config, clock: SimulatedClock
) -> None:
    add_invoice(ledger, "E-1", -10, "100.00")
    ledger.set_evidence(SentEvidence("E-1", "bounced", NOW))
    _bounce(ledger, "E-1")

    needs = status_report(ledger, config, clock).invoices[0].needs_user

    bounces = [s for s in needs if "bounced" in s]
    assert len(bounces) == 1, needs
    assert "It was the invoice itself" in bounces[0]
    assert "'assistant client set'" in bounces[0]
    assert "send the invoice again" in bounces[0]
    assert not any("A reminder bounced" in s for s in needs)


def test_bounced_reminder_says_reminder_bounced(
    ledger: Ledger, config: Config, clock: SimulatedClock
) -> None:
    add_invoice(ledger, "E-1", 5, "100.00")
    confirm_sent(ledger, "E-1", NOW - timedelta(days=40))
    sent_at = NOW - timedelta(days=3)
    ledger.reminders.add(
        _reminder("E-1", "gentle", SENT, sent_at, sent_at=sent_at, sent_message_id="s1")
    )
    _bounce(ledger, "E-1")

    needs = status_report(ledger, config, clock).invoices[0].needs_user

    bounces = [s for s in needs if "bounced" in s]
    assert len(bounces) == 1, needs
    assert "It was a reminder" in bounces[0]
    assert "'assistant resume E-1'" in bounces[0]


def test_overdue_invoice_records_one_call(
    ledger: Ledger, config: Config, clock: SimulatedClock
) -> None:
    add_invoice(ledger, "E-0", 0, "100.00")
    add_invoice(ledger, "E-1", 1, "100.00")

    first = status_report(ledger, config, clock)
    second = status_report(ledger, config, clock)

    calls = [i for i in ledger.attention.open_items() if i.kind == attention.CALL]
    assert [i.invoice_number for i in calls] == ["E-1"], "due today is not overdue yet"
    for report in (first, second):
        rows = {row.number: row for row in report.invoices}
        assert any(s.startswith("Call Azure Interior") for s in rows["E-1"].needs_user)
        assert not any(s.startswith("Call") for s in rows["E-0"].needs_user)


def test_resolved_call_is_not_recorded_again(
    ledger: Ledger, config: Config, clock: SimulatedClock
) -> None:
    add_invoice(ledger, "E-1", 3, "100.00")
    status_report(ledger, config, clock)
    ledger.attention.resolve(attention.CALL, "E-1:after-due-date")

    row = status_report(ledger, config, clock).invoices[0]

    assert not any(s.startswith("Call") for s in row.needs_user)


def test_paused_invoice_shows_pause_and_no_call(
    ledger: Ledger, config: Config, clock: SimulatedClock
) -> None:
    add_invoice(ledger, "E-1", 3, "100.00")
    confirm_sent(ledger, "E-1", NOW - timedelta(days=40))
    ledger.set_invoice("E-1", paused_until=date(2026, 6, 1))

    row = status_report(ledger, config, clock).invoices[0]

    assert row.paused_until == date(2026, 6, 1)
    assert "paused until 2026-06-01" in row.next_action
    assert not [i for i in ledger.attention.open_items() if i.kind == attention.CALL]


def test_attention_items_become_sentences(
    ledger: Ledger, config: Config, clock: SimulatedClock
) -> None:
    add_invoice(ledger, "E-1", -3, "100.00")
    confirm_sent(ledger, "E-1", NOW - timedelta(days=20))
    ledger.attention.add(
        attention.REPLY, "msg-1", "Azure Interior wrote about E-1", invoice_number="E-1"
    )
    ledger.attention.add(
        attention.PAYMENT, "msg-2", "a bank notice names E-1", invoice_number="E-1"
    )
    ledger.attention.add(attention.MISSED_WINDOWS, "global", "two windows passed")

    report = status_report(ledger, config, clock)

    needs = report.invoices[0].needs_user
    assert "Read the client's reply: Azure Interior wrote about E-1." in needs
    assert any(s.startswith("Confirm the payment") for s in needs)
    assert report.needs_user == ("Reminders missed their send windows: two windows passed.",)
