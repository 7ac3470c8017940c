"""The Gmail API methods the sandbox serves: parameters in, store call, JSON out.

Each handler takes the store and one ``Call`` (path parameters, query
arguments, the JSON body and any uploaded message) and returns the response
resource, or None for an empty 204 answer. Parameter names, defaults and limits
follow the Gmail v1 discovery document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from assistant.sandbox.errors import InvalidArgument, NotFound
from assistant.sandbox.store import MailStore
from assistant.sandbox.uploads import check_size, decode_raw

# messages.list, threads.list, drafts.list and history.list document 500 as the
# maximum of maxResults.
MAX_RESULTS_LIMIT = 500
MESSAGE_FORMATS = ("minimal", "full", "raw", "metadata")
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
# Gmail's text when a send carries neither raw nor an uploaded message.
NO_MESSAGE = "'raw' RFC822 payload message string or uploading message via /upload/* URL required"


@dataclass
class Call:
    method_id: str
    params: dict[str, str]
    args: MultiDict[str, str]
    body: dict[str, Any]
    media: bytes | None = None


Handler = Callable[[MailStore, Call], "dict[str, Any] | None"]


def _int_arg(call: Call, name: str, default: int, *, maximum: int | None = None) -> int:
    text = call.args.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise InvalidArgument(f"Invalid value for {name}: {text!r}; expected a whole number")
    value = int(text)
    # NOTE: Gmail's reaction to a maxResults above 500 is not documented; the
    # sandbox returns at most 500, the documented maximum.
    return min(value, maximum) if maximum is not None else value


def _bool_arg(call: Call, name: str) -> bool:
    text = call.args.get(name, "false").lower()
    if text not in ("true", "false"):
        raise InvalidArgument(f"Invalid value for {name}: {text!r}; expected true or false")
    return text == "true"


def _format_arg(call: Call) -> str:
    fmt = call.args.get("format", "full")
    if fmt not in MESSAGE_FORMATS:
        raise InvalidArgument(
            f"Invalid value for format: {fmt!r}; expected minimal, full, raw or metadata"
        )
    return fmt


def _message_input(call: Call, message: Any, field_path: str) -> tuple[bytes, str | None]:
    """Return the RFC 822 bytes and threadId of the message a call carries."""
    if not isinstance(message, dict):
        message = {}
    thread_id = message.get("threadId") or None
    if call.media is not None:
        return call.media, thread_id
    if not message.get("raw"):
        raise InvalidArgument(NO_MESSAGE)
    raw = decode_raw(message["raw"], field_path)
    check_size(call.method_id, len(raw))
    return raw, thread_id


def get_profile(store: MailStore, call: Call) -> dict[str, Any]:
    return store.profile()


def list_labels(store: MailStore, call: Call) -> dict[str, Any]:
    return {"labels": store.list_labels()}


def get_label(store: MailStore, call: Call) -> dict[str, Any]:
    return store.get_label(call.params["id"])


def create_label(store: MailStore, call: Call) -> dict[str, Any]:
    if not call.body.get("name"):
        raise InvalidArgument("Invalid label name: a label needs a non-empty name")
    return store.create_label(call.body)


def list_messages(store: MailStore, call: Call) -> dict[str, Any]:
    return store.list_messages(
        q=call.args.get("q") or None,
        label_ids=call.args.getlist("labelIds") or None,
        include_spam_trash=_bool_arg(call, "includeSpamTrash"),
        max_results=_int_arg(call, "maxResults", 100, maximum=MAX_RESULTS_LIMIT),
        page_token=call.args.get("pageToken") or None,
    )


def get_message(store: MailStore, call: Call) -> dict[str, Any]:
    return store.message_resource(
        call.params["id"], _format_arg(call), call.args.getlist("metadataHeaders") or None
    )


def send_message(store: MailStore, call: Call) -> dict[str, Any]:
    raw, thread_id = _message_input(call, call.body, "raw")
    return store.send_message(raw, thread_id=thread_id)


def insert_message(store: MailStore, call: Call) -> dict[str, Any]:
    raw, thread_id = _message_input(call, call.body, "raw")
    default_source = "dateHeader" if call.method_id.endswith(".import") else "receivedTime"
    source = call.args.get("internalDateSource", default_source)
    if source not in ("receivedTime", "dateHeader"):
        raise InvalidArgument(
            f"Invalid value for internalDateSource: {source!r}; "
            "expected receivedTime or dateHeader"
        )
    return store.insert_message(
        raw,
        label_ids=list(call.body.get("labelIds") or []),
        thread_id=thread_id,
        internal_date_source=source,
    )


def modify_message(store: MailStore, call: Call) -> dict[str, Any]:
    return store.modify_message(
        call.params["id"],
        list(call.body.get("addLabelIds") or []),
        list(call.body.get("removeLabelIds") or []),
    )


def trash_message(store: MailStore, call: Call) -> dict[str, Any]:
    return store.trash_message(call.params["id"])


def untrash_message(store: MailStore, call: Call) -> dict[str, Any]:
    return store.untrash_message(call.params["id"])


def delete_message(store: MailStore, call: Call) -> None:
    store.delete_message(call.params["id"])


def get_attachment(store: MailStore, call: Call) -> dict[str, Any]:
    return store.attachment(call.params["messageId"], call.params["id"])


def list_threads(store: MailStore, call: Call) -> dict[str, Any]:
    return store.list_threads(
        q=call.args.get("q") or None,
        label_ids=call.args.getlist("labelIds") or None,
        include_spam_trash=_bool_arg(call, "includeSpamTrash"),
        max_results=_int_arg(call, "maxResults", 100, maximum=MAX_RESULTS_LIMIT),
        page_token=call.args.get("pageToken") or None,
    )


def get_thread(store: MailStore, call: Call) -> dict[str, Any]:
    return store.thread_resource(
        call.params["id"], _format_arg(call), call.args.getlist("metadataHeaders") or None
    )


def create_draft(store: MailStore, call: Call) -> dict[str, Any]:
    raw, thread_id = _message_input(call, call.body.get("message"), "draft.message.raw")
    return store.create_draft(raw, thread_id=thread_id)


def update_draft(store: MailStore, call: Call) -> dict[str, Any]:
    raw, thread_id = _message_input(call, call.body.get("message"), "draft.message.raw")
    return store.update_draft(call.params["id"], raw, thread_id=thread_id)


def get_draft(store: MailStore, call: Call) -> dict[str, Any]:
    return store.get_draft(call.params["id"], _format_arg(call))


def list_drafts(store: MailStore, call: Call) -> dict[str, Any]:
    return store.list_drafts(
        q=call.args.get("q") or None,
        max_results=_int_arg(call, "maxResults", 100, maximum=MAX_RESULTS_LIMIT),
        page_token=call.args.get("pageToken") or None,
        include_spam_trash=_bool_arg(call, "includeSpamTrash"),
    )


def delete_draft(store: MailStore, call: Call) -> None:
    store.delete_draft(call.params["id"])


def send_draft(store: MailStore, call: Call) -> dict[str, Any]:
    draft_id = call.body.get("id")
    if not draft_id:
        # NOTE: Gmail's exact text for a drafts.send without an id is not documented.
        raise InvalidArgument("Invalid draft: drafts.send needs the draft id in \"id\"")
    message = call.body.get("message")
    has_content = call.media is not None or (isinstance(message, dict) and message.get("raw"))
    if not has_content:
        return store.send_draft(str(draft_id))
    raw, thread_id = _message_input(call, message, "draft.message.raw")
    return store.send_draft(str(draft_id), raw, thread_id=thread_id)


def list_history(store: MailStore, call: Call) -> dict[str, Any]:
    start = call.args.get("startHistoryId", "")
    if not start.isdigit():
        raise InvalidArgument(f"Invalid startHistoryId {start!r}; expected a history id")
    history_types = call.args.getlist("historyTypes") or None
    for kind in history_types or ():
        if kind not in HISTORY_TYPES:
            raise InvalidArgument(
                f"Invalid value for historyTypes: {kind!r}; expected one of "
                + ", ".join(HISTORY_TYPES)
            )
    return store.list_history(
        int(start),
        history_types=history_types,
        label_id=call.args.get("labelId") or None,
        max_results=_int_arg(call, "maxResults", 100, maximum=MAX_RESULTS_LIMIT),
        page_token=call.args.get("pageToken") or None,
    )


def list_send_as(store: MailStore, call: Call) -> dict[str, Any]:
    return {"sendAs": store.send_as()}


def get_send_as(store: MailStore, call: Call) -> dict[str, Any]:
    wanted = call.params["sendAsEmail"].lower()
    for entry in store.send_as():
        if entry.get("sendAsEmail", "").lower() == wanted:
            return entry
    raise NotFound()


_USERS = "gmail.users."
HANDLERS: dict[str, Handler] = {
    _USERS + "getProfile": get_profile,
    _USERS + "labels.list": list_labels,
    _USERS + "labels.get": get_label,
    _USERS + "labels.create": create_label,
    _USERS + "messages.list": list_messages,
    _USERS + "messages.get": get_message,
    _USERS + "messages.send": send_message,
    _USERS + "messages.insert": insert_message,
    _USERS + "messages.import": insert_message,
    _USERS + "messages.modify": modify_message,
    _USERS + "messages.trash": trash_message,
    _USERS + "messages.untrash": untrash_message,
    _USERS + "messages.delete": delete_message,
    _USERS + "messages.attachments.get": get_attachment,
    _USERS + "threads.list": list_threads,
    _USERS + "threads.get": get_thread,
    _USERS + "drafts.create": create_draft,
    _USERS + "drafts.update": update_draft,
    _USERS + "drafts.get": get_draft,
    _USERS + "drafts.list": list_drafts,
    _USERS + "drafts.delete": delete_draft,
    _USERS + "drafts.send": send_draft,
    _USERS + "history.list": list_history,
    _USERS + "settings.sendAs.list": list_send_as,
    _USERS + "settings.sendAs.get": get_send_as,
}
