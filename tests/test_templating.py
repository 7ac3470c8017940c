"""Rendering the reminder templates: variables, formatting, lookup and errors."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from assistant.errors import ConfigError, InputError
from assistant.templating import (
    STAGES,
    TEMPLATE_VARIABLES,
    InvoiceItem,
    PaymentOption,
    ReminderContext,
    choose_signature,
    render_reminder,
    shipped_template_dir,
    signature_to_text,
    template_variables,
)

TODAY = date(2026, 3, 10)
SIGNATURE = "Alex Morgan\nMorgan Consulting\nalex@example.com"
DUE_OFFSETS = {"receipt_check": 14, "gentle": 3, "early_late": -4, "late_late": -12}


def make_context(
    invoices: list[InvoiceItem], contact_name: str | None = "Jane Smith"
) -> ReminderContext:
    return ReminderContext(
        client_name="Acme Widgets Ltd",
        contact_name=contact_name,
        invoices=invoices,
        today=TODAY,
        sender_name="Alex Morgan",
        business_name="Morgan Consulting",
        signature=SIGNATURE,
        payment_options=(
            PaymentOption(
                "bank_transfer", "Bank transfer", "IBAN GB33 BUKB 2020 1555 5555 55"
            ),
            PaymentOption("card", "Card", "https://pay.example.com/morgan"),
        ),
    )


def one_invoice(offset: int = 3) -> list[InvoiceItem]:
    return [
        InvoiceItem(
            "INV-2026-014", Decimal("1200.00"), "USD", TODAY + timedelta(offset)
        )
    ]


def several_invoices(offset: int = 3) -> list[InvoiceItem]:
    due = TODAY + timedelta(offset)
    return one_invoice(offset) + [
        InvoiceItem("INV-2026-015", Decimal("750.00"), "USD", due, Decimal("250.00")),
        InvoiceItem("INV-2026-016", Decimal(120000), "JPY", due),
    ]


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    """An empty user template folder for one test to write into."""
    folder = tmp_path / "templates"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def no_overrides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty user template folder shared by the tests that write nothing, so
    that the real user config never leaks in and compiled templates are reused."""
    return tmp_path_factory.mktemp("no-overrides")


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize("stage", STAGES)
def test_shipped_template_renders_one_invoice(
    stage: str, language: str, no_overrides: Path
) -> None:
    context = make_context(one_invoice(DUE_OFFSETS[stage]))

    reminder = render_reminder(stage, language, context, no_overrides)

    assert "INV-2026-014" in reminder.subject
    assert "INV-2026-014" in reminder.body_text
    assert reminder.body_text.rstrip().endswith(SIGNATURE)
    assert reminder.body_html is None


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize("stage", STAGES)
def test_shipped_template_renders_several_invoices(
    stage: str, language: str, no_overrides: Path
) -> None:
    context = make_context(several_invoices(DUE_OFFSETS[stage]))

    body = render_reminder(stage, language, context, no_overrides).body_text

    for number in ("INV-2026-014", "INV-2026-015", "INV-2026-016"):
        assert number in body
    # The USD balances add up (1,200 + 500), and the yen amount stays apart.
    assert "$1,700.00" in body
    assert "120,000" in body
    assert "121,700" not in body


def test_english_formats_amount_and_date(no_overrides: Path) -> None:
    body = render_reminder(
        "gentle", "en", make_context(one_invoice()), no_overrides
    ).body_text

    assert "$1,200.00" in body
    assert "March 13, 2026" in body


def test_japanese_uses_ja_formatting(no_overrides: Path) -> None:
    invoices = [InvoiceItem("INV-2026-016", Decimal(120000), "JPY", date(2026, 3, 13))]

    reminder = render_reminder("gentle", "ja", make_context(invoices), no_overrides)

    # Babel 2.19 formats yen for ja with the full-width sign.
    assert "￥120,000" in reminder.body_text
    assert "2026年3月13日" in reminder.body_text


def test_variable_names_listed_for_errors() -> None:
    variables = template_variables("gentle", "en", make_context(one_invoice()))

    assert set(variables) == set(TEMPLATE_VARIABLES)


