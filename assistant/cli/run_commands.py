"""``assistant run``: one pass for cron or a timer, a watch loop, or simulated time."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

import click

from assistant import paths
from assistant.approval import waiting_for_approval
from assistant.cli import AppContext, cli
from assistant.clock import SimulatedClock, parse_instant
from assistant.config import load_config
from assistant.errors import UsageError
from assistant.ledger import Ledger
from assistant.runner import (
    LOG_FILE_NAME,
    PassReport,
    close_run_log,
    open_run_log,
    run_pass,
    run_until,
    stop_on_signals,
    watch,
)


@cli.command("run")
@click.option(
    "--watch", "watching", is_flag=True,
    help="Keep running: sleep until the next planned send, window or mail poll, "
    "and stop cleanly on SIGTERM or Ctrl-C.",
)
@click.option(
    "--until", "until_text", metavar="ISO-8601",
    help="With --now, play every event up to this time without sleeping; with "
    "--watch, stop at this time.",
)
@click.option(
    "--poll-minutes", type=click.IntRange(1, 24 * 60), default=15, show_default=True,
    envvar="ASSISTANT_POLL_MINUTES",
    help="Minutes between mail checks when no other event comes sooner.",
)
@click.option(
    "--log-file", type=click.Path(dir_okay=False, path_type=Path),
    envvar="ASSISTANT_LOG_FILE",
    help=f"Rotating log file (default: {LOG_FILE_NAME} in the user log directory).",
)
@click.pass_obj
def run_command(
    app: AppContext,
    watching: bool,
    until_text: str | None,
    poll_minutes: int,
    log_file: Path | None,
) -> None:
    """Sync mail, draft and send due reminders, once or continuously.

    Without options this makes one pass, for cron or a systemd timer. See
    docs/scheduling.md for systemd, launchd and cron setups.
    """
    until = _parse_until(until_text)
    simulated = isinstance(app.clock, SimulatedClock)
    if watching and simulated:
        raise UsageError(
            "--watch sleeps on the real clock; with --now use --until END to play "
            "simulated time instead"
        )
    if until is not None and not (watching or simulated):
        raise UsageError("--until needs --watch, or --now to play simulated time")
    if until is not None and until < app.clock.now():
        raise UsageError(
            f"--until {until.isoformat()} is before the current time "
            f"{app.clock.now().isoformat()}; give a later time"
        )

    poll = timedelta(minutes=poll_minutes)
    with ExitStack() as stack:
        handler = open_run_log(log_file or paths.log_dir() / LOG_FILE_NAME)
        stack.callback(close_run_log, handler)
        config = load_config(app.config_path)
        ledger = Ledger.open(app.db_path, app.clock)
        stack.callback(ledger.close)
        gmail = app.gmail_client()
        stop = stack.enter_context(stop_on_signals())
        if simulated and until is not None:
            assert isinstance(app.clock, SimulatedClock)
            reports = run_until(
                ledger, gmail, config, app.clock, until,
                poll_interval=poll, on_pass=_echo_event, stop=stop,
            )
        elif watching:
            reports = watch(
                ledger, gmail, config, app.clock, stop,
                poll_interval=poll, until=until, on_pass=_echo_event,
            )
        else:
            reports = [run_pass(ledger, gmail, config, app.clock, stop=stop)]
        waiting = len(waiting_for_approval(ledger))
    _echo_summary(reports, waiting)
    if any(report.errors for report in reports):
        raise SystemExit(1)


def _parse_until(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise UsageError(f"invalid --until: {exc}") from exc


def _echo_event(report: PassReport) -> None:
    # Idle passes print nothing, so the sends of a long --until run stay visible.
    if not report.eventful:
        return
    moment = report.at.isoformat().replace("+00:00", "Z")
    click.echo(f"{moment}  {report.event}: {report.summary()}", err=True)
    for outcome in report.sent:
        click.echo(
            f"{moment}  sent {outcome.uid} ({', '.join(outcome.invoice_numbers)}) "
            f"as message {outcome.message_id}",
            err=True,
        )
    for error in report.errors:
        click.echo(f"{moment}  error: {error}", err=True)


def _echo_summary(reports: list[PassReport], waiting: int) -> None:
    sent = [outcome for report in reports for outcome in report.sent]
    drafted = sum(len(report.drafted) for report in reports)
    withdrawn = sum(len(report.withdrawn) for report in reports)
    errors = sum(len(report.errors) for report in reports)
    span = ""
    if len(reports) > 1:
        first = reports[0].at.isoformat().replace("+00:00", "Z")
        last = reports[-1].at.isoformat().replace("+00:00", "Z")
        span = f" from {first} to {last}"
    click.echo(
        f"{len(reports)} pass(es){span}: {len(sent)} reminder(s) sent, {drafted} "
        f"drafted, {withdrawn} withdrawn, {errors} error(s)"
    )
    for outcome in sent:
        click.echo(f"sent {outcome.uid} as message {outcome.message_id}")
    if waiting:
        click.echo(
            f"{waiting} reminder(s) wait for your approval and are not sent until "
            "approved: see 'assistant review', then 'assistant approve UID'",
            err=True,
        )

