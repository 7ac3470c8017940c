"""Approval commands: ``review``, ``approve``, ``skip`` and ``client auto-approve``.

Nothing goes out until the user approves it, here or by turning on
auto-approval for a client.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from zoneinfo import ZoneInfo

import click
from babel.dates import format_datetime
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from assistant import approval
from assistant.approval import DraftView
from assistant.cli import AppContext, cli
from assistant.cli.ledger_commands import client_group
from assistant.config import Config, load_config
from assistant.errors import InputError, UsageError
from assistant.gmail import GmailClient
from assistant.ledger import Ledger
from assistant.reminders import Reminder
from assistant.sending import client_zone, planner_for

# Each choice and the one-letter input that also selects it.
CHOICES = {
    "approve": "a",
    "skip": "s",
    "edit": "e",
    "reschedule": "r",
    "pause": "p",
    "later": "l",
    "quit": "q",
}
_BY_LETTER = {letter: name for name, letter in CHOICES.items()}


@contextmanager
def _ledger(app: AppContext) -> Iterator[Ledger]:
    ledger = Ledger.open(app.db_path, app.clock)
    try:
        yield ledger
    finally:
        ledger.close()


def stdin_is_interactive() -> bool:
    return sys.stdin.isatty()


def _planned_text(reminder: Reminder) -> str:
    return reminder.planned_send_at.strftime("%Y-%m-%d %H:%M UTC")


# --- review ---------------------------------------------------------------------


@cli.command("review")
@click.pass_obj
def review_command(app: AppContext) -> None:
    """Show each reminder draft waiting for approval, as the client will see it, and decide.

    For each draft: approve, skip (deletes the Gmail draft), edit the text in
    $EDITOR, reschedule, pause the invoice, or leave it for later. Needs a
    terminal; from scripts use 'assistant approve' and 'assistant skip'.
    """
    if not stdin_is_interactive():
        raise UsageError(
            "assistant review asks questions and needs a terminal on stdin; from "
            "scripts use 'assistant approve UID', 'assistant approve --all' or "
            "'assistant skip UID'"
        )
    config = load_config(app.config_path)
    console = Console()
    with _ledger(app) as ledger:
        waiting = approval.waiting_for_approval(ledger)
        if not waiting:
            console.print("No reminder drafts are waiting for approval.")
            return
        gmail = app.gmail_client()
        session = _Review(app, ledger, gmail, config, console)
        for index, reminder in enumerate(waiting, start=1):
            if not session.review(reminder, index, len(waiting)):
                break
        console.print(session.summary())


class _Review:
    """One review session: the objects every step needs and what was decided."""

    def __init__(
        self,
        app: AppContext,
        ledger: Ledger,
        gmail: GmailClient,
        config: Config,
        console: Console,
    ) -> None:
        self.app = app
        self.ledger = ledger
        self.gmail = gmail
        self.config = config
        self.console = console
        self.paused: set[str] = set()
        self.counts: dict[str, int] = {}

    def summary(self) -> str:
        if not self.counts:
            return "Nothing changed."
        return "Done: " + ", ".join(f"{n} {name}" for name, n in self.counts.items()) + "."

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def review(self, reminder: Reminder, index: int, total: int) -> bool:
        """Review one reminder; return False when the user quits."""
        if set(reminder.invoice_numbers) <= self.paused:
            return True
        view = approval.fetch_draft(self.ledger, self.gmail, reminder, self.config)
        if view is None:
            self.console.print(f"The draft of {reminder.uid} was deleted in Gmail; skipped.")
            self._count("gone")
            return True
        while True:
            show_draft(self.console, view, self.config, f"{index} of {total}")
            choice = _ask_choice()
            if choice == "quit":
                return False
            if choice == "later":
                return True
            outcome = self._act(choice, view)
            if outcome is None:
                return True
            view = outcome

    def _act(self, choice: str, view: DraftView) -> DraftView | None:
        """Carry out a choice; return the view to show again, or None to move on."""
        uid = view.reminder.uid
        if choice == "approve":
            approval.approve(self.ledger, [uid], self.app.clock, source="review")
            self.console.print(f"Approved {uid}.")
            self._count("approved")
            return None
        if choice == "skip":
            approval.skip(self.ledger, self.gmail, uid, self.app.clock, source="review")
            self.console.print(f"Skipped {uid}; its Gmail draft is deleted.")
            self._count("skipped")
            return None
        if choice == "pause":
            self._pause(view)
            return None
        if choice == "edit":
            return self._edit(view)
        return self._reschedule(view)

    def _edit(self, view: DraftView) -> DraftView:
        edited = click.edit(view.body, extension=".txt", require_save=True)
        if edited is None or edited == view.body:
            self.console.print("No change.")
            return view
        approval.edit_draft(self.ledger, self.gmail, view, edited)
        self._count("edited")
        reminder = self.ledger.reminders.get(view.reminder.uid)
        assert reminder is not None
        fresh = approval.fetch_draft(self.ledger, self.gmail, reminder, self.config)
        assert fresh is not None
        return fresh

    def _reschedule(self, view: DraftView) -> DraftView:
        reminder = view.reminder
        zone = client_zone(self.ledger, reminder, self.config.user.timezone)
        while True:
            text = click.prompt(
                f"New send time (YYYY-MM-DD HH:MM in {zone.key}, or ISO 8601 with offset)"
            )
            try:
                when = approval.parse_send_time(text, zone)
                approval.require_future(when, self.app.clock)
                updated = self._store_time(reminder, when, zone)
            except InputError as exc:
                self.console.print(Text(str(exc), style="red"))
                continue
            if updated is not None:
                break
        self._count("rescheduled")
        return approval.draft_view(
            updated,
            view.raw,
            thread_id=view.thread_id,
            client_zone=zone,
            user_zone=ZoneInfo(self.config.user.timezone),
        )

    def _store_time(
        self, reminder: Reminder, when: datetime, zone: ZoneInfo
    ) -> Reminder | None:
        """Store the time, asking before one outside the window; None when declined."""
        planner = planner_for(self.ledger, self.config, reminder)
        conflict = approval.window_conflict(when, planner.window, planner.calendar, zone)
        allowed = conflict is None or click.confirm(
            f"{conflict}. Send outside the window anyway?", default=False
        )
        if not allowed:
            return None
        return approval.reschedule(
            self.ledger,
            reminder.uid,
            when,
            self.app.clock,
            self.config,
            outside_window_ok=True,
            source="review",
        )

    def _today(self) -> date:
        return self.app.clock.now().astimezone(ZoneInfo(self.config.user.timezone)).date()

    def _pause(self, view: DraftView) -> None:
        numbers = view.reminder.invoice_numbers
        while True:
            text = click.prompt(f"Pause reminders for {', '.join(numbers)} until (YYYY-MM-DD)")
            try:
                until = _parse_date(text)
                approval.pause_invoices(
                    self.ledger, numbers, until, self._today(), source="review"
                )
            except InputError as exc:
                self.console.print(Text(str(exc), style="red"))
                continue
            break
        self.paused.update(numbers)
        self._count("paused")
        self.console.print(
            f"Paused {', '.join(numbers)} until {until.isoformat()}; the next run "
            "withdraws the draft."
        )


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InputError(f"invalid date {text!r}; write it as 2026-04-30") from exc


def _ask_choice() -> str:
    prompt = ", ".join(f"[{letter}]{name[1:]}" for name, letter in CHOICES.items())
    answers = [*CHOICES, *CHOICES.values()]
    answer = click.prompt(
        prompt, type=click.Choice(answers, case_sensitive=False), show_choices=False
    )
    answer = answer.lower()
    return _BY_LETTER.get(answer, answer)


def show_draft(console: Console, view: DraftView, config: Config, position: str) -> None:
    """Print the draft's headers, body, attachments and planned send time."""
    reminder = view.reminder
    headers = Table.grid(padding=(0, 1))
    headers.add_column(style="bold")
    headers.add_column()
    rows = [
        ("From", view.sender),
        ("To", view.to),
        ("Cc", view.cc),
        ("Subject", view.subject),
        ("In-Reply-To", view.in_reply_to),
        ("Invoices", ", ".join(reminder.invoice_numbers)),
        ("Send (client)", _when(view.planned_client, config)),
        ("Send (you)", _when(view.planned_user, config)),
    ]
    for name, value in rows:
        if value:
            headers.add_row(name, Text(value))
    for attachment in view.attachments:
        headers.add_row("Attachment", Text(f"{attachment.name} ({attachment.size:,} bytes)"))
    title = f"{reminder.stage} reminder {reminder.uid} ({position})"
    console.print(Panel(headers, title=Text(title)))
    console.print(Panel(Text(view.body.rstrip()), title="Body"))


