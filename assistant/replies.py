"""Classify an incoming message in an invoice thread: a person's reply, an automatic one, or other.

An automatic reply (out of office, vacation notice, autoresponder) does not
count as the client's answer, so reminders go on, though perhaps after the
return date it states. A delivery failure, read receipt or abuse report is
"other". Everything else is a human reply, whose new text (quotes removed)
is kept for the user to read.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import Message

from mailparser_reply import EmailReplyParser  # type: ignore[import-untyped]

from assistant.bounces import (
    detect_delivery_failure,
    is_feedback_report,
    is_read_receipt,
)
from assistant.mail_parse import ParsedMessage, as_parsed

logger = logging.getLogger(__name__)

# Languages whose reply headers ("On ... wrote:", "Am ... schrieb", "差出人:")
# mail-parser-reply 1.36 recognises; English is always included.
REPLY_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pl", "sv", "da", "cs", "ja", "ko", "zh")

OUT_OF_OFFICE_SUBJECT = re.compile(
    r"out of (the )?office|automatic reply|auto[- ]?reply|autoreply|auto[- ]?response"
    r"|^\s*auto:|away from (the )?office|on vacation|on holiday|on leave"
    r"|abwesenheit|automatische antwort|r[ée]ponse automatique|absence"
    r"|respuesta autom[áa]tica|fuera de la oficina|risposta automatica"
    r"|automatisch antwoord|afwezig|automatyczna odpowied[źz]|autosvar|fr[åa]nvaro"
    r"|不在|自動返信|自動応答|自動送信|休暇",
    re.IGNORECASE,
)
# RFC 3834 section 5.1: any Auto-Submitted value except "no" marks an
# automatic message. Precedence is the older convention (RFC 3834 section 2).
AUTOMATIC_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk"})
AUTOMATIC_FLAG_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder")
QUOTE_ATTRIBUTION = re.compile(
    r"(wrote|schrieb|a écrit|escribió|ha scritto|schreef|napisał|написал|skrev)\s*:\s*$"
    r"|^-{2,}\s*original message\s*-{2,}",
    re.IGNORECASE,
)


class ReplyKind(enum.Enum):
    HUMAN = "human"
    AUTOMATIC = "automatic"
    OTHER = "other"


@dataclass(frozen=True)
class ReplyClassification:
    """The kind of an incoming message, the reason for it, and its content.

    ``return_date`` is the return date an automatic reply states, if any.
    ``new_text`` is the body of a human reply without quoted text, and "" for
    the other kinds.
    """

    kind: ReplyKind
    reason: str
    return_date: date | None = None
    new_text: str = ""


def classify_reply(value: bytes | Message | ParsedMessage) -> ReplyClassification:
    """Classify an incoming message as a human reply, an automatic reply, or other."""
    parsed = as_parsed(value)
    other = _other_reason(parsed)
    if other:
        return ReplyClassification(ReplyKind.OTHER, other)

    automatic = automatic_reply_reason(parsed)
    if automatic:
        text = f"{parsed.subject}\n{parsed.body_text}"
        return ReplyClassification(
            ReplyKind.AUTOMATIC,
            automatic,
            return_date=parse_return_date(text, parsed.date),
        )
    return ReplyClassification(
        ReplyKind.HUMAN, "no automatic-reply marker", new_text=strip_quoted_text(parsed.body_text)
    )


def automatic_reply_reason(parsed: ParsedMessage) -> str | None:
    """Return the reason a message is an automatic reply, or None when no marker is present."""
    auto_submitted = (parsed.header("Auto-Submitted") or "").strip().lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto_submitted}"

    for name in AUTOMATIC_FLAG_HEADERS:
        value = parsed.header(name)
        if value is not None and value.strip().lower() not in {"no", "false", "0"}:
            return f"{name} header"

    precedence = (parsed.header("Precedence") or "").strip().lower()
    if precedence in AUTOMATIC_PRECEDENCE:
        return f"Precedence: {precedence}"

    if OUT_OF_OFFICE_SUBJECT.search(parsed.subject):
        return f"out-of-office subject {parsed.subject!r}"

    # Exchange sets X-Auto-Response-Suppress on its own automatic replies, but
    # Outlook also sets it on meeting requests and some ordinary mail, so it
    # counts only with the Exchange inbox-rule loop marker of an OOF reply.
    suppress = (parsed.header("X-Auto-Response-Suppress") or "").lower()
    if suppress and parsed.header("X-MS-Exchange-Inbox-Rules-Loop"):
        return "Exchange automatic reply headers"
    return None


def strip_quoted_text(body: str) -> str:
    """Return the new text of a reply, without quoted earlier messages.

    mail-parser-reply cuts at the first reply header it recognises ("On ... wrote:",
    "-----Original Message-----", Outlook's "From:" block). Lines quoted with
    ">" and the attribution line before them are then removed as well, which
    covers replies written below or between quotes and attribution lines in
    languages the library lacks.
    """
    if not body.strip():
        return ""
    try:
        latest = EmailReplyParser(languages=list(REPLY_LANGUAGES)).parse_reply(body)
    except (re.error, ValueError, IndexError) as exc:
        logger.warning("reply parser failed, keeping the whole body: %s", type(exc).__name__)
        latest = None
    return _drop_quoted_lines(latest if latest is not None else body)


def _drop_quoted_lines(text: str) -> str:
    lines = text.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if line.lstrip().startswith(">"):
            continue
        if QUOTE_ATTRIBUTION.search(line.strip()) and _quote_follows(lines, index):
            _drop_attribution_start(kept)
            continue
        kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _quote_follows(lines: list[str], index: int) -> bool:
    for line in lines[index + 1 :]:
        if line.strip():
            return line.lstrip().startswith(">")
    return True


def _drop_attribution_start(kept: list[str]) -> None:
    # An attribution wrapped over two lines ("02.04.2012 ... <\nbob@...> wrote:")
    # leaves its first half behind; it ends in "<" or a comma.
    while kept and kept[-1].rstrip().endswith(("<", ",")):
        kept.pop()


def _other_reason(parsed: ParsedMessage) -> str | None:
    if is_read_receipt(parsed.message):
        return "read receipt"
    if is_feedback_report(parsed.message):
        return "abuse feedback report"
    if detect_delivery_failure(parsed) is not None:
        return "delivery failure notice"
    return None


MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
WEEKDAYS = {
    name: number
    for number, names in enumerate(
        [("monday", "mon"), ("tuesday", "tue", "tues"), ("wednesday", "wed"),
         ("thursday", "thu", "thurs"), ("friday", "fri"), ("saturday", "sat"),
         ("sunday", "sun")]
    )
    for name in names
}
_MONTH = r"(?P<month_name>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAY = r"(?P<weekday>" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r")\.?,?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<year>\d{4}))?"
DATE_PATTERNS = [
    # 2026-03-12
    re.compile(r"\b(?P<iso_year>\d{4})-(?P<iso_month>\d{2})-(?P<iso_day>\d{2})\b"),
    # 2026年3月12日, 3月12日
    re.compile(r"(?:(?P<year>\d{4})年)?(?P<month>\d{1,2})月(?P<day>\d{1,2})日"),
    # Monday 9 March 2026, 12 March, 12th of March
    re.compile(rf"\b(?:{_WEEKDAY}\s+)?{_DAY}(?:\s+of)?\s+{_MONTH}{_YEAR}\b", re.IGNORECASE),
    # March 12, Monday, March 12th, 2026
    re.compile(rf"\b(?:{_WEEKDAY}\s+)?{_MONTH}\s+{_DAY}{_YEAR}\b", re.IGNORECASE),
    # 12/03, 12.03.2026, 3/12/26
    re.compile(
        r"(?<![\d/.])(?P<first>\d{1,2})[/.](?P<second>\d{1,2})"
        r"(?:[/.](?P<numeric_year>\d{4}|\d{2}))?(?![\d/]|\.\d)"
    ),
    # Monday (the next one after the message date)
    re.compile(rf"\b{_WEEKDAY}(?!\s+\d)", re.IGNORECASE),
]
RETURN_KEYWORDS = re.compile(
    r"\b(back|return|returning|returns|until|till|through|in the office|reachable)\b"
    r"|\bzurück|\bab dem|\bbis\b|\bretour|\bjusqu|\bvuelta|\bhasta\b"
    r"|戻り|戻ります|復帰|出社|まで",
    re.IGNORECASE,
)
# Japanese states the keyword after the date, maybe after a weekday in
# brackets: "3月12日に戻ります", "3月16日(月)まで不在".
JAPANESE_RETURN_AFTER = re.compile(
    r"\s*(?:[（(][^)）]{1,4}[)）])?\s*(?:まで|(?:に|から|より)?\s*(?:戻|復帰|出社))"
)
# How far before a date its return keyword may stand, in characters.
KEYWORD_WINDOW = 40


def parse_return_date(text: str, sent: datetime | None) -> date | None:
    """Find the return date an automatic reply states, relative to the day it was sent.

    Only a date that follows a return keyword ("back", "returning", "until",
    "戻ります", "まで", ...) within a few words counts, or that a Japanese
    keyword directly follows ("3月12日に戻ります"). A date without a year takes
    the first such day on or after the sending day. A numeric day and month
    such as 12/03 is read as whichever of 12 March and 3 December comes first
    after the sending day, since absences are short. Returns None when no date
    is found or ``sent`` is unknown and the date has no year.
    """
    reference = sent.date() if sent is not None else None
    for pattern in DATE_PATTERNS:
        for match in pattern.finditer(text):
            if not _near_keyword(text, match):
                continue
            found = _resolve(match, reference)
            if found is not None:
                return found
    return None


def _near_keyword(text: str, match: re.Match[str]) -> bool:
    before = text[max(0, match.start() - KEYWORD_WINDOW) : match.start()]
    after = text[match.end() : match.end() + 16]
    return bool(RETURN_KEYWORDS.search(before)) or bool(JAPANESE_RETURN_AFTER.match(after))


def _resolve(match: re.Match[str], reference: date | None) -> date | None:
    groups = {key: value for key, value in match.groupdict().items() if value}
    if "iso_year" in groups:
        return _safe_date(int(groups["iso_year"]), int(groups["iso_month"]), int(groups["iso_day"]))
    if "first" in groups:
        return _resolve_numeric(groups, reference)
    if "day" in groups:
        month = int(groups["month"]) if "month" in groups else MONTHS[groups["month_name"].lower()]
        year = int(groups["year"]) if "year" in groups else None
        return _with_year(year, month, int(groups["day"]), reference)
    if "weekday" in groups and reference is not None:
        ahead = (WEEKDAYS[groups["weekday"].lower().rstrip(".,")] - reference.weekday()) % 7
        return reference + timedelta(days=ahead or 7)
    return None


def _resolve_numeric(groups: dict[str, str], reference: date | None) -> date | None:
    first, second = int(groups["first"]), int(groups["second"])
    year = _full_year(groups.get("numeric_year"))
    candidates = [
        found
        for found in (
            _with_year(year, second, first, reference),  # day/month
            _with_year(year, first, second, reference),  # month/day
        )
        if found is not None
    ]
    if not candidates:
        return None
    if reference is None:
        return candidates[0]
    return min(candidates, key=lambda found: abs((found - reference).days))


def _with_year(year: int | None, month: int, day: int, reference: date | None) -> date | None:
    if year is not None:
        return _safe_date(year, month, day)
    if reference is None:
        return None
    found = _safe_date(reference.year, month, day)
    if found is not None and found < reference:
        found = _safe_date(reference.year + 1, month, day)
    return found


def _full_year(text: str | None) -> int | None:
    if text is None:
        return None
    year = int(text)
    return year + 2000 if year < 100 else year


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
