"""Sending approved reminders: the checks right before a send, windows, recovery.

Everything runs against the sandbox over real HTTP and a ledger in tmp_path.
``World`` is reused by the runner, exactly-once and property tests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Iterator

import pytest

from assistant import attention, sending
from assistant.clock import SimulatedClock, to_epoch_ms
from assistant.config import Config, build_config
from assistant.errors import GmailError
from assistant.gmail import GmailClient, RetryPolicy
from assistant.ledger import Invoice, Ledger
from assistant.reminders import (
    APPROVED,
    FAILED,
    REMINDER_HEADER,
    SENDING,
    SENT,
    SKIPPED,
    WITHDRAWN,
    Reminder,
    reminder_uid,
)
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.faults import Fault
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore
from assistant.send_window import Direction
from assistant.stopping import record_paid

OWNER = "anna@consultant.example"
CLIENT_ADDRESS = "ap@acme.example"
BERLIN = "Europe/Berlin"
# Thursday 5 March 2026 is a window day (Tue-Thu, 05:00-06:00 Berlin, UTC+1).
SEND_DAY = date(2026, 3, 5)

CONFIG_DATA: dict[str, Any] = {
    "user": {"name": "Anna", "email": OWNER, "timezone": BERLIN, "country": "DE"},
}


@dataclass
class World:
    """A sandbox mailbox, a ledger and one simulated clock that both follow."""

    store: MailStore
    server: SandboxServer
    gmail: GmailClient
    ledger: Ledger
    clock: SimulatedClock
    sandbox_clock: SandboxClock
    config: Config
    folder: Path

    def set_time(self, moment: datetime) -> None:
        self.clock.set(moment)
        self.sandbox_clock.set(moment)

    def add_client(self, name: str = "Acme", address: str = CLIENT_ADDRESS, **values: Any) -> None:
        self.ledger.set_client(name, timezone=values.pop("timezone", BERLIN), **values)
        self.ledger.add_email(name, address)

    def add_invoice(
        self,
        number: str = "INV-1",
        *,
        client: str = "Acme",
        address: str = CLIENT_ADDRESS,
        sent_on: date = date(2026, 2, 2),
        due: date = date(2026, 3, 2),
    ) -> dict[str, str]:
        """Record an open invoice and put the message that sent it in Sent."""
        self.ledger.add_invoice(
            Invoice(number, client, Decimal("1200.00"), "EUR", sent_on, due)
        )
        message = EmailMessage()
        message["From"] = f"Anna <{OWNER}>"
        message["To"] = address
        message["Subject"] = f"Invoice {number}"
        sent_at = datetime.combine(sent_on, datetime.min.time(), tzinfo=timezone.utc)
        message["Date"] = format_datetime(sent_at + timedelta(hours=9))
        message["Message-ID"] = make_msgid(domain="consultant.example")
        message.set_content(f"Please find invoice {number} attached.")
        stored = self.store.add_message(
            message.as_bytes(),
            label_ids=["SENT"],
            internal_date_ms=to_epoch_ms(sent_at + timedelta(hours=9)),
        )
        return {
            "thread_id": stored["threadId"],
            "message_id": message["Message-ID"],
            "subject": message["Subject"],
        }

    def add_reminder(
        self,
        invoice_mail: dict[str, str],
        number: str = "INV-1",
        *,
        stage: str = "early_late",
        repeat: int = 0,
        planned: datetime | None = None,
        status: str = APPROVED,
        with_header: bool = True,
        new_thread: bool = False,
        address: str = CLIENT_ADDRESS,
    ) -> Reminder:
        """Create the reminder's Gmail draft and record the reminder in the ledger."""
        uid = reminder_uid(stage, repeat, [number])
        subject = f"URGENT: invoice {number}" if new_thread else f"Re: {invoice_mail['subject']}"
        raw = reminder_mime(uid, subject, invoice_mail["message_id"], address, with_header)
        thread = None if new_thread else invoice_mail["thread_id"]
        draft = self.gmail.create_draft(raw, thread)
        planned = planned or planned_instant(self, uid)
        reminder = Reminder(
            uid=uid,
            stage=stage,
            repeat_index=repeat,
            client="Acme",
            invoice_numbers=(number,),
            status=status,
            stage_day=planned.astimezone(timezone.utc).date(),
            planned_send_at=planned,
            to=(address,),
            subject=subject,
            thread_id=draft["message"]["threadId"],
            extra_thread_ids=(invoice_mail["thread_id"],) if new_thread else (),
            in_reply_to=invoice_mail["message_id"],
            draft_id=draft["id"],
            draft_message_id=draft["message"]["id"],
            approved_at=self.clock.now() if status == APPROVED else None,
        )
        return self.ledger.reminders.add(reminder)

    def client_writes(self, invoice_mail: dict[str, str], text: str = "We paid.") -> str:
        message = EmailMessage()
        message["From"] = f"Accounts <{CLIENT_ADDRESS}>"
        message["To"] = OWNER
        message["Subject"] = f"Re: {invoice_mail['subject']}"
        message["Message-ID"] = make_msgid(domain="acme.example")
        message["In-Reply-To"] = invoice_mail["message_id"]
        message["References"] = invoice_mail["message_id"]
        message["Date"] = format_datetime(self.clock.now())
        message.set_content(text)
        stored = self.store.add_message(
            message.as_bytes(),
            label_ids=["INBOX", "UNREAD"],
            thread_id=invoice_mail["thread_id"],
            internal_date_ms=to_epoch_ms(self.clock.now()),
        )
        return str(stored["id"])

    def sent_with_uid(self, uid: str) -> list[dict[str, Any]]:
        """Every SENT message in the mailbox whose reminder header is ``uid``."""
        ids = self.gmail.list_message_ids(q="in:sent")
        messages = self.gmail.get_messages(ids, "metadata", [REMINDER_HEADER])
        return [
            m
            for m in messages.values()
            if "SENT" in m.get("labelIds", [])
            and sending.header_value(m, REMINDER_HEADER) == uid
        ]

    def stats(self) -> dict[str, Any]:
        return self.server.api.stats.snapshot()


