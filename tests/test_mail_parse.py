"""Parsing raw messages into ParsedMessage, over the real MIME corpus and messages built here."""

from __future__ import annotations

from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from assistant.mail_parse import (
    Address,
    ParsedMessage,
    as_parsed,
    decode_header_text,
    html_to_text,
    normalize_message_id,
    parse_message,
    parse_message_ids,
)


def read_mime(corpus_dir: Path, name: str) -> ParsedMessage:
    return parse_message((corpus_dir / "mime" / name).read_bytes())


def test_every_corpus_file_parses(corpus_dir: Path) -> None:
    for folder in ("mime", "bounces", "replies", "payments", "mbox"):
        for path in sorted((corpus_dir / folder).iterdir()):
            parsed = parse_message(path.read_bytes())
            assert isinstance(parsed.subject, str), path.name
            assert isinstance(parsed.body_text, str), path.name
            assert parsed.date is None or parsed.date.tzinfo is timezone.utc, path.name


@pytest.mark.parametrize(
    ("name", "subject"),
    [
        ("mimekit_japanese.eml", "日本語メールテスト (testing Japanese emails)"),
        # ISO-2022-JP with an NEC row character ("№"), which Python's codec rejects.
        ("phpmime_issue116.eml", "ЖД№41 от 28.09.2016"),
        (
            "phpmime_issue149.eml",
            "מענה 'אני לא נמצא': Invoice 02722027",
        ),  # iso-8859-8-i
        ("phpmime_m0022.eml", "[PRJ-OTH] asdf  árvíztűrő tükörfúrógép"),
        ("thunderbird_sample04.eml", "Алфавит"),
        ("mikel_utf8_headers.eml", "Säying Hello"),
        ("mikel_attachment_pdf.eml", "Another PDF with 🎉 Unicode chars in it 🍿"),
    ],
)
def test_corpus_subject_decoded(corpus_dir: Path, name: str, subject: str) -> None:
    assert read_mime(corpus_dir, name).subject == subject


def test_japanese_body_decoded(corpus_dir: Path) -> None:
    assert "日本語" in read_mime(corpus_dir, "mimekit_japanese.eml").body_text


def test_shift_jis_body_decoded(corpus_dir: Path) -> None:
    body = read_mime(corpus_dir, "mikel_japanese_shift_jis.eml").body_text
    assert "\ufffd" not in body
    assert any(
        "\u3040" <= char <= "\u30ff" or "\u4e00" <= char <= "\u9fff" for char in body
    )


@pytest.mark.parametrize(
    ("name", "defect"),
    [
        ("cpython_msg_15.eml", "StartBoundaryNotFoundDefect"),
        ("cpython_msg_35.eml", "MissingHeaderBodySeparatorDefect"),
        ("flanker_missing-final-boundary.eml", "CloseBoundaryNotFoundDefect"),
        ("mikel_bad_date_header.eml", "invalid Date header"),
        ("zbateson_invalid-charset.eml", "unknown charset 'invalid-charset'"),
        ("phpmime_m0016.eml", "2 From headers"),
    ],
)
def test_broken_message_records_defect(
    corpus_dir: Path, name: str, defect: str
) -> None:
    defects = read_mime(corpus_dir, name).defects
    assert any(defect in recorded for recorded in defects), defects


def test_bad_date_is_none(corpus_dir: Path) -> None:
    assert read_mime(corpus_dir, "mikel_bad_date_header.eml").date is None


def test_addresses_with_commas_in_names(corpus_dir: Path) -> None:
    parsed = read_mime(corpus_dir, "mailparser_mail_test_18.eml")
    assert parsed.from_addresses == [
        Address("LastßlName, FirstName", "comma.name@example.com")
    ]
    assert parsed.cc_addresses == [
        Address("", "simple@example.net"),
        Address('John "Johnny" Doe', "john.doe@example.com"),
    ]


def test_pdf_attachment_extracted(corpus_dir: Path) -> None:
    attachments = read_mime(corpus_dir, "mikel_attachment_pdf.eml").attachments
    assert len(attachments) == 1
    assert attachments[0].content_type == "application/pdf"
    assert attachments[0].data.startswith(b"%PDF")


def test_non_ascii_attachment_name(corpus_dir: Path) -> None:
    attachments = read_mime(
        corpus_dir, "mikel_attachment_nonascii_filename.eml"
    ).attachments
    assert attachments[0].filename == "ciële.txt"


def test_attached_message_kept_whole(corpus_dir: Path) -> None:
    attachments = read_mime(
        corpus_dir, "mikel_attachment_message_rfc822.eml"
    ).attachments
    assert [a.content_type for a in attachments] == ["message/rfc822"]
    assert b"Subject:" in attachments[0].data


