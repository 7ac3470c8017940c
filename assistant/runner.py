"""Run passes: one for cron or a timer, a loop for ``--watch``, or simulated time.

A pass runs these steps in order:

1. settle reminders a crash left ``sending``;
2. sync: the sent check, then new inbox mail;
3. approve reminders of clients with auto-approval;
4. withdraw drafts no longer wanted;
5. draft reminders within the horizon;
6. send what is due;
7. send the daily digest.

Settling in-flight sends comes first, so nothing else acts on a reminder whose
send may have happened.

A step that fails with an ``AssistantError`` is logged and the pass goes on,
except that a failed recovery or sync ends the pass early: without them the
ledger may not know about a send, a payment or a reply. An ``AuthError`` is
re-raised, because only the user can fix it.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from assistant.approval import auto_approve_due
from assistant.auth import install_token_log_filter
from assistant.clock import Clock, SimulatedClock
from assistant.config import Config
from assistant.digest import maybe_send_digest, send_after
from assistant.drafting import draft_reminders
from assistant.errors import AssistantError, AuthError
from assistant.gmail import GmailClient
from assistant.inbox import process_inbox
from assistant.invoice_check import check_invoices
from assistant.ledger import Ledger
from assistant.mail_sync import MailCache, MailReader
from assistant.reminders import APPROVED, DRAFTED, Reminder
from assistant.send_window import SendWindow
from assistant.sending import (
    RESULT_SENT,
    SendOutcome,
    recover_in_flight,
    send_due,
    withdraw_unwanted,
)

logger = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = timedelta(minutes=15)
# A watch loop sleeps in slices this long and rereads the wall clock after
# each, because a machine that suspends may not count the time it slept.
WAKE_CHECK_INTERVAL = timedelta(seconds=60)
MIN_SLEEP = timedelta(seconds=1)
LOG_FILE_NAME = "assistant.log"
LOG_MAX_BYTES = 1_000_000
LOG_BACKUP_COUNT = 5

T = TypeVar("T")


@dataclass
class PassReport:
    """The outcome of one pass, step by step, with the errors it survived."""

    at: datetime
    event: str = "pass"
    recovered: list[SendOutcome] = field(default_factory=list)
    checked: int = 0
    inbox: Any = None
    approved: list[Reminder] = field(default_factory=list)
    withdrawn: list[Reminder] = field(default_factory=list)
    drafts: Any = None
    sends: list[SendOutcome] = field(default_factory=list)
    digest_sent: bool = False
    errors: list[str] = field(default_factory=list)
    ended_early: bool = False

    @property
    def sent(self) -> list[SendOutcome]:
        """Reminders that went out in this pass, or were found in Sent after a crash."""
        return [o for o in (*self.recovered, *self.sends) if o.result == RESULT_SENT]

    @property
    def drafted(self) -> list[Reminder]:
        return list(getattr(self.drafts, "drafted", []) or [])

    @property
    def eventful(self) -> bool:
        """True when the pass sent, drafted, approved, withdrew, rescheduled or hit an error."""
        return bool(
            self.sent or self.drafted or self.approved or self.withdrawn
            or self.sends or self.digest_sent or self.errors or self.ended_early
        )

    def summary(self) -> str:
        parts = [
            f"{len(self.sent)} sent",
            f"{len(self.drafted)} drafted",
            f"{len(self.approved)} auto-approved",
            f"{len(self.withdrawn)} withdrawn",
        ]
        others = [o for o in self.sends if o.result != RESULT_SENT]
        if others:
            parts.append(", ".join(f"{o.uid} {o.result}" for o in others))
        if self.digest_sent:
            parts.append("digest sent")
        if self.errors:
            parts.append(f"{len(self.errors)} error(s)")
        return "; ".join(parts)


@dataclass(frozen=True, order=True)
class ScheduledEvent:
    """A moment at which a pass has something to do, and why."""

    at: datetime
    label: str


def _step(report: PassReport, name: str, action: Callable[[], T]) -> tuple[bool, T | None]:
    try:
        return True, action()
    except AuthError:
        raise
    except AssistantError as exc:
        logger.error("Step %s failed; the pass goes on without it: %s", name, exc)
        report.errors.append(f"{name}: {exc}")
        return False, None


def run_pass(
    ledger: Ledger,
    gmail: GmailClient,
    config: Config,
    clock: Clock,
    *,
    stop: threading.Event | None = None,
) -> PassReport:
    """Run every step once; ``stop`` set between steps ends the pass there."""
    report = PassReport(at=clock.now())
    logger.info("Pass started at %s", report.at.isoformat())
    ok, recovered = _step(report, "recover", lambda: recover_in_flight(ledger, gmail, clock))
    report.recovered = recovered or []
    if not ok or not _sync(report, ledger, gmail, config, clock):
        report.ended_early = True
        logger.warning("Pass ended early: nothing drafted or sent until recovery and sync work")
        return report

    steps: list[tuple[str, Callable[[], Any], str]] = [
        ("auto-approve", lambda: auto_approve_due(ledger, clock), "approved"),
        ("withdraw", lambda: withdraw_unwanted(ledger, gmail, clock), "withdrawn"),
        ("draft", lambda: draft_reminders(ledger, gmail, config, clock), "drafts"),
        ("send", lambda: send_due(ledger, gmail, config, clock), "sends"),
        ("digest", lambda: maybe_send_digest(ledger, gmail, config, clock), "digest_sent"),
    ]
    for name, action, attribute in steps:
        if stop is not None and stop.is_set():
            logger.info("Stop requested; pass ended before step %s", name)
            report.ended_early = True
            break
        ok, value = _step(report, name, action)
        if ok:
            setattr(report, attribute, value)
    logger.info("Pass done: %s", report.summary())
    return report


def _sync(
    report: PassReport, ledger: Ledger, gmail: GmailClient, config: Config, clock: Clock
) -> bool:
    def sent_check() -> int:
        account = str(gmail.profile()["emailAddress"])
        reader = MailReader(gmail, MailCache(ledger.db, account), clock)
        return len(check_invoices(ledger, reader, clock))

    ok, checked = _step(report, "sent check", sent_check)
    if not ok:
        return False
    report.checked = checked or 0
    ok, report.inbox = _step(
        report, "inbox", lambda: process_inbox(ledger, gmail, config, clock)
    )
    if ok:
        logger.info("Sync done: %d invoice(s) checked in Sent, inbox read", report.checked)
    return ok


# -- when the next pass is due ------------------------------------------------


def next_event(
    ledger: Ledger, config: Config, now: datetime, poll_interval: timedelta
) -> ScheduledEvent:
    """Return the first moment after ``now`` at which a pass has work to do.

    Candidates: the next mail poll, each drafted or approved reminder's
    planned send, and the send-window boundaries (open, close, latest
    catch-up) in every zone the ledger's clients use.
    """
    candidates = [ScheduledEvent(now + poll_interval, "mail poll")]
    for reminder in ledger.reminders.list([DRAFTED, APPROVED]):
        if reminder.planned_send_at > now:
            label = f"planned send of {reminder.uid}"
            candidates.append(ScheduledEvent(reminder.planned_send_at, label))
    for zone in sorted(_zones_in_use(ledger, config)):
        boundary = next_window_boundary(config.send_window, ZoneInfo(zone), now)
        if boundary is not None:
            candidates.append(boundary)
    if config.digest_enabled:
        candidates.append(_next_digest(config, now))
    return min(candidates)


def _next_digest(config: Config, now: datetime) -> ScheduledEvent:
    zone = ZoneInfo(config.user.timezone)
    day = now.astimezone(zone).date()
    for offset in range(3):
        wall = datetime.combine(day + timedelta(days=offset), send_after(config), tzinfo=zone)
        if wall.astimezone(timezone.utc) > now:
            break
    return ScheduledEvent(wall.astimezone(timezone.utc), "daily digest")


def _zones_in_use(ledger: Ledger, config: Config) -> set[str]:
    zones = {config.user.timezone}
    clients = {client.name: client for client in ledger.list_clients()}
    for invoice in ledger.list_invoices(unpaid_only=True):
        client = clients.get(invoice.client)
        zones.add(invoice.timezone or (client.timezone if client else None) or config.user.timezone)
    return zones


def next_window_boundary(
    window: SendWindow, zone: ZoneInfo, now: datetime
) -> ScheduledEvent | None:
    """Return the next window opening, closing or catch-up end in ``zone`` after ``now``."""
    today = now.astimezone(zone).date()
    marks = (
        (window.start, "window opens"),
        (window.end, "window closes"),
        (window.latest_catch_up, "catch-up ends"),
    )
    for offset in range(8):
        day = today + timedelta(days=offset)
        if day.weekday() not in window.days:
            continue
        for wall, name in marks:
            moment = datetime.combine(day, wall, tzinfo=zone).astimezone(timezone.utc)
            if moment > now:
                return ScheduledEvent(moment, f"{name} in {zone.key}")
    return None


# -- simulated time and the watch loop ---------------------------------------


def run_until(
    ledger: Ledger,
    gmail: GmailClient,
    config: Config,
    clock: SimulatedClock,
    end: datetime,
    *,
    poll_interval: timedelta = DEFAULT_POLL_INTERVAL,
    on_pass: Callable[[PassReport], None] | None = None,
    stop: threading.Event | None = None,
) -> list[PassReport]:
    """Play every event from the clock's time to ``end`` in order, without sleeping.

    Each event moves the simulated clock, and the sandbox's mail clock with
    it, to the event's time and runs a pass there.
    """
    reports: list[PassReport] = []
    label = "start"
    while True:
        if gmail.gmail_url is not None:
            gmail.sandbox_set_clock(clock.now())
        report = run_pass(ledger, gmail, config, clock, stop=stop)
        report.event = label
        reports.append(report)
        if on_pass is not None:
            on_pass(report)
        if stop is not None and stop.is_set():
            break
        event = next_event(ledger, config, clock.now(), poll_interval)
        if event.at > end:
            break
        clock.set(event.at)
        label = event.label
    return reports


def watch(
    ledger: Ledger,
    gmail: GmailClient,
    config: Config,
    clock: Clock,
    stop: threading.Event,
    *,
    poll_interval: timedelta = DEFAULT_POLL_INTERVAL,
    until: datetime | None = None,
    on_pass: Callable[[PassReport], None] | None = None,
) -> list[PassReport]:
    """Run passes on the real clock, sleeping until the next event, until ``stop`` is set."""
    reports: list[PassReport] = []
    logger.info("Watching: passes run until stopped (SIGTERM or Ctrl-C)")
    while not stop.is_set():
        report = run_pass(ledger, gmail, config, clock, stop=stop)
        reports.append(report)
        if on_pass is not None:
            on_pass(report)
        if until is not None and clock.now() >= until:
            break
        event = next_event(ledger, config, clock.now(), poll_interval)
        target = min(event.at, until) if until is not None else event.at
        logger.info("Next pass at %s (%s)", target.isoformat(), event.label)
        _sleep_until(clock, target, stop)
    logger.info("Watch stopped after %d pass(es)", len(reports))
    return reports


def _sleep_until(clock: Clock, target: datetime, stop: threading.Event) -> None:
    first = True
    while not stop.is_set():
        remaining = target - clock.now()
        if remaining <= timedelta(0) and not first:
            return
        slice_ = max(min(remaining, WAKE_CHECK_INTERVAL), MIN_SLEEP)
        stop.wait(slice_.total_seconds())
        first = False


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Yield an event that SIGTERM and SIGINT set, in place of ending the process.

    The step under way, a send included, then finishes and the loop stops
    before the next one, so the ledger always records what was sent.
    """
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        logger.info("Received %s; stopping after the current step", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- the log file --------------------------------------------------------------


def open_run_log(path: Path) -> logging.Handler:
    """Log the assistant's INFO lines and above to a rotating file at ``path``.

    Handlers already on the root logger keep their own level, so stderr stays
    as quiet as ``-v`` asked. Tokens are masked by the shared token filter.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(
        path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUP_COUNT, encoding="utf-8"
    )
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in root.handlers:
        if existing.level == logging.NOTSET:
            existing.setLevel(root.level)
    package = logging.getLogger("assistant")
    package.addHandler(handler)
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
    install_token_log_filter(package)
    return handler


def close_run_log(handler: logging.Handler) -> None:
    logging.getLogger("assistant").removeHandler(handler)
    handler.close()