def reminder_mime(
    uid: str, subject: str, in_reply_to: str, to: str, with_header: bool = True
) -> bytes:
    message = EmailMessage()
    message["From"] = f"Anna <{OWNER}>"
    message["To"] = to
    message["Subject"] = subject
    message["In-Reply-To"] = in_reply_to
    message["References"] = in_reply_to
    if with_header:
        message[REMINDER_HEADER] = uid
    message.set_content("A friendly reminder that the invoice is now overdue.")
    return message.as_bytes()


def planned_instant(world: World, uid: str, day: date = SEND_DAY) -> datetime:
    client = world.ledger.get_client("Acme")
    assert client is not None
    reminder = Reminder(uid, "early_late", 0, "Acme", ("INV-1",), APPROVED, day, world.clock.now())
    planner = sending.planner_for(world.ledger, world.config, reminder)
    return planner.plan(uid, day, Direction.AFTER)


def make_world(folder: Path, *, start: datetime, fail_rate: float = 0.0, seed: int = 7,
               config_data: dict[str, Any] | None = None) -> World:
    sandbox_clock = SandboxClock()
    sandbox_clock.set(start)
    store = MailStore(str(folder / "mailbox.db"), clock=sandbox_clock)
    store.set_user_email(OWNER)
    server = SandboxServer(store, clock=sandbox_clock, fail_rate=fail_rate, seed=seed).start()
    gmail = GmailClient.connect(
        server.url, sleep=lambda seconds: None, retry=RetryPolicy(max_attempts=8)
    )
    clock = SimulatedClock(start)
    ledger = Ledger.open(folder / "ledger.db", clock)
    config = build_config(config_data or CONFIG_DATA, folder / "config.toml")
    return World(store, server, gmail, ledger, clock, sandbox_clock, config, folder)


