"""Checks that each reminder template reads the way a reminder should.

Every template is rendered twice with sample values, once for one invoice and
once for three invoices in two currencies, and each rule is applied to both
renderings. A template gets at most one failure per rule.

Rules:

- ``name``: the file is named ``STAGE.LANGUAGE.txt.j2`` with a known stage.
- ``renders``: the template renders without an error.
- ``subject``: the subject contains the first invoice number and is short, at
  most 10 words. Japanese and Chinese, written without spaces, are measured in
  characters instead, at most 40.
- ``length``: the prose of the body is 50-100 words, or 100-300 characters in
  Japanese and Chinese. Prose is the body before the signature, without list
  lines, which start with a bullet (``-``, ``*``, ``•``, ``・``) or with
  whitespace. So the invoice list and the payment options, which grow with the
  data, are not counted, while the greeting and the sign-off are. Characters
  exclude whitespace.
- ``greeting``: the first paragraph of the body names the contact person and is
  no generic salutation such as "To whom it may concern".
- ``invoice_details``: the body names every invoice number, balance and due date.
- ``payment_options``: the body names every payment option's label and details.
- ``attachment``: the body mentions the attached invoice (English and Japanese).
- ``sign_off``: the body ends with the signature, after a sign-off line such as
  "Best regards," or 何卒よろしくお願い申し上げます (English and Japanese).
- ``urgent``: the late_late subject starts with URGENT (【至急】 in Japanese, the
  usual flag at the start of a Japanese business subject), and no other stage
  contains the word urgent (or 至急, 緊急) anywhere.

NOTE: the Japanese limits are an estimate, not a measurement. A rule of thumb in
translation pricing puts one English word at about two Japanese characters,
and the fixed opening and closing formulas of Japanese business mail add about
50 more characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from assistant.errors import ConfigError
from assistant.templating import (
    STAGES,
    TEXT_SUFFIX,
    InvoiceItem,
    PaymentOption,
    ReminderContext,
    RenderedReminder,
    build_environment,
    default_user_template_dir,
    invoice_variables,
    parse_language,
    render_template_file,
    shipped_template_dir,
)

RULES = (
    "name",
    "renders",
    "subject",
    "length",
    "greeting",
    "invoice_details",
    "payment_options",
    "attachment",
    "sign_off",
    "urgent",
)


@dataclass(frozen=True)
class LengthLimits:
    """How long a subject and a body's prose may be, in ``unit``."""

    unit: str
    subject_max: int
    body_min: int
    body_max: int


WORD_LIMITS = LengthLimits("words", subject_max=10, body_min=50, body_max=100)
CHARACTER_LIMITS = LengthLimits(
    "characters", subject_max=40, body_min=100, body_max=300
)
CHARACTER_LANGUAGES = frozenset({"ja", "zh"})

GENERIC_SALUTATIONS = re.compile(
    r"to whom it may concern|dear sir|dear madam|sir or madam|関係者各位", re.IGNORECASE
)
ATTACHMENT_WORDS = {
    "en": re.compile(r"\battach", re.IGNORECASE),
    "ja": re.compile("添付"),
}
SIGN_OFFS = {
    "en": re.compile(
        r"^(best|kind|warm|warmest)?\s*(regards|wishes)|^(many |with )?thanks|^thank you"
        r"|^(yours )?sincerely|^all the best|^best,?$|^cheers",
        re.IGNORECASE,
    ),
    "ja": re.compile("よろしくお願い|お願い申し上げます"),
}
URGENT_WORDS = re.compile(r"\burgent|至急|緊急", re.IGNORECASE)
URGENT_PREFIXES = {"en": ("URGENT",), "ja": ("【至急】", "URGENT")}
LIST_LINE = re.compile(r"^(\s|[-*•・])")
TEMPLATE_NAME = re.compile(r"^(?P<stage>[a-z_]+)\.(?P<language>[A-Za-z_-]+)\.txt\.j2$")

# Days from the sample date to each sample invoice's due date, per stage, so
# that the samples fall where the stage is used.
SAMPLE_DUE_OFFSETS = {
    "receipt_check": (14, 17, 20),
    "gentle": (3, 4, 6),
    "early_late": (-3, -4, -5),
    "late_late": (-9, -12, -15),
}
SAMPLE_TODAY = date(2026, 3, 10)


@dataclass(frozen=True)
class RuleFailure:
    rule: str
    message: str


