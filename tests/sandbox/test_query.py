"""Gmail search compiled to SQL, run against the sandbox schema in a real SQLite file.

Operator meanings come from Google's "Search operators you can use with Gmail"
(https://support.google.com/mail/answer/7190) and the Gmail API guide "Search
and filter messages" (https://developers.google.com/workspace/gmail/api/guides/filtering),
which also states that dates are midnight PST and that epoch seconds are accepted.
Rows are inserted directly into the tables of ``store.SCHEMA``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.sandbox.errors import InvalidArgument
from assistant.sandbox.query import (
    And,
    Not,
    Or,
    Term,
    compile_query,
    parse,
    tokenize,
)
from assistant.sandbox.store import SCHEMA, SYSTEM_LABELS

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=timezone.utc)
OWNER = "me@example.com"
USER_LABELS = {
    "Clients/Acme Corp": "Label_1",
    "My Family": "Label_2",
    "Follow-up": "Label_3",
}


def utc_ms(text: str) -> int:
    return int(
        datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000
    )


@dataclass
class Fixture:
    """One stored message: its rows in messages, labels, addresses and the FTS index."""

    id: str
    date: str
    labels: tuple[str, ...]
    addresses: tuple[tuple[str, str, str], ...]  # field, address, display name
    subject: str = ""
    body: str = ""
    filenames: str = ""
    size: int = 2000
    msgid: str | None = None


# US daylight saving time began on 2024-03-10 at 02:00 local time, so
# midnight Pacific is 08:00 UTC on March 10 and 07:00 UTC on March 11.
MAILBOX = [
    Fixture(
        "m01",
        "2024-03-10T07:59:59",
        ("INBOX", "UNREAD", "IMPORTANT", "Label_1"),
        (("from", "ana@acme.example", "Ana Lima"), ("to", OWNER, "Sam Doe")),
        subject="Invoice INV-1042 for March",
        body="Please find attached the invoice.",
        filenames="INV-1042.pdf",
        size=250_000,
        msgid="CAF1042@mail.acme.example",
    ),
    Fixture(
        "m02",
        "2024-03-10T08:00:00",
        ("SENT",),
        (
            ("from", OWNER, "Sam Doe"),
            ("to", "ana@acme.example", "Ana Lima"),
            ("cc", "bob@beta.example", "Bob Stone"),
        ),
        subject="Re: Invoice INV-1042 for March",
        body="Thanks, paid on Monday",
        size=4000,
    ),
    Fixture(
        "m03",
        "2024-03-11T06:59:59",
        ("INBOX", "STARRED", "Label_3"),
        (
            ("from", "bob@beta.example", "Bob Stone"),
            ("to", OWNER, ""),
            ("cc", "ana@acme.example", "Ana Lima"),
        ),
        subject="Lunch",
        body="dinner and movie tonight?",
        size=3000,
    ),
    Fixture(
        "m04",
        "2024-02-01T12:00:00",
        ("SPAM",),
        (("from", "promo@spam.example", "Prizes"), ("to", OWNER, "")),
        subject="You won",
        body="claim your invoice prize",
        size=5000,
    ),
    Fixture(
        "m05",
        "2023-01-01T12:00:00",
        ("TRASH",),
        (("from", "ana@acme.example", "Ana Lima"), ("to", OWNER, "")),
        subject="Old draft invoice",
        size=1000,
    ),
    Fixture(
        "m06",
        "2024-06-14T12:00:00",
        ("DRAFT",),
        (("from", OWNER, "Sam Doe"), ("to", "carol@gamma.example", "Carol King")),
        subject="Reminder: invoice INV-2001",
        body="A gentle reminder.",
        size=1500,
    ),
    Fixture(
        "m07",
        "2024-05-20T12:00:00",
        ("SENT",),
        (
            ("from", OWNER, "Sam Doe"),
            ("to", "dave@delta.example", "Dave"),
            ("bcc", "ana@acme.example", "Ana Lima"),
        ),
        subject="Quote",
        body="quote for the work",
        filenames="quote.docx",
        size=3 * 1024 * 1024,
    ),
    Fixture(
        "m08",
        "2024-03-11T07:00:00",
        ("INBOX", "UNREAD", "CATEGORY_SOCIAL", "Label_2"),
        (
            ("from", "eve@epsilon.example", "Ève Müller"),
            ("to", OWNER, ""),
            ("deliveredto", "alias@example.com", ""),
        ),
        subject="Café résumé",
        body="naïve façade",
        size=10 * 1024,
    ),
]
VISIBLE = ["m01", "m02", "m03", "m06", "m07", "m08"]  # all but spam and trash


def insert_fixture(db: sqlite3.Connection, seq: int, message: Fixture) -> None:
    db.execute(
        "INSERT INTO messages (seq, id, thread_id, history_id, internal_date,"
        " size_estimate, raw, rfc822_msgid, subject, has_attachment)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            message.id,
            message.id,
            seq,
            utc_ms(message.date),
            message.size,
            b"",
            message.msgid,
            message.subject,
            int(bool(message.filenames)),
        ),
    )
    db.executemany(
        "INSERT INTO message_labels (label_id, message_seq) VALUES (?, ?)",
        [(label, seq) for label in message.labels],
    )
    db.executemany(
        "INSERT INTO message_addresses (message_seq, field, address, name) VALUES (?, ?, ?, ?)",
        [(seq, *address) for address in message.addresses],
    )

    def text(*fields: str) -> str:
        return "\n".join(f"{n} {a}" for f, a, n in message.addresses if f in fields)

    db.execute(
        "INSERT INTO messages_fts (rowid, subject, sender, to_text, cc_text, bcc_text,"
        " body, filenames) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            message.subject,
            text("from"),
            text("to"),
            text("cc"),
            text("bcc"),
            message.body,
            message.filenames,
        ),
    )


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    path: Path = tmp_path_factory.mktemp("query") / "mailbox.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.executemany(
        "INSERT INTO labels (id, name, type) VALUES (?, ?, 'system')",
        [(label, label) for label in SYSTEM_LABELS],
    )
    db.executemany(
        "INSERT INTO labels (id, name, type) VALUES (?, ?, 'user')",
        [(label_id, name) for name, label_id in USER_LABELS.items()],
    )
    for seq, message in enumerate(MAILBOX, start=1):
        insert_fixture(db, seq, message)
    db.commit()
    yield db
    db.close()


def resolve_label(name: str) -> str | None:
    """Resolve as the store does: any case, system names to their ids."""
    for label in SYSTEM_LABELS:
        if label.lower() == name.lower():
            return label
    for label_name, label_id in USER_LABELS.items():
        if label_name.lower() == name.lower():
            return label_id
    return None


def search(db: sqlite3.Connection, q: str, user_email: str | None = OWNER) -> list[str]:
    """Run ``q`` as messages.list does: spam and trash left out unless the query names them."""
    compiled = compile_query(
        q, resolve_label=resolve_label, now=NOW, user_email=user_email
    )
    sql = f"SELECT m.id FROM messages AS m WHERE ({compiled.sql})"
    if not compiled.includes_spam_trash:
        sql += (
            " AND NOT EXISTS (SELECT 1 FROM message_labels WHERE message_seq = m.seq"
            " AND label_id IN ('SPAM', 'TRASH'))"
        )
    return sorted(row[0] for row in db.execute(sql, compiled.params))


SEARCH_CASES = [
    # Words: case-insensitive whole words over headers, body and file names.
    ("", VISIBLE),
    ("invoice", ["m01", "m02", "m06"]),
    ("INVOICE", ["m01", "m02", "m06"]),
    ("invoices", []),  # no stemming or substring match
    ("invoic", []),
    ("+invoice", ["m01", "m02", "m06"]),
    ("INV-1042", ["m01", "m02"]),
    ("INV-2001", ["m06"]),
    ("1042", ["m01", "m02"]),
    ("cafe resume", ["m08"]),  # diacritics folded
    ("Müller", ["m08"]),
    ("!!!", VISIBLE),  # nothing searchable: ignored
    ("invoice !!!", ["m01", "m02", "m06"]),
    ('"paid on monday"', ["m02"]),
    ('"monday paid"', []),
    ('"dinner and movie tonight"', ["m03"]),
    # Locations and labels.
    ("in:sent", ["m02", "m07"]),
    ("in:inbox", ["m01", "m03", "m08"]),
    ("in:draft", ["m06"]),
    ("in:drafts", ["m06"]),
    ("in:spam", ["m04"]),
    ("in:trash", ["m05"]),
    ("in:anywhere invoice", ["m01", "m02", "m04", "m05", "m06"]),
    ("in:starred", ["m03"]),
    ("in:important", ["m01"]),
    ("In:Sent", ["m02", "m07"]),
    ("label:clients-acme-corp", ["m01"]),  # Gmail writes ' ' and '/' as '-'
    ('label:"Clients/Acme Corp"', ["m01"]),
    ("label:Clients/Acme-Corp", ["m01"]),
    ("label:my-family", ["m08"]),
    ("label:follow-up", ["m03"]),
    ("label:sent", ["m02", "m07"]),
    ("category:social", ["m08"]),
    # is: and has:
    ("is:unread", ["m01", "m08"]),
    ("is:read", ["m02", "m03", "m06", "m07"]),
    ("is:starred", ["m03"]),
    ("is:important", ["m01"]),
    ("has:attachment", ["m01", "m07"]),
    ("has:userlabels", ["m01", "m03", "m08"]),
    ("has:nouserlabels", ["m02", "m06", "m07"]),
    # Addresses: a whole address is exact, a name or domain is words.
    ("from:ana@acme.example", ["m01"]),
    ("from:ANA@ACME.EXAMPLE", ["m01"]),
    ("from:na@acme.example", []),
    ("from:acme.example", ["m01"]),
    ("from:@acme.example", ["m01"]),
    ("from:ana", ["m01"]),
    ("from:lima", ["m01"]),
    ("from:muller", ["m08"]),
    ("from:me", ["m02", "m06", "m07"]),
    ("to:ana@acme.example", ["m02", "m03", "m07"]),  # to: also covers Cc and Bcc
    ("cc:ana@acme.example", ["m03"]),
    ("cc:bob@beta.example", ["m02"]),
    ("bcc:ana@acme.example", ["m07"]),
    ("to:carol", ["m06"]),
    ("deliveredto:alias@example.com", ["m08"]),
    # subject: and filename:
    ("subject:invoice", ["m01", "m02", "m06"]),
    ("subject:paid", []),
    ('subject:"for march"', ["m01", "m02"]),
    ("filename:pdf", ["m01"]),
    ("filename:INV-1042.pdf", ["m01"]),
    ("filename:docx", ["m07"]),
    ("filename:quote.docx", ["m07"]),
    ("filename:txt", []),
    # Sizes against size_estimate; K and M are binary units here.
    ("larger:10K", ["m01", "m07"]),
    ("smaller:10K", ["m02", "m03", "m06"]),
    ("larger:1M", ["m07"]),
    ("larger:244k", ["m01", "m07"]),
    ("size:250000", ["m07"]),
    # rfc822msgid: with or without angle brackets.
    ("rfc822msgid:CAF1042@mail.acme.example", ["m01"]),
    ("rfc822msgid:<CAF1042@mail.acme.example>", ["m01"]),
    # Dates: midnight Pacific, across the start of daylight saving time.
    ("after:2024/03/10 before:2024/03/11", ["m02", "m03"]),
    ("after:2024-03-10 before:2024-03-11", ["m02", "m03"]),
    ("after:2024/3/10", ["m02", "m03", "m06", "m07", "m08"]),
    ("before:2024/03/10", ["m01"]),
    ("newer:2024/03/11 older:2024/05/01", ["m08"]),
    ("after:1710057600", ["m02", "m03", "m06", "m07", "m08"]),  # 2024-03-10T08:00Z
    ("before:1710057600", ["m01"]),
    ("newer_than:2d", ["m06"]),
    ("newer_than:1m", ["m06", "m07"]),
    ("older_than:3m", ["m01", "m02", "m03", "m08"]),
    ("newer_than:1y", VISIBLE),
    ("in:anywhere older_than:1y", ["m05"]),
    # Negation, OR, braces, AND and parentheses.
    ("-invoice", ["m03", "m07", "m08"]),
    ("invoice -in:sent", ["m01", "m06"]),
    ("-from:ana@acme.example", ["m02", "m03", "m06", "m07", "m08"]),
    ("from:bob@beta.example OR from:eve@epsilon.example", ["m03", "m08"]),
    ("quote | lunch", ["m03", "m07"]),
    ("{quote lunch}", ["m03", "m07"]),
    ("{from:bob@beta.example to:carol@gamma.example}", ["m03", "m06"]),
    ("invoice march OR quote", ["m01", "m02"]),  # OR binds tighter than AND
    ("(invoice march) OR quote", ["m01", "m02", "m07"]),
    ("invoice AND march", ["m01", "m02"]),
    ("quote or lunch", []),  # lowercase "or" is a word
    ("-(invoice OR quote)", ["m03", "m08"]),
    ("in:sent -(quote)", ["m02"]),
    ("is:unread OR is:starred", ["m01", "m03", "m08"]),
    ("has:attachment -filename:pdf", ["m07"]),
    ("in:sent OR in:spam", ["m02", "m04", "m07"]),
    ("in:sent from:me INV-1042", ["m02"]),
    # Operator scopes.
    ("subject:(invoice march)", ["m01", "m02"]),
    ("subject:(invoice -re)", ["m01", "m06"]),
    ("from:(bob@beta.example OR eve@epsilon.example)", ["m03", "m08"]),
    ("from:{bob@beta.example eve@epsilon.example}", ["m03", "m08"]),
    ("to:(ana OR carol)", ["m02", "m03", "m06", "m07"]),
    ("-subject:(invoice OR lunch)", ["m07", "m08"]),
]


@pytest.mark.parametrize(("q", "expected"), SEARCH_CASES)
def test_search_matches(
    mailbox: sqlite3.Connection, q: str, expected: list[str]
) -> None:
    assert search(mailbox, q) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("in:spam", True),
        ("in:trash invoice", True),
        ("in:anywhere", True),
        ("label:trash", True),
        ("invoice", False),
        # Gmail does not document this case: excluding trash does not widen the search.
        ("-in:trash", False),
    ],
)
def test_includes_spam_trash(q: str, expected: bool) -> None:
    compiled = compile_query(q, resolve_label=resolve_label, now=NOW)
    assert compiled.includes_spam_trash is expected


@pytest.mark.parametrize(
    ("q", "named"),
    [
        ("list:info@example.com", "list:"),
        ("foo:bar", "foo:"),
        ("label:nosuch", "label:nosuch"),
        ("in:nowhere", "in:nowhere"),
        ("is:muted", "is:muted"),
        ("has:drive", "has:drive"),
        ("category:purchases", "category:purchases"),
        ("after:2024/13/01", "after:2024/13/01"),
        ("after:2024/02/30", "after:2024/02/30"),
        ("after:03/10/2024", "after:03/10/2024"),
        ("before:yesterday", "before:yesterday"),
        ("after:99999999999999999999", "after:99999999999999999999"),
        ("older_than:3h", "older_than:3h"),
        ("newer_than:99999999999y", "newer_than:99999999999y"),
        ("larger:big", "larger:big"),
        ("smaller:99999999999999999999M", "smaller:99999999999999999999M"),
        ("rfc822msgid:<>", "rfc822msgid:<>"),
        ("deliveredto:alias", "deliveredto:alias"),
        ("from:", "from:"),
        ('"unclosed phrase', "quote"),
        ("(invoice march", "'('"),
        ("invoice march)", "')'"),
        ("{invoice", "'{'"),
        ("invoice OR", "OR"),
        ("OR invoice", "OR"),
        ("invoice AND", "AND"),
        ("-OR invoice", "'-'"),
        ("dinner AROUND 5 friday", "AROUND"),
        ("dinner NOT movie", "NOT"),
        ("subject:(from:ana)", "from:"),
        ("subject:(from:(ana))", "from:"),
    ],
)
def test_invalid_query_names_value(q: str, named: str) -> None:
    with pytest.raises(InvalidArgument, match="Invalid query") as excinfo:
        compile_query(q, resolve_label=resolve_label, now=NOW)
    assert named in excinfo.value.message
    assert excinfo.value.code == 400


def test_from_me_without_owner_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match="from:me"):
        compile_query("from:me", resolve_label=resolve_label, now=NOW)


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compile_query("invoice", resolve_label=resolve_label, now=datetime(2024, 1, 1))


# -- the parser alone ---------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("a", Term(None, "a")),
        ("a b OR c", And((Term(None, "a"), Or((Term(None, "b"), Term(None, "c")))))),
        ("-a", Not(Term(None, "a"))),
        ("--a", Not(Not(Term(None, "a")))),
        ('"a b"', Term(None, "a b", quoted=True)),
        ("{a b}", Or((Term(None, "a"), Term(None, "b")))),
        ("subject:(a -b)", And((Term("subject", "a"), Not(Term("subject", "b"))))),
        ('from:"Ana Lima"', Term("from", "Ana Lima")),
        ("FROM:ana", Term("from", "ana")),
        ("a-b", Term(None, "a-b")),
        ("(a)", Term(None, "a")),
        ("()", And(())),
        ("10:30", Term(None, "10:30")),
    ],
)
def test_parse_builds_ast(q: str, expected: object) -> None:
    assert parse(q) == expected


def test_tokenize_splits_operators_and_symbols() -> None:
    kinds = [token.kind for token in tokenize('-subject:(a|"b c") OR label:x')]
    assert kinds == ["-", "scope", "(", "word", "OR", "phrase", ")", "OR", "operator"]


def test_user_text_stays_in_parameters() -> None:
    hostile = 'subject:"x\'); DROP TABLE messages; --" "NEAR(a b)" a* OR ^b'
    compiled = compile_query(hostile, resolve_label=resolve_label, now=NOW)
    assert "DROP" not in compiled.sql
    assert "NEAR" not in compiled.sql
    assert any("DROP" in str(param) for param in compiled.params)


@pytest.mark.parametrize(
    "q",
    [
        "in:sent from:me INV-1042",
        "in:sent invoice has:attachment",
        "label:my-family cafe",
    ],
)
def test_three_term_query_uses_indexes(mailbox: sqlite3.Connection, q: str) -> None:
    compiled = compile_query(q, resolve_label=resolve_label, now=NOW, user_email=OWNER)
    plan = mailbox.execute(
        f"EXPLAIN QUERY PLAN SELECT m.id FROM messages AS m WHERE {compiled.sql}",
        compiled.params,
    ).fetchall()
    details = [row[3] for row in plan]
    full_scans = [d for d in details if d == "SCAN m" or d.startswith("SCAN m ")]
    assert full_scans == [], details


# -- properties ---------------------------------------------------------------

QUERY_PIECES = st.sampled_from(
    [
        "a",
        "INV-1042",
        "OR",
        "AND",
        "|",
        "-",
        "(",
        ")",
        "{",
        "}",
        '"',
        ":",
        "from:",
        "from:a@b.c",
        "to:me",
        "label:x-y",
        "in:anywhere",
        "is:read",
        "has:attachment",
        "after:2024/01/01",
        "before:1700000000",
        "older_than:2m",
        "larger:1M",
        "subject:(",
        "rfc822msgid:<x@y>",
        "filename:pdf",
        "AROUND",
        "*",
        "^",
        "NEAR",
        "'",
        ";",
        "\x00",
        "é",
        "\u200b",
    ]
)
QUERY_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(QUERY_PIECES, max_size=12).map(" ".join),
    st.lists(QUERY_PIECES, max_size=12).map("".join),
)


@pytest.fixture(scope="module")
def empty_mailbox() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    yield db
    db.close()


@settings(max_examples=400, deadline=None)
@given(q=QUERY_TEXT, labels_exist=st.booleans())
def test_any_text_compiles_or_is_invalid(
    empty_mailbox: sqlite3.Connection, q: str, labels_exist: bool
) -> None:
    def resolve(name: str) -> str | None:
        return "Label_1" if labels_exist else None

    try:
        compiled = compile_query(q, resolve_label=resolve, now=NOW, user_email=OWNER)
    except InvalidArgument as error:
        assert error.message.startswith("Invalid query")
        return
    rows = empty_mailbox.execute(
        f"SELECT m.id FROM messages AS m WHERE {compiled.sql}", compiled.params
    ).fetchall()
    assert rows == []
