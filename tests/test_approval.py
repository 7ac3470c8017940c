"""Approval against the sandbox: drafts made by drafting, read and changed over HTTP."""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfWriter

from assistant import approval, attention
from assistant.business_days import BusinessCalendar
from assistant.clock import SimulatedClock, to_epoch_ms
from assistant.config import Config, build_config
from assistant.drafting import draft_reminders
from assistant.errors import InputError
from assistant.gmail import GmailClient
from assistant.invoice_check import check_invoices
from assistant.invoice_import import import_invoices
from assistant.ledger import Ledger
from assistant.mail_sync import MailCache, MailReader
from assistant.reminders import APPROVED, DRAFTED, SKIPPED, Reminder
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore
from assistant.send_window import SendWindow

OWNER = "anna@consultant.example"
# Monday; both invoices fall due on Thursday, so their gentle notes are drafted
# for Wednesday's window.
NOW = datetime(2026, 4, 20, 3, 0, tzinfo=timezone.utc)
SENT_AT = datetime(2026, 3, 24, 9, 0, tzinfo=timezone.utc)

LEDGER_CSV = """number,client,email,amount,currency,issue_date,due_date
INV-2001,Azure Interior,billing@azure.example,1200.00,EUR,2026-03-24,2026-04-23
INV-2002,Delta Inc,ar@delta.example,990.00,USD,2026-03-24,2026-04-23
"""
SETTINGS = {
    "user": {"name": "Anna Berg", "business_name": "Berg Consulting",
             "timezone": "Europe/Berlin", "signature": "Anna Berg"},
    "payment": {"options": [{"kind": "bank_transfer", "details": "IBAN DE89 3704"}]},
}