@dataclass(frozen=True)
class TemplateReport:
    """The outcome of checking one template file."""

    name: str
    path: Path
    failures: tuple[RuleFailure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def check_templates(user_template_dir: Path | None = None) -> list[TemplateReport]:
    """Check every reminder template in effect: the user's, else the shipped one."""
    user_dir = user_template_dir or default_user_template_dir()
    names: dict[str, Path] = {}
    for folder in (shipped_template_dir(), user_dir):
        if folder.is_dir():
            for path in sorted(folder.glob("*.j2")):
                if not path.name.startswith("_") and not path.name.endswith(".html.j2"):
                    names[path.name] = path
    return [
        check_template(name, path, user_dir) for name, path in sorted(names.items())
    ]


def check_template(name: str, path: Path, user_template_dir: Path) -> TemplateReport:
    """Render one template with the sample values and apply every rule."""
    match = TEMPLATE_NAME.match(name)
    if match is None or match["stage"] not in STAGES:
        message = (
            f"not a reminder template name; expected STAGE.LANGUAGE{TEXT_SUFFIX} "
            f"with STAGE one of {', '.join(STAGES)}"
        )
        return TemplateReport(name, path, (RuleFailure("name", message),))

    stage, language = match["stage"], match["language"]
    environment = build_environment(user_template_dir)
    failures: dict[str, str] = {}
    for context in sample_contexts(stage, language):
        try:
            locale = str(parse_language(language))
            rendered = render_template_file(
                environment, stage, language, locale, context
            )
        except ConfigError as exc:
            failures.setdefault("renders", str(exc))
            continue
        for failure in check_rendered(stage, locale, context, rendered):
            failures.setdefault(failure.rule, failure.message)

    ordered = tuple(
        RuleFailure(rule, failures[rule]) for rule in RULES if rule in failures
    )
    return TemplateReport(name, path, ordered)


def check_rendered(
    stage: str, locale: str, context: ReminderContext, rendered: RenderedReminder
) -> list[RuleFailure]:
    """Apply the rules after ``renders`` to one rendered reminder."""
    language = locale.split("_")[0]
    samples = len(context.invoices)
    label = "one invoice" if samples == 1 else f"{samples} invoices"
    checks = (
        ("subject", _subject_problem(rendered.subject, language, context)),
        ("length", _length_problem(rendered.body_text, language, context.signature)),
        ("greeting", _greeting_problem(rendered.body_text, context)),
        (
            "invoice_details",
            _invoice_details_problem(rendered.body_text, locale, context),
        ),
        ("payment_options", _payment_options_problem(rendered.body_text, context)),
        ("attachment", _attachment_problem(rendered.body_text, language)),
        (
            "sign_off",
            _sign_off_problem(rendered.body_text, language, context.signature),
        ),
        ("urgent", _urgent_problem(rendered, stage, language)),
    )
    return [
        RuleFailure(rule, f"{problem} (with {label})")
        for rule, problem in checks
        if problem
    ]


def limits_for(language: str) -> LengthLimits:
    return CHARACTER_LIMITS if language in CHARACTER_LANGUAGES else WORD_LIMITS


def measure(text: str, limits: LengthLimits) -> int:
    """Count ``text`` in the unit of ``limits``: words, or non-space characters."""
    if limits.unit == "words":
        return len(text.split())
    return sum(1 for character in text if not character.isspace())


def prose_lines(body: str, signature: str) -> list[str]:
    """Return the non-blank body lines before the signature that are not list lines."""
    text = _without_signature(body, signature)
    return [
        line for line in text.splitlines() if line.strip() and not LIST_LINE.match(line)
    ]


def _without_signature(body: str, signature: str) -> str:
    text, ending = body.rstrip(), signature.strip()
    if ending and text.endswith(ending):
        return text[: -len(ending)]
    return text


def _subject_problem(
    subject: str, language: str, context: ReminderContext
) -> str | None:
    limits = limits_for(language)
    size = measure(subject, limits)
    number = context.invoices[0].number
    if number not in subject:
        return f"subject {subject!r} does not contain the invoice number {number}"
    if size > limits.subject_max:
        return f"subject has {size} {limits.unit}, more than {limits.subject_max}"
    return None


def _length_problem(body: str, language: str, signature: str) -> str | None:
    limits = limits_for(language)
    size = measure("\n".join(prose_lines(body, signature)), limits)
    if not limits.body_min <= size <= limits.body_max:
        return (
            f"body prose has {size} {limits.unit}, outside "
            f"{limits.body_min}-{limits.body_max}"
        )
    return None


def _greeting_problem(body: str, context: ReminderContext) -> str | None:
    greeting = body.strip().split("\n\n", 1)[0]
    if GENERIC_SALUTATIONS.search(greeting):
        return f"greeting {greeting!r} is a generic salutation; address the contact by name"
    if context.contact_name and context.contact_name not in greeting:
        return (
            f"greeting {greeting!r} does not name the contact {context.contact_name!r}"
        )
    return None


def _invoice_details_problem(
    body: str, locale: str, context: ReminderContext
) -> str | None:
    for item in context.invoices:
        invoice = invoice_variables(item, locale, context.today)
        for key in ("number", "balance_text", "due_date_text"):
            if str(invoice[key]) not in body:
                return f"body does not show the {key} {invoice[key]!r} of {item.number}"
    return None


def _payment_options_problem(body: str, context: ReminderContext) -> str | None:
    for option in context.payment_options:
        first_line = option.details.splitlines()[0] if option.details else ""
        if option.label not in body or first_line not in body:
            return f"body does not list the payment option {option.label!r}"
    return None


def _attachment_problem(body: str, language: str) -> str | None:
    pattern = ATTACHMENT_WORDS.get(language)
    if pattern is not None and not pattern.search(body):
        return "body does not mention the attached invoice"
    return None


def _sign_off_problem(body: str, language: str, signature: str) -> str | None:
    if not body.rstrip().endswith(signature.strip()):
        return "body does not end with the signature"
    pattern = SIGN_OFFS.get(language)
    lines = prose_lines(body, signature)
    if pattern is not None and (not lines or not pattern.search(lines[-1].strip())):
        last = lines[-1].strip() if lines else ""
        return f"no sign-off before the signature; the last line is {last!r}"
    return None


def _urgent_problem(
    rendered: RenderedReminder, stage: str, language: str
) -> str | None:
    prefixes = URGENT_PREFIXES.get(language, ("URGENT",))
    if stage == "late_late":
        if not rendered.subject.startswith(prefixes):
            return f"late_late subject must start with {' or '.join(prefixes)}"
        return None
    found = URGENT_WORDS.search(rendered.subject + "\n" + rendered.body_text)
    if found:
        return f"says {found.group(0)!r}, which only late_late may say"
    return None


def sample_contexts(stage: str, language: str) -> list[ReminderContext]:
    """Build the two sample contexts: one invoice, and three in two currencies."""
    offsets = SAMPLE_DUE_OFFSETS[stage]
    invoices = [
        InvoiceItem("INV-2026-014", Decimal("1200.00"), "USD", _due(offsets[0])),
        InvoiceItem(
            "INV-2026-015",
            Decimal("750.00"),
            "USD",
            _due(offsets[1]),
            Decimal("250.00"),
        ),
        InvoiceItem("INV-2026-016", Decimal(120000), "JPY", _due(offsets[2])),
    ]
    primary_language = re.split("[-_]", language)[0]
    return [
        _sample_context(primary_language, invoices[:1]),
        _sample_context(primary_language, invoices),
    ]


def _due(offset: int) -> date:
    return SAMPLE_TODAY + timedelta(days=offset)


def _sample_context(language: str, invoices: list[InvoiceItem]) -> ReminderContext:
    if language == "ja":
        return ReminderContext(
            client_name="株式会社サンプル商事",
            contact_name="山田 花子",
            invoices=invoices,
            today=SAMPLE_TODAY,
            sender_name="森 彩",
            business_name="森デザイン事務所",
            signature="森 彩\n森デザイン事務所\nmori@example.com",
            payment_options=(
                PaymentOption(
                    "bank_transfer",
                    "銀行振込",
                    "みずほ銀行 本店 普通 1234567 モリ アヤ",
                ),
                PaymentOption(
                    "card", "クレジットカード", "https://pay.example.com/mori"
                ),
            ),
        )
    return ReminderContext(
        client_name="Acme Widgets Ltd",
        contact_name="Jane Smith",
        invoices=invoices,
        today=SAMPLE_TODAY,
        sender_name="Alex Morgan",
        business_name="Morgan Consulting",
        signature="Alex Morgan\nMorgan Consulting\nalex@example.com",
        payment_options=(
            PaymentOption(
                "bank_transfer",
                "Bank transfer",
                "Morgan Consulting\nIBAN GB33 BUKB 2020 1555 5555 55",
            ),
            PaymentOption("card", "Card", "https://pay.example.com/morgan"),
        ),
    )
