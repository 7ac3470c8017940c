"""Classifying incoming messages as human replies, automatic replies or other."""

from __future__ import annotations

from datetime import date, datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from assistant.replies import (
    ReplyKind,
    classify_reply,
    parse_return_date,
    strip_quoted_text,
)

AUTOMATIC = {
    "phpmime_issue212_autoreply.eml",  # Polish subject "Automatyczna odpowiedź"
    "sisimai_autoreply_rfc3834-01.eml",  # Auto-Submitted: auto-replied
    "sisimai_autoreply_rfc3834-02.eml",  # "Automatic reply:" from Exchange
    "sisimai_autoreply_rfc3834-03.eml",  # "Auto reply:" from iCloud
}
# New text of each human reply in the corpus, quotes removed.
HUMAN_NEW_TEXT = {
    "mikel_raw_email_reply.eml": "Message body",
    "talon_android.eml": "Hello",
    "talon_apple_mail.eml": "Hello",
    "talon_gmail.eml": "Hello",
    "talon_hotmail.eml": "Hello",
    "talon_iphone.eml": "Hello\n\nSent from my iPhone",
    "talon_outlook.eml": "Hello",
    "talon_thunderbird.eml": "Hello",
}
# Body-only samples (no headers): the start of the new text, and a quoted line
# that must be gone.
BODY_ONLY = {
    "erp_email_1_3.txt": ("Oh thanks.", "> "),
    "erp_email_BlackBerry.txt": ("Here is another email", "> "),
    "erp_email_iPhone.txt": ("Here is another email", "> "),
    "erp_greedy_on.txt": ("On your remote host you can run:", "> "),
}


def read_reply(corpus_dir: Path, name: str) -> bytes:
    return (corpus_dir / "replies" / name).read_bytes()


@pytest.mark.parametrize("name", sorted(AUTOMATIC))
def test_corpus_automatic_reply(corpus_dir: Path, name: str) -> None:
    result = classify_reply(read_reply(corpus_dir, name))
    assert result.kind is ReplyKind.AUTOMATIC, result.reason
    assert result.new_text == ""


@pytest.mark.parametrize("name", sorted(HUMAN_NEW_TEXT))
def test_corpus_human_reply(corpus_dir: Path, name: str) -> None:
    result = classify_reply(read_reply(corpus_dir, name))
    assert result.kind is ReplyKind.HUMAN
    assert result.new_text == HUMAN_NEW_TEXT[name]


def test_share_block_reply_keeps_new_text(corpus_dir: Path) -> None:
    result = classify_reply(
        read_reply(corpus_dir, "talon_reply-quotations-share-block.eml")
    )
    assert result.kind is ReplyKind.HUMAN
    assert result.new_text.startswith("Hi Katharine.")
    assert "wrote:" not in result.new_text


@pytest.mark.parametrize("name", sorted(BODY_ONLY))
def test_corpus_body_quotes_stripped(corpus_dir: Path, name: str) -> None:
    start, quoted = BODY_ONLY[name]
    text = strip_quoted_text(read_reply(corpus_dir, name).decode("utf-8"))
    assert text.startswith(start)
    assert quoted not in text


def test_every_corpus_reply_classified(corpus_dir: Path) -> None:
    for path in sorted((corpus_dir / "replies").glob("*.eml")):
        known = (
            AUTOMATIC | set(HUMAN_NEW_TEXT) | {"talon_reply-quotations-share-block.eml"}
        )
        assert path.name in known, f"{path.name} has no expectation"


def test_rfc3834_return_date(corpus_dir: Path) -> None:
    # "returning to the office on May 5th", sent 29 April 2005.
    result = classify_reply(read_reply(corpus_dir, "sisimai_autoreply_rfc3834-01.eml"))
    assert result.return_date == date(2005, 5, 5)


def test_corpus_bounce_is_other(corpus_dir: Path) -> None:
    raw = (corpus_dir / "bounces" / "sisimai_lhost-gmail-01.eml").read_bytes()
    assert classify_reply(raw).kind is ReplyKind.OTHER


def test_corpus_read_receipt_is_other(corpus_dir: Path) -> None:
    raw = (
        corpus_dir / "bounces" / "mimekit_disposition-notification.anonymized.eml"
    ).read_bytes()
    result = classify_reply(raw)
    assert result.kind is ReplyKind.OTHER
    assert result.reason == "read receipt"


