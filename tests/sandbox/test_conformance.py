"""The sandbox as google-api-python-client sees it: Gmail's methods over real HTTP.

Every call goes through ``assistant.gmail.build_service`` and every success body
is checked against the schema the discovery document gives for the method.
References are to the Gmail API reference,
https://developers.google.com/workspace/gmail/api/reference/rest/v1/ (below: REF).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import httplib2
import pytest
from googleapiclient.errors import HttpError

from assistant.clock import to_epoch_ms
from assistant.gmail import build_service
from assistant.sandbox.server import SandboxServer
from tests.sandbox.conftest import CLIENT, OWNER, b64url, compose, new_message_id
from tests.sandbox.discovery_schema import assert_valid


def error_body(exc: HttpError) -> dict[str, Any]:
    body = json.loads(exc.content)
    assert set(body) == {"error"}
    assert {"code", "message", "status"} <= set(body["error"])
    return body["error"]


def send(service: Any, raw: bytes, thread_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"raw": b64url(raw)}
    if thread_id:
        body["threadId"] = thread_id
    return service.users().messages().send(userId="me", body=body).execute()


def header(message: dict[str, Any], name: str) -> str | None:
    for entry in message["payload"]["headers"]:
        if entry["name"].lower() == name.lower():
            return entry["value"]
    return None


# -- profile, labels, send-as --------------------------------------------------


def test_get_profile_names_owner(service: Any) -> None:
    # REF users/getProfile
    profile = service.users().getProfile(userId="me").execute()
    assert_valid("Profile", profile)
    assert profile["emailAddress"] == OWNER


def test_owner_address_works_as_user_id(service: Any) -> None:
    # REF users/getProfile: userId is "me" or the user's email address.
    profile = service.users().getProfile(userId=OWNER.upper()).execute()
    assert profile["emailAddress"] == OWNER


def test_other_user_id_is_denied(service: Any) -> None:
    # Gmail answers another account's address with 403 "Delegation denied for
    # <authenticated user>", as logged in home-assistant/core issue 87920.
    with pytest.raises(HttpError) as caught:
        service.users().getProfile(userId="someone@else.example").execute()
    assert caught.value.status_code == 403
    error = error_body(caught.value)
    assert error["message"] == f"Delegation denied for {OWNER}"
    assert error["errors"][0]["reason"] == "forbidden"


def test_labels_list_get_create(service: Any) -> None:
    # REF users.labels/list, get, create
    labels = service.users().labels().list(userId="me").execute()
    assert_valid("ListLabelsResponse", labels)
    assert {"INBOX", "SENT", "DRAFT", "TRASH"} <= {
        label["id"] for label in labels["labels"]
    }

    created = (
        service.users()
        .labels()
        .create(userId="me", body={"name": "Invoices"})
        .execute()
    )
    assert_valid("Label", created)
    fetched = service.users().labels().get(userId="me", id=created["id"]).execute()
    assert_valid("Label", fetched)
    assert fetched["name"] == "Invoices"
    assert fetched["type"] == "user"


def test_unknown_label_is_not_found(service: Any) -> None:
    with pytest.raises(HttpError) as caught:
        service.users().labels().get(userId="me", id="Label_999").execute()
    assert caught.value.status_code == 404
    assert error_body(caught.value)["status"] == "NOT_FOUND"


def test_send_as_list_and_get(service: Any) -> None:
    # REF users.settings.sendAs/list: the primary address has isPrimary and a signature.
    listing = service.users().settings().sendAs().list(userId="me").execute()
    assert_valid("ListSendAsResponse", listing)
    primary = [entry for entry in listing["sendAs"] if entry.get("isPrimary")]
    assert [entry["sendAsEmail"] for entry in primary] == [OWNER]

    entry = (
        service.users()
        .settings()
        .sendAs()
        .get(userId="me", sendAsEmail=OWNER)
        .execute()
    )
    assert_valid("SendAs", entry)
    assert entry.get("signature", "") == ""


# -- messages ------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        lambda data: b64url(data),
        lambda data: b64url(data, padded=True),
        lambda data: base64.b64encode(data).decode(),
    ],
    ids=["base64url-unpadded", "base64url-padded", "standard-base64"],
)
def test_send_accepts_raw_encodings(service: Any, encode: Any) -> None:
    # Google's JSON mapping of bytes accepts standard and URL-safe base64, with
    # or without padding (https://protobuf.dev/programming-guides/json/). The
    # subject's "?>" makes the standard and URL-safe encodings differ.
    raw = compose("Invoice ?>?>? 2026-014", text="Amount due: 1,200.00 EUR ~~~")
    sent = (
        service.users()
        .messages()
        .send(userId="me", body={"raw": encode(raw)})
        .execute()
    )
    assert_valid("Message", sent)
    assert "SENT" in sent["labelIds"]
    fetched = (
        service.users()
        .messages()
        .get(userId="me", id=sent["id"], format="raw")
        .execute()
    )
    stored = base64.urlsafe_b64decode(fetched["raw"] + "=" * (-len(fetched["raw"]) % 4))
    assert b"Amount due: 1,200.00 EUR" in stored


def test_send_rejects_broken_base64(service: Any) -> None:
    with pytest.raises(HttpError) as caught:
        service.users().messages().send(
            userId="me", body={"raw": "not*base64!"}
        ).execute()
    assert caught.value.status_code == 400
    assert "Base64 decoding failed" in error_body(caught.value)["message"]


def test_send_without_raw_is_rejected(service: Any) -> None:
    # Gmail's text for a send with neither raw nor upload (seen in
    # googleapis/google-api-dotnet-client issue 856).
    with pytest.raises(HttpError) as caught:
        service.users().messages().send(userId="me", body={}).execute()
    assert caught.value.status_code == 400
    assert "'raw' RFC822 payload message string" in error_body(caught.value)["message"]


@pytest.mark.parametrize("fmt", ["minimal", "full", "metadata", "raw"])
def test_get_message_formats(service: Any, fmt: str) -> None:
    # REF users.messages/get: format minimal, full, metadata or raw.
    sent = send(service, compose(attachment=b"%PDF-1.4 invoice"))
    message = (
        service.users().messages().get(userId="me", id=sent["id"], format=fmt).execute()
    )
    assert_valid("Message", message)
    assert message["id"] == sent["id"]
    assert ("raw" in message) == (fmt == "raw")
    assert ("payload" in message) == (fmt in ("full", "metadata"))


def test_metadata_headers_filter(service: Any) -> None:
    # REF users.messages/get: metadataHeaders, repeated, used with format=metadata.
    sent = send(service, compose())
    message = (
        service.users()
        .messages()
        .get(
            userId="me",
            id=sent["id"],
            format="metadata",
            metadataHeaders=["Subject", "To"],
        )
        .execute()
    )
    assert_valid("Message", message)
    names = {entry["name"].lower() for entry in message["payload"]["headers"]}
    assert names == {"subject", "to"}


def test_send_adds_date_and_message_id(service: Any) -> None:
    sent = send(service, compose())
    message = service.users().messages().get(userId="me", id=sent["id"]).execute()
    assert header(message, "Date")
    assert header(message, "Message-ID")


def test_list_messages_with_query_and_labels(service: Any) -> None:
    # REF users.messages/list: q, labelIds (repeated), maxResults, pageToken.
    first = send(service, compose("Invoice 2026-001"))
    second = send(service, compose("Invoice 2026-002"))
    send(service, compose("Lunch on Friday"))

    found = service.users().messages().list(userId="me", q="subject:invoice").execute()
    assert_valid("ListMessagesResponse", found)
    assert {m["id"] for m in found["messages"]} == {first["id"], second["id"]}

    by_label = service.users().messages().list(userId="me", labelIds=["SENT"]).execute()
    assert len(by_label["messages"]) == 3


def test_long_query_sent_as_method_override(service: Any) -> None:
    # google-api-python-client sends a GET longer than 2,048 characters as a
    # POST with X-HTTP-Method-Override: GET and the query as a form body
    # (googleapiclient/http.py, MAX_URI_LENGTH); Gmail serves it as the GET.
    wanted = send(service, compose("Invoice 2026-042"))
    send(service, compose("Lunch on Friday"))
    padding = " OR ".join(f'"absent-term-{n}"' for n in range(200))
    query = f"subject:invoice ({padding} OR 2026-042)"

    request = service.users().messages().list(userId="me", q=query)
    found = request.execute()

    assert request.method == "POST"
    assert_valid("ListMessagesResponse", found)
    assert [m["id"] for m in found["messages"]] == [wanted["id"]]


def test_list_messages_pages(service: Any) -> None:
    ids = {send(service, compose(f"Invoice {n}"))["id"] for n in range(3)}
    page = service.users().messages().list(userId="me", maxResults=2).execute()
    assert_valid("ListMessagesResponse", page)
    assert len(page["messages"]) == 2
    rest = (
        service.users()
        .messages()
        .list(userId="me", maxResults=2, pageToken=page["nextPageToken"])
        .execute()
    )
    assert_valid("ListMessagesResponse", rest)
    assert {m["id"] for m in page["messages"] + rest["messages"]} == ids
    assert "nextPageToken" not in rest


def test_unsupported_query_operator_is_named(service: Any) -> None:
    with pytest.raises(HttpError) as caught:
        service.users().messages().list(
            userId="me", q="list:accounts@example.com"
        ).execute()
    assert caught.value.status_code == 400
    assert "list:" in error_body(caught.value)["message"]


def test_insert_and_import_keep_labels(service: Any) -> None:
    # REF users.messages/insert and import: labelIds from the body, no sending.
    raw = compose("Re: Invoice 2026-014", sender=CLIENT, to=OWNER, text="Paid today.")
    inserted = (
        service.users()
        .messages()
        .insert(userId="me", body={"raw": b64url(raw), "labelIds": ["INBOX", "UNREAD"]})
        .execute()
    )
    assert_valid("Message", inserted)
    assert set(inserted["labelIds"]) == {"INBOX", "UNREAD"}

    imported = (
        service.users()
        .messages()
        .import_(userId="me", body={"raw": b64url(raw), "labelIds": ["INBOX"]})
        .execute()
    )
    assert_valid("Message", imported)
    assert "SENT" not in imported["labelIds"]


def test_import_takes_date_header_by_default(service: Any) -> None:
    # REF users.messages/import: internalDateSource defaults to dateHeader.
    raw = compose(sender=CLIENT, to=OWNER, date="Mon, 02 Mar 2026 09:30:00 +0000")
    imported = (
        service.users()
        .messages()
        .import_(userId="me", body={"raw": b64url(raw), "labelIds": ["INBOX"]})
        .execute()
    )
    message = service.users().messages().get(userId="me", id=imported["id"]).execute()
    expected = to_epoch_ms(datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc))
    assert message["internalDate"] == str(expected)


def test_modify_adds_and_removes_labels(service: Any) -> None:
    # REF users.messages/modify
    sent = send(service, compose())
    modified = (
        service.users()
        .messages()
        .modify(userId="me", id=sent["id"], body={"addLabelIds": ["STARRED"]})
        .execute()
    )
    assert_valid("Message", modified)
    assert "STARRED" in modified["labelIds"]


@pytest.mark.parametrize("label", ["SENT", "DRAFT"])
def test_modify_rejects_sent_and_draft(service: Any, label: str) -> None:
    # Gmail rejects adding or removing SENT and DRAFT with 400 "Invalid label".
    sent = send(service, compose())
    with pytest.raises(HttpError) as caught:
        service.users().messages().modify(
            userId="me", id=sent["id"], body={"removeLabelIds": [label]}
        ).execute()
    assert caught.value.status_code == 400
    assert label in error_body(caught.value)["message"]


def test_trash_untrash_delete(service: Any) -> None:
    # REF users.messages/trash, untrash, delete
    sent = send(service, compose())
    trashed = service.users().messages().trash(userId="me", id=sent["id"]).execute()
    assert_valid("Message", trashed)
    assert "TRASH" in trashed["labelIds"]
    untrashed = service.users().messages().untrash(userId="me", id=sent["id"]).execute()
    assert "TRASH" not in untrashed["labelIds"]

    assert service.users().messages().delete(userId="me", id=sent["id"]).execute() == ""
    with pytest.raises(HttpError) as caught:
        service.users().messages().get(userId="me", id=sent["id"]).execute()
    assert caught.value.status_code == 404


def test_trashed_messages_need_include_spam_trash(service: Any) -> None:
    # REF users.messages/list: includeSpamTrash, default false.
    sent = send(service, compose())
    service.users().messages().trash(userId="me", id=sent["id"]).execute()
    hidden = service.users().messages().list(userId="me").execute()
    assert hidden.get("messages", []) == []
    shown = (
        service.users().messages().list(userId="me", includeSpamTrash=True).execute()
    )
    assert [m["id"] for m in shown["messages"]] == [sent["id"]]


def test_attachment_get_returns_data(service: Any) -> None:
    # REF users.messages.attachments/get
    pdf = b"%PDF-1.4 invoice 2026-014" * 20
    sent = send(service, compose(attachment=pdf))
    message = service.users().messages().get(userId="me", id=sent["id"]).execute()
    part = next(
        p for p in message["payload"]["parts"] if p.get("filename") == "invoice.pdf"
    )
    attachment = (
        service.users()
        .messages()
        .attachments()
        .get(userId="me", messageId=sent["id"], id=part["body"]["attachmentId"])
        .execute()
    )
    assert_valid("MessagePartBody", attachment)
    data = attachment["data"]
    assert base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)) == pdf


# -- threads -------------------------------------------------------------------


def test_reply_with_thread_id_and_references_joins(service: Any) -> None:
    # Gmail threading rules for send and insert (guides/threads): the threadId,
    # a References or In-Reply-To naming a thread message, and a matching subject.
    first_id = new_message_id()
    first = send(service, compose("Invoice 2026-014", message_id=first_id))
    reply = send(
        service,
        compose("Re: Invoice 2026-014", references=[first_id]),
        first["threadId"],
    )
    assert reply["threadId"] == first["threadId"]

    thread = service.users().threads().get(userId="me", id=first["threadId"]).execute()
    assert_valid("Thread", thread)
    assert [m["id"] for m in thread["messages"]] == [first["id"], reply["id"]]


def test_reply_without_thread_id_starts_thread(service: Any) -> None:
    first_id = new_message_id()
    first = send(service, compose("Invoice 2026-014", message_id=first_id))
    reply = send(service, compose("Re: Invoice 2026-014", references=[first_id]))
    assert reply["threadId"] != first["threadId"]


def test_reply_with_other_subject_starts_thread(service: Any) -> None:
    first_id = new_message_id()
    first = send(service, compose("Invoice 2026-014", message_id=first_id))
    reply = send(service, compose("Lunch?", references=[first_id]), first["threadId"])
    assert reply["threadId"] != first["threadId"]


def test_threads_list(service: Any) -> None:
    # REF users.threads/list
    send(service, compose("Invoice 1"))
    send(service, compose("Invoice 2"))
    threads = service.users().threads().list(userId="me", q="invoice").execute()
    assert_valid("ListThreadsResponse", threads)
    assert len(threads["threads"]) == 2


# -- drafts --------------------------------------------------------------------


def create_draft(
    service: Any, raw: bytes, thread_id: str | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"raw": b64url(raw)}
    if thread_id:
        message["threadId"] = thread_id
    return (
        service.users()
        .drafts()
        .create(userId="me", body={"message": message})
        .execute()
    )


def test_draft_create_get_list(service: Any) -> None:
    # REF users.drafts/create, get, list
    draft = create_draft(service, compose("Reminder: invoice 2026-014"))
    assert_valid("Draft", draft)
    assert "DRAFT" in draft["message"]["labelIds"]

    fetched = service.users().drafts().get(userId="me", id=draft["id"]).execute()
    assert_valid("Draft", fetched)
    assert fetched["message"]["id"] == draft["message"]["id"]

    listing = service.users().drafts().list(userId="me").execute()
    assert_valid("ListDraftsResponse", listing)
    assert [d["id"] for d in listing["drafts"]] == [draft["id"]]


def test_draft_update_keeps_id_changes_message(service: Any) -> None:
    # REF users.drafts/update: the draft keeps its id, its message is replaced.
    draft = create_draft(service, compose("Reminder v1"))
    updated = (
        service.users()
        .drafts()
        .update(
            userId="me",
            id=draft["id"],
            body={"message": {"raw": b64url(compose("Reminder v2"))}},
        )
        .execute()
    )
    assert_valid("Draft", updated)
    assert updated["id"] == draft["id"]
    assert updated["message"]["id"] != draft["message"]["id"]


def test_draft_send_returns_sent_message(service: Any) -> None:
    # REF users.drafts/send: the draft is deleted and a SENT message returned.
    draft = create_draft(service, compose("Reminder: invoice 2026-014"))
    sent = (
        service.users().drafts().send(userId="me", body={"id": draft["id"]}).execute()
    )
    assert_valid("Message", sent)
    assert "SENT" in sent["labelIds"]
    message = service.users().messages().get(userId="me", id=sent["id"]).execute()
    assert header(message, "Date")
    assert header(message, "Message-ID")

    with pytest.raises(HttpError) as caught:
        service.users().drafts().get(userId="me", id=draft["id"]).execute()
    assert caught.value.status_code == 404


def test_draft_in_thread_sends_into_thread(service: Any) -> None:
    first_id = new_message_id()
    first = send(service, compose("Invoice 2026-014", message_id=first_id))
    draft = create_draft(
        service,
        compose("Re: Invoice 2026-014", references=[first_id]),
        first["threadId"],
    )
    sent = (
        service.users().drafts().send(userId="me", body={"id": draft["id"]}).execute()
    )
    assert sent["threadId"] == first["threadId"]


def test_deleted_draft_is_not_found(service: Any) -> None:
    # REF users.drafts/delete
    draft = create_draft(service, compose())
    assert service.users().drafts().delete(userId="me", id=draft["id"]).execute() == ""
    with pytest.raises(HttpError) as caught:
        service.users().drafts().send(userId="me", body={"id": draft["id"]}).execute()
    assert caught.value.status_code == 404
    assert error_body(caught.value)["errors"][0]["reason"] == "notFound"


# -- history and clock -----------------------------------------------------------


def test_history_list_reports_changes(service: Any) -> None:
    # REF users.history/list: startHistoryId, historyTypes (repeated), labelId.
    start = service.users().getProfile(userId="me").execute()["historyId"]
    sent = send(service, compose())
    service.users().messages().modify(
        userId="me", id=sent["id"], body={"addLabelIds": ["STARRED"]}
    ).execute()

    history = (
        service.users().history().list(userId="me", startHistoryId=start).execute()
    )
    assert_valid("ListHistoryResponse", history)
    assert int(history["historyId"]) > int(start)
    added = (
        service.users()
        .history()
        .list(userId="me", startHistoryId=start, historyTypes=["labelAdded"])
        .execute()
    )
    assert_valid("ListHistoryResponse", added)
    assert all("labelsAdded" in record for record in added["history"])
    starred = (
        service.users()
        .history()
        .list(userId="me", startHistoryId=start, labelId="STARRED")
        .execute()
    )
    assert starred["history"]


def test_history_id_grows(service: Any) -> None:
    before = int(service.users().getProfile(userId="me").execute()["historyId"])
    sent = send(service, compose())
    after = int(service.users().getProfile(userId="me").execute()["historyId"])
    message = service.users().messages().get(userId="me", id=sent["id"]).execute()
    assert before < int(message["historyId"]) <= after


def test_expired_start_history_id_is_not_found(
    tmp_path: Any, sandbox_clock: Any
) -> None:
    # REF users.history/list: "Supplying an invalid or out of date startHistoryId
    # typically returns an HTTP 404 error code."
    from assistant.sandbox.store import MailStore

    store = MailStore(
        str(tmp_path / "short.db"), clock=sandbox_clock, history_retention=2
    )
    store.set_user_email(OWNER)
    with SandboxServer(store, clock=sandbox_clock) as server:
        client = build_service(server.url)
        start = client.users().getProfile(userId="me").execute()["historyId"]
        for n in range(4):
            send(client, compose(f"Invoice {n}"))
        with pytest.raises(HttpError) as caught:
            client.users().history().list(userId="me", startHistoryId=start).execute()
    store.close()
    assert caught.value.status_code == 404


def test_internal_date_follows_sandbox_clock(
    sandbox: SandboxServer, service: Any
) -> None:
    http = httplib2.Http()
    moment = "2026-03-03T06:15:00Z"
    response, content = http.request(
        sandbox.url + "sandbox/clock",
        "POST",
        body=json.dumps({"now": moment}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 200
    assert json.loads(content) == {"now": moment, "simulated": True}

    sent = send(service, compose())
    message = service.users().messages().get(userId="me", id=sent["id"]).execute()
    expected = to_epoch_ms(datetime(2026, 3, 3, 6, 15, tzinfo=timezone.utc))
    assert message["internalDate"] == str(expected)

    response, content = http.request(
        sandbox.url + "sandbox/clock", "POST", body=json.dumps({"now": None})
    )
    assert json.loads(content)["simulated"] is False


def test_clock_rejects_bad_time(sandbox: SandboxServer) -> None:
    response, content = httplib2.Http().request(
        sandbox.url + "sandbox/clock", "POST", body=json.dumps({"now": "next tuesday"})
    )
    assert response.status == 400
    assert "next tuesday" in json.loads(content)["error"]["message"]