def close_world(world: World) -> None:
    world.server.stop()
    world.ledger.close()
    world.store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = make_world(tmp_path, start=datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
    built.add_client()
    yield built
    close_world(built)


@pytest.fixture
def due_reminder(world: World) -> tuple[Reminder, dict[str, str]]:
    mail = world.add_invoice()
    reminder = world.add_reminder(mail)
    world.set_time(reminder.planned_send_at + timedelta(minutes=1))
    return reminder, mail


def status_of(world: World, uid: str) -> Reminder:
    found = world.ledger.reminders.get(uid)
    assert found is not None, f"reminder {uid} vanished from the ledger"
    return found


def open_kinds(world: World) -> set[str]:
    return {item.kind for item in world.ledger.attention.open_items()}


# -- sending at the planned time -------------------------------------------------


def test_due_reminder_sent_once_with_header(world: World, due_reminder) -> None:
    reminder, mail = due_reminder

    outcomes = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert [o.result for o in outcomes] == [sending.RESULT_SENT]
    sent = world.sent_with_uid(reminder.uid)
    assert len(sent) == 1
    assert sent[0]["threadId"] == mail["thread_id"]
    stored = status_of(world, reminder.uid)
    assert stored.status == SENT
    assert stored.sent_message_id == sent[0]["id"]
    assert stored.sent_at == world.clock.now()


def test_second_send_due_sends_nothing(world: World, due_reminder) -> None:
    reminder, _ = due_reminder
    sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    again = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert again == []
    assert len(world.sent_with_uid(reminder.uid)) == 1


def test_reminder_not_sent_before_planned_time(world: World) -> None:
    reminder = world.add_reminder(world.add_invoice())
    world.set_time(reminder.planned_send_at - timedelta(seconds=1))

    outcomes = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert outcomes == []
    assert status_of(world, reminder.uid).status == APPROVED


def test_drafted_reminder_waits_for_approval(world: World) -> None:
    reminder = world.add_reminder(world.add_invoice(), status="drafted")
    world.set_time(reminder.planned_send_at + timedelta(minutes=1))

    assert sending.send_due(world.ledger, world.gmail, world.config, world.clock) == []
    assert world.sent_with_uid(reminder.uid) == []


# -- checks right before the send --------------------------------------------------


def test_paid_invoice_withdrawn_not_sent(world: World, due_reminder) -> None:
    reminder, _ = due_reminder
    record_paid(world.ledger, "INV-1", SEND_DAY)

    outcomes = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert [o.result for o in outcomes] == [sending.RESULT_WITHDRAWN]
    assert world.sent_with_uid(reminder.uid) == []
    assert status_of(world, reminder.uid).status == WITHDRAWN
    assert world.gmail.list_drafts() == []


def test_client_message_in_thread_holds_send(world: World, due_reminder) -> None:
    reminder, mail = due_reminder
    message_id = world.client_writes(mail, "Paid yesterday, see attached.")

    outcomes = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert [o.result for o in outcomes] in (
        [sending.RESULT_HELD], [sending.RESULT_WITHDRAWN]
    )
    assert world.sent_with_uid(reminder.uid) == []
    reply_items = [i for i in world.ledger.attention.open_items() if i.kind == attention.REPLY]
    assert [i.message_id for i in reply_items] == [message_id]


def test_client_message_check_reads_thread(world: World, due_reminder) -> None:
    # Checked directly, without the inbox, so the thread check itself is proven.
    reminder, mail = due_reminder
    message_id = world.client_writes(mail)

    found = sending.find_client_message(
        world.ledger, world.gmail, reminder, [mail["thread_id"]]
    )

    assert found is not None
    assert found["id"] == message_id


def test_client_message_before_draft_ignored(world: World) -> None:
    mail = world.add_invoice()
    world.client_writes(mail, "Thanks, received.")
    world.set_time(world.clock.now() + timedelta(hours=1))
    reminder = world.add_reminder(mail)

    found = sending.find_client_message(
        world.ledger, world.gmail, reminder, [mail["thread_id"]]
    )

    assert found is None


def test_deleted_draft_marks_skipped(world: World, due_reminder) -> None:
    reminder, _ = due_reminder
    world.gmail.delete_draft(str(reminder.draft_id))

    outcomes = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert [o.result for o in outcomes] == [sending.RESULT_SKIPPED]
    assert status_of(world, reminder.uid).status == SKIPPED
    assert world.sent_with_uid(reminder.uid) == []


def test_lost_header_restored_before_send(world: World) -> None:
    reminder = world.add_reminder(world.add_invoice(), with_header=False)
    world.set_time(reminder.planned_send_at + timedelta(minutes=1))

    sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert len(world.sent_with_uid(reminder.uid)) == 1


def test_edited_draft_sent_as_edited(world: World, due_reminder) -> None:
    reminder, mail = due_reminder
    edited = reminder_mime(reminder.uid, reminder.subject, mail["message_id"], CLIENT_ADDRESS)
    edited = edited.replace(b"A friendly reminder", b"An edited reminder")
    world.gmail.update_draft(str(reminder.draft_id), edited, mail["thread_id"])

    sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    [sent] = world.sent_with_uid(reminder.uid)
    full = world.gmail.get_message(sent["id"], "raw")
    assert b"An edited reminder" in sending.decode_base64url(full["raw"])


# -- missed windows ----------------------------------------------------------------


def test_missed_window_caught_up_before_latest_hour(world: World) -> None:
    reminder = world.add_reminder(world.add_invoice())
    # 08:30 in Berlin on the planned day: before the 09:00 catch-up limit.
    world.set_time(datetime(2026, 3, 5, 7, 30, tzinfo=timezone.utc))

    outcomes = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert [o.result for o in outcomes] == [sending.RESULT_SENT]


def test_missed_window_after_latest_hour_moves(world: World) -> None:
    reminder = world.add_reminder(world.add_invoice())
    # 09:30 in Berlin: too late in the day to send.
    world.set_time(datetime(2026, 3, 5, 8, 30, tzinfo=timezone.utc))

    outcomes = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert [o.result for o in outcomes] == [sending.RESULT_RESCHEDULED]
    moved = status_of(world, reminder.uid)
    assert moved.missed_windows == 1
    # The next window day after Thursday 5 March is Tuesday 10 March.
    assert moved.planned_send_at.astimezone(sending.ZoneInfo(BERLIN)).date() == date(2026, 3, 10)
    assert world.sent_with_uid(reminder.uid) == []


def test_two_missed_windows_tell_user(world: World, caplog) -> None:
    reminder = world.add_reminder(world.add_invoice())
    world.set_time(datetime(2026, 3, 5, 8, 30, tzinfo=timezone.utc))
    sending.send_due(world.ledger, world.gmail, world.config, world.clock)
    assert attention.MISSED_WINDOWS not in open_kinds(world)

    world.set_time(datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc))
    with caplog.at_level(logging.WARNING, logger="assistant.sending"):
        sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert status_of(world, reminder.uid).missed_windows == 2
    assert attention.MISSED_WINDOWS in open_kinds(world)
    assert any("always-on machine" in r.getMessage() for r in caplog.records)


