"""Approval: nothing is sent until the user approves it, or a client's auto-approval does.

A drafted reminder waits for the user, who approves, skips, edits, reschedules
it or pauses its invoices. Approving moves it to ``approved`` and resolves its
``approval`` attention item, whose key is the reminder uid. Skipping deletes
the Gmail draft first and then marks the reminder ``skipped``, so a failed
delete leaves the ledger unchanged, and a ledger failure after the delete
leaves a deleted draft that drafting already treats as skipped.

Editing changes only the draft's text/plain body: the MIME bytes of every
other header and part, attachments included, stay byte-identical, and the
draft id and thread stay, so drafting never recreates the reminder.
"""

from __future__ import annotations

import base64
import enum
import logging
import quopri
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from typing import Literal
from zoneinfo import ZoneInfo

from assistant.attention import APPROVAL
from assistant.business_days import BusinessCalendar
from assistant.clock import Clock
from assistant.config import Config
from assistant.errors import GmailError, InputError
from assistant.gmail import GmailClient
from assistant.ledger import Ledger
from assistant.reminders import APPROVED, DRAFTED, SKIPPED, Reminder
from assistant.send_window import WEEKDAY_NAMES, SendWindow
from assistant.sending import client_zone, planner_for
from assistant.stopping import pause_invoice

logger = logging.getLogger(__name__)

AUTO_APPROVE_SOURCE = "auto-approve"
EDITABLE = (DRAFTED, APPROVED)


class Selection(enum.Enum):
    """Every drafted reminder, in place of a list of uids."""

    ALL = "all"


ALL = Selection.ALL


@dataclass(frozen=True)
class Attachment:
    name: str
    size: int  # decoded bytes


@dataclass(frozen=True)
class DraftView:
    """A draft as the client will see it, with its planned send time in two zones."""

    reminder: Reminder
    thread_id: str | None
    sender: str
    to: str
    cc: str
    subject: str
    in_reply_to: str
    body: str
    attachments: tuple[Attachment, ...]
    raw: bytes
    planned_client: datetime  # in the client's zone
    planned_user: datetime  # in the user's zone


# --- approve, skip, auto-approve ---------------------------------------------


def waiting_for_approval(ledger: Ledger) -> list[Reminder]:
    """Return the drafted reminders, earliest planned send time first."""
    return ledger.reminders.list([DRAFTED])


def _find(ledger: Ledger, uid: str) -> Reminder:
    reminder = ledger.reminders.get(uid)
    if reminder is None:
        raise InputError(
            f"reminder {uid} not found; list the drafted ones with 'assistant review'"
        )
    return reminder


def _require_status(reminder: Reminder, allowed: tuple[str, ...], action: str) -> None:
    if reminder.status not in allowed:
        raise InputError(
            f"reminder {reminder.uid} is {reminder.status}; only "
            f"{' or '.join(allowed)} reminders can be {action}"
        )


def approve(
    ledger: Ledger,
    uids: Iterable[str] | Literal[Selection.ALL],
    clock: Clock,
    *,
    source: str = "cli",
) -> list[Reminder]:
    """Approve drafted reminders, all or none. Already approved ones stay as they are.

    Returns the reminders approved now. Raises InputError, before changing
    anything, when a uid is unknown or its reminder is past approval.
    """
    with ledger.transaction():
        if uids is ALL:
            chosen = waiting_for_approval(ledger)
        else:
            chosen = [_find(ledger, uid) for uid in dict.fromkeys(uids)]
        for reminder in chosen:
            _require_status(reminder, EDITABLE, "approved")
        approved = [
            _approve_one(ledger, reminder, clock, source)
            for reminder in chosen
            if reminder.status == DRAFTED
        ]
    return approved


def _approve_one(ledger: Ledger, reminder: Reminder, clock: Clock, source: str) -> Reminder:
    updated = ledger.reminders.transition(
        reminder.uid, [DRAFTED], APPROVED, source=source, approved_at=clock.now()
    )
    ledger.attention.resolve(APPROVAL, reminder.uid, source=source)
    logger.info(
        "reminder %s approved (%s) for %s",
        reminder.uid,
        source,
        updated.planned_send_at.isoformat(),
    )
    return updated