def test_undefined_variable_lists_known_names(tmp_path: Path) -> None:
    (tmp_path / "gentle.en.txt.j2").write_text(
        "Subject: Invoice {{ invoice_numbers[0] }}\n\nHello {{ contact }},\n",
        encoding="utf-8",
    )

    with pytest.raises(ConfigError) as caught:
        render_reminder("gentle", "en", make_context(one_invoice()), tmp_path)

    assert "'contact' is undefined" in str(caught.value)
    assert "contact_name" in str(caught.value)
    assert "gentle.en.txt.j2" in str(caught.value)


def test_japanese_names_default_payment_kinds(no_overrides: Path) -> None:
    body = render_reminder(
        "gentle", "ja", make_context(one_invoice()), no_overrides
    ).body_text

    # The default English label of a known kind is shown in Japanese; a label
    # the user wrote is shown as written.
    assert "・銀行振込：IBAN GB33" in body
    assert "Bank transfer" not in body
    assert "・Card：https://pay.example.com/morgan" in body


def test_japanese_follows_business_mail_conventions(no_overrides: Path) -> None:
    body = render_reminder(
        "early_late", "ja", make_context(one_invoice(-4)), no_overrides
    ).body_text

    assert body.startswith("Acme Widgets Ltd\nJane Smith 様\n")
    assert "いつもお世話になっております。" in body
    assert "何卒よろしくお願い申し上げます。" in body


def test_japanese_without_contact_uses_onchu(no_overrides: Path) -> None:
    context = make_context(one_invoice(), contact_name=None)

    body = render_reminder("gentle", "ja", context, no_overrides).body_text

    assert body.startswith("Acme Widgets Ltd 御中\n")


def test_english_without_contact_greets_team(no_overrides: Path) -> None:
    context = make_context(one_invoice(), contact_name=None)

    body = render_reminder("gentle", "en", context, no_overrides).body_text

    assert body.startswith("Dear Acme Widgets Ltd team,\n")


def test_only_late_late_says_urgent(no_overrides: Path) -> None:
    for stage in STAGES:
        reminder = render_reminder(
            stage, "en", make_context(one_invoice(-12)), no_overrides
        )
        text = (reminder.subject + reminder.body_text).lower()
        assert reminder.subject.startswith("URGENT") is (stage == "late_late"), stage
        assert ("urgent" in text) is (stage == "late_late"), stage


def test_partial_payment_shows_balance(no_overrides: Path) -> None:
    invoices = [
        InvoiceItem(
            "INV-7", Decimal("750.00"), "USD", TODAY - timedelta(4), Decimal("250.00")
        )
    ]

    body = render_reminder(
        "early_late", "en", make_context(invoices), no_overrides
    ).body_text

    assert "$500.00 outstanding of $750.00" in body
    assert "$250.00 received" in body


def test_totals_are_per_currency() -> None:
    variables = template_variables("gentle", "en", make_context(several_invoices()))

    totals = variables["totals"]

    assert totals == [
        {"currency": "USD", "amount": Decimal("1700.00"), "amount_text": "$1,700.00"},
        {"currency": "JPY", "amount": Decimal(120000), "amount_text": "¥120,000"},
    ]


def test_days_overdue_counts_calendar_days() -> None:
    variables = template_variables("late_late", "en", make_context(one_invoice(-12)))

    assert variables["days_overdue"] == 12
    assert variables["invoices"][0]["days_until_due"] == 0  # type: ignore[index]


def test_user_override_wins(user_dir: Path) -> None:
    (user_dir / "gentle.en.txt.j2").write_text(
        "Subject: Custom {{ invoice_numbers[0] }}\n\nHello {{ contact_name }}\n"
    )

    reminder = render_reminder("gentle", "en", make_context(one_invoice()), user_dir)

    assert reminder.subject == "Custom INV-2026-014"
    assert reminder.body_text == "Hello Jane Smith\n"


def test_user_partial_overrides_shipped_partial(user_dir: Path) -> None:
    shipped = (shipped_template_dir() / "_parts.en.txt.j2").read_text()
    (user_dir / "_parts.en.txt.j2").write_text(shipped.replace("Dear ", "Hello "))

    body = render_reminder(
        "gentle", "en", make_context(one_invoice()), user_dir
    ).body_text

    assert body.startswith("Hello Jane Smith,")


def test_missing_language_falls_back_to_english(no_overrides: Path) -> None:
    reminder = render_reminder(
        "gentle", "fr", make_context(one_invoice()), no_overrides
    )

    assert reminder.body_text.startswith("Dear Jane Smith,")
    assert "$1,200.00" in reminder.body_text
    assert "March 13, 2026" in reminder.body_text


