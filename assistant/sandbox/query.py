"""Gmail search (the ``q`` parameter) compiled to SQL over the sandbox schema.

Three steps, each testable alone (the first two live in ``query_syntax``):

1. ``tokenize`` splits the text into tokens (words, quoted phrases,
   ``operator:value`` pairs, ``OR``, ``|``, ``-``, parentheses and braces).
2. ``parse`` turns the tokens into an AST of ``And``, ``Or``, ``Not`` and
   ``Term``. It covers the syntax and the operator names, not storage.
3. ``compile_query`` gives each ``Term`` its meaning (labels, addresses,
   dates, sizes, full-text words) and writes one SQL condition over the alias
   ``m`` of the ``messages`` table in ``store.SCHEMA``.

The syntax follows "Search operators you can use with Gmail"
(https://support.google.com/mail/answer/7190) and the API guide "Search and
filter messages" (https://developers.google.com/workspace/gmail/api/guides/filtering).
Implicit AND joins terms, and OR binds tighter than AND, as in Gmail, so
``a b OR c`` means ``a AND (b OR c)``. Anything this module cannot honour
raises ``InvalidArgument`` naming the operator or value, never a partial match.

Every condition reaches rows through an index: words through the FTS5 table
``messages_fts``, labels through ``message_labels``, addresses through
``message_addresses``, dates through ``messages.internal_date``. All user text
reaches SQLite as bound parameters, and words are quoted as FTS5 strings, so
input cannot change the structure of either the SQL or the FTS5 query.
"""


from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Union
from zoneinfo import ZoneInfo

from assistant.sandbox.errors import InvalidArgument
from assistant.sandbox.query_syntax import (
    OPERATORS,
    And,
    Node,
    Not,
    Or,
    Term,
    Token,
    parse,
    tokenize,
)

# The syntax names stay importable from here, next to compile_query.
__all__ = [
    "GMAIL_DATE_ZONE",
    "OPERATORS",
    "And",
    "CompiledQuery",
    "Node",
    "Not",
    "Or",
    "Term",
    "Token",
    "compile_query",
    "parse",
    "tokenize",
]

# Gmail reads dates in after:/before: as midnight Pacific time, as the API
# guide states. The guide recommends epoch seconds for other zones.
GMAIL_DATE_ZONE = ZoneInfo("America/Los_Angeles")


# -- meaning of each term -----------------------------------------------------

@dataclass(frozen=True)
class FtsMatch:
    """An FTS5 query expression over ``messages_fts``, already quoted."""

    expression: str


@dataclass(frozen=True)
class HasLabel:
    label_id: str


@dataclass(frozen=True)
class HasAddress:
    """An exact, lower-cased address in one of ``fields`` of ``message_addresses``."""

    fields: tuple[str, ...]
    address: str


@dataclass(frozen=True)
class ColumnTest:
    """A test on a column of ``m``; ``index_rank`` is set when an index serves it."""

    sql: str
    params: tuple[object, ...]
    index_rank: int | None = None


@dataclass(frozen=True)
class Constant:
    value: bool


@dataclass(frozen=True)
class Ignored:
    """A term with nothing searchable in it (such as ``!!!``), left out as Gmail does."""


@dataclass(frozen=True)
class AllOf:
    children: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple[Condition, ...]


@dataclass(frozen=True)
class Negation:
    child: Condition


# The meaning of a parsed query, before it is written as SQL.
Condition = Union[
    FtsMatch, HasLabel, HasAddress, ColumnTest, Constant, Ignored, AllOf, AnyOf, Negation
]

# FTS5 columns searched by the address operators when the value is a name or
# a domain rather than a whole address.
_ADDRESS_COLUMNS = {
    "from": ("sender",),
    "to": ("to_text", "cc_text", "bcc_text"),
    "cc": ("cc_text",),
    "bcc": ("bcc_text",),
}
# NOTE: Gmail's to: also finds messages where the address is only in Cc or
# Bcc. Users report this (https://webapps.stackexchange.com/q/18713) but Google
# does not document it. So to: covers all three fields, while cc: and bcc: do not.
_ADDRESS_FIELDS = {
    "from": ("from",),
    "to": ("to", "cc", "bcc"),
    "cc": ("cc",),
    "bcc": ("bcc",),
    "deliveredto": ("deliveredto",),
}
_IN_ALIASES = {"drafts": "draft", "chats": "chat"}
_IS_LABELS = {"unread": "UNREAD", "starred": "STARRED", "important": "IMPORTANT"}
_CATEGORIES = {
    "primary": "CATEGORY_PERSONAL", "social": "CATEGORY_SOCIAL",
    "promotions": "CATEGORY_PROMOTIONS", "updates": "CATEGORY_UPDATES",
    "forums": "CATEGORY_FORUMS",
}
_SPAM_TRASH = frozenset({"SPAM", "TRASH"})
_SIZE_RE = re.compile(r"(\d+)([km]?)b?", re.IGNORECASE)
_AGE_RE = re.compile(r"(\d+)([dmy])", re.IGNORECASE)
_DATE_RE = re.compile(r"(\d{4})([/-])(\d{1,2})\2(\d{1,2})")

