"""``assistant demo``: the whole assistant on a sample mailbox, no Google account."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import click
from rich.console import Console

from assistant import paths
from assistant.cli import AppContext, cli
from assistant.demo import END, DemoRun, run_demo
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
    serving = serve if serve is not None else sys.stdin.isatty()
    try:
        if run.status is not None and run.config is not None:
            print_report(run.status, run.config, console)
        for line in where_lines(run, serving):
            console.print(line, soft_wrap=True)
        if serving:
            console.print("The sandbox keeps running for these commands; Ctrl-C stops it.")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
    finally:
        run.close()


def where_lines(run: DemoRun, serving: bool) -> list[str]:
    """Tell where the demo's files are and how to run commands against them.

    Without ``serving`` the sandbox stops when the demo ends, so the lines say
    how to start it again on the mailbox it saved.
    """
    port = urlsplit(run.url).port
    url = run.url if serving else f"http://127.0.0.1:{port}/"
    command = (
        f"  assistant --gmail-url {url} --db {run.db_path} --config {run.config_path}"
        f" --now {END:%Y-%m-%dT%H:%M:%SZ} status"
    )
    lines = [f"Ledger database: {run.db_path}", f"Config: {run.config_path}"]
    if serving:
        return [f"Sandbox: {run.url}", *lines,
                "Rerun any command against them, for example:", command]
    return [
        *lines,
        f"Sandbox mailbox: {run.state_path} (the sandbox stopped with the demo)",
        "To rerun commands against them, start the sandbox again on its saved mailbox:",
        f"  assistant sandbox serve --state {run.state_path} --port {port}",
        "then, in another terminal, for example:",
        command,
    ]