def _when(moment: datetime, config: Config) -> str:
    locale = config.user.language.replace("-", "_")
    zone = getattr(moment.tzinfo, "key", "")
    text = format_datetime(moment, "EEE d MMM y, HH:mm", tzinfo=moment.tzinfo, locale=locale)
    return f"{text} {zone}".strip()


# --- approve and skip from scripts ------------------------------------------------


@cli.command("approve")
@click.argument("uids", nargs=-1)
@click.option("--all", "approve_all", is_flag=True, help="Approve every drafted reminder.")
@click.pass_obj
def approve_command(app: AppContext, uids: tuple[str, ...], approve_all: bool) -> None:
    """Approve the reminders UIDS (or --all drafted ones) so they go out as planned."""
    if approve_all == bool(uids):
        raise UsageError("give reminder UIDs or --all, not both and not neither")
    with _ledger(app) as ledger:
        selection = approval.ALL if approve_all else uids
        approved = approval.approve(ledger, selection, app.clock)
    for reminder in approved:
        click.echo(f"Approved {reminder.uid}, planned for {_planned_text(reminder)}", err=True)
    if not approved:
        click.echo("Nothing to approve.", err=True)


@cli.command("skip")
@click.argument("uid")
@click.pass_obj
def skip_command(app: AppContext, uid: str) -> None:
    """Skip reminder UID: delete its Gmail draft; it is never drafted again."""
    with _ledger(app) as ledger:
        approval.skip(ledger, app.gmail_client(), uid, app.clock)
    click.echo(f"Skipped {uid}; its Gmail draft is deleted.", err=True)


@client_group.command("auto-approve")
@click.argument("name")
@click.option(
    "--on/--off", "enabled", required=True, help="Send this client's reminders without review."
)
@click.pass_obj
def client_auto_approve(app: AppContext, name: str, enabled: bool) -> None:
    """Turn auto-approval on or off for client NAME."""
    with _ledger(app) as ledger:
        if ledger.get_client(name) is None:
            raise InputError(
                f"client {name!r} not found; create it with 'assistant client set {name}'"
            )
        change = ledger.set_client(name, source="cli", auto_approve=enabled)
    state = "on" if enabled else "off"
    suffix = "" if change.action == "updated" else " (unchanged)"
    click.echo(f"Auto-approval for {name}: {state}{suffix}", err=True)
