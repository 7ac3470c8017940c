"""Parsing and formatting amounts: Decimal only, with the currency they name."""

from __future__ import annotations

from decimal import Decimal

import pytest

from assistant.errors import InputError
from assistant.money import (
    format_amount,
    parse_amount,
    to_currency_precision,
    validate_currency,
)


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("1200", "1200", None),
        ("1200.00", "1200.00", None),
        ("1,234.50", "1234.50", None),
        ("1.234,50 €", "1234.50", "EUR"),
        ("¥120,000", "120000", "JPY"),
        ("$1,200", "1200", None),
        ("EUR 1200", "1200", "EUR"),
        ("1200 usd", "1200", "USD"),
        ("£3,600.00", "3600.00", "GBP"),
        ("CA$ 10.50", "10.50", "CAD"),
        ("CN¥88", "88", "CNY"),
        ("1 234,56", "1234.56", None),
        ("1\u202f234,56\u00a0€", "1234.56", "EUR"),
        ("1'234.50", "1234.50", None),
        ("12,34,567.00", "1234567.00", None),
        ("1,234,567", "1234567", None),
        ("1.234.567", "1234567", None),
        ("1,5", "1.5", None),
        ("(75.00)", "-75.00", None),
        ("-12.50", "-12.50", None),
        ("€-5", "-5", "EUR"),
    ],
)
def test_parse_amount_table(text: str, amount: str, currency: str | None) -> None:
    parsed = parse_amount(text)
    assert isinstance(parsed.amount, Decimal)
    assert parsed.amount == Decimal(amount)
    assert str(parsed.amount) == amount
    assert parsed.currency == currency


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "missing amount"),
        ("-", "missing amount"),
        ("  ", "missing amount"),
        ("€", "missing amount"),
        ("1.234", "ambiguous amount"),
        ("1,23,4", "irregularly"),
        ("12,3456.00", "irregularly"),
        ("1.2.3,4,5", "irregularly"),
        ("abc", "invalid amount"),
        ("12 apples", "invalid amount"),
    ],
)
def test_parse_amount_rejects(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_amount(text)


def test_dollar_sign_is_kept_but_not_resolved() -> None:
    parsed = parse_amount("$1,200.00")
    assert parsed.currency is None
    assert parsed.symbol == "$"


def test_validate_currency_normalizes_and_rejects() -> None:
    assert validate_currency(" eur ") == "EUR"
    with pytest.raises(InputError, match="'EURO'.*ISO 4217"):
        validate_currency("EURO")


def test_currency_precision_pads_and_rejects_extra_digits() -> None:
    assert str(to_currency_precision(Decimal("1200"), "EUR")) == "1200.00"
    assert str(to_currency_precision(Decimal("120000"), "JPY")) == "120000"
    with pytest.raises(InputError, match="more decimals than JPY"):
        to_currency_precision(Decimal("1.5"), "JPY")
    with pytest.raises(InputError, match="more decimals than EUR"):
        to_currency_precision(Decimal("12.345"), "EUR")


def test_format_amount_uses_language() -> None:
    assert format_amount(Decimal("1234.5"), "EUR", "de") == "1.234,50\xa0€"
    assert format_amount(Decimal("1234.5"), "USD", "en") == "$1,234.50"
    assert format_amount(Decimal("120000"), "JPY", "ja") == "￥120,000"