def test_html_only_body_converted(corpus_dir: Path) -> None:
    body = read_mime(corpus_dir, "cpython_msg_40.eml").body_text
    assert "<" not in body
    assert body.strip()


def test_multiple_references_kept_in_order(corpus_dir: Path) -> None:
    parsed = read_mime(corpus_dir, "mikel_multiple_references_with_one_invalid.eml")
    assert parsed.references
    assert all(reference.startswith("<") for reference in parsed.references)


def build_reply() -> EmailMessage:
    message = EmailMessage()
    message["From"] = '"Client, Acme" <Client@Example.ORG>'
    message["To"] = "Me <me@consultant.example>"
    message["Cc"] = "books@example.org"
    message["Subject"] = "Re: 請求書 INV-42"
    message["Date"] = "Wed, 04 Mar 2026 18:30:00 +0900"
    message["Message-ID"] = "<reply-1@example.org>"
    message["In-Reply-To"] = "<inv-42@consultant.example>"
    message["References"] = "<inv-40@consultant.example> <inv-42@consultant.example>"
    message.set_content("Paid.\n")
    message.add_attachment(
        b"%PDF-1.4 receipt",
        maintype="application",
        subtype="pdf",
        filename="Beleg_INV-42.pdf",
    )
    return message


def test_built_reply_fields() -> None:
    parsed = parse_message(build_reply().as_bytes())
    assert parsed.message_id == "<reply-1@example.org>"
    assert parsed.in_reply_to == "<inv-42@consultant.example>"
    assert parsed.references == [
        "<inv-40@consultant.example>",
        "<inv-42@consultant.example>",
    ]
    assert parsed.from_addresses == [Address("Client, Acme", "client@example.org")]
    assert parsed.sender == "client@example.org"
    assert parsed.to_addresses == [Address("Me", "me@consultant.example")]
    assert parsed.cc_addresses == [Address("", "books@example.org")]
    assert parsed.subject == "Re: 請求書 INV-42"
    assert parsed.date == datetime(2026, 3, 4, 9, 30, tzinfo=timezone.utc)
    assert parsed.body_text == "Paid.\n"
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("Beleg_INV-42.pdf", "application/pdf")
    ]
    assert parsed.defects == []


def test_as_parsed_accepts_all_forms() -> None:
    message = build_reply()
    parsed = as_parsed(message.as_bytes())
    assert as_parsed(parsed) is parsed
    assert as_parsed(message).message_id == "<reply-1@example.org>"


def test_header_accessor() -> None:
    parsed = parse_message(
        b"Subject: =?utf-8?q?caf=C3=A9?=\nX-Tag: a\nX-Tag: b\n\nbody\n"
    )
    assert parsed.header("subject") == "café"
    assert parsed.header_values("X-Tag") == ["a", "b"]
    assert parsed.header("Missing") is None


def test_date_without_zone_is_utc() -> None:
    parsed = parse_message(b"Date: Wed, 04 Mar 2026 09:00:00 -0000\n\nx\n")
    assert parsed.date == datetime(2026, 3, 4, 9, 0, tzinfo=timezone.utc)


def test_raw_iso_2022_jp_subject() -> None:
    raw = b"Subject: " + "請求書".encode("iso-2022-jp") + b"\n\nx\n"
    assert parse_message(raw).subject == "請求書"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\x01\x02",
        b"From: \n\n",
        b"Subject: =?x-unknown?B?////?=\n\n",
        b"Date: never\n\n",
        b"Content-Type: multipart/mixed; boundary=\n\n--\n",
        b"Content-Type: text/plain; charset=bogus\n\n\xff\xfe",
    ],
)
def test_garbage_never_raises(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert isinstance(parsed, ParsedMessage)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@b>", "<a@b>"),
        ("  <a@b> (comment)", "<a@b>"),
        ("a@b", "<a@b>"),
        ("", None),
        (None, None),
    ],
)
def test_normalize_message_id(value: str | None, expected: str | None) -> None:
    assert normalize_message_id(value) == expected


def test_parse_message_ids_without_brackets() -> None:
    assert parse_message_ids("a@b c@d") == ["<a@b>", "<c@d>"]


def test_decode_header_text_folds_lines() -> None:
    assert (
        decode_header_text("=?utf-8?q?Rechnung?=\r\n =?utf-8?q?_f=C3=BCr?=")
        == "Rechnung für"
    )


def test_html_to_text_drops_markup() -> None:
    html = "<html><head><style>p{}</style></head><body><p>Invoice&nbsp;INV-1</p><br>Total<script>x</script></body>"
    assert html_to_text(html) == "Invoice INV-1\n\nTotal"
