"""Time loading a 100 MB mbox into the sandbox against plain parsing.

The baseline iterates the same file with the standard library's
``mailbox.mbox`` and parses each message with ``email`` (default policy,
walking every part), which is the least any loader must do. The sandbox's
``load_mailbox`` also threads, labels, indexes for search and writes SQLite.

Run: python benchmarks/bench_load.py [--megabytes 100]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import mailbox
import os
import platform
import random
import sqlite3
import tempfile
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.loading import load_mailbox
from assistant.sandbox.store import MailStore

WORDS = (
    "invoice payment project meeting schedule report attached please review "
    "thanks regards update deadline budget contract proposal design draft"
).split()


def _message(index: int, rng: random.Random, start: datetime) -> bytes:
    message = EmailMessage()
    sent = index % 3 == 0
    message["From"] = "me@consultant.example" if sent else f"client{index % 97}@example.com"
    message["To"] = f"client{index % 97}@example.com" if sent else "me@consultant.example"
    message["Subject"] = f"Invoice INV-{index:06d} " + " ".join(rng.choices(WORDS, k=4))
    message["Date"] = format_datetime(start + timedelta(minutes=17 * index))
    message["Message-ID"] = make_msgid(domain="bench.example")
    message.set_content("\n".join(" ".join(rng.choices(WORDS, k=12)) for _ in range(20)))
    if index % 4 == 0:
        message.add_attachment(
            rng.randbytes(24_000), maintype="application", subtype="pdf",
            filename=f"INV-{index:06d}.pdf",
        )
    return message.as_bytes()


def write_mbox(path: Path, megabytes: int) -> int:
    """Write an mbox of about ``megabytes`` MB; return its message count."""
    rng = random.Random(42)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    limit = megabytes * 1_000_000
    count = 0
    with path.open("wb") as out:
        while out.tell() < limit:
            out.write(b"From MAILER-DAEMON Thu Jan  1 00:00:00 2024\n")
            out.write(_message(count, rng, start).replace(b"\nFrom ", b"\n>From "))
            out.write(b"\n")
            count += 1
    return count


def parse_with_stdlib(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    for entry in mailbox.mbox(path, create=False):
        parsed = email.message_from_bytes(entry.as_bytes(), policy=email.policy.default)
        for _ in parsed.walk():
            pass
        count += 1
    return count, time.perf_counter() - started


def load_into_sandbox(path: Path, folder: Path) -> tuple[int, float]:
    store = MailStore(str(folder / "state.db"), clock=SandboxClock())
    started = time.perf_counter()
    report = load_mailbox(store, path)
    elapsed = time.perf_counter() - started
    store.close()
    return report.loaded, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-load-") as name:
        folder = Path(name)
        mbox_path = folder / "mail.mbox"
        written = write_mbox(mbox_path, args.megabytes)
        size_mb = mbox_path.stat().st_size / 1_000_000
        parsed, baseline = parse_with_stdlib(mbox_path)
        loaded, sandbox = load_into_sandbox(mbox_path, folder)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    print(f"mbox: {size_mb:.1f} MB, {written} messages")
    print(f"mailbox.mbox + email parse: {parsed} messages in {baseline:.1f} s")
    print(f"sandbox load_mailbox:       {loaded} messages in {sandbox:.1f} s")
    print(f"ratio sandbox / stdlib: {sandbox / baseline:.2f}")


if __name__ == "__main__":
    main()
