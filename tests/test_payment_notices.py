"""Payment notifications from providers and banks, proposed against open invoices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest

from assistant.payment_notices import (
    PaymentNotice,
    detect_payment_notice,
    parse_amount,
    parse_number,
)

OPEN_INVOICES = ["INV-1042", "INV-1043", "2026/007", "RE-2026-15"]


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("$1,200.00", Decimal("1200.00"), "USD"),
        ("1.234,50 EUR", Decimal("1234.50"), "EUR"),
        ("€1,234.50", Decimal("1234.50"), "EUR"),
        ("USD 1,200", Decimal("1200"), "USD"),
        ("Total: 1 234,50 €", Decimal("1234.50"), "EUR"),
        ("£12.5 received", Decimal("12.5"), "GBP"),
        ("¥120,000", Decimal("120000"), "JPY"),
        ("120,000円", Decimal("120000"), "JPY"),
        ("CHF 1'250.00", Decimal("1250.00"), "CHF"),
        ("US$ 5", Decimal("5"), "USD"),
        ("EUR 99 for INV 2026", Decimal("99"), "EUR"),
    ],
)
def test_parse_amount(text: str, amount: Decimal, currency: str) -> None:
    assert parse_amount(text) == (amount, currency)


@pytest.mark.parametrize("text", ["no money here", "Invoice 1042", "1,200.00 apples"])
def test_parse_amount_without_currency(text: str) -> None:
    assert parse_amount(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,200", "1200"),
        ("1.200", "1200"),
        ("1,20", "1.20"),
        ("1.234.567,89", "1234567.89"),
        ("1,234,567.89", "1234567.89"),
        ("12", "12"),
        ("0.5", "0.5"),
    ],
)
def test_parse_number(text: str, expected: str) -> None:
    assert parse_number(text) == Decimal(expected)


def make_notice(sender: str, subject: str, body: str, *, html: bool = False) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "me@consultant.example"
    message["Subject"] = subject
    message["Date"] = "Tue, 10 Mar 2026 23:30:00 -0800"
    message["Message-ID"] = "<notice-1@provider.example>"
    if html:
        message.set_content(body, subtype="html")
    else:
        message.set_content(body)
    return message.as_bytes()


def test_stripe_payment() -> None:
    raw = make_notice(
        "Stripe <notifications@stripe.com>",
        "Payment received from Acme GmbH",
        "You received a payment of €1,234.50 for invoice INV-1042.\n",
    )
    assert detect_payment_notice(raw, OPEN_INVOICES) == PaymentNotice(
        provider="Stripe",
        invoice_numbers=("INV-1042",),
        amount=Decimal("1234.50"),
        currency="EUR",
        paid_on=date(2026, 3, 11),  # 23:30 at -08:00 is the next day in UTC
    )


def test_paypal_html_payment() -> None:
    raw = make_notice(
        "PayPal <service@intl.paypal.com>",
        "You've got money",
        "<html><body><p>Acme Inc. sent you <b>$1,200.00 USD</b></p>"
        "<p>Note: invoice 2026/007</p></body></html>",
        html=True,
    )
    notice = detect_payment_notice(raw, OPEN_INVOICES)
    assert notice is not None
    assert notice.provider == "PayPal"
    assert notice.invoice_numbers == ("2026/007",)
    assert notice.amount == Decimal("1200.00")
    assert notice.currency == "USD"


def test_wise_payment() -> None:
    raw = make_notice(
        "Wise <noreply@wise.com>",
        "You received 1.234,50 EUR",
        "Money has arrived from ACME SARL. Reference: RE-2026-15, INV-1043\n",
    )
    notice = detect_payment_notice(raw, OPEN_INVOICES)
    assert notice is not None
    assert notice.provider == "Wise"
    assert notice.invoice_numbers == ("INV-1043", "RE-2026-15")


def test_german_bank_credit() -> None:
    raw = make_notice(
        "Sparkasse <noreply@sparkasse-example.de>",
        "Zahlungseingang auf Ihrem Konto",
        "Gutschrift: 2.380,00 EUR\nVerwendungszweck: Rechnung INV-1042\n",
    )
    notice = detect_payment_notice(raw, OPEN_INVOICES)
    assert notice is not None
    assert notice.provider == "bank (sparkasse-example.de)"
    assert notice.amount == Decimal("2380.00")


def test_japanese_bank_transfer() -> None:
    raw = make_notice(
        "みずほ銀行 <info@bank.example.jp>",
        "入金のお知らせ",
        "お振込がありました。金額：120,000円　依頼人：カブシキガイシャ　INV-1043\n",
    )
    notice = detect_payment_notice(raw, OPEN_INVOICES)
    assert notice is not None
    assert notice.amount == Decimal("120000")
    assert notice.currency == "JPY"
    assert notice.invoice_numbers == ("INV-1043",)


def test_payment_for_unknown_invoice_ignored() -> None:
    raw = make_notice(
        "Stripe <notifications@stripe.com>",
        "Payment received",
        "You received a payment of $50.00 for invoice INV-9999.\n",
    )
    assert detect_payment_notice(raw, OPEN_INVOICES) is None


def test_client_mail_mentioning_payment_ignored() -> None:
    raw = make_notice(
        "Client <client@example.org>",
        "Re: INV-1042",
        "We paid invoice INV-1042 ($1,200.00) yesterday.\n",
    )
    assert detect_payment_notice(raw, OPEN_INVOICES) is None


def test_invoice_from_provider_is_not_payment() -> None:
    raw = make_notice(
        "Stripe <invoice@stripe.com>",
        "Your Stripe invoice",
        "Invoice INV-1042 for $20.00 is due on April 1.\n",
    )
    assert detect_payment_notice(raw, OPEN_INVOICES) is None


def test_corpus_bank_transfer_lacks_amount(corpus_dir: Path) -> None:
    # A phishing sample posing as a bank transfer notice: its body is "Test",
    # with no amount and no invoice number, so nothing is proposed.
    raw = (corpus_dir / "payments" / "mailparser_mail_test_17.eml").read_bytes()
    assert detect_payment_notice(raw, OPEN_INVOICES) is None


def test_corpus_bank_transfer_names_bank(corpus_dir: Path) -> None:
    from assistant.mail_parse import parse_message
    from assistant.payment_notices import payment_provider

    parsed = parse_message(
        (corpus_dir / "payments" / "mailparser_mail_test_17.eml").read_bytes()
    )
    assert payment_provider(parsed, parsed.subject) == "bank (bbva.mx)"


def test_no_corpus_message_is_a_payment(corpus_dir: Path) -> None:
    for folder in ("mime", "replies", "bounces", "payments"):
        for path in sorted((corpus_dir / folder).iterdir()):
            assert detect_payment_notice(path.read_bytes(), OPEN_INVOICES) is None, (
                path.name
            )
