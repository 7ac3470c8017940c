"""Delivery failure detection over the real bounce corpus and DSNs built here."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from assistant.bounces import DeliveryFailure, detect_delivery_failure, is_read_receipt
from assistant.mail_parse import parse_message

# Files that are not bounces, and why.
NOT_BOUNCES = {
    "flanker_no-mx.eml": "Action: delayed, still being retried",
    "flanker_yahoo.eml": "abuse feedback report (ARF)",
    "mikel_report_422.eml": "Action: delayed warning after 8 hours",
    "mimekit_disposition-notification.anonymized.eml": "read receipt (MDN)",
    "sisimai_arf-01.eml": "abuse feedback report (ARF)",
    "sisimai_is-not-bounce-01.eml": "ordinary message",
    "sisimai_lhost-gmail-06.eml": "Gmail delay notification",
    # Every field of this DSN, recipient included, is replaced by x's.
    "mimekit_delivery-status.anonymized.eml": "no readable recipient",
    # A gb2312 notice whose text does not decode and that names no recipient.
    "phpmime_failure.eml": "no readable recipient",
}

# file: (a failed address, permanent, original Message-ID or None)
BOUNCES = {
    # Sendmail gave up after 5 days ("Action: failed", "Status: 4.0.0"): the
    # message was dropped, so it is a failure, but a transient one.
    "flanker_delayed.eml": ("foo@example.com", False, None),
    "flanker_delayed-broken.eml": ("demo@example.com", False, None),
    "flanker_broken-mime.eml": ("info@example.net", True, None),
    "flanker_gmail-invalid-address.eml": (
        "awfawfawfawfawfaw@someserverhere.com",
        True,
        "<CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com>",
    ),
    "flanker_mailbox-full.eml": (
        "user@aol.com",
        True,
        "<4E326A95.3010907@example.com>",
    ),
    "flanker_office365.eml": (
        "noname@example.com",
        True,
        "<20171013111011.20866.254C2F3A4D7AA526@ninomail.com>",
    ),
    "flufl_aol_01.eml": ("screenname@aol.com", True, None),
    "flufl_caiwireless_01.eml": ("userx@example.com", True, None),
    "flufl_dsn_03.eml": (
        "userx@example.be",
        True,
        "<31575A892FF6D1118F5800600846864D5B17D1@intrepid>",
    ),
    "flufl_dsn_11.eml": (
        "joem@example.com",
        True,
        "<mailman.0.1035637201.19036.mailman-developers@python.org>",
    ),
    "flufl_groupwise_02.eml": ("userx@example.com", True, None),
    "flufl_microsoft_02.eml": ("userx@example.com", True, None),
    "flufl_postfix_01.eml": ("xxxxx@local.ie", True, None),
    "flufl_qmail_01.eml": ("userx@example.de", True, None),
    "flufl_simple_01.eml": ("bbbsss@example.com", True, None),
    "flufl_smtp32_01.eml": ("userx@example.ph", True, None),
    "flufl_yahoo_01.eml": ("userx@example.com", True, None),
    "mikel_multipart_report_multiple_status.eml": (
        "u@ci.com",
        True,
        "<4c2a146147ac8_61ff157c4ec1652df@s.h.c.mail>",
    ),
    "mikel_report_530.eml": (
        "edwin@zzzzzzz.com",
        True,
        "<200712232303.lBNN3jDq002941@mail12.rrrr.com.au>",
    ),
    "mimekit_delivery-status-multiple-blank-lines.eml": (
        "orig_recip@customer.com",
        True,
        None,
    ),
    "sisimai_dos_lhost-postfix-01.eml": ("kijitora@example.org", True, None),
    "sisimai_lhost-amazonses-01.eml": (
        "shironeko@example.co.jp",
        True,
        "<000001321defbd2a-788e31c8-2be1-422f-a8d4-cf7765cc9ed7-000000@email.amazonses.com>",
    ),
    "sisimai_lhost-courier-01.eml": ("kijitora@example.co.jp", True, None),
    "sisimai_lhost-domino-01.eml": ("kijitora@example.jp", True, None),
    "sisimai_lhost-einsundeins-02.eml": (
        "kijitora@example.org",
        True,
        "<eeeeeeee.neko.000000000nyaaan-00@smtp.example.jp>",
    ),
    "sisimai_lhost-exchange2007-01.eml": ("mikeneko@example.co.jp", True, None),
    "sisimai_lhost-exim-02.eml": (
        "sabatora@example.jp",
        True,
        "<E1X58pB-0004bW-2s@marutamachi.example.org>",
    ),
    "sisimai_lhost-ezweb-01.eml": (
        "this-message-rejected-by-the-domain-filter@ezweb.ne.jp",
        True,
        "<20080907124011.12ABCD8@lsean.ezweb.ne.jp>",
    ),
    "sisimai_lhost-gmail-01.eml": (
        "userunknown@example.jp",
        True,
        "<D992C2C3-F175-4C4D-97E2-53A90E4E5BF5@gmail.com>",
    ),
    "sisimai_lhost-gmail-15.eml": (
        "mikeneko@libsisimai.org",
        True,
        "<CAByYQsHq=c+uz-ubnN2pG3n256yS7P18KDbG6oStGF5bChUhyw@mail.google.example.com>",
    ),
    "sisimai_lhost-gmx-01.eml": (
        "shironeko@example.jp",
        True,
        "<trinity-d174cb7e-d4a8-4dd5-8b53-7a9f70928e75-1417217529360@3capp-mailcom-lxa02>",
    ),
    "sisimai_lhost-googleworkspace-01.eml": (
        "neko-nyaan-cat-meeting@google-groups.example.com",
        True,
        "<CAByYQsF5qdTf_h-1AAVPW0RgR1YN+LE=+0Uv9LpQ4aA_myPtCw@mail.gmail.com>",
    ),
    "sisimai_lhost-kddi-01.eml": (
        "kijitora@x0000000000000.dion.ne.jp",
        True,
        "<2013000000000000@example.jp>",
    ),
    "sisimai_lhost-mailru-01.eml": (
        "kijitora@example.jp",
        True,
        "<8F3CE2D8-D60E-48C3-B9AF-BED628EE2CA5@mail.example.ru>",
    ),
    "sisimai_lhost-mcafee-01.eml": (
        "kijitora@example.co.jp",
        True,
        "<000000000000000000000.shironeko@example.jp>",
    ),
    "sisimai_lhost-office365-01.eml": (
        "kijitora@example.com",
        True,
        "<FFFFFFFF.EEEEEEEE@example.ed.jp>",
    ),
    "sisimai_lhost-opensmtpd-01.eml": (
        "apdugoaidugoaidugoaeiudggadi@gmail.com",
        True,
        None,
    ),
    "sisimai_lhost-outlook-01.eml": (
        "kijitora@example.jp",
        True,
        "<BLU436-SMTP6645ECA6E7FEFFE86D040BBA770@phx.gbl>",
    ),
    "sisimai_lhost-postfix-01.eml": ("kijitora@example.org", True, None),
    "sisimai_lhost-qmail-01.eml": (
        "kijitora@example.ne.jp",
        True,
        "<000000000.9999999999999.JavaMail.postmaster@mailhub>",
    ),
    "sisimai_lhost-sendgrid-01.eml": (
        "kijitora@example.jp",
        True,
        "<F9B4AEED-722D-47FD-929E-3625AF2161BB@example.jp>",
    ),
    "sisimai_lhost-sendmail-01.eml": (
        "userunknown@bouncehammer.jp",
        True,
        "<E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org>",
    ),
    # "421 ... Deferred" for 4 days, then given up.
    "sisimai_lhost-v5sendmail-01.eml": ("kijitora@example.com", False, None),
    "sisimai_lhost-yahoo-01.eml": (
        "kijitora@example.org",
        True,
        "<6AE6249A-E7A8-4980-862C-F499F6B8E7C5@y.example.co.jp>",
    ),
    "sisimai_lhost-yandex-01.eml": (
        "kijitora@example.jp",
        True,
        "<446281417885946@web20h.yandex.ru>",
    ),
    "sisimai_lhost-zoho-01.eml": (
        "kijitora@example.co.jp",
        True,
        "<14a3e1b4b5a.10b1a4c5610175.8588386083425091336@zoho.example.com>",
    ),
    "sisimai_rfc3464-01.eml": (
        "userunknown@bouncehammer.jp",
        True,
        "<E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org>",
    ),
    "sisimai_rhost-apple-01.eml": (
        "kijitora@example.jp",
        True,
        "<c15e793e1c6acf9fbc39d1547bbd98b4@example.com>",
    ),
    "sisimai_rhost-franceptt-01.eml": (
        "pseudo-local-part-kijitora-nyaaan@orange.fr",
        True,
        "<20FA40A8-4F88-4453-953D-B7038769D040@example.co.jp>",
    ),
    "sisimai_rhost-google-01.eml": ("shironeko@example.ne.jp", True, None),
    "sisimai_rhost-gsuite-01.eml": (
        "kijitora@example.de",
        True,
        "<00222222-2222-2222-2222-FF00FFFF0000@example.jp>",
    ),
}


def read_bounce(corpus_dir: Path, name: str) -> bytes:
    return (corpus_dir / "bounces" / name).read_bytes()


def test_every_corpus_bounce_has_expectation(corpus_dir: Path) -> None:
    names = {path.name for path in (corpus_dir / "bounces").iterdir()}
    assert names == set(NOT_BOUNCES) | set(BOUNCES)


@pytest.mark.parametrize("name", sorted(NOT_BOUNCES))
def test_corpus_message_not_a_bounce(corpus_dir: Path, name: str) -> None:
    assert detect_delivery_failure(read_bounce(corpus_dir, name)) is None, NOT_BOUNCES[
        name
    ]


@pytest.mark.parametrize("name", sorted(BOUNCES))
def test_corpus_bounce_detected(corpus_dir: Path, name: str) -> None:
    address, permanent, original_id = BOUNCES[name]
    failure = detect_delivery_failure(read_bounce(corpus_dir, name))
    assert failure is not None
    assert address in failure.failed_addresses
    assert failure.permanent is permanent
    assert failure.original_message_id == original_id


def test_corpus_failed_addresses_are_clean(corpus_dir: Path) -> None:
    for name in BOUNCES:
        failure = detect_delivery_failure(read_bounce(corpus_dir, name))
        assert failure is not None
        for address in failure.failed_addresses:
            assert address == address.lower(), name
            assert address.count("@") == 1, f"{name}: {address}"
            assert not address.startswith("mailto:"), name


def test_zoho_quoted_sender_not_reported(corpus_dir: Path) -> None:
    failure = detect_delivery_failure(
        read_bounce(corpus_dir, "sisimai_lhost-zoho-01.eml")
    )
    assert failure is not None
    assert failure.failed_addresses == ("kijitora@example.co.jp",)


def test_postfix_reports_original_recipient(corpus_dir: Path) -> None:
    # Final-Recipient is the alias-expanded local mailbox; the sender wrote
    # the Original-Recipient.
    failure = detect_delivery_failure(
        read_bounce(corpus_dir, "sisimai_lhost-postfix-01.eml")
    )
    assert failure is not None
    assert failure.failed_addresses == ("kijitora@example.org",)


def test_original_subject_decoded(corpus_dir: Path) -> None:
    failure = detect_delivery_failure(
        read_bounce(corpus_dir, "sisimai_lhost-sendmail-01.eml")
    )
    assert failure is not None
    assert failure.original_subject == "バウンスメールのテスト(日本語)"


def test_read_receipt_recognised(corpus_dir: Path) -> None:
    raw = read_bounce(corpus_dir, "mimekit_disposition-notification.anonymized.eml")
    assert is_read_receipt(parse_message(raw).message)


def test_no_corpus_file_raises(corpus_dir: Path) -> None:
    for folder in ("bounces", "mime", "replies", "payments", "mbox"):
        for path in sorted((corpus_dir / folder).iterdir()):
            result = detect_delivery_failure(path.read_bytes())
            assert result is None or isinstance(result, DeliveryFailure), path.name


def test_human_mail_never_a_bounce(corpus_dir: Path) -> None:
    for path in sorted((corpus_dir / "replies").glob("talon_*.eml")):
        assert detect_delivery_failure(path.read_bytes()) is None, path.name


def make_dsn(
    action: str,
    status: str,
    *,
    original_headers: str
    | None = "Message-ID: <inv-42@consultant.example>\nSubject: Invoice INV-42\n",
    in_reply_to: str | None = None,
) -> bytes:
    """Build an RFC 3464 multipart/report for one recipient, as raw bytes."""
    lines = [
        "From: Mail Delivery Subsystem <mailer-daemon@mx.example.net>",
        "To: me@consultant.example",
        "Subject: Delivery Status Notification",
        "Message-ID: <dsn-1@mx.example.net>",
        *([f"In-Reply-To: {in_reply_to}"] if in_reply_to else []),
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
        "",
        "--b1",
        "Content-Type: text/plain",
        "",
        "Delivery to client@example.org: see below.",
        "--b1",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.example.net",
        "",
        "Final-Recipient: rfc822; Client@Example.org",
        f"Action: {action}",
        f"Status: {status}",
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown",
        "",
    ]
    if original_headers is not None:
        lines += ["--b1", "Content-Type: text/rfc822-headers", "", original_headers]
    lines.append("--b1--")
    return "\r\n".join(lines).encode("ascii")


def test_built_dsn_failed() -> None:
    failure = detect_delivery_failure(make_dsn("failed", "5.1.1"))
    assert failure == DeliveryFailure(
        failed_addresses=("client@example.org",),
        original_message_id="<inv-42@consultant.example>",
        original_subject="Invoice INV-42",
        permanent=True,
        diagnostic="550 5.1.1 user unknown",
    )


def test_built_dsn_delayed_not_bounce() -> None:
    assert detect_delivery_failure(make_dsn("delayed", "4.4.7")) is None


def test_built_dsn_delivered_not_bounce() -> None:
    assert detect_delivery_failure(make_dsn("delivered", "2.0.0")) is None


def test_built_dsn_transient_failure() -> None:
    failure = detect_delivery_failure(make_dsn("failed", "4.2.2"))
    assert failure is not None
    assert failure.permanent is False


def test_built_dsn_original_from_in_reply_to() -> None:
    raw = make_dsn(
        "failed",
        "5.1.1",
        original_headers=None,
        in_reply_to="<inv-43@consultant.example>",
    )
    failure = detect_delivery_failure(raw)
    assert failure is not None
    assert failure.original_message_id == "<inv-43@consultant.example>"


def test_x_failed_recipients_header() -> None:
    message = EmailMessage()
    message["From"] = "Mail Delivery System <Mailer-Daemon@mx.example.net>"
    message["To"] = "me@consultant.example"
    message["Subject"] = "Mail delivery failed: returning message to sender"
    message["X-Failed-Recipients"] = "client@example.org"
    message.set_content(
        "This message was created automatically by mail delivery software.\n"
    )
    failure = detect_delivery_failure(message.as_bytes())
    assert failure is not None
    assert failure.failed_addresses == ("client@example.org",)


def test_human_reply_quoting_bounce_text() -> None:
    message = EmailMessage()
    message["From"] = "Client <client@example.org>"
    message["To"] = "me@consultant.example"
    message["Subject"] = "Re: Invoice INV-42"
    message.set_content(
        "My old address bounced, sorry:\n"
        "> 550 5.1.1 <old@example.org>... User unknown\n"
        "> Delivery has failed to these recipients\n"
    )
    assert detect_delivery_failure(message.as_bytes()) is None


@pytest.mark.parametrize(
    "raw", [b"", b"\x00\xff garbage", b"Content-Type: multipart/report\n\n--"]
)
def test_garbage_not_a_bounce(raw: bytes) -> None:
    assert detect_delivery_failure(raw) is None