def test_late_approval_is_not_a_missed_window(world: World) -> None:
    reminder = world.add_reminder(world.add_invoice())
    world.ledger.reminders.update(
        reminder.uid, source="test", approved_at=datetime(2026, 3, 6, tzinfo=timezone.utc)
    )
    world.set_time(datetime(2026, 3, 6, 12, tzinfo=timezone.utc))

    sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert status_of(world, reminder.uid).missed_windows == 0


def test_gentle_stage_skipped_past_due_date(world: World) -> None:
    mail = world.add_invoice(due=date(2026, 3, 6))
    reminder = world.add_reminder(mail, stage="gentle")
    world.set_time(datetime(2026, 3, 5, 8, 30, tzinfo=timezone.utc))

    outcomes = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert [o.result for o in outcomes] == [sending.RESULT_SKIPPED]
    assert status_of(world, reminder.uid).status == SKIPPED


def draft_exists(world: World, draft_id: str | None) -> bool:
    assert draft_id is not None
    try:
        world.gmail.get_draft(draft_id, fmt="metadata")
    except GmailError as exc:
        assert exc.status == 404, exc
        return False
    return True


def test_system_skip_deletes_draft_and_says_why(world: World) -> None:
    mail = world.add_invoice(due=date(2026, 3, 6))
    reminder = world.add_reminder(mail, stage="gentle")
    # Approved only after its window of Thursday 5 March had passed.
    world.ledger.reminders.update(
        reminder.uid, source="test", approved_at=datetime(2026, 3, 5, 8, tzinfo=timezone.utc)
    )
    world.set_time(datetime(2026, 3, 5, 8, 30, tzinfo=timezone.utc))

    sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    skipped = status_of(world, reminder.uid)
    assert skipped.status == SKIPPED
    assert "before it was approved" in skipped.detail
    assert not draft_exists(world, reminder.draft_id), "a skipped draft could be sent by hand"