# Driver preference when a conjunction must pick the one condition that
# SQLite looks up first: lower is expected to match fewer messages. Words
# come before addresses because the commonest address operator, from:me on
# sent mail, matches every message the owner sent.
_RANK_MSGID, _RANK_FTS, _RANK_ADDRESS, _RANK_LABEL, _RANK_DATE = range(5)


@dataclass(frozen=True)
class CompiledQuery:
    """A boolean SQL expression over ``m`` (messages) with positional parameters.

    ``includes_spam_trash`` is True when the query itself names spam or trash
    (in:spam, in:trash, in:anywhere), so the caller must not exclude them.
    """

    sql: str
    params: list[object]
    includes_spam_trash: bool


@dataclass
class _Context:
    resolve_label: Callable[[str], str | None]
    now: datetime
    user_email: str | None
    includes_spam_trash: bool = False


def compile_query(
    q: str,
    *,
    resolve_label: Callable[[str], str | None],
    now: datetime,
    user_email: str | None = None,
) -> CompiledQuery:
    """Compile Gmail search text ``q`` into a SQL condition over ``messages m``.

    ``resolve_label`` returns the label id for a name in any case, or None.
    ``now`` (aware) anchors older_than:/newer_than:. ``user_email`` is what
    ``me`` means in from:me and to:me. Raises ``InvalidArgument`` naming the
    operator or value it cannot honour.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    context = _Context(resolve_label, now.astimezone(timezone.utc), user_email)
    condition = _simplify(_interpret(parse(q), context, negated=False))
    sql, params = _emit(condition, drive=True)
    return CompiledQuery(sql, params, context.includes_spam_trash)


def _interpret(node: Node, context: _Context, *, negated: bool) -> Condition:
    if isinstance(node, And):
        return AllOf(tuple(_interpret(c, context, negated=negated) for c in node.children))
    if isinstance(node, Or):
        return AnyOf(tuple(_interpret(c, context, negated=negated) for c in node.children))
    if isinstance(node, Not):
        return Negation(_interpret(node.child, context, negated=not negated))
    return _interpret_term(node, context, negated=negated)


def _interpret_term(term: Term, context: _Context, *, negated: bool) -> Condition:
    operator, value = term.operator, term.value.strip()
    if operator is None:
        return _text_match(value, columns=())
    if operator == "subject":
        return _text_match(value, columns=("subject",))
    if operator == "filename":
        # filename:pdf and filename:report.pdf both become words of the name.
        return _text_match(value, columns=("filenames",))
    if operator in _ADDRESS_FIELDS:
        return _address_match(operator, value, context)
    if operator in ("label", "in", "category"):
        return _label_match(operator, value, context, negated=negated)
    if operator in ("is", "has"):
        return _flag_match(operator, value)
    if operator in ("after", "before", "older", "newer"):
        return _date_bound(operator, value)
    if operator in ("older_than", "newer_than"):
        return _age_bound(operator, value, context.now)
    if operator in ("larger", "smaller", "size"):
        return _size_bound(operator, value)
    return _message_id_match(value)


def _fts_string(text: str) -> str:
    """Quote ``text`` as one FTS5 string, which FTS5 reads as a phrase of its words."""
    printable = "".join(char if char.isprintable() else " " for char in text)
    return '"' + printable.replace('"', '""') + '"'


def _text_match(value: str, *, columns: tuple[str, ...]) -> FtsMatch | Ignored:
    # NOTE: words match whole FTS5 tokens (unicode61, case and diacritics
    # folded), so "invoice" does not find "invoices". Gmail documents no
    # substring matching; whether it stems words is not documented.
    if not any(char.isalnum() for char in value):
        return Ignored()
    phrase = _fts_string(value)
    if not columns:
        return FtsMatch(phrase)
    if len(columns) == 1:
        return FtsMatch(f"{columns[0]} : {phrase}")
    return FtsMatch("{" + " ".join(columns) + "} : " + phrase)


_PLAIN_ADDRESS_RE = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+")


def _address_match(operator: str, value: str, context: _Context) -> Condition:
    if value.lower() == "me":
        if context.user_email is None:
            raise InvalidArgument(
                f"Invalid query: {operator}:me needs the mailbox owner's address, "
                "which is not set; use the address itself."
            )
        value = context.user_email
    if _PLAIN_ADDRESS_RE.fullmatch(value):
        return HasAddress(_ADDRESS_FIELDS[operator], value.lower())
    if operator == "deliveredto":
        raise InvalidArgument(
            f"Invalid query: deliveredto:{value} needs a whole address, "
            "as in deliveredto:name@example.com."
        )
    # A name or a domain: words of the display name and address.
    return _text_match(value.lstrip("@"), columns=_ADDRESS_COLUMNS[operator])


def _label_match(operator: str, value: str, context: _Context, *, negated: bool) -> Condition:
    name = value.lower()
    if operator == "in" and name == "anywhere":
        context.includes_spam_trash |= not negated
        return Constant(True)
    if operator == "category":
        if name not in _CATEGORIES:
            raise InvalidArgument(
                f"Invalid query: unknown category:{value}; use one of "
                f"{', '.join(sorted(_CATEGORIES))}."
            )
        name = _CATEGORIES[name]
    if operator == "in":
        name = _IN_ALIASES.get(name, name)

    label_id = _resolve_label_name(name, context.resolve_label)
    if label_id is None:
        raise InvalidArgument(
            f"Invalid query: {operator}:{value} names no existing label; "
            "check the name with labels.list."
        )
    # NOTE: only a positive in:spam or in:trash widens the search; Gmail does
    # not document what -in:trash does to the default exclusion of spam and trash.
    if label_id in _SPAM_TRASH and not negated:
        context.includes_spam_trash = True
    return HasLabel(label_id)


def _resolve_label_name(
    name: str, resolve_label: Callable[[str], str | None]
) -> str | None:
    """Resolve a label name as Gmail writes it in search, with '-' for ' ' and '/'."""
    for candidate in _label_name_candidates(name):
        label_id = resolve_label(candidate)
        if label_id is not None:
            return label_id
    return None


def _label_name_candidates(name: str) -> list[str]:
    parts = name.split("-")
    candidates = [name, " ".join(parts), "/".join(parts)]
    # Mixed spellings such as "clients/acme corp" for "clients-acme-corp";
    # the number of combinations grows as 3**hyphens, so only short names.
    if 1 < len(parts) <= 5:
        spellings = [""]
        for part in parts[1:]:
            spellings = [s + sep + part for s in spellings for sep in "- /"]
        candidates += [parts[0] + spelling for spelling in spellings]
    return list(dict.fromkeys(candidates))


def _flag_match(operator: str, value: str) -> Condition:
    name = value.lower()
    if operator == "is":
        if name == "read":
            return Negation(HasLabel("UNREAD"))
        if name in _IS_LABELS:
            return HasLabel(_IS_LABELS[name])
        supported = "read, " + ", ".join(_IS_LABELS)
    else:
        if name == "attachment":
            return ColumnTest("m.has_attachment = 1", ())
        if name in ("userlabels", "nouserlabels"):
            user_labels = (
                "EXISTS (SELECT 1 FROM message_labels AS ml JOIN labels AS l "
                "ON l.id = ml.label_id WHERE ml.message_seq = m.seq AND l.type = 'user')"
            )
            negation = "NOT " if name == "nouserlabels" else ""
            return ColumnTest(negation + user_labels, ())
        supported = "attachment, userlabels, nouserlabels"
    raise InvalidArgument(
        f"Invalid query: {operator}:{value} is not supported; "
        f"{operator}: takes {supported}."
    )


# SQLite integers are 64-bit; epoch milliseconds and byte counts must fit.
_MAX_SECONDS = 2**53 // 1000
_MAX_BYTES = 2**53


def _date_bound(operator: str, value: str) -> ColumnTest:
    """after:/newer: include the moment given, before:/older: exclude it."""
    if value.isdigit():
        seconds = int(value)
        if seconds > _MAX_SECONDS:
            raise InvalidArgument(f"Invalid query: {operator}:{value} is out of range.")
        millis = seconds * 1000
    else:
        millis = _pacific_midnight_ms(operator, value)
    if operator in ("after", "newer"):
        return ColumnTest("m.internal_date >= ?", (millis,), _RANK_DATE)
    return ColumnTest("m.internal_date < ?", (millis,), _RANK_DATE)


def _pacific_midnight_ms(operator: str, value: str) -> int:
    match = _DATE_RE.fullmatch(value)
    problem = "is not a date"
    if match is not None:
        year, month, day = int(match.group(1)), int(match.group(3)), int(match.group(4))
        try:
            midnight = datetime(year, month, day, tzinfo=GMAIL_DATE_ZONE)
            return int(midnight.timestamp()) * 1000
        except (ValueError, OverflowError):
            problem = "is not a valid calendar date"
    raise InvalidArgument(
        f"Invalid query: {operator}:{value} {problem}; write YYYY/MM/DD, "
        "YYYY-MM-DD or epoch seconds."
    )


def _age_bound(operator: str, value: str, now: datetime) -> ColumnTest:
    match = _AGE_RE.fullmatch(value)
    if match is None:
        raise InvalidArgument(
            f"Invalid query: {operator}:{value} is not an age; write a number "
            "followed by d (days), m (months) or y (years), as in 30d."
        )
    count, unit = int(match.group(1)), match.group(2).lower()
    try:
        if unit == "d":
            cutoff = now - timedelta(days=count)
        else:
            cutoff = _months_before(now, count * (12 if unit == "y" else 1))
    except (ValueError, OverflowError):
        raise InvalidArgument(f"Invalid query: {operator}:{value} is out of range.") from None

    millis = int(cutoff.timestamp() * 1000)
    if operator == "older_than":
        return ColumnTest("m.internal_date < ?", (millis,), _RANK_DATE)
    return ColumnTest("m.internal_date >= ?", (millis,), _RANK_DATE)


def _months_before(moment: datetime, months: int) -> datetime:
    # NOTE: Gmail does not document how it counts months; this goes back
    # calendar months in UTC, clamping the 31st to the month's last day.
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    if year < 1:
        raise ValueError("before year 1")
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _size_bound(operator: str, value: str) -> ColumnTest:
    match = _SIZE_RE.fullmatch(value)
    if match is None:
        raise InvalidArgument(
            f"Invalid query: {operator}:{value} is not a size; write bytes, "
            "optionally followed by K or M, as in 5M."
        )
    # NOTE: K and M are read as 1024 and 1024**2 bytes; Gmail does not say
    # whether it means binary or decimal units.
    multiplier = {"": 1, "k": 1024, "m": 1024**2}[match.group(2).lower()]
    size = int(match.group(1)) * multiplier
    if size > _MAX_BYTES:
        raise InvalidArgument(f"Invalid query: {operator}:{value} is out of range.")
    if operator == "smaller":
        return ColumnTest("m.size_estimate < ?", (size,))
    return ColumnTest("m.size_estimate > ?", (size,))


def _message_id_match(value: str) -> ColumnTest:
    message_id = value.strip().removeprefix("<").removesuffix(">").strip()
    if not message_id:
        raise InvalidArgument(f"Invalid query: rfc822msgid:{value} has no message id.")
    return ColumnTest("m.rfc822_msgid = ? COLLATE NOCASE", (message_id,), _RANK_MSGID)


# -- simplification and SQL ---------------------------------------------------

def _simplify(condition: Condition) -> Condition:
    """Fold constants, drop ignored terms, and merge full-text terms.

    Merged FTS5 terms run as one MATCH, so ``invoice 1042 -draft`` costs one
    full-text lookup instead of three.
    """
    if isinstance(condition, Negation):
        child = _simplify(condition.child)
        if isinstance(child, Ignored):
            return child
        if isinstance(child, Constant):
            return Constant(not child.value)
        return child.child if isinstance(child, Negation) else Negation(child)
    if isinstance(condition, AllOf):
        return _simplify_and(condition)
    if isinstance(condition, AnyOf):
        return _simplify_or(condition)
    return condition


def _flatten(
    children: tuple[Condition, ...], kind: type[AllOf] | type[AnyOf]
) -> list[Condition]:
    flat: list[Condition] = []
    for child in children:
        simplified = _simplify(child)
        if isinstance(simplified, kind):
            flat.extend(simplified.children)
        else:
            flat.append(simplified)
    return flat


def _simplify_and(condition: AllOf) -> Condition:
    children = _flatten(condition.children, AllOf)
    if Constant(False) in children:
        return Constant(False)
    kept = [c for c in children if not isinstance(c, (Ignored, Constant))]
    positive = [c.expression for c in kept if isinstance(c, FtsMatch)]
    negative = [
        c.child.expression
        for c in kept
        if isinstance(c, Negation) and isinstance(c.child, FtsMatch)
    ]
    rest = [c for c in kept if not _is_text(c)]

    merged: list[Condition] = []
    excluded = " OR ".join(f"({expression})" for expression in negative)
    if positive:
        included = " AND ".join(f"({expression})" for expression in positive)
        merged.append(FtsMatch(f"{included} NOT ({excluded})" if negative else included))
    elif negative:
        merged.append(Negation(FtsMatch(excluded)))
    parts = merged + rest

    if not parts:
        return Constant(True) if Constant(True) in children else Ignored()
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _is_text(condition: Condition) -> bool:
    if isinstance(condition, Negation):
        return isinstance(condition.child, FtsMatch)
    return isinstance(condition, FtsMatch)


def _simplify_or(condition: AnyOf) -> Condition:
    children = _flatten(condition.children, AnyOf)
    if Constant(True) in children:
        return Constant(True)
    kept = [c for c in children if not isinstance(c, (Ignored, Constant))]
    texts = [c.expression for c in kept if isinstance(c, FtsMatch)]
    if len(texts) > 1:
        merged = FtsMatch(" OR ".join(f"({expression})" for expression in texts))
        kept = [merged] + [c for c in kept if not isinstance(c, FtsMatch)]
    if not kept:
        return Constant(False) if Constant(False) in children else Ignored()
    return kept[0] if len(kept) == 1 else AnyOf(tuple(kept))


def _rank(condition: Condition) -> int | None:
    """Rank how well ``condition`` selects rows through an index (None: not at all)."""
    if isinstance(condition, HasAddress):
        return _RANK_ADDRESS
    if isinstance(condition, FtsMatch):
        return _RANK_FTS
    if isinstance(condition, HasLabel):
        return _RANK_LABEL
    if isinstance(condition, ColumnTest):
        return condition.index_rank
    if isinstance(condition, AllOf):
        ranks = [r for r in map(_rank, condition.children) if r is not None]
        return min(ranks, default=None)
    if isinstance(condition, AnyOf):
        branch_ranks = [_rank(child) for child in condition.children]
        known = [r for r in branch_ranks if r is not None]
        return max(known) if len(known) == len(branch_ranks) else None
    return None


def _emit(condition: Condition, *, drive: bool) -> tuple[str, list[object]]:
    """Write ``condition`` as SQL; ``drive`` marks the part that selects the rows.

    In a conjunction only the best-ranked part is written as ``m.seq IN
    (subquery)``, which SQLite uses to find candidate rows. Label and address
    parts elsewhere are correlated lookups by primary key or index, so a broad
    condition such as in:sent costs one index probe per candidate instead of
    reading every SENT row. Full-text parts are always ``m.seq IN (...)``:
    SQLite runs that subquery once, while a correlated MATCH would parse and
    run the FTS5 query again for every candidate row.
    """
    if isinstance(condition, (Ignored, Constant)):
        return ("0" if condition == Constant(False) else "1"), []
    if isinstance(condition, ColumnTest):
        return condition.sql, list(condition.params)
    if isinstance(condition, (FtsMatch, HasLabel, HasAddress)):
        return _emit_lookup(condition, drive=drive)
    if isinstance(condition, Negation):
        sql, params = _emit(condition.child, drive=False)
        return f"NOT ({sql})", params
    if isinstance(condition, AnyOf):
        parts = [_emit(child, drive=drive) for child in condition.children]
        return _join(" OR ", parts)

    ranked = [(r, i) for i, r in enumerate(map(_rank, condition.children)) if r is not None]
    driver = min(ranked)[1] if drive and ranked else None
    parts = [
        _emit(child, drive=(i == driver)) for i, child in enumerate(condition.children)
    ]
    return _join(" AND ", parts)


def _join(separator: str, parts: list[tuple[str, list[object]]]) -> tuple[str, list[object]]:
    sql = separator.join(f"({part_sql})" for part_sql, _ in parts)
    params = [param for _, part_params in parts for param in part_params]
    return sql, params


def _emit_lookup(
    condition: FtsMatch | HasLabel | HasAddress, *, drive: bool
) -> tuple[str, list[object]]:
    if isinstance(condition, FtsMatch):
        table, column, test = "messages_fts", "rowid", "messages_fts MATCH ?"
        params: list[object] = [condition.expression]
    elif isinstance(condition, HasLabel):
        table, column, test = "message_labels", "message_seq", "label_id = ?"
        params = [condition.label_id]
    else:
        marks = ", ".join("?" * len(condition.fields))
        table, column = "message_addresses", "message_seq"
        test = f"address = ? AND field IN ({marks})"
        params = [condition.address, *condition.fields]
    if drive or isinstance(condition, FtsMatch):
        return f"m.seq IN (SELECT {column} FROM {table} WHERE {test})", params
    return f"EXISTS (SELECT 1 FROM {table} WHERE {test} AND {column} = m.seq)", params
