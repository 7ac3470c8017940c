"""Amounts of money: parsing what invoices and exports contain, and formatting.

Every amount is a ``decimal.Decimal``; a float never touches money. Parsing
accepts the forms found in accounting exports (``1,234.50``, ``1.234,50 €``,
``¥120,000``, ``$1,200``, ``(75.00)``) and rejects blanks, dashes and any
grouping it cannot read one way only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel.core import Locale, UnknownLocaleError
from babel.numbers import (
    format_currency,
    get_currency_precision,
    get_currency_symbol,
    list_currencies,
)

from assistant.errors import InputError

# "$" and "kr" each stand for several currencies, so they never decide one.
AMBIGUOUS_SYMBOLS: dict[str, tuple[str, ...]] = {
    "$": ("USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"),
    "kr": ("SEK", "NOK", "DKK", "ISK"),
    "kr.": ("DKK", "ISK"),
}

# Grouping marks besides "," and ".": apostrophe (de-CH), space, no-break
# space and narrow no-break space (fr-FR in CLDR).
_SPACES = " \u00a0\u202f"
_GROUPING_ONLY = "'\u2019" + _SPACES
_NUMBER = re.compile(r"^[0-9][0-9.,'\u2019 \u00a0\u202f]*$")


@dataclass(frozen=True)
class ParsedAmount:
    """An amount read from text, with the currency its symbol or code named."""

    amount: Decimal
    currency: str | None
    symbol: str | None = None


def known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def validate_currency(code: str) -> str:
    """Return ``code`` upper-cased if it is an ISO 4217 code Babel knows."""
    normalized = code.strip().upper()
    if normalized not in known_currencies():
        raise InputError(
            f"unknown currency {code!r}; use an ISO 4217 code such as EUR, USD or JPY"
        )
    return normalized


def _symbol_map() -> dict[str, str]:
    # Babel's English symbols are unique apart from "$" (USD), which is
    # ambiguous in practice and handled by AMBIGUOUS_SYMBOLS instead.
    symbols: dict[str, str] = {"US$": "USD", "C$": "CAD", "AU$": "AUD", "S$": "SGD"}
    for code in list_currencies():
        symbol = get_currency_symbol(code, locale="en")
        if symbol != code and symbol not in AMBIGUOUS_SYMBOLS and code != "XXX":
            symbols[symbol] = code
    return symbols


_SYMBOLS = _symbol_map()
# Longest first, so "CA$" wins over "$" and "CN¥" over "¥".
_MARKS = sorted([*_SYMBOLS, *AMBIGUOUS_SYMBOLS], key=len, reverse=True)


def _split_currency(text: str) -> tuple[str, str | None, str | None]:
    """Strip one currency code or symbol from either end of ``text``."""
    stripped = text.strip(_SPACES)
    for end in ("start", "end"):
        code = stripped[:3] if end == "start" else stripped[-3:]
        if len(stripped) > 3 and code.isalpha() and code.upper() in known_currencies():
            rest = stripped[3:] if end == "start" else stripped[:-3]
            return rest.strip(_SPACES), code.upper(), code
        for mark in _MARKS:
            if end == "start" and stripped.startswith(mark):
                rest = stripped[len(mark) :]
            elif end == "end" and stripped.endswith(mark):
                rest = stripped[: -len(mark)]
            else:
                continue
            return rest.strip(_SPACES), _SYMBOLS.get(mark), mark
    return stripped, None, None


def _split_sign(text: str) -> tuple[str, bool]:
    if text.startswith("(") and text.endswith(")"):
        return text[1:-1].strip(_SPACES), True
    for minus in ("-", "\u2212"):
        if text.startswith(minus):
            return text[1:].strip(_SPACES), True
        if text.endswith(minus):
            return text[:-1].strip(_SPACES), True
    return text, False


def parse_amount(text: str) -> ParsedAmount:
    """Parse an amount such as ``1.234,50 €`` into a Decimal and its currency.

    ``currency`` is None when the text names none, or only an ambiguous
    symbol such as ``$``, which ``symbol`` then keeps for the caller to resolve.
    """
    original = text
    body, sign_first = _split_sign(text.strip(_SPACES))
    body, currency, symbol = _split_currency(body)
    body, sign_after = _split_sign(body)
    if not body or body in {"-", "\u2013", "\u2014"}:
        raise InputError(f"missing amount {original!r}; write a number such as 1200.00")
    if not _NUMBER.match(body):
        raise InputError(
            f"invalid amount {original!r}; write a number such as 1200.00, "
            "optionally with a currency code or symbol"
        )
    value = Decimal(_normalize_digits(body, original))
    if sign_first or sign_after:
        value = -value
    return ParsedAmount(value, currency, symbol)


def _normalize_digits(body: str, original: str) -> str:
    """Turn grouped digits into plain ``1234.50`` text, or raise if unclear."""
    for mark in _GROUPING_ONLY:
        body = body.replace(mark, "")
    commas, dots = body.count(","), body.count(".")
    if not commas and not dots:
        return body

    if commas and dots:
        decimal_mark: str | None = "," if body.rfind(",") > body.rfind(".") else "."
    else:
        decimal_mark = _lone_mark_role(body, "," if commas else ".", original)
    if decimal_mark is None:
        group_mark = "," if commas else "."
        whole, fraction = body, ""
    else:
        group_mark = "." if decimal_mark == "," else ","
        whole, _, fraction = body.rpartition(decimal_mark)
        if decimal_mark in whole or group_mark in fraction:
            raise _unclear(original)

    _check_grouping(whole, group_mark, original)
    digits = whole.replace(group_mark, "")
    return f"{digits}.{fraction}" if fraction else digits


def _lone_mark_role(body: str, mark: str, original: str) -> str | None:
    """Decide whether the only kind of separator in ``body`` is decimal or grouping.

    Returns the decimal mark, or None when the mark groups thousands.
    """
    if body.count(mark) > 1:
        return None
    fraction = body.rsplit(mark, 1)[1]
    if len(fraction) != 3:
        return mark
    if mark == ",":
        # "1,200" and "$1,200" are thousands in every export we read.
        return None
    # "1.234" is 1234 in de-DE and 1.234 in en-US.
    raise InputError(
        f"ambiguous amount {original!r}: the dot may group thousands or mark "
        "decimals; write 1234 or 1234.00, or 1.234,00 for the German form"
    )


def _check_grouping(whole: str, mark: str, original: str) -> None:
    groups = whole.split(mark)
    if len(groups) == 1:
        return
    head, middle, last = groups[0], groups[1:-1], groups[-1]
    thousands = all(len(g) == 3 for g in middle)
    # Indian grouping (en-IN): 12,34,567 puts pairs before the last three.
    lakhs = all(len(g) == 2 for g in middle)
    if not 1 <= len(head) <= 3 or len(last) != 3 or not (thousands or lakhs):
        raise _unclear(original)


def _unclear(original: str) -> InputError:
    return InputError(
        f"invalid amount {original!r}: its separators group digits irregularly; "
        "write a plain number such as 1234.50"
    )


def to_currency_precision(amount: Decimal, currency: str) -> Decimal:
    """Return ``amount`` with the currency's number of decimals, such as 2 for EUR.

    Raises InputError when that would drop non-zero digits (``12.345 EUR``).
    """
    places = get_currency_precision(currency)
    try:
        quantized = amount.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation as exc:
        raise InputError(f"amount {amount} {currency} is too large") from exc
    if quantized != amount:
        raise InputError(
            f"amount {amount} has more decimals than {currency} uses ({places}); "
            "check the amount or the currency"
        )
    return quantized


def parse_decimal(text: str) -> Decimal:
    """Parse plain stored text such as ``1200.00``; stored money is never grouped."""
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise InputError(
            f"invalid amount {text!r}; write a number such as 1200.00"
        ) from exc
    if not value.is_finite():
        raise InputError(f"invalid amount {text!r}; write a number such as 1200.00")
    return value


def format_amount(amount: Decimal, currency: str, language: str | None = None) -> str:
    """Format ``amount`` for a reader of ``language`` (BCP 47), e.g. ``1.200,00 €``."""
    locale_tag = (language or "en").replace("-", "_")
    try:
        locale = Locale.parse(locale_tag)
    except (UnknownLocaleError, ValueError):
        locale = Locale.parse("en")
    return format_currency(amount, currency, locale=locale)