def small_pdf(title: str) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_metadata({"/Title": title})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def invoice_mail(number: str, to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Anna Berg <{OWNER}>"
    message["To"] = to
    message["Subject"] = f"Invoice {number}"
    message["Date"] = format_datetime(SENT_AT)
    message["Message-ID"] = make_msgid(domain="consultant.example")
    message.set_content(f"Please find invoice {number} attached.\n")
    message.add_attachment(
        small_pdf(number), maintype="application", subtype="pdf", filename=f"{number}.pdf"
    )
    return message


@dataclass
class World:
    """A sandbox mailbox, a ledger with drafted reminders, and their shared clock."""

    store: MailStore
    server: SandboxServer
    ledger: Ledger
    gmail: GmailClient
    clock: SimulatedClock
    config: Config
    tmp_path: Path

    def reminder(self, number: str) -> Reminder:
        found = self.ledger.reminders.for_invoice(number)
        assert len(found) == 1, f"expected one reminder for {number}: {found}"
        return found[0]

    def raw_draft(self, draft_id: str) -> tuple[dict, EmailMessage]:
        resource = self.gmail.get_draft(draft_id, fmt="raw")
        raw = base64.urlsafe_b64decode(resource["message"]["raw"] + "==")
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        return resource, parsed


def _build_template(folder: Path) -> None:
    """Build the mailbox and the ledger with two drafted reminders, then close them."""
    store = MailStore(str(folder / "mailbox.db"), clock=SandboxClock())
    store.set_user_email(OWNER)
    for number, to in (("INV-2001", "billing@azure.example"), ("INV-2002", "ar@delta.example")):
        store.add_message(
            invoice_mail(number, to).as_bytes(),
            label_ids=["SENT"],
            internal_date_ms=to_epoch_ms(SENT_AT),
        )
    clock = SimulatedClock(NOW)
    ledger = Ledger.open(folder / "ledger.db", clock)
    csv_path = folder / "invoices.csv"
    csv_path.write_text(LEDGER_CSV, encoding="utf-8")
    import_invoices(ledger, csv_path)
    ledger.set_client("Azure Interior", timezone="Europe/Brussels", country="BE")
    ledger.set_client("Delta Inc", timezone="America/New_York", country="US")
    config = build_config(SETTINGS, folder / "config.toml")
    with SandboxServer(store) as server:
        gmail = GmailClient.connect(server.url, sleep=lambda seconds: None)
        gmail.sandbox_set_clock(NOW)
        check_invoices(ledger, MailReader(gmail, MailCache(ledger.db, OWNER), clock), clock)
        report = draft_reminders(ledger, gmail, config, clock)
        assert len(report.drafted) == 2, report
    ledger.close()
    store.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Drafting over HTTP takes about a second; each test starts from a copy.
    folder = tmp_path_factory.mktemp("approval-template")
    _build_template(folder)
    return folder


@pytest.fixture
def world(template: Path, tmp_path: Path) -> Iterator[World]:
    for name in ("mailbox.db", "ledger.db"):
        shutil.copyfile(template / name, tmp_path / name)
    store = MailStore(str(tmp_path / "mailbox.db"), clock=SandboxClock())
    clock = SimulatedClock(NOW)
    ledger = Ledger.open(tmp_path / "ledger.db", clock)
    config = build_config(SETTINGS, tmp_path / "config.toml")
    with SandboxServer(store) as server:
        gmail = GmailClient.connect(server.url, sleep=lambda seconds: None)
        gmail.sandbox_set_clock(NOW)
        yield World(store, server, ledger, gmail, clock, config, tmp_path)
    ledger.close()
    store.close()


def _open_approvals(world: World) -> set[str]:
    return {i.key for i in world.ledger.attention.open_items() if i.kind == attention.APPROVAL}


# --- approve -----------------------------------------------------------------


def test_waiting_reminders_by_send_time(world: World) -> None:
    waiting = approval.waiting_for_approval(world.ledger)
    assert [r.status for r in waiting] == [DRAFTED, DRAFTED]
    assert waiting == sorted(waiting, key=lambda r: r.planned_send_at)


def test_approve_one_resolves_its_item(world: World) -> None:
    reminder = world.reminder("INV-2001")

    approved = approval.approve(world.ledger, [reminder.uid], world.clock)

    assert [r.uid for r in approved] == [reminder.uid]
    stored = world.ledger.reminders.get(reminder.uid)
    assert stored is not None
    assert stored.status == APPROVED
    assert stored.approved_at == NOW
    assert reminder.uid not in _open_approvals(world)
    assert world.reminder("INV-2002").uid in _open_approvals(world)


def test_approve_all(world: World) -> None:
    approved = approval.approve(world.ledger, approval.ALL, world.clock)

    assert len(approved) == 2
    assert approval.waiting_for_approval(world.ledger) == []
    assert _open_approvals(world) == set()


def test_approve_twice_is_harmless(world: World) -> None:
    uid = world.reminder("INV-2001").uid
    approval.approve(world.ledger, [uid], world.clock)

    again = approval.approve(world.ledger, [uid], world.clock)

    assert again == []
    assert world.reminder("INV-2001").status == APPROVED


def test_approve_unknown_uid_changes_nothing(world: World) -> None:
    known = world.reminder("INV-2001").uid

    with pytest.raises(InputError, match="reminder gentle.0.NOPE not found"):
        approval.approve(world.ledger, [known, "gentle.0.NOPE"], world.clock)

    assert world.reminder("INV-2001").status == DRAFTED


def test_auto_approve_only_chosen_clients(world: World) -> None:
    change = world.ledger.set_client("Delta Inc", auto_approve=True)
    assert change.action == "updated"

    approved = approval.auto_approve_due(world.ledger, world.clock)

    assert [r.invoice_numbers for r in approved] == [("INV-2002",)]
    assert world.reminder("INV-2001").status == DRAFTED
    sources = {
        e.source for e in world.ledger.events("reminder", approved[0].uid)
        if e.field == "status" and e.new_value == APPROVED
    }
    assert sources == {"auto-approve"}


def test_auto_approve_off_by_default(world: World) -> None:
    assert approval.auto_approve_due(world.ledger, world.clock) == []


# --- skip ----------------------------------------------------------------------


def test_skip_deletes_draft_and_marks_skipped(world: World) -> None:
    reminder = world.reminder("INV-2001")

    approval.skip(world.ledger, world.gmail, reminder.uid, world.clock)

    draft_ids = {d["id"] for d in world.gmail.list_drafts()}
    assert reminder.draft_id not in draft_ids
    assert world.reminder("INV-2001").status == SKIPPED
    assert reminder.uid not in _open_approvals(world)


def test_skipped_reminder_is_never_redrafted(world: World) -> None:
    reminder = world.reminder("INV-2001")
    approval.skip(world.ledger, world.gmail, reminder.uid, world.clock)

    report = draft_reminders(world.ledger, world.gmail, world.config, world.clock)

    assert report.drafted == []
    assert [r.status for r in world.ledger.reminders.for_invoice("INV-2001")] == [SKIPPED]


def test_skip_after_draft_deleted_in_gmail(world: World) -> None:
    reminder = world.reminder("INV-2001")
    assert reminder.draft_id is not None
    world.gmail.delete_draft(reminder.draft_id)

    approval.skip(world.ledger, world.gmail, reminder.uid, world.clock)

    assert world.reminder("INV-2001").status == SKIPPED


def test_skip_sent_reminder_is_rejected(world: World) -> None:
    reminder = world.reminder("INV-2001")
    world.ledger.reminders.update(reminder.uid, source="test", status="sent")

    with pytest.raises(InputError, match="is sent; only drafted or approved"):
        approval.skip(world.ledger, world.gmail, reminder.uid, world.clock)

    assert reminder.draft_id in {d["id"] for d in world.gmail.list_drafts()}


# --- reading and editing -------------------------------------------------------


def test_fetch_draft_shows_client_view(world: World) -> None:
    reminder = world.reminder("INV-2001")

    view = approval.fetch_draft(world.ledger, world.gmail, reminder, world.config)

    assert view is not None
    assert OWNER in view.sender
    assert "billing@azure.example" in view.to
    assert "INV-2001" in view.subject
    assert view.in_reply_to.startswith("<")
    assert "INV-2001" in view.body
    assert [a.name for a in view.attachments] == ["INV-2001.pdf"]
    assert view.attachments[0].size == len(small_pdf("INV-2001"))
    assert view.planned_client.tzinfo == ZoneInfo("Europe/Brussels")
    assert view.planned_user.tzinfo == ZoneInfo("Europe/Berlin")
    assert view.planned_client == reminder.planned_send_at
    assert view.planned_user == reminder.planned_send_at


def test_fetch_deleted_draft_skips_reminder(world: World) -> None:
    reminder = world.reminder("INV-2001")
    assert reminder.draft_id is not None
    world.gmail.delete_draft(reminder.draft_id)

    assert approval.fetch_draft(world.ledger, world.gmail, reminder, world.config) is None
    assert world.reminder("INV-2001").status == SKIPPED


def test_edit_keeps_thread_headers_and_attachment(world: World) -> None:
    # drafts.update "replaces a draft's content"
    # (https://developers.google.com/gmail/api/reference/rest/v1/users.drafts/update),
    # so the request must carry the threadId again, and In-Reply-To,
    # References and Subject, for the draft to stay in the invoice thread.
    reminder = world.reminder("INV-2001")
    assert reminder.draft_id is not None
    before, original = world.raw_draft(reminder.draft_id)
    view = approval.fetch_draft(world.ledger, world.gmail, reminder, world.config)
    assert view is not None

    updated = approval.edit_draft(
        world.ledger, world.gmail, view, "Hallo Lena,\n\nkurze Erinnerung: Grüße.\n"
    )

    after, edited = world.raw_draft(reminder.draft_id)
    assert after["id"] == reminder.draft_id
    assert after["message"]["threadId"] == before["message"]["threadId"]
    assert after["message"]["id"] != before["message"]["id"]
    assert updated.draft_message_id == after["message"]["id"]
    for header in ("From", "To", "Subject", "In-Reply-To", "References", "X-Assistant-Reminder"):
        assert edited[header] == original[header], header
    body = edited.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == "Hallo Lena,\n\nkurze Erinnerung: Grüße.\n"
    old_files = {p.get_filename(): p.get_content() for p in original.iter_attachments()}
    new_files = {p.get_filename(): p.get_content() for p in edited.iter_attachments()}
    assert new_files == old_files
    assert new_files["INV-2001.pdf"] == small_pdf("INV-2001")


def test_edited_draft_is_not_recreated(world: World) -> None:
    reminder = world.reminder("INV-2001")
    view = approval.fetch_draft(world.ledger, world.gmail, reminder, world.config)
    assert view is not None
    approval.edit_draft(world.ledger, world.gmail, view, "Edited text.\n")

    report = draft_reminders(world.ledger, world.gmail, world.config, world.clock)

    assert report.drafted == []
    assert len(world.gmail.list_drafts()) == 2
    assert world.reminder("INV-2001").draft_id == reminder.draft_id


RAW_TWO_PARTS = (
    b"From: a@example.com\r\n"
    b"Subject: Re: Invoice 7\r\n"
    b"In-Reply-To: <x@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"preamble\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=us-ascii; format=flowed\r\n"
    b"\r\n"
    b"Old text.\r\n"
    b"--b1\r\n"
    b"Content-Type: application/pdf; name=\"i.pdf\"\r\n"
    b"Content-Disposition: attachment; filename=\"i.pdf\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQ=\r\n"
    b"--b1--\r\n"
    b"epilogue\r\n"
)


def test_replace_text_keeps_other_bytes() -> None:
    new = approval.replace_text_body(RAW_TWO_PARTS, "New text.\n")

    head = RAW_TWO_PARTS.partition(b"--b1\r\n")[0]
    assert new.startswith(head + b"--b1\r\n")
    attachment = RAW_TWO_PARTS[RAW_TWO_PARTS.index(b"\r\n--b1\r\nContent-Type: application"):]
    assert new.endswith(attachment)
    assert b"Old text." not in new
    assert b"New text.\r\n" in new
    assert b"format=flowed" not in new


def test_replace_text_quoted_printable_round_trip() -> None:
    text = "Grüße aus Köln, " + "lang " * 30 + "\nzweite Zeile  \n"

    new = approval.replace_text_body(RAW_TWO_PARTS, text)

    parsed = BytesParser(policy=policy.default).parsebytes(new)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    assert body["Content-Transfer-Encoding"] == "quoted-printable"
    assert body.get_content().replace("\r\n", "\n") == text
    assert all(len(line) <= 76 for line in new.split(b"\r\n"))


def test_replace_text_in_single_part_message() -> None:
    raw = b"From: a@example.com\nSubject: Hi\n\nOld.\n"

    new = approval.replace_text_body(raw, "New.\n")

    assert new.startswith(b"From: a@example.com\nSubject: Hi\n")
    assert b"MIME-Version: 1.0\n" in new
    assert new.endswith(b"\n\nNew.\n")


def test_replace_text_rejects_html_alternative() -> None:
    raw = (
        b'Content-Type: multipart/alternative; boundary="x"\r\n\r\n'
        b"--x\r\nContent-Type: text/plain\r\n\r\nHi\r\n"
        b"--x\r\nContent-Type: text/html\r\n\r\n<p>Hi</p>\r\n--x--\r\n"
    )
    with pytest.raises(InputError, match="HTML version"):
        approval.replace_text_body(raw, "New")


def test_replace_text_without_text_part() -> None:
    raw = b"Content-Type: application/pdf\r\n\r\nJVBERi0=\r\n"
    with pytest.raises(InputError, match="no plain-text part"):
        approval.replace_text_body(raw, "New")


# --- reschedule and pause ------------------------------------------------------


def test_reschedule_inside_window(world: World) -> None:
    reminder = world.reminder("INV-2001")
    # Thursday 05:31 in Brussels (CEST, UTC+2).
    when = approval.parse_send_time("2026-04-23 05:31", ZoneInfo("Europe/Brussels"))

    updated = approval.reschedule(world.ledger, reminder.uid, when, world.clock, world.config)

    assert updated.planned_send_at == datetime(2026, 4, 23, 3, 31, tzinfo=timezone.utc)
    assert world.reminder("INV-2001").planned_send_at == updated.planned_send_at
    assert updated.status == DRAFTED


def test_reschedule_in_past_rejected(world: World) -> None:
    reminder = world.reminder("INV-2001")
    with pytest.raises(InputError, match="not in the future"):
        approval.reschedule(
            world.ledger, reminder.uid, NOW, world.clock, world.config,
            outside_window_ok=True,
        )
    assert world.reminder("INV-2001").planned_send_at == reminder.planned_send_at


def test_reschedule_outside_window_needs_confirmation(world: World) -> None:
    reminder = world.reminder("INV-2001")
    # Friday 14:00 in Brussels.
    when = approval.parse_send_time("2026-04-24 14:00", ZoneInfo("Europe/Brussels"))

    with pytest.raises(InputError, match="is not a send day"):
        approval.reschedule(world.ledger, reminder.uid, when, world.clock, world.config)
    assert world.reminder("INV-2001").planned_send_at == reminder.planned_send_at

    updated = approval.reschedule(
        world.ledger, reminder.uid, when, world.clock, world.config, outside_window_ok=True
    )
    assert updated.planned_send_at == when


@pytest.mark.parametrize(
    ("local", "problem"),
    [
        ("2026-04-22 05:30", None),
        ("2026-04-22 06:00", "outside the send hours 05:00-06:00"),
        ("2026-04-22 04:59", "outside the send hours"),
        ("2026-04-25 05:30", "is not a send day (Tue, Wed, Thu)"),
        ("2026-12-29 05:30", None),
        ("2026-03-29 05:30", "is not a send day"),
    ],
)
def test_window_conflict_cases(local: str, problem: str | None) -> None:
    zone = ZoneInfo("Europe/Berlin")
    when = approval.parse_send_time(local, zone)
    found = approval.window_conflict(when, SendWindow(), BusinessCalendar("DE"), zone)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_window_conflict_on_holiday() -> None:
    zone = ZoneInfo("Europe/Berlin")
    # Thursday 2026-05-14 is Ascension Day, a public holiday in all of Germany.
    when = approval.parse_send_time("2026-05-14 05:30", zone)
    found = approval.window_conflict(when, SendWindow(), BusinessCalendar("DE"), zone)
    assert found is not None and "public holiday in DE" in found


def test_parse_send_time_forms() -> None:
    zone = ZoneInfo("America/New_York")
    assert approval.parse_send_time("2026-04-22T05:30:00Z", zone) == datetime(
        2026, 4, 22, 5, 30, tzinfo=timezone.utc
    )
    assert approval.parse_send_time("2026-04-22 05:30", zone) == datetime(
        2026, 4, 22, 9, 30, tzinfo=timezone.utc
    )
    with pytest.raises(InputError, match="does not exist in America/New_York"):
        approval.parse_send_time("2026-03-08 02:30", zone)
    with pytest.raises(InputError, match="invalid send time 'next week'"):
        approval.parse_send_time("next week", zone)


def test_pause_sets_paused_until(world: World) -> None:
    approval.pause_invoices(world.ledger, ["INV-2001"], date(2026, 5, 1), NOW.date())

    invoice = world.ledger.get_invoice("INV-2001")
    assert invoice is not None
    assert invoice.paused_until == date(2026, 5, 1)


def test_pause_in_past_rejected(world: World) -> None:
    with pytest.raises(InputError, match="in the past"):
        approval.pause_invoices(world.ledger, ["INV-2001"], date(2026, 4, 1), NOW.date())
    invoice = world.ledger.get_invoice("INV-2001")
    assert invoice is not None and invoice.paused_until is None
