"""Quota units the sent check spends, against a naive walk of the Sent folder.

Builds a 20,000-message mailbox in the sandbox (a consultant's sent mail and
inbox, 100 invoices among it), imports the 100 invoices, then measures with
the sandbox's /sandbox/stats:

- the check's first run and an unchanged second run;
- a naive approach: list ``in:sent`` and get every message with format=full;
- the 429 responses the sandbox returned during the first run.

Time is simulated: the client's pacer and the sandbox's quota window share
one manual clock, so the naive walk's minutes of pacing cost no real time.

Run: python benchmarks/bench_check_quota.py [--messages 20000] [--invoices 100]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import httplib2

from assistant.clock import SimulatedClock, to_epoch_ms
from assistant.gmail import GmailClient
from assistant.invoice_check import check_invoices
from assistant.invoice_import import import_invoices
from assistant.ledger import Ledger
from assistant.mail_sync import MailCache, MailReader
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore

OWNER = "me@consultant.example"
START = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)


class ManualClock:
    """Monotonic seconds that advance only when someone sleeps."""

    def __init__(self) -> None:
        self.seconds = 10_000.0

    def __call__(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += max(seconds, 0.0)


def _mail(sender: str, to: str, subject: str, when: datetime, pdf: bytes | None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = make_msgid(domain="bench.example")
    message.set_content("Hello,\n\nsee below.\n\nBest,\nMe")
    if pdf is not None:
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice.pdf")
    return message.as_bytes()


def build_mailbox(store: MailStore, messages: int, invoices: int) -> str:
    """Fill the store; return the invoice CSV for the ledger."""
    rng = random.Random(1)
    pdf = b"%PDF-1.4\n% small stand-in attachment\n" + rng.randbytes(2_000)
    rows = ["number,client,email,amount,currency,issue_date,due_date"]
    items = []
    for index in range(invoices):
        number = f"INV-{2000 + index}"
        client = f"client{index}@example.com"
        when = START + timedelta(hours=index)
        rows.append(f"{number},Client {index},{client},{100 + index}.00,EUR,"
                    f"{when:%Y-%m-%d},{(when + timedelta(days=30)):%Y-%m-%d}")
        raw = _mail(OWNER, client, f"Invoice {number}", when, pdf)
        items.append((raw, {"label_ids": ["SENT"], "internal_date_ms": to_epoch_ms(when)}))
    for index in range(messages - invoices):
        when = START + timedelta(minutes=7 * index)
        if index % 3 == 0:
            raw = _mail(OWNER, f"contact{index % 500}@example.org", f"Project note {index}",
                        when, None)
            labels = ["SENT"]
        else:
            raw = _mail(f"contact{index % 500}@example.org", OWNER, f"Update {index}",
                        when, None)
            labels = ["INBOX"]
        items.append((raw, {"label_ids": labels, "internal_date_ms": to_epoch_ms(when)}))
    store.add_messages(items)
    return "\n".join(rows) + "\n"


def stats(url: str) -> dict:
    _, content = httplib2.Http().request(url + "sandbox/stats")
    return json.loads(content)


def reset(url: str) -> None:
    httplib2.Http().request(url + "sandbox/stats/reset", method="POST")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--invoices", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-quota-") as name:
        folder = Path(name)
        store = MailStore(str(folder / "mailbox.db"), clock=SandboxClock())
        store.set_user_email(OWNER)
        csv_text = build_mailbox(store, args.messages, args.invoices)
        (folder / "invoices.csv").write_text(csv_text, encoding="utf-8")
        clock = SimulatedClock(START + timedelta(days=20))
        ledger = Ledger.open(folder / "ledger.db", clock)
        import_invoices(ledger, folder / "invoices.csv")

        quota_clock = ManualClock()
        with SandboxServer(store, quota_clock=quota_clock) as server:
            client = GmailClient.connect(
                server.url, clock=quota_clock, sleep=quota_clock.sleep
            )
            reader = MailReader(client, MailCache(ledger.db, OWNER), clock)

            reset(server.url)
            results = check_invoices(ledger, reader, clock)
            first = stats(server.url)
            reset(server.url)
            check_invoices(ledger, reader, clock)
            second = stats(server.url)

            reset(server.url)
            ids = client.list_message_ids("in:sent")
            client.get_messages(ids, fmt="full")
            naive = stats(server.url)
        store.close()

    sent = sum(1 for r in results if r.evidence.status == "sent")
    rejected = sum(first.get("rejected", {}).values())
    print(f"mailbox: {args.messages} messages, {args.invoices} invoices ({sent} found sent)")
    print(f"naive (list in:sent + get full each): {naive['total_units']} units, "
          f"{len(ids)} messages read")
    print(f"check, first run:  {first['total_units']} units "
          f"(ratio to naive {first['total_units'] / naive['total_units']:.4f})")
    print(f"check, second run: {second['total_units']} units "
          f"(ratio to naive {second['total_units'] / naive['total_units']:.6f})")
    print(f"429 answers during the first run: {first.get('rejected', {}).get('429', 0)} "
          f"(all rejections: {rejected})")
    print("first run calls:", json.dumps(first["calls"], sort_keys=True))
    print("second run calls:", json.dumps(second["calls"], sort_keys=True))


if __name__ == "__main__":
    main()
