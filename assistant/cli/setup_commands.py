"""``assistant init`` and ``assistant config show``: first-run setup and the settings."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from assistant import config
from assistant.cli import AppContext, cli
from assistant.config import Config, PaymentOption
from assistant.errors import InputError, UsageError

PAYMENT_KINDS_HINT = "bank_transfer, card_link, paypal or another word"


def stdin_is_interactive() -> bool:
    return sys.stdin.isatty()


def _validated(check: Callable[[Any], str], flag: str, value: str) -> str:
    try:
        return check(value)
    except ValueError as exc:
        raise InputError(f"invalid {flag} {value!r}: {exc}") from exc


def _prompt_proc(check: Callable[[Any], str]) -> Callable[[str], str]:
    # click re-asks the question when the converter raises BadParameter.
    def convert(value: str) -> str:
        try:
            return check(value)
        except ValueError as exc:
            raise click.BadParameter(f"{value!r}: {exc}") from exc

    return convert


def _escape_lines(text: str) -> str:
    return text.replace("\n", "\\n")


def _unescape_lines(text: str) -> str:
    return text.replace("\\n", "\n")


class _Answers:
    """Collects one answer per setting from a flag, a prompt or the default."""

    def __init__(self, interactive: bool):
        self.interactive = interactive
        self.values: dict[str, Any] = {}
        self.defaulted: dict[str, str] = {}  # flag -> value taken without asking

    def ask(
        self,
        key: str,
        flag: str,
        given: str | None,
        default: str | None,
        question: str,
        check: Callable[[Any], str] = config.any_text,
    ) -> str:
        if given is not None:
            value = _validated(check, flag, given)
        elif self.interactive:
            value = click.prompt(question, default=default, value_proc=_prompt_proc(check))
        elif default is None:
            raise UsageError(f"missing {flag}: it is required with --non-interactive")
        else:
            value = _validated(check, flag, default)
            self.defaulted[flag] = value
        self.values[key] = value
        return value


def _current(existing: Config, key: str, fallback: str | None) -> str | None:
    if existing.sources[key] == config.FILE:
        value = existing.values[key]
        return str(value) if value is not None else fallback
    return fallback


def _prompt_payment_options(existing: tuple[PaymentOption, ...]) -> list[PaymentOption]:
    if existing:
        click.echo("Current payment options:")
        for option in existing:
            click.echo(f"  {option.kind}: {option.details}")
        if click.confirm("Keep these payment options?", default=True):
            return list(existing)

    options: list[PaymentOption] = []
    while True:
        kind = click.prompt(
            f"Payment option kind ({PAYMENT_KINDS_HINT}; empty to finish)",
            default="",
            show_default=False,
        ).strip()
        if not kind:
            return options
        details = click.prompt(f"Details for {kind} (IBAN, link or address)")
        try:
            options.append(config.parse_payment_flag(f"{kind}={details}"))
        except InputError as exc:
            click.echo(f"Error: {exc}", err=True)


def _collect(
    existing: Config, flags: dict[str, str | None], interactive: bool
) -> _Answers:
    guessed_language, guessed_country = config.guess_locale()
    answers = _Answers(interactive)
    name = answers.ask(
        "user.name", "--name", flags["name"],
        _current(existing, "user.name", None), "Your name", config.nonempty_text,
    )
    business = answers.ask(
        "user.business_name", "--business-name", flags["business_name"],
        _current(existing, "user.business_name", name), "Business name",
    )

    answers.ask(
        "user.timezone", "--timezone", flags["timezone"],
        _current(existing, "user.timezone", config.guess_timezone()),
        "Time zone (IANA name)", config.valid_timezone,
    )
    answers.ask(
        "user.country", "--country", flags["country"],
        _current(existing, "user.country", guessed_country),
        "Country code for public holidays (empty for none)", config.valid_country,
    )
    answers.ask(
        "user.language", "--language", flags["language"],
        _current(existing, "user.language", guessed_language),
        "Language of reminders", config.valid_language,
    )

    # The signature travels as one line, with \n marking line breaks.
    signature = _current(existing, "user.signature", f"{name}\n{business}")
    signature_flag = flags["signature"]
    escaped = answers.ask(
        "user.signature", "--signature",
        _escape_lines(signature_flag) if signature_flag is not None else None,
        _escape_lines(signature or ""), "Fallback signature (\\n starts a new line)",
    )
    answers.values["user.signature"] = _unescape_lines(escaped)
    return answers


@cli.command("init")
@click.option("--name", help="Your name, as clients know it.")
@click.option("--business-name", help="Your business name.")
@click.option("--timezone", help="IANA time zone, such as Europe/Berlin.")
@click.option("--country", help="ISO country code for public holidays, such as DE.")
@click.option("--language", help="Language of reminders, such as en or de.")
@click.option(
    "--payment",
    "payments",
    multiple=True,
    metavar="KIND=DETAILS",
    help="A payment option, such as paypal=ada@example.com; repeat for more. "
    "Replaces the current list.",
)
@click.option("--signature", help="Fallback signature; \\n starts a new line.")
@click.option(
    "--yes",
    "--non-interactive",
    "non_interactive",
    is_flag=True,
    help="Ask nothing: use the flags, then current values, then defaults.",
)
@click.pass_obj
def init_command(
    app: AppContext,
    name: str | None,
    business_name: str | None,
    timezone: str | None,
    country: str | None,
    language: str | None,
    payments: tuple[str, ...],
    signature: str | None,
    non_interactive: bool,
) -> None:
    """Create or update the configuration file, asking for what is not given."""
    if not non_interactive and not stdin_is_interactive():
        raise UsageError(
            "assistant init asks questions and needs a terminal on stdin; from "
            "scripts pass the answers as flags with --yes, such as "
            "'assistant init --yes --name NAME --timezone Europe/Berlin --country DE'"
        )
    existing = config.load_config(app.config_path)
    flags = {
        "name": name,
        "business_name": business_name,
        "timezone": timezone,
        "country": country,
        "language": language,
        "signature": signature,
    }
    collected = _collect(existing, flags, interactive=not non_interactive)
    answers = collected.values

    options: list[PaymentOption] | None = None
    if payments:
        options = [config.parse_payment_flag(text) for text in payments]
    elif not non_interactive:
        options = _prompt_payment_options(existing.payment_options)
    if options == list(existing.payment_options):
        options = None  # unchanged: leave the file's tables and their layout alone

    config.save_answers(app.config_path, answers, options)
    click.echo(f"Wrote {app.config_path}", err=True)
    _report_defaults(collected.defaulted)


def _report_defaults(defaulted: dict[str, str]) -> None:
    """Tell the user which settings --yes filled in without a flag, to check them."""
    if not defaulted:
        return
    click.echo("Not given, so kept or guessed (rerun init with the flag to change):",
               err=True)
    for flag, value in defaulted.items():
        click.echo(f"  {flag} {_escape_lines(value) or '(none)'}", err=True)


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


def _show_value(value: Any) -> str:
    if value is None:
        return "(not set)"
    return json.dumps(value, ensure_ascii=False)


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.pass_obj
def show_command(app: AppContext, as_json: bool) -> None:
    """Print every effective setting and whether it comes from the file or a default."""
    loaded = config.load_config(app.config_path)
    options = [vars(option) for option in loaded.payment_options]
    options_source = config.FILE if loaded.payment_options else config.DEFAULT
    if as_json:
        settings = {
            key: {"value": value, "source": loaded.sources[key]}
            for key, value in loaded.values.items()
        }
        settings["payment.options"] = {"value": options, "source": options_source}
        click.echo(json.dumps({"path": str(loaded.path), "settings": settings}, indent=2))
        return

    state = "" if app.config_path.exists() else " (missing: every default applies)"
    click.echo(f"Config file: {loaded.path}{state}", err=True)
    width = max(len(key) for key in loaded.values)
    for key, value in loaded.values.items():
        doc = config.SETTINGS_BY_KEY[key].doc
        click.echo(f"{key:<{width}} = {_show_value(value)}  # {loaded.sources[key]}: {doc}")
    click.echo(f"{'payment.options':<{width}} = {_show_value(options)}  # {options_source}")