def auto_approve_due(ledger: Ledger, clock: Clock) -> list[Reminder]:
    """Approve the drafted reminders of clients who turned on auto-approval."""
    clients = {client.name for client in ledger.list_clients() if client.auto_approve}
    due = [r.uid for r in waiting_for_approval(ledger) if r.client in clients]
    if not due:
        return []
    return approve(ledger, due, clock, source=AUTO_APPROVE_SOURCE)


def skip(
    ledger: Ledger, gmail: GmailClient, uid: str, clock: Clock, *, source: str = "cli"
) -> Reminder:
    """Delete the reminder's Gmail draft, then mark it skipped, so it is never drafted again."""
    reminder = _find(ledger, uid)
    _require_status(reminder, EDITABLE, "skipped")
    if reminder.draft_id:
        try:
            gmail.delete_draft(reminder.draft_id)
        except GmailError as exc:
            if exc.status != 404:
                raise
            logger.info("draft %s of reminder %s was already gone", reminder.draft_id, uid)
    with ledger.transaction():
        skipped = ledger.reminders.transition(
            uid, EDITABLE, SKIPPED, source=source, detail=f"skipped by the user at "
            f"{clock.now().isoformat()}"
        )
        ledger.attention.resolve(APPROVAL, uid, source=source)
    logger.info("reminder %s skipped and its draft %s deleted", uid, reminder.draft_id)
    return skipped


# --- reading and editing a draft -----------------------------------------------


def fetch_draft(
    ledger: Ledger, gmail: GmailClient, reminder: Reminder, config: Config
) -> DraftView | None:
    """Read the reminder's draft through the API, or return None when the user deleted it.

    A draft deleted in Gmail means the user does not want that reminder, so
    the reminder is marked skipped, as drafting does.
    """
    if not reminder.draft_id:
        raise InputError(f"reminder {reminder.uid} has no Gmail draft to show")
    try:
        draft = gmail.get_draft(reminder.draft_id, fmt="raw")
    except GmailError as exc:
        if exc.status != 404:
            raise
        ledger.reminders.transition(
            reminder.uid, EDITABLE, SKIPPED, source="review",
            detail="its draft was deleted in Gmail",
        )
        logger.info("draft %s of reminder %s is gone; skipped", reminder.draft_id, reminder.uid)
        return None
    message = draft.get("message", {})
    raw = base64.urlsafe_b64decode(message.get("raw", "") + "==")
    zone = client_zone(ledger, reminder, config.user.timezone)
    return draft_view(
        reminder,
        raw,
        thread_id=message.get("threadId") or reminder.thread_id,
        client_zone=zone,
        user_zone=ZoneInfo(config.user.timezone),
    )


