"""``assistant demo``: the whole assistant on a sample mailbox, no Google account."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import click
from rich.console import Console

from assistant import paths
from assistant.cli import AppContext, cli
from assistant.demo import DemoRun, run_demo
from assistant.cli.status_commands import print_report


@cli.command("demo")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the demo's ledger, config and mailbox "
    "(default: 'demo' in the user data directory). Its old demo files are replaced.",
)
@click.option(
    "--serve/--no-serve",
    default=None,
    help="Keep the sandbox running after the demo until Ctrl-C "
    "(default: only when run from a terminal).",
)
@click.pass_obj
def demo_command(app: AppContext, workdir: Path | None, serve: bool | None) -> None:
    """Play three weeks of invoice chasing on a sample mailbox, in a minute.

    Starts a local Gmail sandbox loaded with a sample consultant's Takeout
    export, imports a sample ledger, and runs the check, drafting, approval,
    sending, a payment and a client reply on a simulated clock.
    """
    del app
    folder = workdir or paths.data_dir() / "demo"
    console = Console(highlight=False)
    run = run_demo(folder, lambda text: console.print(text, soft_wrap=True))
    try:
        if run.status is not None and run.config is not None:
            print_report(run.status, run.config, console)
        _print_where(console, run)
        if serve if serve is not None else sys.stdin.isatty():
            console.print("The sandbox keeps running for these commands; Ctrl-C stops it.")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
    finally:
        run.close()


def _print_where(console: Console, run: DemoRun) -> None:
    console.print(f"Sandbox: {run.url}")
    console.print(f"Ledger database: {run.db_path}")
    console.print(f"Config: {run.config_path}")
    console.print(
        "Rerun any command against them, for example:\n"
        f"  assistant --gmail-url {run.url} --db {run.db_path} --config {run.config_path}"
        " --now 2026-03-23T07:00:00Z status"
    )