def make_message(subject: str, body: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Client <client@example.org>"
    message["To"] = "me@consultant.example"
    message["Subject"] = subject
    message["Date"] = "Wed, 04 Mar 2026 09:00:00 +0000"
    message["In-Reply-To"] = "<inv-42@consultant.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto_Submitted": "auto-replied"}, "Auto-Submitted: auto-replied"),
        (
            {"Auto_Submitted": "auto-generated; owner-email=x@example.org"},
            "Auto-Submitted",
        ),
        ({"X_Autoreply": "yes"}, "X-Autoreply header"),
        ({"X_Autorespond": "Out of office"}, "X-Autorespond header"),
        ({"Precedence": "auto_reply"}, "Precedence: auto_reply"),
        ({"Precedence": "bulk"}, "Precedence: bulk"),
        ({"Precedence": "junk"}, "Precedence: junk"),
    ],
)
def test_automatic_reply_headers(headers: dict[str, str], reason: str) -> None:
    result = classify_reply(make_message("Re: Invoice INV-42", "Thanks", **headers))
    assert result.kind is ReplyKind.AUTOMATIC
    assert reason in result.reason


def test_auto_submitted_no_is_human() -> None:
    result = classify_reply(
        make_message("Re: Invoice INV-42", "Paid today.", Auto_Submitted="no")
    )
    assert result.kind is ReplyKind.HUMAN
    assert result.new_text == "Paid today."


def test_auto_response_suppress_alone_is_human() -> None:
    raw = make_message(
        "Re: Invoice INV-42", "Will pay Friday.", X_Auto_Response_Suppress="All"
    )
    assert classify_reply(raw).kind is ReplyKind.HUMAN


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Invoice INV-42",
        "Automatic reply: Invoice INV-42",
        "Auto: Invoice INV-42",
        "Autoreply: Invoice INV-42",
        "Abwesenheitsnotiz: Rechnung INV-42",
        "Réponse automatique : Facture INV-42",
        "不在のお知らせ",
        "自動返信：請求書INV-42",
        "【自動応答】請求書について",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    assert classify_reply(make_message(subject, "Away.")).kind is ReplyKind.AUTOMATIC


def test_japanese_out_of_office_return_date() -> None:
    raw = make_message("自動返信", "誠に勝手ながら、3月12日に戻ります。")
    assert classify_reply(raw).return_date == date(2026, 3, 12)


def test_human_reply_quotes_removed() -> None:
    body = (
        "Sorry for the delay, paid today.\n\n"
        "On Mon, 2 Mar 2026 at 09:00, Me <me@consultant.example> wrote:\n"
        "> Dear client,\n> invoice INV-42 is overdue.\n"
    )
    result = classify_reply(make_message("Re: Invoice INV-42", body))
    assert result.kind is ReplyKind.HUMAN
    assert result.new_text == "Sorry for the delay, paid today."


def test_bottom_posted_reply_keeps_answer() -> None:
    body = "Me wrote:\n> Is invoice INV-42 paid?\n\nYes, on Friday.\n"
    assert strip_quoted_text(body) == "Yes, on Friday."


def test_empty_body_gives_empty_text() -> None:
    assert strip_quoted_text("  \n") == ""


SENT = datetime(2026, 3, 4, 9, 0, tzinfo=timezone.utc)  # a Wednesday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I will be back on March 12", date(2026, 3, 12)),
        ("I will be back on March 12th.", date(2026, 3, 12)),
        ("returning 12/03", date(2026, 3, 12)),  # 12 March is nearer than 3 December
        ("returning 03/12", date(2026, 3, 12)),
        ("back on 12.03.", date(2026, 3, 12)),
        ("back on Monday 9 March 2026", date(2026, 3, 9)),
        ("back on Mon, March 9, 2026", date(2026, 3, 9)),
        ("I am away until May 5th.", date(2026, 5, 5)),
        ("Back Monday", date(2026, 3, 9)),
        ("Returning 2026-03-20", date(2026, 3, 20)),
        ("I will return on 03/20/2026", date(2026, 3, 20)),
        ("out until 2 January", date(2027, 1, 2)),  # already past this year
        ("ich bin ab dem 16.03.2026 wieder erreichbar", date(2026, 3, 16)),
        ("3月12日に戻ります", date(2026, 3, 12)),
        ("2026年3月16日(月)まで不在にしております", date(2026, 3, 16)),
        ("3月16日から出社いたします", date(2026, 3, 16)),
        ("Meeting on March 12", None),
        ("I'm only sleeping.", None),
        ("back on 31 February", None),
    ],
)
def test_parse_return_date(text: str, expected: date | None) -> None:
    assert parse_return_date(text, SENT) == expected


def test_return_date_needs_year_or_sent_date() -> None:
    assert parse_return_date("back on March 12", None) is None
    assert parse_return_date("back on 12 March 2026", None) == date(2026, 3, 12)