def test_earlier_stage_withdrawn_after_later_sent(world: World) -> None:
    mail = world.add_invoice()
    early = world.add_reminder(mail, stage="early_late")
    late = world.add_reminder(mail, stage="late_late", new_thread=True)
    world.ledger.reminders.transition(
        late.uid, [APPROVED], SENT, source="test",
        sent_at=early.planned_send_at - timedelta(days=3),
    )
    world.set_time(early.planned_send_at + timedelta(minutes=1))

    outcomes = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert [o.result for o in outcomes] == [sending.RESULT_WITHDRAWN]
    withdrawn = status_of(world, early.uid)
    assert withdrawn.status == WITHDRAWN
    assert late.uid in withdrawn.detail
    assert world.sent_with_uid(early.uid) == []
    assert not draft_exists(world, early.draft_id)


def test_earlier_stage_moved_behind_later_withdrawn(world: World) -> None:
    mail = world.add_invoice()
    early = world.add_reminder(mail, stage="early_late")
    # The later stage goes out on Tuesday 10 March, the day the missed
    # early_late would move to, and earlier in the window or at the same time.
    late_at = planned_instant(world, early.uid, date(2026, 3, 10)) - timedelta(seconds=1)
    late = world.add_reminder(mail, stage="late_late", new_thread=True, planned=late_at)
    world.set_time(datetime(2026, 3, 5, 8, 30, tzinfo=timezone.utc))

    outcomes = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert [o.uid for o in outcomes] == [early.uid]
    assert outcomes[0].result == sending.RESULT_WITHDRAWN
    assert status_of(world, early.uid).status == WITHDRAWN
    assert status_of(world, late.uid).status == APPROVED


def test_min_days_between_reminders_moves_send(world: World) -> None:
    first_mail = world.add_invoice()
    reminder = world.add_reminder(first_mail, stage="late_late", new_thread=True)
    sent_day = reminder.planned_send_at - timedelta(days=1)
    previous = world.add_reminder(first_mail, stage="early_late", planned=sent_day)
    world.ledger.reminders.transition(
        previous.uid, [APPROVED], SENT, source="test", sent_at=sent_day
    )
    world.set_time(reminder.planned_send_at + timedelta(minutes=1))

    outcomes = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert [o.result for o in outcomes] == [sending.RESULT_RESCHEDULED]
    moved = status_of(world, reminder.uid)
    gap = world.config.ladder.min_days_between_reminders
    local_day = moved.planned_send_at.astimezone(sending.ZoneInfo(BERLIN)).date()
    assert local_day >= sent_day.astimezone(sending.ZoneInfo(BERLIN)).date() + timedelta(days=gap)
    assert world.sent_with_uid(reminder.uid) == []


# -- recovery of interrupted sends -------------------------------------------------


def _mark_sending(world: World, reminder: Reminder) -> Reminder:
    return world.ledger.reminders.transition(reminder.uid, [APPROVED], SENDING, source="test")


def test_recover_finds_message_in_sent(world: World, due_reminder) -> None:
    reminder, _ = due_reminder
    _mark_sending(world, reminder)
    world.gmail.send_draft(str(reminder.draft_id))  # went out; the ledger never heard

    [outcome] = sending.recover_in_flight(world.ledger, world.gmail, world.clock)

    assert outcome.result == sending.RESULT_SENT
    assert status_of(world, reminder.uid).status == SENT
    assert len(world.sent_with_uid(reminder.uid)) == 1


def test_recover_finds_new_thread_message(world: World) -> None:
    mail = world.add_invoice()
    reminder = world.add_reminder(mail, stage="late_late", new_thread=True)
    # The ledger does not know the draft's thread: only the search finds it.
    reminder = world.ledger.reminders.update(reminder.uid, source="test", thread_id=None)
    world.set_time(reminder.planned_send_at + timedelta(minutes=1))
    _mark_sending(world, reminder)
    world.gmail.send_draft(str(reminder.draft_id))

    [outcome] = sending.recover_in_flight(world.ledger, world.gmail, world.clock)

    assert outcome.result == sending.RESULT_SENT


