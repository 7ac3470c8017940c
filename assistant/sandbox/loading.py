"""Load mail into the sandbox: a folder of .eml files, a Takeout mbox or a plain mbox.

A Gmail Takeout mbox carries each message's thread (X-GM-THRID) and labels
(X-Gmail-Labels), so those are kept. Other mail is threaded the way Gmail
threads received mail: by In-Reply-To/References and a matching subject.

Mbox files are read as a stream, one message at a time, and stored in large
transactions, so a mailbox of hundreds of megabytes never sits in memory whole.
"""

from __future__ import annotations

import csv
import email.utils
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from assistant.errors import SandboxError
from assistant.sandbox import message_format as mf
from assistant.sandbox.store import MailStore

logger = logging.getLogger(__name__)

# Takeout label names and the system label each stands for; None: no label.
_TAKEOUT_LABELS: dict[str, str | None] = {
    "inbox": "INBOX",
    "sent": "SENT",
    "drafts": "DRAFT",
    "draft": "DRAFT",
    "spam": "SPAM",
    "trash": "TRASH",
    "important": "IMPORTANT",
    "starred": "STARRED",
    "unread": "UNREAD",
    "chat": "CHAT",
    "opened": None,
    "archived": None,
}
_CATEGORY_PREFIX = "category "
_TAKEOUT_MARKERS = (b"\nx-gm-thrid:", b"\nx-gmail-labels:")
_HEADER_SCAN_BYTES = 65536
# asctime in a From_ line: "From sender Sun Aug  7 11:40:37 2022".
_FROM_LINE_DATE = re.compile(
    rb"([A-Z][a-z]{2}) +(\d{1,2}) +(\d{1,2}):(\d{2})(?::(\d{2}))? +(\d{4})"
)


@dataclass
class LoadReport:
    """Result of a load: counts, messages kept unparsed, labels it created."""

    source: str
    kind: str  # "eml-folder", "eml", "takeout-mbox" or "mbox"
    loaded: int = 0
    kept_raw: list[tuple[str, str]] = field(default_factory=list)
    labels_created: list[str] = field(default_factory=list)
    drafts: int = 0


def load_mailbox(store: MailStore, path: Path, *, owner: str | None = None) -> LoadReport:
    """Load the mail at ``path`` into ``store`` and report what was stored.

    ``owner`` (default: the store's user) decides SENT versus INBOX for mail
    without labels: messages from the owner are sent mail.
    """
    path = Path(path)
    if not path.exists():
        raise SandboxError(f"mail source {path} not found; give a .eml folder or an mbox file")
    owner_address = (owner or store.user_email).lower()
    if path.is_dir():
        return _load_eml_folder(store, path, owner_address)
    kind = _file_kind(path)
    report = LoadReport(source=str(path), kind=kind)
    if kind == "eml":
        raw = path.read_bytes()
        _store_all(store, report, [(path.name, raw, _plain_options(raw, owner_address, None))])
    else:
        _store_all(store, report, _mbox_items(store, path, kind, owner_address, report))
    logger.info("loaded %d messages from %s (%s)", report.loaded, path, kind)
    return report


def _file_kind(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(_HEADER_SCAN_BYTES)
    if not head.startswith(b"From ") and path.suffix.lower() != ".mbox":
        return "eml"
    header_block = head.split(b"\n\n", 1)[0].lower()
    if any(marker in header_block for marker in _TAKEOUT_MARKERS):
        return "takeout-mbox"
    return "mbox"


def _store_all(
    store: MailStore, report: LoadReport, items: Iterator[tuple[str, bytes, dict[str, Any]]]
    | list[tuple[str, bytes, dict[str, Any]]],
) -> None:
    names: list[str] = []

    def feed() -> Iterator[tuple[bytes, dict[str, Any]]]:
        for name, raw, options in items:
            if not raw.strip():
                continue
            names.append(name)
            report.drafts += "DRAFT" in options.get("label_ids", ())
            yield raw, options

    def kept_raw(index: int, reason: str) -> None:
        logger.warning("message %s kept raw: %s", names[index], reason)
        report.kept_raw.append((names[index], reason))

    stored = store.add_messages(feed(), on_kept_raw=kept_raw)
    report.loaded += len(stored)


def _load_eml_folder(store: MailStore, folder: Path, owner: str) -> LoadReport:
    report = LoadReport(source=str(folder), kind="eml-folder")
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    # Oldest first, so that a reply finds its parent already stored.
    files.sort(key=lambda p: (_file_date_ms(p) or 0, p.name))

    def items() -> Iterator[tuple[str, bytes, dict[str, Any]]]:
        for file in files:
            raw = file.read_bytes()
            yield file.name, raw, _plain_options(raw, owner, None)

    _store_all(store, report, items())
    logger.info("loaded %d messages from folder %s", report.loaded, folder)
    return report


def _file_date_ms(path: Path) -> int | None:
    with path.open("rb") as handle:
        head = handle.read(_HEADER_SCAN_BYTES)
    return mf.date_header_ms(_headers(head).get("date"))


# -- mbox streaming -----------------------------------------------------------


def iter_mbox(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """Yield (From_ line, message bytes) for each message, reading line by line.

    A line starting "From " separates messages when it looks like a From_ line:
    it carries an asctime date ("Sun Aug  7 11:40:37 2022"), or is a bare
    "From -" or "From sender" as some tools write. Text before the first From_
    line is not a message. NOTE: this keeps unquoted "From ..." sentences in
    bodies intact, which ``mailbox.mbox`` would split on, but a body line that
    looks exactly like a From_ line still splits the message.
    """
    from_line = b""
    lines: list[bytes] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle):
            if number == 0 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]  # a UTF-8 byte order mark some tools write
            if line.startswith(b"From ") and _is_from_line(line):
                if from_line:
                    yield from_line, _without_separator_blank(lines)
                elif b"".join(lines).strip():
                    logger.warning("%s: skipped %d lines before the first From_ line",
                                   path.name, len(lines))
                from_line, lines = line, []
            else:
                lines.append(line)
    if from_line:
        yield from_line, _without_separator_blank(lines)
    elif b"".join(lines).strip():
        logger.warning("%s: no From_ line found, so it contains no messages", path.name)


