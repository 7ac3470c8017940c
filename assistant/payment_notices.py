"""Recognise payment notifications (Stripe, PayPal, Wise, a bank) that name an invoice.

A match is only a proposal: the caller shows it to the user, who confirms
before an invoice is marked paid. Sender addresses are easy to forge (phishing
mail often poses as a bank), so nothing here is proof of
payment.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from email.message import Message

from assistant.invoice_match import find_invoice_numbers
from assistant.mail_parse import ParsedMessage, as_parsed

logger = logging.getLogger(__name__)

# Sender domains of payment providers, matched on the domain and its subdomains.
PROVIDER_DOMAINS = {
    "stripe.com": "Stripe",
    "paypal.com": "PayPal",
    "paypal.de": "PayPal",
    "paypal.co.uk": "PayPal",
    "intl.paypal.com": "PayPal",
    "wise.com": "Wise",
    "transferwise.com": "Wise",
}
PAYMENT_PHRASES = re.compile(
    r"payment (received|of|from|confirmation|successful|completed)|you received|received a payment"
    r"|you've got money|has sent you|sent you \S+|paid (invoice|your)|invoice .{0,30}\bpaid"
    r"|incoming (payment|transfer)|money (is|has) arrived|has been credited|credited to"
    r"|transfer received|zahlungseingang|gutschrift|zahlung erhalten|paiement re[çc]u"
    r"|virement re[çc]u|pago recibido|transferencia (recibida|interbancaria)|入金|お振込|振込|着金",
    re.IGNORECASE,
)
BANK_WORDS = re.compile(
    r"\bbank\b|\bbanca\b|\bbanco\b|\bbanque\b|sparkasse|volksbank|銀行", re.IGNORECASE
)

# Payment notifications are short; only the start of a long body is scanned,
# which keeps a multi-megabyte message from costing seconds of regex work.
MAX_SCANNED_TEXT = 20_000

SYMBOLS = {"US$": "USD", "A$": "AUD", "C$": "CAD", "NZ$": "NZD", "$": "USD", "€": "EUR",
           "£": "GBP", "¥": "JPY", "円": "JPY", "CHF": "CHF", "kr": "SEK"}
CODES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK",
         "PLN", "CZK", "MXN", "BRL", "INR", "SGD", "HKD", "CNY")
_CURRENCY = (
    "(?P<{name}>"
    + "|".join(re.escape(s) for s in sorted(SYMBOLS, key=len, reverse=True) if s != "kr")
    + "|" + "|".join(CODES) + r"\b)"
)
_NUMBER = r"(?P<{name}>\d{{1,3}}(?:[., \u00a0\u202f']\d{{3}})+(?:[.,]\d{{1,2}})?|\d+(?:[.,]\d{{1,2}})?)"
AMOUNT_PATTERNS = [
    re.compile(_CURRENCY.format(name="before") + r"\s?" + _NUMBER.format(name="number")),
    re.compile(_NUMBER.format(name="number") + r"\s?" + _CURRENCY.format(name="after")),
]


@dataclass(frozen=True)
class PaymentNotice:
    """A proposed payment: who reported it, for which invoices, how much and when."""

    provider: str
    invoice_numbers: tuple[str, ...]
    amount: Decimal
    currency: str
    paid_on: date | None


def detect_payment_notice(
    value: bytes | Message | ParsedMessage, invoice_numbers: Iterable[str]
) -> PaymentNotice | None:
    """Return the payment a message reports for any of ``invoice_numbers``, or None.

    The message must come from a payment provider or a bank, state a payment,
    name at least one of the invoice numbers and give an amount with a currency.
    ``paid_on`` is the day (UTC) the notification was sent.
    """
    parsed = as_parsed(value)
    text = f"{parsed.subject}\n{parsed.body_text[:MAX_SCANNED_TEXT]}"
    provider = payment_provider(parsed, text)
    if provider is None or not PAYMENT_PHRASES.search(text):
        return None

    named = find_invoice_numbers(text, invoice_numbers)
    amount = parse_amount(text)
    if not named or amount is None:
        logger.debug("payment-like message from %s lacks an invoice number or amount", provider)
        return None
    return PaymentNotice(
        provider=provider,
        invoice_numbers=tuple(named),
        amount=amount[0],
        currency=amount[1],
        paid_on=parsed.date.date() if parsed.date else None,
    )


def payment_provider(parsed: ParsedMessage, text: str) -> str | None:
    """Name the provider by the sender's domain, or "bank (domain)" for bank mail."""
    sender = parsed.sender or ""
    domain = sender.rpartition("@")[2]
    for known, provider in PROVIDER_DOMAINS.items():
        if domain == known or domain.endswith("." + known):
            return provider
    display_names = " ".join(address.name for address in parsed.from_addresses)
    if BANK_WORDS.search(f"{display_names} {domain} {text}"):
        return f"bank ({domain})" if domain else "bank"
    return None


def parse_amount(text: str) -> tuple[Decimal, str] | None:
    """Return the first amount with a currency in ``text``, such as "€1,234.50" or "1.234,50 EUR"."""
    candidates = [match for pattern in AMOUNT_PATTERNS for match in pattern.finditer(text)]
    for match in sorted(candidates, key=lambda found: found.start()):
        amount = parse_number(match.group("number"))
        if amount is None:
            continue
        symbol = match.groupdict().get("before") or match.groupdict().get("after") or ""
        return amount, SYMBOLS.get(symbol, symbol)
    return None


def parse_number(text: str) -> Decimal | None:
    """Parse "1,200.00", "1.234,50", "1 234,50" or "1200" into a Decimal.

    With both "." and "," present the later one is the decimal mark. With one
    of them, it is a decimal mark when one or two digits follow its last
    occurrence, and a thousands separator when three do.
    """
    compact = re.sub(r"[\s\u00a0\u202f']", "", text)
    marks = [index for index, char in enumerate(compact) if char in ".,"]
    if marks and len(compact) - marks[-1] - 1 in (1, 2):
        decimal_mark = compact[marks[-1]]
        whole = re.sub(r"[.,]", "", compact[: marks[-1]])
        if decimal_mark in compact[: marks[-1]] and "." in compact and "," in compact:
            return None  # "1.234.56,7" style mixtures are not amounts
        normalized = f"{whole}.{compact[marks[-1] + 1:]}"
    else:
        normalized = re.sub(r"[.,]", "", compact)
    try:
        return Decimal(normalized)
    except InvalidOperation:
        return None
