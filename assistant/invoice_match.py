"""Find invoice numbers in text as whole tokens.

An invoice number matches only where it stands as a token of its own, compared
case-insensitively, with full-width forms read as ASCII (``ＩＮＶ－１０`` is
``INV-10``). The rules at each end of a match:

- A letter or digit next to the number joins it: ``AINV-10`` and ``INV-100``
  do not contain ``INV-10``.
- ``-`` and ``/`` join when a letter or digit is on their far side, so
  ``INV-10-A``, ``2026-1042-7`` and ``2026/1042`` do not contain ``INV-10`` or
  ``1042``. Alone they separate: ``INV-10-`` and ``Total -1042`` still match.
- ``.`` and ``,`` join only between digits, so ``1042.5`` and ``1,042`` hide
  ``1042`` and ``42``, while ``INV-10.pdf``, ``INV-10.`` and ``INV-10,`` match.
- ``_`` separates, because file names use it as a space: ``Rechnung_INV-10.pdf``
  and ``INV-10_signed.pdf`` both contain ``INV-10``.
- Chinese, Japanese and Korean characters separate, because those scripts
  write no spaces: ``請求書INV-10を送付`` and ``第1042号`` match.
- Whitespace inside a number matches any run of whitespace.

NOTE: letters of other scripts written without spaces (Thai, Lao, Khmer) join
like Latin letters, so a number written flush against them is not found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant.errors import InputError

# A character that joins a number: a letter or digit outside the CJK blocks
# (CJK radicals to Yi, Hangul syllables, CJK compatibility ideographs, the
# supplementary ideographic planes, and the half-width kana of U+FF61-FFDC).
_JOINING = (
    r"[^\W_\u2e80-\ua4cf\uac00-\ud7af\uf900-\ufaff\uff61-\uffdc"
    r"\U00020000-\U0003ffff]"
)

# Full-width ASCII forms (U+FF01-FF5E) and the ideographic space, as typed by
# Japanese input methods. Full NFKC would go further and turn "№" into "No".
_FULLWIDTH_TO_ASCII = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FULLWIDTH_TO_ASCII[0x3000] = ord(" ")

_LEFT_BOUNDARY = (
    rf"(?<!{_JOINING})"
    rf"(?<!{_JOINING}[-/])"
    r"(?:(?<!\d[.,])|(?!\d))"
)
_RIGHT_BOUNDARY = (
    rf"(?!{_JOINING})"
    rf"(?![-/]{_JOINING})"
    r"(?:(?<!\d)|(?![.,]\d))"
)


def normalize_invoice_number(number: str) -> str:
    """Return the form used for comparison: ASCII width, case-folded, spaces collapsed."""
    normalized = " ".join(_normalize(number).split())
    if not normalized:
        raise InputError(f"invalid invoice number {number!r}: it is empty")
    return normalized


def contains_invoice_number(text: str, number: str) -> bool:
    """Return True when ``number`` occurs in ``text`` as a whole token."""
    pattern = re.compile(
        _LEFT_BOUNDARY + _number_pattern(normalize_invoice_number(number)) + _RIGHT_BOUNDARY
    )
    return pattern.search(_normalize(text)) is not None


def find_invoice_numbers(text: str, candidates: Iterable[str]) -> list[str]:
    """Return the candidates that occur in ``text`` as whole tokens, in candidate order.

    One compiled alternation scans the text once, so hundreds of candidates
    cost about as much as one.
    """
    originals: dict[str, list[str]] = {}
    for candidate in candidates:
        originals.setdefault(normalize_invoice_number(candidate), []).append(candidate)
    if not originals:
        return []

    normalized_text = _normalize(text)
    found = _scan(normalized_text, list(originals))
    # At one starting position the scan reports only the longest candidate
    # that matches there, so a prefix of a found candidate (``INV`` of
    # ``INV 10``) may have been hidden and is checked on its own.
    hidden = {
        number
        for number in originals
        if number not in found and _is_prefix_of_any(number, found)
    }
    for number in hidden:
        if contains_invoice_number(normalized_text, number):
            found.add(number)

    return [
        original
        for number, group in originals.items()
        if number in found
        for original in group
    ]


def _scan(text: str, numbers: list[str]) -> set[str]:
    by_pattern_order = sorted(numbers, key=len, reverse=True)
    alternation = "|".join(_number_pattern(number) for number in by_pattern_order)
    # The lookahead makes matches zero-width, so overlapping ones are all seen.
    pattern = re.compile(rf"{_LEFT_BOUNDARY}(?=({alternation}){_RIGHT_BOUNDARY})")
    found: set[str] = set()
    for match in pattern.finditer(text):
        found.add(" ".join(match.group(1).split()))
    return found


def _is_prefix_of_any(number: str, numbers: Iterable[str]) -> bool:
    return any(other != number and other.startswith(number) for other in numbers)


def _number_pattern(normalized_number: str) -> str:
    return r"\s+".join(re.escape(word) for word in normalized_number.split(" "))


def _normalize(text: str) -> str:
    return text.translate(_FULLWIDTH_TO_ASCII).casefold()
