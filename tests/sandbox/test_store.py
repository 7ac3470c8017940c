"""The sandbox mailbox over a real SQLite file: labels, threads, drafts, history."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.errors import AlreadyExists, InvalidArgument, NotFound
from assistant.sandbox.store import SYSTEM_LABELS, MailStore

START = datetime(2026, 3, 2, 5, 17, tzinfo=timezone.utc)
OWNER = "zoe@consult.example"


@pytest.fixture
def clock() -> SandboxClock:
    clock = SandboxClock()
    clock.set(START)
    return clock


@pytest.fixture
def store(tmp_path: Path, clock: SandboxClock) -> MailStore:
    store = MailStore(str(tmp_path / "mail.db"), clock=clock)
    store.set_user_email(OWNER)
    yield store
    store.close()


def mail(
    subject: str = "Invoice 7",
    *,
    sender: str = OWNER,
    to: str = "ana@client.example",
    body: str = "Please find invoice 7.",
    msgid: str | None = None,
    in_reply_to: str | None = None,
    date: str | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    if msgid:
        message["Message-ID"] = f"<{msgid}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
        message["References"] = f"<{in_reply_to}>"
    if date:
        message["Date"] = date
    message.set_content(body)
    return message.as_bytes()


def header(resource: dict, name: str) -> str | None:
    for item in resource["payload"]["headers"]:
        if item["name"].lower() == name.lower():
            return item["value"]
    return None


# -- ids and labels -----------------------------------------------------------


def test_ids_have_gmail_shapes(store: MailStore) -> None:
    sent = store.send_message(mail())
    draft = store.create_draft(mail("Other"))

    assert re.fullmatch(r"[0-9a-f]{16}", sent["id"])
    assert sent["threadId"] == sent["id"]  # a new thread takes its first message's id
    assert re.fullmatch(r"r\d+", draft["id"])


def test_system_labels_listed(store: MailStore) -> None:
    # labels.list for a personal account: system labels carry type "system".
    labels = {label["id"]: label for label in store.list_labels()}

    assert set(SYSTEM_LABELS) <= set(labels)
    assert labels["INBOX"]["type"] == "system"
    assert labels["INBOX"]["name"] == "INBOX"


def test_create_label_gets_user_id(store: MailStore) -> None:
    label = store.create_label({"name": "Clients/Acme"})

    assert label["id"] == "Label_1"
    assert label["type"] == "user"
    assert store.label_id("clients/acme") == "Label_1"


def test_duplicate_label_name_is_409(store: MailStore) -> None:
    # Gmail returns 409 "Label name exists or conflicts", ignoring case.
    store.create_label({"name": "Paid"})
    with pytest.raises(AlreadyExists) as caught:
        store.create_label({"name": "PAID"})
    assert caught.value.code == 409
    with pytest.raises(AlreadyExists):
        store.create_label({"name": "inbox"})


def test_get_label_counts(store: MailStore) -> None:
    first = store.add_message(
        mail(sender="ana@client.example", to=OWNER), label_ids=["INBOX", "UNREAD"]
    )
    store.add_message(
        mail("Other", sender="bob@client.example", to=OWNER), label_ids=["INBOX"]
    )
    store.add_message(
        mail("Re: Invoice 7", sender="ana@client.example", to=OWNER, in_reply_to="x@y"),
        label_ids=["INBOX"],
    )
    label = store.get_label("INBOX")

    assert label["messagesTotal"] == 3
    assert label["messagesUnread"] == 1
    assert label["threadsTotal"] == 3
    assert label["threadsUnread"] == 1
    assert first["labelIds"] == ["INBOX", "UNREAD"]


def test_unknown_label_get_is_404(store: MailStore) -> None:
    with pytest.raises(NotFound):
        store.get_label("Label_99")


def test_state_survives_restart(tmp_path: Path, clock: SandboxClock) -> None:
    path = str(tmp_path / "mail.db")
    first = MailStore(path, clock=clock)
    first.set_user_email(OWNER)
    sent = first.send_message(mail())
    draft = first.create_draft(mail("Draft"))
    first.create_label({"name": "Paid"})
    history_id = first.current_history_id()
    first.close()

    second = MailStore(path, clock=clock)
    assert second.user_email == OWNER
    assert second.message_resource(sent["id"], "minimal")["labelIds"] == ["SENT"]
    assert second.get_draft(draft["id"])["message"]["id"] == draft["message"]["id"]
    assert second.label_id("Paid") == "Label_1"
    assert second.current_history_id() == history_id
    assert second.create_label({"name": "Late"})["id"] == "Label_2"
    assert second.send_message(mail("Next"))["id"] > sent["id"]
    second.close()


# -- threading -------------------------------------------------------------------


def test_reply_joins_thread_with_all_criteria(store: MailStore) -> None:
    # Message.threadId (users.messages reference) and "Managing threads": a
    # message joins a thread only with the threadId, References/In-Reply-To
    # naming a message of it, and a matching Subject.
    parent = store.send_message(mail(msgid="inv7@consult.example"))
    reply = store.send_message(
        mail("RE:  invoice 7", in_reply_to="inv7@consult.example"),
        thread_id=parent["threadId"],
    )
    assert reply["threadId"] == parent["threadId"]


@pytest.mark.parametrize(
    ("subject", "in_reply_to", "pass_thread"),
    [
        ("Re: Invoice 7", "inv7@consult.example", False),  # no threadId given
        ("Re: Invoice 8", "inv7@consult.example", True),  # subject differs
        ("Re: Invoice 7", None, True),  # no References/In-Reply-To
        ("Re: Invoice 7", "other@consult.example", True),  # names no message of it
    ],
)
def test_reply_starts_new_thread_unless_all_criteria(
    store: MailStore, subject: str, in_reply_to: str | None, pass_thread: bool
) -> None:
    parent = store.send_message(mail(msgid="inv7@consult.example"))
    reply = store.send_message(
        mail(subject, in_reply_to=in_reply_to),
        thread_id=parent["threadId"] if pass_thread else None,
    )
    assert reply["threadId"] == reply["id"]


def test_loaded_mail_threads_by_headers(store: MailStore) -> None:
    # Received mail carries no threadId; Gmail groups it by its headers.
    parent = store.add_message(
        mail(msgid="p@x"), label_ids=["SENT"], thread_by_headers=True
    )
    reply = store.add_message(
        mail("Re: Invoice 7", sender="ana@client.example", in_reply_to="p@x"),
        label_ids=["INBOX"],
        thread_by_headers=True,
    )
    other = store.add_message(
        mail("Lunch?", sender="ana@client.example", in_reply_to="p@x"),
        label_ids=["INBOX"],
        thread_by_headers=True,
    )
    assert reply["threadId"] == parent["threadId"]
    assert other["threadId"] == other["id"]


def test_gmail_thread_key_groups_messages(store: MailStore) -> None:
    # Takeout's X-GM-THRID is Gmail's thread id in decimal.
    key = "1692823447563523874"
    first = store.add_message(mail("A"), gmail_thread_key=key)
    second = store.add_message(mail("B"), gmail_thread_key=key)

    assert first["threadId"] == format(int(key), "x")
    assert second["threadId"] == first["threadId"]


def test_thread_get_oldest_first(store: MailStore, clock: SandboxClock) -> None:
    parent = store.send_message(mail(msgid="p@x"))
    clock.set(START + timedelta(hours=1))
    reply = store.add_message(
        mail("Re: Invoice 7", sender="ana@client.example", in_reply_to="p@x"),
        label_ids=["INBOX"],
        thread_id=parent["threadId"],
    )
    thread = store.thread_resource(parent["threadId"], "minimal")

    assert [m["id"] for m in thread["messages"]] == [parent["id"], reply["id"]]
    assert thread["historyId"] == str(store.current_history_id())


# -- message resources ------------------------------------------------------------


def test_minimal_resource_fields(store: MailStore) -> None:
    raw = mail(body="Hello   Ana,\n\nplease pay.")
    sent = store.send_message(raw)
    resource = store.message_resource(sent["id"], "minimal")

    assert set(resource) == {
        "id",
        "threadId",
        "labelIds",
        "snippet",
        "sizeEstimate",
        "historyId",
        "internalDate",
    }
    assert resource["internalDate"] == str(int(START.timestamp() * 1000))
    assert resource["snippet"] == "Hello Ana, please pay."
    assert resource["sizeEstimate"] >= len(raw)


def test_raw_format_round_trips(store: MailStore) -> None:
    raw = mail(date="Mon, 02 Mar 2026 05:17:00 +0000", msgid="a@b")
    stored = store.add_message(raw, label_ids=["INBOX"])
    resource = store.message_resource(stored["id"], "raw")

    assert base64.urlsafe_b64decode(resource["raw"]) == raw
    assert "payload" not in resource


def test_metadata_format_filters_headers(store: MailStore) -> None:
    stored = store.add_message(mail(msgid="a@b"), label_ids=["INBOX"])
    resource = store.message_resource(stored["id"], "metadata", ["message-id"])

    assert resource["payload"]["headers"] == [{"name": "Message-ID", "value": "<a@b>"}]


def test_attachment_get(store: MailStore) -> None:
    message = EmailMessage()
    message["Subject"] = "Invoice"
    message.set_content("see attached")
    message.add_attachment(
        b"%PDF-1.4", maintype="application", subtype="pdf", filename="invoice.pdf"
    )
    stored = store.add_message(message.as_bytes(), label_ids=["INBOX"])
    part = store.message_resource(stored["id"])["payload"]["parts"][1]
    body = store.attachment(stored["id"], part["body"]["attachmentId"])

    assert base64.urlsafe_b64decode(body["data"]) == b"%PDF-1.4"
    assert body["size"] == 8


def test_unparseable_message_kept_raw(store: MailStore, caplog) -> None:
    # Multipart nested deeper than the parser's recursion limit.
    raw = b"Subject: deep\r\n" + b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(1200)
    )
    stored = store.add_message(raw, label_ids=["INBOX"])

    assert "kept raw" in caplog.text
    assert store.list_messages()["messages"][0]["id"] == stored["id"]
    full = store.message_resource(stored["id"])
    assert full["payload"]["body"]["size"] == len(raw)
    assert (
        base64.urlsafe_b64decode(store.message_resource(stored["id"], "raw")["raw"])
        == raw
    )


# -- send, modify, trash ------------------------------------------------------------


def test_send_adds_date_message_id_from(store: MailStore) -> None:
    raw = b"To: ana@client.example\r\nSubject: Invoice 7\r\n\r\nPlease pay.\r\n"
    sent = store.send_message(raw)
    resource = store.message_resource(sent["id"])

    assert sent["labelIds"] == ["SENT"]
    assert header(resource, "Date") == "Mon, 02 Mar 2026 05:17:00 +0000"
    assert re.fullmatch(r"<[^@\s]+@sandbox\.local>", header(resource, "Message-ID"))
    assert header(resource, "From") == OWNER


def test_send_keeps_given_headers(store: MailStore) -> None:
    sent = store.send_message(
        mail(msgid="mine@x", date="Tue, 03 Mar 2026 09:00:00 +0100")
    )
    resource = store.message_resource(sent["id"])

    assert header(resource, "Message-ID") == "<mine@x>"
    assert header(resource, "Date") == "Tue, 03 Mar 2026 09:00:00 +0100"


def test_send_without_recipient_rejected(store: MailStore) -> None:
    with pytest.raises(InvalidArgument, match="Recipient address required"):
        store.send_message(b"Subject: nobody\r\n\r\nhi")
    assert store.profile()["messagesTotal"] == 0


@pytest.mark.parametrize("label", ["SENT", "DRAFT"])
def test_modify_rejects_sent_and_draft(store: MailStore, label: str) -> None:
    # The Label reference: users "cannot apply or remove the DRAFTS or SENT
    # labels", and Gmail returns 400 "Invalid label: SENT".
    sent = store.send_message(mail())
    with pytest.raises(InvalidArgument, match=f"Invalid label: {label}"):
        store.modify_message(sent["id"], [label], [])
    with pytest.raises(InvalidArgument, match=f"Invalid label: {label}"):
        store.modify_message(sent["id"], [], [label])


def test_modify_unknown_label_rejected(store: MailStore) -> None:
    sent = store.send_message(mail())
    with pytest.raises(InvalidArgument, match="Invalid label: Label_42"):
        store.modify_message(sent["id"], ["Label_42"], [])


def test_modify_adds_and_removes(store: MailStore) -> None:
    stored = store.add_message(mail(), label_ids=["INBOX", "UNREAD"])
    paid = store.create_label({"name": "Paid"})["id"]
    result = store.modify_message(stored["id"], [paid, "STARRED"], ["UNREAD"])

    assert result["labelIds"] == sorted(["INBOX", paid, "STARRED"])


def test_trash_untrash_and_delete(store: MailStore) -> None:
    stored = store.add_message(mail(), label_ids=["INBOX"])

    trashed = store.trash_message(stored["id"])
    assert trashed["labelIds"] == ["TRASH"]
    assert "messages" not in store.list_messages()
    assert store.untrash_message(stored["id"])["labelIds"] == []
    store.delete_message(stored["id"])
    with pytest.raises(NotFound):
        store.message_resource(stored["id"])


# -- drafts -----------------------------------------------------------------------


def test_draft_lifecycle(store: MailStore, clock: SandboxClock) -> None:
    draft = store.create_draft(mail("Reminder"))
    assert draft["message"]["labelIds"] == ["DRAFT"]
    assert store.get_draft(draft["id"], "minimal")["message"]["labelIds"] == ["DRAFT"]

    updated = store.update_draft(draft["id"], mail("Reminder v2"))
    assert updated["id"] == draft["id"]
    assert updated["message"]["id"] != draft["message"]["id"]
    with pytest.raises(NotFound):
        store.message_resource(draft["message"]["id"])

    clock.set(START + timedelta(days=1))
    sent = store.send_draft(draft["id"])
    assert sent["labelIds"] == ["SENT"]
    resource = store.message_resource(sent["id"])
    assert header(resource, "Subject") == "Reminder v2"
    assert header(resource, "Date") == "Tue, 03 Mar 2026 05:17:00 +0000"
    for call in (store.get_draft, store.delete_draft, store.send_draft):
        with pytest.raises(NotFound):
            call(draft["id"])
    with pytest.raises(NotFound):
        store.update_draft(draft["id"], mail())


def test_lone_draft_keeps_thread_when_sent(store: MailStore) -> None:
    # A draft that started its own thread is sent into that thread: drafts.send
    # returns a Message whose threadId is the draft's (observed Gmail behaviour).
    draft = store.create_draft(mail("URGENT: invoice 7 is overdue"))

    sent = store.send_draft(draft["id"])

    assert sent["threadId"] == draft["message"]["threadId"]
    thread = store.thread_resource(sent["threadId"], "minimal")
    assert [m["id"] for m in thread["messages"]] == [sent["id"]]


def test_draft_reply_sent_into_thread(store: MailStore) -> None:
    invoice = store.send_message(mail(msgid="inv7@x"))
    draft = store.create_draft(
        mail("Re: Invoice 7", in_reply_to="inv7@x"), thread_id=invoice["threadId"]
    )
    assert draft["message"]["threadId"] == invoice["threadId"]

    sent = store.send_draft(draft["id"])
    assert sent["threadId"] == invoice["threadId"]
    thread = store.thread_resource(invoice["threadId"], "minimal")
    assert [m["labelIds"] for m in thread["messages"]] == [["SENT"], ["SENT"]]


def test_list_drafts_newest_first(store: MailStore, clock: SandboxClock) -> None:
    first = store.create_draft(mail("One"))
    clock.set(START + timedelta(minutes=5))
    second = store.create_draft(mail("Two"))
    listed = store.list_drafts()

    assert [d["id"] for d in listed["drafts"]] == [second["id"], first["id"]]
    assert listed["resultSizeEstimate"] == 2
    store.delete_draft(first["id"])
    assert [d["id"] for d in store.list_drafts()["drafts"]] == [second["id"]]


# -- history ----------------------------------------------------------------------


def test_history_records_each_change(store: MailStore) -> None:
    start = store.current_history_id()
    stored = store.add_message(mail(), label_ids=["INBOX", "UNREAD"])
    store.modify_message(stored["id"], [], ["UNREAD"])
    store.delete_message(stored["id"])
    result = store.list_history(start)

    kinds = [sorted(set(r) - {"id", "messages"}) for r in result["history"]]
    assert kinds == [["messagesAdded"], ["labelsRemoved"], ["messagesDeleted"]]
    ids = [int(r["id"]) for r in result["history"]]
    assert ids == sorted(ids)
    assert ids[0] > start
    assert result["historyId"] == str(store.current_history_id())
    removed = result["history"][1]["labelsRemoved"][0]
    assert removed["labelIds"] == ["UNREAD"]
    assert removed["message"]["labelIds"] == ["INBOX"]


def test_message_history_id_is_last_change(store: MailStore) -> None:
    stored = store.add_message(mail(), label_ids=["INBOX"])
    store.modify_message(stored["id"], ["STARRED"], [])
    resource = store.message_resource(stored["id"], "minimal")
    assert resource["historyId"] == str(store.current_history_id())


def test_history_filters_and_pages(store: MailStore) -> None:
    start = store.current_history_id()
    for number in range(5):
        stored = store.add_message(mail(f"M{number}"), label_ids=["INBOX"])
        store.modify_message(stored["id"], ["STARRED"], [])

    added = store.list_history(start, history_types=["labelAdded"])
    assert len(added["history"]) == 5
    assert store.list_history(start, label_id="STARRED")["history"][0]["labelsAdded"]

    first = store.list_history(start, max_results=4)
    assert len(first["history"]) == 4
    second = store.list_history(start, max_results=4, page_token=first["nextPageToken"])
    assert int(second["history"][0]["id"]) > int(first["history"][-1]["id"])
    third = store.list_history(start, max_results=4, page_token=second["nextPageToken"])
    assert "nextPageToken" not in third
    assert len(first["history"]) + len(second["history"]) + len(third["history"]) == 10


def test_history_retention_gives_404(tmp_path: Path, clock: SandboxClock) -> None:
    # history.list reference and "Synchronizing clients with Gmail": an out of
    # date startHistoryId gets HTTP 404 and the client must do a full sync.
    store = MailStore(str(tmp_path / "mail.db"), clock=clock, history_retention=3)
    start = store.current_history_id()
    for number in range(6):
        store.add_message(mail(f"M{number}"), label_ids=["INBOX"])

    with pytest.raises(NotFound) as caught:
        store.list_history(start)
    assert caught.value.code == 404
    recent = store.list_history(store.current_history_id() - 3)
    assert len(recent["history"]) == 3
    assert "history" not in store.list_history(store.current_history_id())
    store.close()


def test_unknown_history_type_rejected(store: MailStore) -> None:
    with pytest.raises(InvalidArgument, match="messageChanged"):
        store.list_history(1, history_types=["messageChanged"])


# -- listing ----------------------------------------------------------------------


def test_list_messages_newest_first_and_pages(
    store: MailStore, clock: SandboxClock
) -> None:
    stored = []
    for minute in range(5):
        clock.set(START + timedelta(minutes=minute))
        stored.append(store.add_message(mail(f"M{minute}"), label_ids=["INBOX"])["id"])
    first = store.list_messages(max_results=2)
    second = store.list_messages(max_results=2, page_token=first["nextPageToken"])
    third = store.list_messages(max_results=2, page_token=second["nextPageToken"])

    listed = [m["id"] for page in (first, second, third) for m in page["messages"]]
    assert listed == list(reversed(stored))
    assert first["resultSizeEstimate"] == 5
    assert "nextPageToken" not in third


def test_list_label_ids_all_required(store: MailStore) -> None:
    both = store.add_message(mail("A"), label_ids=["INBOX", "UNREAD"])
    store.add_message(mail("B"), label_ids=["INBOX"])
    listed = store.list_messages(label_ids=["INBOX", "UNREAD"])

    assert [m["id"] for m in listed["messages"]] == [both["id"]]


def test_list_excludes_spam_trash_by_default(store: MailStore) -> None:
    # messages.list includeSpamTrash: "Include messages from SPAM and TRASH".
    store.add_message(mail("Spam"), label_ids=["SPAM"])
    kept = store.add_message(mail("Fine"), label_ids=["INBOX"])

    assert [m["id"] for m in store.list_messages()["messages"]] == [kept["id"]]
    assert len(store.list_messages(include_spam_trash=True)["messages"]) == 2
    assert len(store.list_messages(label_ids=["SPAM"])["messages"]) == 1
    assert len(store.list_threads(include_spam_trash=True)["threads"]) == 2


def test_search_from_me_means_owner(store: MailStore) -> None:
    # Gmail's search help: "from:me" finds mail the signed-in user sent.
    mine = store.add_message(mail("Mine"), label_ids=["SENT"])
    store.add_message(mail("Theirs", sender="ana@client.example", to=OWNER), label_ids=["INBOX"])

    listed = store.list_messages(q="from:me")

    assert [m["id"] for m in listed["messages"]] == [mine["id"]]


def test_max_results_capped(store: MailStore) -> None:
    with pytest.raises(InvalidArgument):
        store.list_messages(max_results=0)
    store.add_messages((mail(f"M{i}"), {"label_ids": ["INBOX"]}) for i in range(510))
    assert len(store.list_messages(max_results=1000)["messages"]) == 500


def test_invalid_page_token_rejected(store: MailStore) -> None:
    with pytest.raises(InvalidArgument, match="pageToken"):
        store.list_messages(page_token="not-a-token!")


def test_list_threads_shape(store: MailStore, clock: SandboxClock) -> None:
    parent = store.send_message(mail(msgid="p@x", body="first"))
    clock.set(START + timedelta(hours=2))
    store.add_message(
        mail(
            "Re: Invoice 7",
            sender="ana@client.example",
            in_reply_to="p@x",
            body="Paid today.",
        ),
        label_ids=["INBOX"],
        thread_by_headers=True,
    )
    clock.set(START + timedelta(hours=1))
    lone = store.send_message(mail("Other"))
    threads = store.list_threads()["threads"]

    assert [t["id"] for t in threads] == [parent["threadId"], lone["threadId"]]
    assert threads[0]["snippet"] == "Paid today."
    assert set(threads[0]) == {"id", "snippet", "historyId"}


# -- profile and owner --------------------------------------------------------------


def test_profile_counts(store: MailStore) -> None:
    store.send_message(mail(msgid="p@x"))
    store.add_message(
        mail("Re: Invoice 7", sender="ana@client.example", in_reply_to="p@x"),
        label_ids=["INBOX"],
        thread_by_headers=True,
    )
    profile = store.profile()

    assert profile == {
        "emailAddress": OWNER,
        "messagesTotal": 2,
        "threadsTotal": 1,
        "historyId": str(store.current_history_id()),
    }


def test_send_as_signature(store: MailStore) -> None:
    assert store.send_as()[0]["signature"] == ""
    store.set_signature(OWNER, "<b>Zoë</b>")
    entry = store.send_as()[0]

    assert entry["sendAsEmail"] == OWNER
    assert entry["isPrimary"] is True
    assert entry["signature"] == "<b>Zoë</b>"
    with pytest.raises(NotFound):
        store.set_signature("other@x.example", "x")


def test_guess_user_email_from_sent(clock: SandboxClock) -> None:
    store = MailStore(clock=clock)
    for sender in ("a@x.example", "b@x.example", "b@x.example"):
        store.add_message(mail(sender=sender), label_ids=["SENT"])
    store.add_message(mail(sender="c@x.example"), label_ids=["INBOX"])
    store.add_message(mail(sender="c@x.example"), label_ids=["INBOX"])

    assert store.guess_user_email() == "b@x.example"


def test_bulk_add_commits_in_batches(store: MailStore) -> None:
    ids = store.add_messages(
        ((mail(f"M{i}"), {"label_ids": ["INBOX"]}) for i in range(25)), batch_size=10
    )
    assert len(ids) == 25
    assert store.profile()["messagesTotal"] == 25


def test_failed_write_leaves_nothing(store: MailStore) -> None:
    before = store.current_history_id()
    items = [
        (mail("ok"), {"label_ids": ["INBOX"]}),
        (mail("bad"), {"label_ids": ["Nope"]}),
    ]
    with pytest.raises(InvalidArgument, match="Invalid label: Nope"):
        store.add_messages(items)
    assert store.profile()["messagesTotal"] == 0
    assert store.current_history_id() == before