def test_regional_language_keeps_its_formatting(no_overrides: Path) -> None:
    body = render_reminder(
        "gentle", "en-GB", make_context(one_invoice()), no_overrides
    ).body_text

    assert "13 March 2026" in body
    assert "US$1,200.00" in body


def test_unknown_language_is_config_error(no_overrides: Path) -> None:
    with pytest.raises(ConfigError, match="unknown language 'xx-nope'"):
        render_reminder("gentle", "xx-nope", make_context(one_invoice()), no_overrides)


def test_unknown_stage_is_config_error(no_overrides: Path) -> None:
    with pytest.raises(ConfigError, match="unknown reminder stage 'final'"):
        render_reminder("final", "en", make_context(one_invoice()), no_overrides)


def test_undefined_variable_names_file_and_line(user_dir: Path) -> None:
    path = user_dir / "gentle.en.txt.j2"
    path.write_text("Subject: Hi {{ invoice_numbers[0] }}\n\n{{ clent_name }}\n")

    with pytest.raises(ConfigError) as caught:
        render_reminder("gentle", "en", make_context(one_invoice()), user_dir)

    message = str(caught.value)
    assert f"{path}, line 3" in message
    assert "'clent_name' is undefined" in message


def test_syntax_error_names_file_and_line(user_dir: Path) -> None:
    path = user_dir / "gentle.en.txt.j2"
    path.write_text("Subject: Hi\n\n{% if contact_name %}\nDear {{ contact_name }\n")

    with pytest.raises(ConfigError) as caught:
        render_reminder("gentle", "en", make_context(one_invoice()), user_dir)

    assert f"{path}, line 4" in str(caught.value)


@pytest.mark.parametrize(
    "expression",
    [
        "client_name.__class__.__mro__",
        "invoices[0].amount.__class__.__subclasses__()",
        "payment_options.__class__.__init__.__globals__",
    ],
)
def test_sandbox_blocks_unsafe_attributes(user_dir: Path, expression: str) -> None:
    (user_dir / "gentle.en.txt.j2").write_text(
        f"Subject: x\n\n{{{{ {expression} }}}}\n"
    )

    with pytest.raises(ConfigError, match="unsafe"):
        render_reminder("gentle", "en", make_context(one_invoice()), user_dir)


def test_missing_subject_line_is_config_error(user_dir: Path) -> None:
    (user_dir / "gentle.en.txt.j2").write_text("Dear {{ contact_name }},\n")

    with pytest.raises(ConfigError, match="first line must be 'Subject: ...'"):
        render_reminder("gentle", "en", make_context(one_invoice()), user_dir)


def test_html_template_is_autoescaped(user_dir: Path) -> None:
    (user_dir / "gentle.en.html.j2").write_text("<p>Dear {{ client_name }}</p>\n")
    context = make_context(one_invoice())
    context = ReminderContext(**{**context.__dict__, "client_name": "Smith & <Sons>"})

    reminder = render_reminder("gentle", "en", context, user_dir)

    assert reminder.body_html == "<p>Dear Smith &amp; &lt;Sons&gt;</p>\n"


def test_context_rejects_unknown_currency() -> None:
    invoices = [InvoiceItem("INV-9", Decimal(10), "usd", TODAY)]

    with pytest.raises(InputError, match="invoice INV-9: unknown currency code 'usd'"):
        make_context(invoices)


def test_context_rejects_no_invoices() -> None:
    with pytest.raises(InputError, match="no invoices"):
        make_context([])


def test_signature_html_becomes_text() -> None:
    html = (
        '<div dir="ltr"><b>Alex Morgan</b><br>Morgan&nbsp;Consulting<br>'
        '<a href="https://morgan.example.com/">Website</a> | '
        '<a href="https://morgan.example.com">morgan.example.com</a>'
        "<style>p {color: red}</style></div>"
    )

    text = signature_to_text(html)

    assert text == (
        "Alex Morgan\nMorgan Consulting\n"
        "Website <https://morgan.example.com/> | morgan.example.com"
    )


def test_signature_prefers_gmail_then_config() -> None:
    assert choose_signature("<div>Alex</div>", "Config sig", "Alex M") == "Alex"
    assert choose_signature("<div> </div>", "Config sig", "Alex M") == "Config sig"
    assert choose_signature(None, None, "Alex M", "Morgan Consulting") == (
        "Alex M\nMorgan Consulting"
    )