def _is_from_line(line: bytes) -> bool:
    return bool(_FROM_LINE_DATE.search(line)) or len(line.split()) <= 2


def _without_separator_blank(lines: list[bytes]) -> bytes:
    # The blank line before the next From_ line belongs to the mbox format.
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(lines)


def from_line_date_ms(from_line: bytes) -> int | None:
    match = _FROM_LINE_DATE.search(from_line)
    if match is None:
        return None
    month, day, hour, minute, second, year = match.groups()
    try:
        moment = datetime.strptime(
            f"{month.decode()} {int(day)} {int(hour)}:{minute.decode()}:"
            f"{(second or b'00').decode()} {year.decode()}",
            "%b %d %H:%M:%S %Y",
        )
    except ValueError:
        return None
    return int(moment.replace(tzinfo=timezone.utc).timestamp() * 1000)


def _mbox_items(
    store: MailStore, path: Path, kind: str, owner: str, report: LoadReport
) -> Iterator[tuple[str, bytes, dict[str, Any]]]:
    for number, (from_line, raw) in enumerate(iter_mbox(path), start=1):
        name = f"{path.name}#{number}"
        if kind == "takeout-mbox":
            yield name, raw, _takeout_options(store, raw, from_line, report)
        else:
            yield name, raw, _plain_options(raw, owner, from_line)


# -- per-message options --------------------------------------------------------


def _headers(raw: bytes) -> dict[str, str]:
    """The first value of each header in the header block, unfolded, names lower-cased."""
    block = re.split(rb"\r?\n\r?\n", raw[:_HEADER_SCAN_BYTES], maxsplit=1)[0]
    found: dict[str, str] = {}
    current: str | None = None
    for line in block.splitlines():
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                found[current] += " " + line.strip().decode("utf-8", "replace")
            continue
        head, separator, value = line.partition(b":")
        name = head.strip().decode("ascii", "replace").lower()
        # Only the first occurrence of a header counts.
        current = name if separator and name not in found else None
        if current is not None:
            found[current] = value.strip().decode("utf-8", "replace")
    return found


def _date_options(raw: bytes, headers: dict[str, str], from_line: bytes | None) -> dict[str, Any]:
    """internalDate from Date, else from the From_ line, else (by the store) the clock."""
    if mf.date_header_ms(headers.get("date")) is not None or not from_line:
        return {}
    date_ms = from_line_date_ms(from_line)
    return {} if date_ms is None else {"internal_date_ms": date_ms}


def _plain_options(raw: bytes, owner: str, from_line: bytes | None) -> dict[str, Any]:
    headers = _headers(raw)
    sender = email.utils.parseaddr(headers.get("from", ""))[1].lower()
    labels = ["SENT"] if sender and sender == owner else ["INBOX"]
    return {"label_ids": labels, "thread_by_headers": True} | _date_options(
        raw, headers, from_line
    )


def _takeout_options(
    store: MailStore, raw: bytes, from_line: bytes, report: LoadReport
) -> dict[str, Any]:
    headers = _headers(raw)
    labels = _takeout_label_ids(store, headers.get("x-gmail-labels", ""), report)
    options: dict[str, Any] = {"label_ids": labels}
    thread_key = headers.get("x-gm-thrid", "").strip()
    if thread_key:
        options["gmail_thread_key"] = thread_key
    else:
        options["thread_by_headers"] = True
    return options | _date_options(raw, headers, from_line)


def _takeout_label_ids(store: MailStore, value: str, report: LoadReport) -> list[str]:
    names = next(csv.reader([mf.decode_header_text(value)], skipinitialspace=True), [])
    label_ids: list[str] = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        lowered = name.lower()
        if lowered in _TAKEOUT_LABELS:
            system = _TAKEOUT_LABELS[lowered]
            if system is not None:
                label_ids.append(system)
        elif lowered.startswith(_CATEGORY_PREFIX):
            label_ids.append("CATEGORY_" + lowered[len(_CATEGORY_PREFIX):].strip().upper())
        else:
            label_ids.append(_user_label(store, name, report))
    return [label for label in dict.fromkeys(label_ids) if store.label_id(label)]


def _user_label(store: MailStore, name: str, report: LoadReport) -> str:
    existing = store.label_id(name)
    if existing is not None:
        return existing
    created = store.create_label({"name": name})
    report.labels_created.append(name)
    return str(created["id"])
