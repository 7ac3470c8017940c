"""Reminder templates: the variables they receive, where they are found, rendering.

Template files are Jinja2, rendered in a ``SandboxedEnvironment`` with
``StrictUndefined``, so a misspelt variable is an error and not an empty string.
A reminder template is named ``STAGE.LANGUAGE.txt.j2`` (``gentle.ja.txt.j2``),
where STAGE is one of ``STAGES``. Files whose names start with ``_`` hold shared
macros that the reminder templates import (``_parts.en.txt.j2``).

The first non-blank line of a rendered template is ``Subject: ...`` and the
rest, after that line, is the plain-text body. An optional ``STAGE.LANGUAGE.html.j2``
beside it is rendered with HTML autoescaping into ``body_html``.

Lookup: a file in the user's template directory (``paths.config_dir()/"templates"``
unless another directory is given) wins over the shipped file of the same name,
partials included. A language without its own template falls back to English,
and the amounts and dates are then formatted for English too.

Variables every template receives (built by ``template_variables``):

- ``stage``: the dunning stage, one of ``STAGES``.
- ``language``: the Babel locale the values are formatted for, such as ``en`` or ``ja``.
- ``client_name``: the client, usually a company.
- ``contact_name``: the person addressed, or ``None``.
- ``invoices``: a list, one mapping per invoice, with ``number``, ``currency``,
  ``amount``, ``amount_paid`` and ``balance`` (``Decimal``), the same three as
  locale-formatted text (``amount_text``, ``amount_paid_text``, ``balance_text``),
  ``due_date`` (``date``), ``due_date_text``, ``days_overdue`` and
  ``days_until_due`` (calendar days, never negative).
- ``invoice_numbers``: the invoice numbers, in the order given.
- ``totals``: one mapping per currency, in order of first appearance, with
  ``currency``, ``amount`` (the sum of the balances) and ``amount_text``. Amounts
  in different currencies are never added together.
- ``days_overdue``: the largest ``days_overdue`` of the invoices.
- ``payment_options``: a list of mappings with ``kind``, ``label`` and ``details``.
- ``sender_name``, ``business_name``, ``signature`` (plain text).
- ``today`` (``date``) and ``today_text``.
"""

from __future__ import annotations

import functools
import logging
import re
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, list_currencies
from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment

from assistant import paths
from assistant.errors import ConfigError, InputError

logger = logging.getLogger(__name__)

STAGES = ("receipt_check", "gentle", "early_late", "late_late")
DEFAULT_LANGUAGE = "en"
TEXT_SUFFIX = ".txt.j2"
HTML_SUFFIX = ".html.j2"
SUBJECT_PREFIX = "Subject:"


@dataclass(frozen=True)
class InvoiceItem:
    """One invoice as a reminder shows it."""

    number: str
    amount: Decimal
    currency: str
    due_date: date
    amount_paid: Decimal = Decimal(0)

    @property
    def balance(self) -> Decimal:
        return self.amount - self.amount_paid


@dataclass(frozen=True)
class PaymentOption:
    """A way to pay, from the configuration: ``kind`` such as ``bank_transfer``."""

    kind: str
    label: str
    details: str


@dataclass(frozen=True)
class ReminderContext:
    """Plain values a reminder is rendered from, for one client and its invoices."""

    client_name: str
    invoices: Sequence[InvoiceItem]
    today: date
    sender_name: str
    business_name: str
    signature: str
    payment_options: Sequence[PaymentOption] = field(default_factory=tuple)
    contact_name: str | None = None

    def __post_init__(self) -> None:
        if not self.invoices:
            raise InputError(
                f"no invoices given for a reminder to {self.client_name!r}; "
                "a reminder needs at least one invoice"
            )
        known = list_currencies()
        for invoice in self.invoices:
            if invoice.currency not in known:
                raise InputError(
                    f"invoice {invoice.number}: unknown currency code "
                    f"{invoice.currency!r}; use an ISO 4217 code such as USD or JPY"
                )


@dataclass(frozen=True)
class RenderedReminder:
    subject: str
    body_text: str
    body_html: str | None = None


def shipped_template_dir() -> Path:
    """Return the folder of the templates that ship with the assistant."""
    try:
        return Path(str(resources.files("assistant.templates")))
    except ModuleNotFoundError:
        # A source checkout that is not installed: templates/ sits beside assistant/.
        return Path(__file__).resolve().parent.parent / "templates"


def default_user_template_dir() -> Path:
    return paths.config_dir() / "templates"


def template_name(stage: str, language: str, suffix: str = TEXT_SUFFIX) -> str:
    return f"{stage}.{language}{suffix}"