def draft_view(
    reminder: Reminder,
    raw: bytes,
    *,
    thread_id: str | None,
    client_zone: ZoneInfo,
    user_zone: ZoneInfo,
) -> DraftView:
    """Parse the draft's RFC 822 bytes into what the client will see."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return DraftView(
        reminder=reminder,
        thread_id=thread_id,
        sender=str(message.get("From", "")),
        to=str(message.get("To", "")),
        cc=str(message.get("Cc", "")),
        subject=str(message.get("Subject", "")),
        in_reply_to=str(message.get("In-Reply-To", "")),
        body=plain_text(message),
        attachments=tuple(_attachments(message)),
        raw=raw,
        planned_client=reminder.planned_send_at.astimezone(client_zone),
        planned_user=reminder.planned_send_at.astimezone(user_zone),
    )


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    if body is None:
        return ""
    content = body.get_content()
    return content if isinstance(content, str) else content.decode("utf-8", "replace")


def _attachments(message: EmailMessage) -> list[Attachment]:
    found = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        found.append(Attachment(part.get_filename() or "(no name)", size))
    return found


def edit_draft(
    ledger: Ledger, gmail: GmailClient, view: DraftView, new_body: str, *, source: str = "review"
) -> Reminder:
    """Replace the draft's text body through drafts.update, keeping its thread.

    Records the new message id as ``draft_message_id``, because the draft now
    contains what the assistant last wrote, with the user's text. Drafting
    therefore sees no edit made in Gmail and keeps the draft as it is.
    """
    reminder = view.reminder
    _require_status(reminder, EDITABLE, "edited")
    assert reminder.draft_id is not None
    new_raw = replace_text_body(view.raw, new_body)
    draft = gmail.update_draft(reminder.draft_id, new_raw, thread_id=view.thread_id)
    message_id = draft.get("message", {}).get("id")
    logger.info("draft %s of reminder %s edited", reminder.draft_id, reminder.uid)
    return ledger.reminders.update(reminder.uid, source=source, draft_message_id=message_id)


# --- MIME: replace the text part, keep every other byte -------------------------

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def replace_text_body(raw: bytes, text: str) -> bytes:
    """Return ``raw`` with its first inline text/plain part holding ``text``.

    Only that part's body and its Content-Type and Content-Transfer-Encoding
    fields change. Raises InputError when the message has no text/plain part, or
    has an HTML alternative that would keep showing the old text.
    """
    eol = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
    replaced = _replace_in_entity(raw, text, eol, top_level=True)
    if replaced is None:
        raise InputError("the draft has no plain-text part to edit; edit it in Gmail")
    return replaced


def _split_entity(entity: bytes) -> tuple[bytes, bytes]:
    """Split a MIME entity into its header block (with the blank line) and body."""
    if entity.startswith((b"\r\n", b"\n")):
        cut = 2 if entity.startswith(b"\r\n") else 1
        return entity[:cut], entity[cut:]
    match = _BLANK_LINE.search(entity)
    if match is None:
        return entity, b""
    return entity[: match.end()], entity[match.end() :]


def _replace_in_entity(
    entity: bytes, text: str, eol: bytes, *, top_level: bool = False
) -> bytes | None:
    head, body = _split_entity(entity)
    headers: Message = BytesHeaderParser(policy=policy.compat32).parsebytes(head)
    if headers.get_content_maintype() == "multipart":
        return _replace_in_multipart(head, body, headers, text, eol)
    inline = headers.get_content_disposition() != "attachment"
    if headers.get_content_type() != "text/plain" or not inline:
        return None
    new_body, encoding = _encode_text(text, eol)
    return _rewrite_head(head, encoding, eol, top_level) + new_body


def _replace_in_multipart(
    head: bytes, body: bytes, headers: Message, text: str, eol: bytes
) -> bytes | None:
    boundary = headers.get_boundary()
    if not boundary:
        return None
    spans = _part_spans(body, boundary)
    if headers.get_content_subtype() == "alternative":
        kinds = {_content_type(body[start:end]) for start, end in spans}
        if "text/html" in kinds:
            raise InputError(
                "the draft also has an HTML version, which would keep the old text; "
                "edit it in Gmail instead"
            )
    for start, end in spans:
        new_part = _replace_in_entity(body[start:end], text, eol)
        if new_part is not None:
            return head + body[:start] + new_part + body[end:]
    return None


def _content_type(entity: bytes) -> str:
    head, _ = _split_entity(entity)
    return BytesHeaderParser(policy=policy.compat32).parsebytes(head).get_content_type()


def _part_spans(body: bytes, boundary: str) -> list[tuple[int, int]]:
    """Return the byte ranges of a multipart body's parts (RFC 2046 section 5.1.1).

    A delimiter is a line ``--boundary``, and the line break before it belongs
    to the delimiter, not to the part before it. ``--boundary--`` closes the list.
    """
    delimiter = re.compile(
        rb"(?:\A|\r?\n)--" + re.escape(boundary.encode("ascii", "replace"))
        + rb"(--)?[ \t]*(?:\r?\n|\Z)"
    )
    spans = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            spans.append((start, match.start()))
        if match.group(1):
            break
        start = match.end()
    return spans


def _encode_text(text: str, eol: bytes) -> tuple[bytes, str]:
    """Encode ``text`` as UTF-8: 7bit when it is short-lined ASCII, else quoted-printable."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    if not normalized.endswith("\n"):
        normalized += "\n"
    data = normalized.encode("utf-8")
    # RFC 5322 section 2.1.1 limits lines to 998 characters and advises 78.
    plain = normalized.isascii() and all(len(line) <= 78 for line in normalized.split("\n"))
    encoding = "7bit" if plain else "quoted-printable"
    if not plain:
        data = quopri.encodestring(data)
    return data.replace(b"\n", eol), encoding


