"""Loading .eml folders, Takeout mboxes and plain mboxes into the sandbox."""

from __future__ import annotations

import logging
import mailbox
from email.message import EmailMessage
from pathlib import Path

import pytest

from assistant.errors import SandboxError
from assistant.sandbox.loading import from_line_date_ms, iter_mbox, load_mailbox
from assistant.sandbox.store import MailStore

OWNER = "zoe@consult.example"


@pytest.fixture
def store() -> MailStore:
    store = MailStore()
    store.set_user_email(OWNER)
    return store


def mail(
    subject: str,
    sender: str,
    *,
    msgid: str,
    reply_to: str | None = None,
    date: str = "Mon, 02 Mar 2026 05:17:00 +0000",
    extra: dict[str, str] | None = None,
    body: str = "Hello.",
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "ana@client.example" if sender == OWNER else OWNER
    message["Subject"] = subject
    message["Message-ID"] = f"<{msgid}>"
    message["Date"] = date
    if reply_to:
        message["In-Reply-To"] = f"<{reply_to}>"
        message["References"] = f"<{reply_to}>"
    for name, value in (extra or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    box = mailbox.mbox(path)
    for raw in messages:
        box.add(raw)
    box.flush()
    box.close()
    return path


def test_plain_mbox_threads_by_headers(store: MailStore, tmp_path: Path) -> None:
    path = write_mbox(
        tmp_path / "mail.mbox",
        [
            mail("Invoice 7", OWNER, msgid="inv7@x"),
            mail(
                "Re: Invoice 7",
                "ana@client.example",
                msgid="r1@y",
                reply_to="inv7@x",
                date="Tue, 03 Mar 2026 09:00:00 +0000",
            ),
            mail("Hello", "bob@client.example", msgid="h@z"),
        ],
    )
    report = load_mailbox(store, path)

    assert report.kind == "mbox"
    assert report.loaded == 3
    threads = store.list_threads()["threads"]
    assert len(threads) == 2
    thread = store.thread_resource(threads[0]["id"], "minimal")
    assert [m["labelIds"] for m in thread["messages"]] == [["SENT"], ["INBOX"]]
    # internalDate comes from the Date header for loaded mail.
    assert thread["messages"][1]["internalDate"] == "1772528400000"


def test_takeout_mbox_labels_and_threads(store: MailStore, tmp_path: Path) -> None:
    key = "1692823447563523874"
    path = write_mbox(
        tmp_path / "All mail Including Spam and Trash.mbox",
        [
            mail(
                "Invoice 7",
                OWNER,
                msgid="a@x",
                extra={"X-GM-THRID": key, "X-Gmail-Labels": "Sent,Opened,Clients/Acme"},
            ),
            mail(
                "Re: Invoice 7",
                "ana@client.example",
                msgid="b@y",
                extra={
                    "X-GM-THRID": key,
                    "X-Gmail-Labels": "Inbox,Unread,Category Updates,Important",
                },
            ),
            mail(
                "Draft reply",
                OWNER,
                msgid="c@x",
                extra={"X-GM-THRID": "17", "X-Gmail-Labels": "Drafts,Archived"},
            ),
            mail(
                "Junk",
                "spam@bad.example",
                msgid="d@z",
                extra={"X-GM-THRID": "18", "X-Gmail-Labels": '"Spam","Starred"'},
            ),
        ],
    )
    report = load_mailbox(store, path)

    assert report.kind == "takeout-mbox"
    assert report.loaded == 4
    assert report.labels_created == ["Clients/Acme"]
    assert report.drafts == 1
    acme = store.label_id("Clients/Acme")
    thread = store.thread_resource(format(int(key), "x"), "minimal")
    assert [m["labelIds"] for m in thread["messages"]] == [
        sorted(["SENT", acme]),
        ["CATEGORY_UPDATES", "IMPORTANT", "INBOX", "UNREAD"],
    ]
    assert store.list_drafts()["resultSizeEstimate"] == 1
    assert store.list_messages(label_ids=["SPAM"])["messages"]


def test_eml_folder_loads_oldest_first(store: MailStore, tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    # The reply's file name sorts first, but its Date is later.
    (folder / "a-reply.eml").write_bytes(
        mail(
            "Re: Invoice 7",
            "ana@client.example",
            msgid="r@y",
            reply_to="inv@x",
            date="Wed, 04 Mar 2026 10:00:00 +0000",
        )
    )
    (folder / "b-invoice.eml").write_bytes(mail("Invoice 7", OWNER, msgid="inv@x"))
    report = load_mailbox(store, folder)

    assert report.kind == "eml-folder"
    assert report.loaded == 2
    assert store.profile()["threadsTotal"] == 1


@pytest.mark.parametrize("content", [b"", b"2", b"22", b"22\n"])
def test_tiny_mbox_loads_nothing(
    store: MailStore, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "tiny.mbox"
    path.write_bytes(content)
    assert load_mailbox(store, path).loaded == 0


def test_missing_path_is_clear_error(store: MailStore, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="not found"):
        load_mailbox(store, tmp_path / "nope.mbox")


def test_iter_mbox_keeps_from_sentences(tmp_path: Path) -> None:
    path = tmp_path / "m.mbox"
    path.write_bytes(
        b"From MAILER-DAEMON Sun Aug  7 11:40:37 2022\nSubject: a\n\nFrom time to time\n\n"
        b"From - \nSubject: b\n\nbody\n"
    )
    messages = list(iter_mbox(path))

    assert len(messages) == 2
    assert b"From time to time" in messages[0][1]
    assert from_line_date_ms(messages[0][0]) == 1659872437000


def test_from_line_date_used_without_date_header(
    store: MailStore, tmp_path: Path
) -> None:
    path = tmp_path / "m.mbox"
    path.write_bytes(
        b"From x@y Sun Aug  7 11:40:37 2022\nFrom: x@y\nSubject: a\n\nhi\n"
    )
    load_mailbox(store, path)
    message_id = store.list_messages()["messages"][0]["id"]
    assert (
        store.message_resource(message_id, "minimal")["internalDate"] == "1659872437000"
    )


def test_corpus_loads_without_crash(corpus_dir: Path, caplog) -> None:
    store = MailStore()
    store.set_user_email(OWNER)
    reports = []
    with caplog.at_level(logging.WARNING):
        for folder in ("mbox", "mime", "bounces", "replies"):
            for path in sorted((corpus_dir / folder).iterdir()):
                reports.append((path.name, load_mailbox(store, path)))

    by_name = {name: report for name, report in reports}
    total = sum(report.loaded for _, report in reports)
    for name, report in reports:
        for source, _reason in report.kept_raw:
            assert source.startswith(name)
            assert source in caplog.text
    # Every non-mbox file is one message; the mbox files hold 1, 3, 2, 1, 0, 0, 0.
    assert by_name["mimekit_simple.mbox"].loaded == 3
    assert by_name["mimekit_unmunged.mbox"].loaded == 2
    assert by_name["cpython_mailbox_01.mbox"].loaded == 1
    assert by_name["sisimai_size-0.mbox"].loaded == 0
    assert by_name["sisimai_size-2.mbox"].loaded == 0
    assert total == store.profile()["messagesTotal"]
    labels = {label["id"] for label in store.list_labels()}
    assert not any(label.startswith("Label_") for label in labels)
    inbox = store.get_label("INBOX")["messagesTotal"]
    assert inbox == total  # no corpus message is from the owner

    # The corpus contains no reply whose parent is also a top-level corpus
    # message: the Office 365 bounce names a message that exists only inside
    # other bounces, and its subject differs, so every thread has one message.
    assert store.profile()["threadsTotal"] == total

    # A reply to a real corpus message joins that message's thread.
    parent_raw = (corpus_dir / "replies" / "talon_gmail.eml").read_bytes()
    parent = store.add_message(parent_raw, label_ids=["INBOX"], thread_by_headers=True)
    resource = store.message_resource(
        parent["id"], "metadata", ["Message-ID", "Subject"]
    )
    headers = {h["name"].lower(): h["value"] for h in resource["payload"]["headers"]}
    reply = (
        f"From: {OWNER}\r\nTo: someone@example.com\r\nSubject: Re: {headers['subject']}\r\n"
        f"In-Reply-To: {headers['message-id']}\r\nReferences: {headers['message-id']}\r\n\r\n"
        "Thanks.\r\n"
    ).encode()
    sent = store.send_message(reply, thread_id=parent["threadId"])
    assert sent["threadId"] == parent["threadId"]