def build_environment(user_template_dir: Path | None = None) -> SandboxedEnvironment:
    """Return the sandboxed environment that looks in the user's folder first.

    Environments are cached because compiling every template again for each
    reminder is slow. The cache key includes the names and modification times of
    the user's files, so a template added there later replaces the shipped one.
    """
    user_dir = user_template_dir or default_user_template_dir()
    listing: tuple[tuple[str, int], ...] = ()
    if user_dir.is_dir():
        listing = tuple(
            sorted((p.name, p.stat().st_mtime_ns) for p in user_dir.glob("*.j2"))
        )
    return _cached_environment(user_dir, listing)


@functools.lru_cache(maxsize=16)
def _cached_environment(
    user_dir: Path, listing: tuple[tuple[str, int], ...]
) -> SandboxedEnvironment:
    loaders = [
        FileSystemLoader(str(user_dir)),
        FileSystemLoader(str(shipped_template_dir())),
    ]
    return SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def parse_language(language: str) -> Locale:
    """Parse a language code such as ``en``, ``en-GB`` or ``ja_JP`` into a Babel locale."""
    try:
        return Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"unknown language {language!r} for reminders; "
            "use a language code such as en or ja"
        ) from exc


def render_reminder(
    stage: str,
    language: str,
    context: ReminderContext,
    user_template_dir: Path | None = None,
) -> RenderedReminder:
    """Render the reminder for ``stage`` in ``language``, or in English when missing."""
    if stage not in STAGES:
        raise ConfigError(
            f"unknown reminder stage {stage!r}; expected one of {', '.join(STAGES)}"
        )
    locale = parse_language(language)
    environment = build_environment(user_template_dir)

    candidates = [str(locale), locale.language, DEFAULT_LANGUAGE]
    for candidate in dict.fromkeys(candidates):
        name = template_name(stage, candidate)
        if _template_exists(environment, name):
            break
    else:
        raise ConfigError(
            f"no template {template_name(stage, DEFAULT_LANGUAGE)} found in "
            f"{user_template_dir or default_user_template_dir()} or {shipped_template_dir()}"
        )

    if candidate != locale.language and candidate != str(locale):
        logger.info("no %s template for %s; using %s", stage, language, candidate)
        locale = parse_language(candidate)
    return render_template_file(environment, stage, candidate, str(locale), context)


def render_template_file(
    environment: SandboxedEnvironment,
    stage: str,
    template_language: str,
    locale: str,
    context: ReminderContext,
) -> RenderedReminder:
    """Render ``STAGE.TEMPLATE_LANGUAGE.txt.j2`` (and its HTML twin, if any)."""
    variables = template_variables(stage, locale, context)
    text_name = template_name(stage, template_language)
    subject, body = split_subject(_render(environment, text_name, variables), text_name)

    html_name = template_name(stage, template_language, HTML_SUFFIX)
    body_html = None
    if _template_exists(environment, html_name):
        body_html = _render(environment, html_name, variables).strip() + "\n"
    return RenderedReminder(subject=subject, body_text=body, body_html=body_html)


# The names template_variables provides, for error messages.
TEMPLATE_VARIABLES = (
    "stage", "language", "client_name", "contact_name", "invoices", "invoice_numbers",
    "totals", "days_overdue", "payment_options", "sender_name", "business_name",
    "signature", "today", "today_text",
)


def template_variables(
    stage: str, locale: str, context: ReminderContext
) -> dict[str, object]:
    """Build the variables listed in this module's docstring, formatted for ``locale``."""
    invoices = [
        invoice_variables(invoice, locale, context.today)
        for invoice in context.invoices
    ]
    return {
        "stage": stage,
        "language": locale,
        "client_name": context.client_name,
        "contact_name": context.contact_name,
        "invoices": invoices,
        "invoice_numbers": [invoice.number for invoice in context.invoices],
        "totals": _totals_per_currency(context.invoices, locale),
        "days_overdue": max(
            max((context.today - i.due_date).days, 0) for i in context.invoices
        ),
        "payment_options": [
            {"kind": option.kind, "label": option.label, "details": option.details}
            for option in context.payment_options
        ],
        "sender_name": context.sender_name,
        "business_name": context.business_name,
        "signature": context.signature.strip(),
        "today": context.today,
        "today_text": format_date(context.today, format="long", locale=locale),
    }


def invoice_variables(
    invoice: InvoiceItem, locale: str, today: date
) -> dict[str, object]:
    """Build one entry of the ``invoices`` variable, formatted for ``locale``."""
    days_past_due = (today - invoice.due_date).days
    return {
        "number": invoice.number,
        "currency": invoice.currency,
        "amount": invoice.amount,
        "amount_text": format_currency(invoice.amount, invoice.currency, locale=locale),
        "amount_paid": invoice.amount_paid,
        "amount_paid_text": format_currency(
            invoice.amount_paid, invoice.currency, locale=locale
        ),
        "balance": invoice.balance,
        "balance_text": format_currency(
            invoice.balance, invoice.currency, locale=locale
        ),
        "due_date": invoice.due_date,
        "due_date_text": format_date(invoice.due_date, format="long", locale=locale),
        "days_overdue": max(days_past_due, 0),
        "days_until_due": max(-days_past_due, 0),
    }