def _rewrite_head(head: bytes, encoding: str, eol: bytes, top_level: bool) -> bytes:
    """Swap the part's Content-Type and Content-Transfer-Encoding fields in place."""
    lines = head.rstrip(b"\r\n").split(eol) if head.strip() else []
    fields: list[list[bytes]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    new_fields = {
        "content-type": b'Content-Type: text/plain; charset="utf-8"',
        "content-transfer-encoding": b"Content-Transfer-Encoding: " + encoding.encode(),
    }
    output: list[bytes] = []
    for field in fields:
        name = field[0].split(b":", 1)[0].strip().lower().decode("ascii", "replace")
        if name in new_fields:
            output.append(new_fields.pop(name))
        else:
            output.extend(field)
    output.extend(new_fields.values())
    if top_level and not any(f[0].lower().startswith(b"mime-version:") for f in fields):
        output.append(b"MIME-Version: 1.0")
    return eol.join(output) + eol + eol


# --- reschedule and pause -------------------------------------------------------


def parse_send_time(text: str, zone: ZoneInfo) -> datetime:
    """Parse ``2026-03-10 05:30`` as a wall time in ``zone``, or an ISO 8601 instant.

    Raises InputError for a wall time that does not exist in ``zone`` because
    the clocks skip it.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InputError(
            f"invalid send time {text!r}; write it as 2026-03-10 05:30 (in the "
            f"client's zone {zone.key}) or with an offset such as 2026-03-10T05:30+01:00"
        ) from exc
    if moment.tzinfo is not None:
        return moment.astimezone(ZoneInfo("UTC"))
    local = moment.replace(tzinfo=zone, fold=0)
    round_trip = local.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None)
    if round_trip != moment:
        raise InputError(
            f"send time {text!r} does not exist in {zone.key}, because the clocks "
            "skip it for daylight saving; pick another time"
        )
    return local.astimezone(ZoneInfo("UTC"))


def window_conflict(
    when: datetime, window: SendWindow, calendar: BusinessCalendar, zone: ZoneInfo
) -> str | None:
    """Describe why ``when`` falls outside the send window in ``zone``, or return None."""
    local = when.astimezone(zone)
    days = ", ".join(WEEKDAY_NAMES[day] for day in sorted(window.days))
    hours = f"{window.start:%H:%M}-{window.end:%H:%M}"
    where = f"{local:%a %Y-%m-%d %H:%M} in {zone.key}"
    if local.weekday() not in window.days:
        return f"{where} is not a send day ({days})"
    if calendar.is_holiday(local.date()):
        return f"{where} is a public holiday in {calendar.country}"
    if not window.start <= local.time().replace(tzinfo=None) < window.end:
        return f"{where} is outside the send hours {hours}"
    return None


def require_future(when: datetime, clock: Clock) -> None:
    now = clock.now()
    if when <= now:
        raise InputError(
            f"send time {when.isoformat()} is not in the future (now is "
            f"{now.isoformat()}); give a later time"
        )


def reschedule(
    ledger: Ledger,
    uid: str,
    when: datetime,
    clock: Clock,
    config: Config,
    *,
    outside_window_ok: bool = False,
    source: str = "cli",
) -> Reminder:
    """Move the reminder's planned send time to ``when``, which must be in the future.

    A time outside the client's send window raises InputError unless
    ``outside_window_ok`` confirms it.
    """
    reminder = _find(ledger, uid)
    _require_status(reminder, EDITABLE, "rescheduled")
    require_future(when, clock)
    planner = planner_for(ledger, config, reminder)
    conflict = window_conflict(when, planner.window, planner.calendar, planner.zone)
    if conflict and not outside_window_ok:
        raise InputError(f"{conflict}; confirm to send outside the window")
    updated = ledger.reminders.update(uid, source=source, planned_send_at=when)
    logger.info("reminder %s rescheduled to %s", uid, when.isoformat())
    return updated


def pause_invoices(
    ledger: Ledger, numbers: Iterable[str], until: date, today: date, *, source: str = "cli"
) -> None:
    """Pause reminders for the invoices through ``until`` (inclusive), all or none.

    The sending side withdraws their drafts on its next pass.
    """
    with ledger.transaction():
        for number in numbers:
            pause_invoice(ledger, number, until, today, source=source)
            logger.info("invoice %s paused until %s", number, until.isoformat())
