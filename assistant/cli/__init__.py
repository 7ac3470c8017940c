"""The ``assistant`` command line: global options, command groups, exit codes.

Commands live in the sibling modules, each a thin shell over one core function.
``main`` is the one place where exceptions become exit codes.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import click

from assistant import paths
from assistant.auth import install_token_log_filter
from assistant.clock import Clock, SimulatedClock, SystemClock, parse_instant
from assistant.errors import AssistantError, UsageError
from assistant.gmail import GmailClient
from assistant.quota_pacing import SimulatedQuotaTime


@dataclass
class AppContext:
    """What every command receives: resolved paths, the Gmail URL and the clock."""

    db_path: Path
    config_path: Path
    gmail_url: str | None
    clock: Clock
    simulated_now: datetime | None = None
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def uses_sandbox(self) -> bool:
        return self.gmail_url is not None

    def gmail_client(self) -> GmailClient:
        """Connect to the sandbox at ``gmail_url``, or to Gmail with the stored token.

        With a simulated clock the sandbox's mail clock is set to it first, so
        messages created by this command carry the simulated time.
        """
        if self.gmail_url is not None:
            if self.simulated_now is None:
                return GmailClient.connect(self.gmail_url)
            pacing = SimulatedQuotaTime(self.clock.now)
            client = GmailClient.connect(self.gmail_url, clock=pacing, sleep=pacing.sleep)
            client.sandbox_set_clock(self.simulated_now)
            return client
        from assistant.auth import load_credentials

        return GmailClient.connect(credentials=load_credentials())


def _check_sandbox_url(url: str) -> str:
    """Return ``url`` ending in '/' if it names a sandbox on this machine."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if parts.scheme != "http" or not loopback or parts.port is None:
        raise UsageError(
            f"invalid --gmail-url {url!r}: give the sandbox's address, such as "
            "http://127.0.0.1:8025/ as printed by 'assistant sandbox serve'"
        )
    return url if url.endswith("/") else url + "/"


def _parse_now(value: str | None, gmail_url: str | None) -> datetime | None:
    if value is None:
        return None
    if gmail_url is None:
        raise UsageError(
            "--now sets a simulated clock and works only against the sandbox; "
            "give --gmail-url http://127.0.0.1:PORT/ or drop --now"
        )
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise UsageError(f"invalid --now: {exc}") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_path",
    envvar="ASSISTANT_DB",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ledger database file (default: the user data directory).",
)
@click.option(
    "--config",
    "config_path",
    envvar="ASSISTANT_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration TOML file (default: the user config directory).",
)
@click.option(
    "--gmail-url",
    envvar="ASSISTANT_GMAIL_URL",
    metavar="URL",
    help="Base URL of a Gmail sandbox, such as http://127.0.0.1:8025/ "
    "(default: real Gmail).",
)
@click.option(
    "--now",
    "now_text",
    envvar="ASSISTANT_NOW",
    metavar="ISO-8601",
    help="Simulated current time, such as 2026-03-02T05:00:00Z; sandbox only.",
)
@click.option("-v", "--verbose", count=True, help="Log more to stderr; repeat for debug.")
@click.version_option(package_name="invoice-reminder-assistant")
@click.pass_context
def cli(
    ctx: click.Context,
    db_path: Path | None,
    config_path: Path | None,
    gmail_url: str | None,
    now_text: str | None,
    verbose: int,
) -> None:
    """Chase late invoices politely from your own Gmail account."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    install_token_log_filter()
    if gmail_url is not None:
        gmail_url = _check_sandbox_url(gmail_url)
    simulated_now = _parse_now(now_text, gmail_url)
    clock: Clock = SimulatedClock(simulated_now) if simulated_now else SystemClock()
    ctx.obj = AppContext(
        db_path=db_path or paths.default_db_path(),
        config_path=config_path or paths.default_config_path(),
        gmail_url=gmail_url,
        clock=clock,
        simulated_now=simulated_now,
    )


def _register_commands() -> None:
    # Each command module adds its commands to ``cli`` when imported.
    import pkgutil

    import assistant.cli as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"assistant.cli.{module.name}")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and map errors to exit codes."""
    _register_commands()
    try:
        # Outside standalone mode click returns the code given to ctx.exit().
        exit_code = cli.main(args=argv, standalone_mode=False)
        if isinstance(exit_code, int) and exit_code:
            sys.exit(exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except AssistantError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