def _totals_per_currency(
    invoices: Sequence[InvoiceItem], locale: str
) -> list[dict[str, object]]:
    sums: dict[str, Decimal] = {}
    for invoice in invoices:
        sums[invoice.currency] = (
            sums.get(invoice.currency, Decimal(0)) + invoice.balance
        )
    return [
        {
            "currency": currency,
            "amount": amount,
            "amount_text": format_currency(amount, currency, locale=locale),
        }
        for currency, amount in sums.items()
    ]


def split_subject(rendered: str, name: str) -> tuple[str, str]:
    """Split rendered text into the ``Subject:`` line and a tidied body."""
    text = rendered.lstrip()
    first_line, _, rest = text.partition("\n")
    if not first_line.startswith(SUBJECT_PREFIX):
        raise ConfigError(
            f"template {name}: the first line must be 'Subject: ...', "
            f"got {first_line[:60]!r}"
        )
    subject = " ".join(first_line[len(SUBJECT_PREFIX) :].split())
    if not subject:
        raise ConfigError(f"template {name}: the Subject line is empty")
    return subject, tidy_body(rest)


def tidy_body(text: str) -> str:
    """Strip trailing spaces and runs of blank lines that template tags leave."""
    lines = [line.rstrip() for line in text.splitlines()]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return body + "\n"


def _template_exists(environment: SandboxedEnvironment, name: str) -> bool:
    try:
        environment.get_template(name)
    except TemplateNotFound:
        return False
    except TemplateSyntaxError as exc:
        raise _config_error(exc, name) from exc
    return True


def _render(
    environment: SandboxedEnvironment, name: str, variables: Mapping[str, object]
) -> str:
    try:
        template: Template = environment.get_template(name)
        return template.render(variables)
    except TemplateError as exc:
        raise _config_error(exc, name) from exc


def _config_error(exc: TemplateError, name: str) -> ConfigError:
    """Describe a Jinja error by the template file and line where it happened."""
    if isinstance(exc, TemplateSyntaxError):
        where = f"{exc.filename or exc.name or name}, line {exc.lineno}"
        return ConfigError(f"template syntax error in {where}: {exc.message}")

    # Jinja rewrites tracebacks so that template frames carry the file and line.
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename.endswith(".j2")
    ]
    where = f"{frames[-1].filename}, line {frames[-1].lineno}" if frames else name
    message = f"template error in {where}: {exc}"
    if isinstance(exc, UndefinedError):
        message += (
            "; templates can use " + ", ".join(TEMPLATE_VARIABLES)
            + " (see the assistant.templating module documentation)"
        )
    return ConfigError(message)


class _SignatureTextParser(HTMLParser):
    """Collect the text of an HTML signature, with line breaks where blocks end."""

    _BREAKS = frozenset(
        {"br", "div", "p", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6"}
    )
    _SKIPPED = frozenset({"style", "script", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._link: str | None = None
        self._link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")
        elif tag == "a":
            self._link = dict(attrs).get("href")
            self._link_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skipping = max(self._skipping - 1, 0)
        elif tag in self._BREAKS and tag != "br":
            self.parts.append("\n")
        elif tag == "a":
            self._close_link()

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        text = re.sub(r"\s+", " ", data)
        self.parts.append(text)
        if self._link is not None:
            self._link_text.append(text)

    def _close_link(self) -> None:
        # A link whose text hides its target shows the target too, because a
        # plain-text reader cannot click it.
        href, text = self._link, "".join(self._link_text).strip()
        self._link = None
        if (
            href
            and not href.startswith("mailto:")
            and href.rstrip("/")
            not in (
                text.rstrip("/"),
                "http://" + text.rstrip("/"),
                "https://" + text.rstrip("/"),
            )
        ):
            self.parts.append(f" <{href}>")


def signature_to_text(html: str) -> str:
    """Convert a Gmail HTML signature (``sendAs.signature``) to plain-text lines."""
    parser = _SignatureTextParser()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def choose_signature(
    gmail_signature_html: str | None,
    config_signature: str | None,
    sender_name: str,
    business_name: str = "",
) -> str:
    """Pick the Gmail signature, else the configured one, else the sender's name.

    The gmail.v1 discovery document says Gmail adds ``SendAs.signature`` to new
    messages composed in its web UI. Drafts created through the API are not
    composed there, so a reminder carries the signature in its own body.
    """
    if gmail_signature_html and (text := signature_to_text(gmail_signature_html)):
        return text
    if config_signature and config_signature.strip():
        return config_signature.strip()
    lines = [sender_name] + (
        [business_name] if business_name and business_name != sender_name else []
    )
    return "\n".join(lines)
