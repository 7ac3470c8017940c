"""The demo: three weeks of a consultant's invoice chasing, on a simulated clock.

Everything runs on this machine: an in-process Gmail sandbox loaded with the
sample Takeout mailbox, a ledger imported from the sample invoice export, and
a config written for the sample consultant. The demo then plays the weeks
from 2 March 2026: the sent check, drafting, approval, sends at their window
times, and the mail that arrives meanwhile (a client's reply, an
out-of-office reply, a payment notification), which stops or moves the
chase. Each step is explained in a sentence or two on the way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from assistant import config as config_module
from assistant import demo_data
from assistant.approval import approve, waiting_for_approval
from assistant.clock import SimulatedClock, to_epoch_ms
from assistant.config import Config, PaymentOption
from assistant.gmail import GmailClient
from assistant.invoice_check import check_invoices
from assistant.invoice_import import import_invoices
from assistant.ledger import Ledger
from assistant.mail_sync import MailCache, MailReader
from assistant.quota_pacing import SimulatedQuotaTime
from assistant.reminders import Reminder
from assistant.runner import PassReport, run_until
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.loading import load_mailbox
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore
from assistant.status import StatusReport, reminder_name, status_report
from assistant.stopping import record_paid

log = logging.getLogger(__name__)

START = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)  # a Monday
END = START + timedelta(weeks=3)
# Mail is polled twice a day in the demo; sends still happen at their own times.
POLL_INTERVAL = timedelta(hours=12)

Say = Callable[[str], None]


@dataclass
class DemoRun:
    """Where the demo left its files and server, so commands can be rerun."""

    workdir: Path
    db_path: Path
    config_path: Path
    state_path: Path
    server: SandboxServer
    store: MailStore
    status: StatusReport | None = None
    config: Config | None = None
    passes: list[PassReport] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.server.stop()
        self.store.close()


@dataclass(frozen=True)
class ArrivingMail:
    """A message that reaches the inbox at a simulated time."""

    at: datetime
    explanation: str
    build: Callable[[MailStore], EmailMessage]


def _invoice(number: str) -> demo_data.DemoInvoice:
    return next(i for i in demo_data.INVOICES if i.number == number)


def _arrivals() -> list[ArrivingMail]:
    contoso = _invoice("INV-2026-002")
    sakura = _invoice("INV-2026-003")
    northwind = _invoice("INV-2026-001")
    return [
        ArrivingMail(
            datetime(2026, 3, 5, 23, 40, tzinfo=timezone.utc),
            "Sakura's mailbox answers with an out-of-office note saying Sato-san is back on"
            " 16 March. An automatic reply is not a real reply, so the chase goes on, but not"
            " before that date.",
            lambda store: demo_data.out_of_office(
                sakura, datetime(2026, 3, 5, 23, 40, tzinfo=timezone.utc), "3月16日"
            ),
        ),
        ArrivingMail(
            datetime(2026, 3, 10, 14, 5, tzinfo=timezone.utc),
            "Northwind pays INV-2026-001 by card; the payment notification lands in the"
            " inbox. The assistant proposes marking it paid and never applies it silently.",
            lambda store: demo_data.payment_notice(
                northwind, datetime(2026, 3, 10, 14, 5, tzinfo=timezone.utc)
            ),
        ),
        ArrivingMail(
            datetime(2026, 3, 13, 10, 30, tzinfo=timezone.utc),
            "Jonas at Contoso replies in the invoice thread that the payment is scheduled."
            " A human reply stops the chase until you have read it.",
            lambda store: demo_data.client_reply(
                contoso,
                datetime(2026, 3, 13, 10, 30, tzinfo=timezone.utc),
                contoso.subject,
            ),
        ),
    ]


def write_demo_config(path: Path) -> Config:
    """Write the sample consultant's settings; return the loaded config."""
    answers = {
        "user.name": demo_data.OWNER_NAME,
        "user.business_name": demo_data.BUSINESS,
        "user.email": demo_data.OWNER,
        "user.timezone": "Europe/Lisbon",
        "user.country": "PT",
        "user.language": "en",
        "user.signature": f"{demo_data.OWNER_NAME}\n{demo_data.BUSINESS}",
    }
    options = [
        PaymentOption("bank_transfer", "Bank transfer", "IBAN PT50 0000 0000 0000 0000 0000 0"),
        PaymentOption(
            "card_link", "Card payment link", "https://pay.rivera-consulting.example/invoice"
        ),
    ]
    return config_module.save_answers(path, answers, options)


def start_sandbox(workdir: Path) -> tuple[MailStore, SandboxServer, Path]:
    """Load the sample mailbox into a sandbox kept in ``workdir``; start serving it."""
    state_path = workdir / "mailbox.db"
    clock = SandboxClock()
    clock.set(START)
    store = MailStore(str(state_path), clock=clock)
    mailbox_path = Path(demo_data.__file__).parent / "data" / demo_data.MAILBOX_FILE
    load_mailbox(store, mailbox_path, owner=demo_data.OWNER)
    store.set_user_email(demo_data.OWNER)
    # The mail clock is simulated, so the sandbox counts quota in simulated time.
    server = SandboxServer(store, clock=clock).start()
    return store, server, state_path


def _deliver(gmail: GmailClient, store: MailStore, arrival: ArrivingMail) -> None:
    """Put an arriving message in the inbox, threaded as Gmail threads received mail."""
    message = arrival.build(store)
    store.add_message(
        message.as_bytes(),
        label_ids=["INBOX", "UNREAD"],
        internal_date_ms=to_epoch_ms(arrival.at),
        thread_by_headers=True,
    )