def test_recover_waits_while_send_settles(world: World, due_reminder) -> None:
    reminder, _ = due_reminder
    _mark_sending(world, reminder)

    [outcome] = sending.recover_in_flight(world.ledger, world.gmail, world.clock)

    assert outcome.result == sending.RESULT_IN_FLIGHT
    assert status_of(world, reminder.uid).status == SENDING


def test_recover_unsent_with_draft_retries(world: World, due_reminder) -> None:
    reminder, _ = due_reminder
    _mark_sending(world, reminder)
    world.set_time(world.clock.now() + sending.SEND_SETTLE_TIME)

    [outcome] = sending.recover_in_flight(world.ledger, world.gmail, world.clock)

    assert outcome.result == sending.RESULT_RETRY
    assert status_of(world, reminder.uid).status == APPROVED


def test_recover_unsent_without_draft_fails(world: World, due_reminder) -> None:
    reminder, _ = due_reminder
    _mark_sending(world, reminder)
    world.gmail.delete_draft(str(reminder.draft_id))
    world.set_time(world.clock.now() + sending.SEND_SETTLE_TIME)

    [outcome] = sending.recover_in_flight(world.ledger, world.gmail, world.clock)

    assert outcome.result == sending.RESULT_FAILED
    assert status_of(world, reminder.uid).status == FAILED
    assert attention.NOT_SENT in open_kinds(world)
    assert world.sent_with_uid(reminder.uid) == []


class DropNextCall:
    """Fault source whose next draw after ``arm`` is a dropped connection."""

    def __init__(self) -> None:
        self.armed = False

    def arm(self, point: str) -> None:
        if point == "before_send":
            self.armed = True

    def draw(self) -> Fault | None:
        if self.armed:
            self.armed = False
            return Fault.DROPPED
        return None


def test_dropped_send_response_settles_as_sent(
    world: World, due_reminder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sandbox runs drafts.send, then drops the connection before answering,
    # as a lost response on a real network; send_draft raises OutcomeUnknown.
    reminder, _ = due_reminder
    dropper = DropNextCall()
    monkeypatch.setattr(world.server.api, "faults", dropper)
    monkeypatch.setattr(sending, "crash_hook", dropper.arm)

    [outcome] = sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert outcome.result == sending.RESULT_SENT
    assert status_of(world, reminder.uid).status == SENT
    assert len(world.sent_with_uid(reminder.uid)) == 1


def test_sending_claim_written_before_send(
    world: World, due_reminder, monkeypatch: pytest.MonkeyPatch
) -> None:
    reminder, _ = due_reminder
    seen: dict[str, str] = {}

    def record(point: str) -> None:
        seen[point] = status_of(world, reminder.uid).status
        sent = len(world.sent_with_uid(reminder.uid))
        seen[point + " sent"] = str(sent)

    monkeypatch.setattr(sending, "crash_hook", record)
    sending.send_due(world.ledger, world.gmail, world.config, world.clock)

    assert seen["before_claim"] == APPROVED
    assert seen["before_send"] == SENDING
    assert seen["before_send sent"] == "0"
    assert seen["after_send"] == SENDING
    assert seen["after_send sent"] == "1"
    assert seen["before_ledger"] == SENDING


def test_withdraw_unwanted_deletes_draft(world: World) -> None:
    mail = world.add_invoice()
    reminder = world.add_reminder(mail, status="drafted")
    record_paid(world.ledger, "INV-1", date(2026, 3, 1))

    withdrawn = sending.withdraw_unwanted(world.ledger, world.gmail, world.clock)

    assert [r.uid for r in withdrawn] == [reminder.uid]
    assert status_of(world, reminder.uid).status == WITHDRAWN
    assert world.gmail.list_drafts() == []


def test_withdraw_for_reply_adds_attention(world: World) -> None:
    from assistant.stopping import HOLD_REPLY, add_hold

    mail = world.add_invoice()
    reminder = world.add_reminder(mail)
    add_hold(world.ledger, "INV-1", HOLD_REPLY, "m-1", "client replied")

    sending.withdraw_unwanted(world.ledger, world.gmail, world.clock)

    items = world.ledger.attention.open_items()
    assert [(i.kind, i.key) for i in items] == [(attention.REPLY, f"withdrawn:{reminder.uid}")]
