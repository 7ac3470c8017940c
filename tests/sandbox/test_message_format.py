"""Raw RFC 822 bytes to index facts and Gmail MessagePart resources."""

from __future__ import annotations

import base64
from email.message import EmailMessage

import pytest

from assistant.sandbox import message_format as mf


def _invoice_mail() -> bytes:
    message = EmailMessage()
    message["From"] = '"Zoë Ferreira" <zoe@consult.example>'
    message["To"] = "Ana <ana@client.example>, bob@client.example"
    message["Cc"] = "=?utf-8?q?J=C3=BCrgen?= <jurgen@client.example>"
    message["Subject"] = "Invoice 2026-014 – March"
    message["Message-ID"] = "<inv-014@consult.example>"
    message["Date"] = "Mon, 02 Mar 2026 05:17:00 +0000"
    message.set_content("Hello Ana,\n\nplease find   invoice 2026-014 attached.\n")
    message.add_alternative(
        "<p>Hello Ana, <b>invoice</b> &amp; terms</p>", subtype="html"
    )
    message.add_attachment(
        b"%PDF-1.4 fake",
        maintype="application",
        subtype="pdf",
        filename="invoice-2026-014.pdf",
    )
    return message.as_bytes()


def test_summary_decodes_addresses_and_subject() -> None:
    summary = mf.summarize(_invoice_mail())

    assert summary.subject == "Invoice 2026-014 – March"
    assert summary.rfc822_msgid == "inv-014@consult.example"
    assert ("from", "zoe@consult.example", "Zoë Ferreira") in summary.addresses
    assert ("to", "bob@client.example", "") in summary.addresses
    assert ("cc", "jurgen@client.example", "Jürgen") in summary.addresses
    assert summary.sender_text == "Zoë Ferreira <zoe@consult.example>"
    assert summary.date_ms == 1772428620000


def test_summary_collects_body_and_filenames() -> None:
    summary = mf.summarize(_invoice_mail())

    assert summary.filenames == ["invoice-2026-014.pdf"]
    assert summary.has_attachment
    assert "please find   invoice" in summary.body_text
    assert "invoice & terms" in summary.body_text  # HTML part, tags stripped


def test_snippet_collapses_whitespace() -> None:
    # users.messages reference: snippet is "a short part of the message text".
    summary = mf.summarize(_invoice_mail())

    assert summary.snippet == "Hello Ana, please find invoice 2026-014 attached."


def test_snippet_from_html_unescapes_entities() -> None:
    raw = (
        b"Content-Type: text/html\r\n\r\n<style>p{}</style><p>Fish &amp; chips"
        b" &#8364;5</p>"
    )
    assert mf.summarize(raw).snippet == "Fish & chips \u20ac5"


def test_snippet_is_about_200_characters() -> None:
    raw = b"Subject: long\r\n\r\n" + b"word " * 200
    assert len(mf.summarize(raw).snippet) <= mf.SNIPPET_LENGTH


@pytest.mark.parametrize(
    ("subject", "normal"),
    [
        ("Invoice 7", "invoice 7"),
        ("Re: Invoice 7", "invoice 7"),
        ("RE: Fwd: re:  Invoice   7 ", "invoice 7"),
        ("Fw: invoice 7", "invoice 7"),
        ("Re[2]: Invoice 7", "invoice 7"),
        ("Reminder: Invoice 7", "reminder: invoice 7"),
    ],
)
def test_normalize_subject(subject: str, normal: str) -> None:
    assert mf.normalize_subject(subject) == normal


def test_thread_references_put_in_reply_to_first() -> None:
    raw = b"In-Reply-To: <b@x>\r\nReferences: <a@x> <b@x>\r\nSubject: s\r\n\r\nbody"
    assert mf.summarize(raw).thread_references == ["b@x", "a@x"]


def test_payload_tree_part_ids() -> None:
    # users.messages reference, MessagePart.partId; Gmail numbers children
    # "0", "1" under the root "" and "0.1" for nested parts.
    payload = mf.payload_resource(_invoice_mail())

    assert payload["partId"] == ""
    assert payload["mimeType"] == "multipart/mixed"
    assert payload["body"] == {"size": 0}
    alternative, attachment = payload["parts"]
    assert alternative["partId"] == "0"
    assert [p["partId"] for p in alternative["parts"]] == ["0.0", "0.1"]
    assert attachment["partId"] == "1"
    assert attachment["filename"] == "invoice-2026-014.pdf"


def test_payload_text_body_inline_attachment_by_id() -> None:
    payload = mf.payload_resource(_invoice_mail())
    plain = payload["parts"][0]["parts"][0]
    attachment = payload["parts"][1]

    text = base64.urlsafe_b64decode(plain["body"]["data"])
    assert text.startswith(b"Hello Ana,")
    assert plain["body"]["size"] == len(text)
    assert "data" not in attachment["body"]
    assert attachment["body"]["size"] == len(b"%PDF-1.4 fake")
    part_id = mf.part_id_for(attachment["body"]["attachmentId"])
    assert mf.find_part_bytes(_invoice_mail(), part_id) == b"%PDF-1.4 fake"


def test_payload_headers_keep_raw_order() -> None:
    payload = mf.payload_resource(_invoice_mail())
    names = [h["name"] for h in payload["headers"]]

    assert names[:4] == ["From", "To", "Cc", "Subject"]
    cc = next(h["value"] for h in payload["headers"] if h["name"] == "Cc")
    assert cc == "Jürgen <jurgen@client.example>"


def test_metadata_payload_filters_headers() -> None:
    payload = mf.metadata_payload(_invoice_mail(), ["subject", "MESSAGE-ID"])
    assert [h["name"] for h in payload["headers"]] == ["Subject", "Message-ID"]
    assert "body" not in payload


def test_add_missing_headers_keeps_existing() -> None:
    raw = b"From: a@x\r\nSubject: s\r\n\r\nbody"
    completed = mf.add_missing_headers(
        raw, [("From", "b@x"), ("Date", "Mon, 02 Mar 2026")]
    )

    assert completed.endswith(raw)
    assert completed.startswith(b"Date: Mon, 02 Mar 2026\r\n")
    assert b"b@x" not in completed


def test_undecodable_header_survives() -> None:
    raw = b"Subject: =?x-unknown?q?caf=E9?= \xff\xfe\r\nFrom: a@x\r\n\r\nbody"
    summary = mf.summarize(raw)
    assert summary.subject  # decoded as far as possible, never an exception


def test_invalid_date_gives_none() -> None:
    assert mf.date_header_ms("not a date") is None
    assert mf.date_header_ms(None) is None