def run_demo(workdir: Path, say: Say) -> DemoRun:
    """Play the demo in ``workdir``; return where everything is, server still running."""
    workdir.mkdir(parents=True, exist_ok=True)
    db_path, config_path = workdir / "ledger.db", workdir / "config.toml"
    for stale in (db_path, config_path, workdir / "mailbox.db"):
        stale.unlink(missing_ok=True)

    say("Starting a local Gmail sandbox on 127.0.0.1 with Rivera Consulting's mailbox,"
        " loaded from a Gmail Takeout export that ships with the assistant.")
    clock = SimulatedClock(START)
    store, server, state_path = start_sandbox(workdir)
    run = DemoRun(workdir, db_path, config_path, state_path, server, store)
    config = write_demo_config(config_path)
    run.config = config
    ledger = Ledger.open(db_path, clock)
    # Three simulated weeks spend more quota than one real minute allows, so
    # the client paces on simulated time too, as with --now.
    pacing = SimulatedQuotaTime(clock.now)
    gmail = GmailClient.connect(server.url, clock=pacing, sleep=pacing.sleep)
    try:
        _play(run, ledger, gmail, config, clock, say)
    finally:
        ledger.close()
    return run


def _play(
    run: DemoRun,
    ledger: Ledger,
    gmail: GmailClient,
    config: Config,
    clock: SimulatedClock,
    say: Say,
) -> None:
    csv_path = Path(demo_data.__file__).parent / "data" / demo_data.LEDGER_FILE
    plan = import_invoices(ledger, csv_path)
    say(f"Imported {len(ledger.list_invoices())} invoices from the sample export"
        f" ({csv_path.name}); the ledger is {run.db_path}.")

    say("Monday 2 March 2026. First job: is each invoice really in the Sent folder?")
    reader = MailReader(gmail, MailCache(ledger.db, demo_data.OWNER), clock)
    for checked in check_invoices(ledger, reader, clock):
        say(f"  {checked.invoice.number} ({checked.invoice.client}): "
            f"{checked.evidence.status}. {checked.evidence.detail}")
    say("Only invoices shown as sent are chased; the others are listed for you.")
    del plan

    arrivals = _arrivals()
    moments = [a.at for a in arrivals] + [END]
    for index, until in enumerate(moments):
        passes = run_until(
            ledger, gmail, config, clock, until,
            poll_interval=POLL_INTERVAL, on_pass=_narrator(ledger, clock, say),
        )
        run.passes.extend(passes)
        if index < len(arrivals):
            arrival = arrivals[index]
            clock.set(arrival.at)
            gmail.sandbox_set_clock(arrival.at)
            say(f"{arrival.at:%A %d %B, %H:%M} UTC. {arrival.explanation}")
            _deliver(gmail, run.store, arrival)
            if "pays" in arrival.explanation:
                run.passes.extend(
                    run_until(
                        ledger, gmail, config, clock, arrival.at,
                        poll_interval=POLL_INTERVAL, on_pass=_narrator(ledger, clock, say),
                    )
                )
                say("You confirm the payment, as you would with"
                    " 'assistant paid INV-2026-001'; its chase ends.")
                record_paid(ledger, "INV-2026-001", arrival.at.date(), None)

    run.status = status_report(ledger, config, clock)
    say(f"{clock.now():%A %d %B %Y}: three weeks later, the final status.")


def client_time(moment: datetime, number: str) -> str:
    """Show a time in the zone of the invoice's client, where send windows are, and in UTC.

    For example "Tue 03 Mar 05:13 in America/New_York (10:13 UTC)".
    """
    zone = ZoneInfo(_invoice(number).timezone)
    local = moment.astimezone(zone)
    return f"{local:%a %d %b %H:%M} in {zone.key} ({moment.astimezone(timezone.utc):%H:%M} UTC)"


def _reminder_text(reminder: Reminder) -> str:
    return f"{reminder_name(reminder.stage)} for {', '.join(reminder.invoice_numbers)}"


def _approve_waiting(ledger: Ledger, clock: SimulatedClock, say: Say) -> None:
    waiting = waiting_for_approval(ledger)
    if not waiting:
        return
    for reminder in waiting:
        planned = client_time(reminder.planned_send_at, reminder.invoice_numbers[0])
        say(f"  The draft of {_reminder_text(reminder)} waits in Gmail Drafts:"
            f" \"{reminder.subject}\", planned for {planned}.")
    say("You read the drafts (assistant review) and approve them; nothing is sent"
        " without approval.")
    approve(ledger, [r.uid for r in waiting], clock)


def _narrator(ledger: Ledger, clock: SimulatedClock, say: Say) -> Callable[[PassReport], None]:
    """Tell what each pass did, then approve new drafts as the user would."""

    def narrate(report: PassReport) -> None:
        when = f"{report.at:%a %d %b %H:%M} UTC"
        for outcome in report.sent:
            sent = ledger.reminders.get(outcome.uid)
            if sent is None:
                say(f"{when}  Sent reminder {outcome.uid} in its send window.")
                continue
            at = client_time(sent.sent_at or report.at, sent.invoice_numbers[0])
            say(f"{at}  Sent {_reminder_text(sent)} in its send window.")
        for reminder in report.drafted:
            say(f"{when}  Drafted {_reminder_text(reminder)}; it waits for approval.")
        for reminder in report.withdrawn:
            say(f"{when}  Withdrew {_reminder_text(reminder)}: {reminder.detail}")
        for error in report.errors:
            say(f"{when}  A step failed and the pass went on: {error}")
        _approve_waiting(ledger, clock, say)

    return narrate
