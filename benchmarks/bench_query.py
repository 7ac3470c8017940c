"""Time Gmail search (``q``) over sandbox mailboxes of 2,000 and 200,000 messages.

Each mailbox is a temporary SQLite file created by ``MailStore``, which
writes the schema and the system labels. Synthetic rows then go straight into
the tables of ``store.SCHEMA``. About 30% are sent mail, half of them invoices
with a PDF attachment, and the rest are inbox mail. Rows are written directly
because building MIME messages with the ``email`` package and storing them
through ``MailStore.add_messages`` took about 13 ms a message on the loaded
2-core test machine (5,000 in 63 s), so about 45 minutes for 200,000.

The same queries then run over each size, through ``MailStore.list_messages``
(what messages.list does: compile, drop spam and trash, sort, page, count) and
as the compiled condition alone. The script prints the median time of each and
the 200k/2k ratio from one run.

    python benchmarks/bench_query.py            # 2,000 and 200,000 messages
    python benchmarks/bench_query.py --sizes 500 5000
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.sandbox.query import compile_query  # noqa: E402
from assistant.sandbox.store import MailStore  # noqa: E402

OWNER = "me@example.com"
START = datetime(2021, 1, 1, tzinfo=timezone.utc)
QUERIES = (
    "in:sent from:me@example.com INV-1042",
    "in:sent invoice has:attachment",
)
WORDS = (
    "project schedule review draft budget meeting notes deadline design client "
    "contract scope estimate delivery milestone report update status question "
    "thanks regards please attached call tomorrow friday monday week month plan "
    "proposal feedback changes approval team launch website backend server data"
).split()


@dataclass
class Row:
    """One synthetic message as the store would write it."""

    seq: int
    date_ms: int
    sender: tuple[str, str]  # display name, address
    recipient: tuple[str, str]
    subject: str
    body: str
    labels: tuple[str, ...]
    filename: str = ""

    def raw(self) -> bytes:
        headers = (
            f"From: {self.sender[0]} <{self.sender[1]}>\r\n"
            f"To: {self.recipient[0]} <{self.recipient[1]}>\r\n"
            f"Subject: {self.subject}\r\nMessage-ID: <bench-{self.seq}@example.com>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        )
        return (headers + self.body + "\r\n").encode()


def synthetic_row(rng: random.Random, index: int) -> Row:
    """Message ``index``: its date, parties, words and labels."""
    date_ms = int((START + timedelta(minutes=7 * index)).timestamp() * 1000)
    client = (f"Client {index % 40}", f"client{rng.randrange(40)}@company{rng.randrange(40)}.example")
    body = " ".join(rng.choices(WORDS, k=60))
    invoice = f"INV-{1000 + index % 5000}"
    # Every 5,000th message from the 42nd is the invoice INV-1042, so both
    # mailboxes contain it (once in 2,000 messages, 40 times in 200,000).
    if index % 5000 == 42 or rng.random() < 0.15:
        return Row(
            index + 1, date_ms, ("Sam Doe", OWNER), client, f"Invoice {invoice}",
            f"Please find attached invoice {invoice}. {body}", ("SENT",), f"{invoice}.pdf",
        )
    if rng.random() < 0.15 / 0.85:
        subject = f"Re: {rng.choice(WORDS)} {rng.choice(WORDS)}"
        return Row(index + 1, date_ms, ("Sam Doe", OWNER), client, subject, body, ("SENT",))
    sender = (f"Sender {index % 997}", f"sender{index % 2000}@mail{index % 50}.example")
    labels = ("INBOX", "UNREAD") if rng.random() < 0.3 else ("INBOX",)
    subject = " ".join(rng.choices(WORDS, k=4))
    return Row(index + 1, date_ms, sender, ("Sam Doe", OWNER), subject, body, labels)


def synthetic_rows(count: int, seed: int = 1042) -> Iterator[Row]:
    rng = random.Random(seed)
    for index in range(count):
        yield synthetic_row(rng, index)


def write_rows(path: Path, rows: Iterator[Row]) -> None:
    """Insert rows into the store's tables, in one transaction."""
    db = sqlite3.connect(path)
    with db:
        for row in rows:
            raw = row.raw()
            db.execute(
                "INSERT INTO messages (seq, id, thread_id, history_id, internal_date,"
                " size_estimate, raw, rfc822_msgid, subject, has_attachment, snippet)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row.seq, f"{row.seq:016x}", f"{row.seq:016x}", row.seq, row.date_ms,
                 len(raw), raw, f"bench-{row.seq}@example.com", row.subject,
                 int(bool(row.filename)), row.body[:100]),
            )
            db.executemany(
                "INSERT INTO message_labels (label_id, message_seq) VALUES (?, ?)",
                [(label, row.seq) for label in row.labels],
            )
            db.executemany(
                "INSERT INTO message_addresses (message_seq, field, address, name)"
                " VALUES (?, ?, ?, ?)",
                [(row.seq, "from", row.sender[1], row.sender[0]),
                 (row.seq, "to", row.recipient[1], row.recipient[0])],
            )
            db.execute(
                "INSERT INTO messages_fts (rowid, subject, sender, to_text, cc_text,"
                " bcc_text, body, filenames) VALUES (?, ?, ?, ?, '', '', ?, ?)",
                (row.seq, row.subject, " ".join(row.sender), " ".join(row.recipient),
                 row.body, row.filename),
            )
    db.close()


def median_ms(run: Callable[[], object], repeats: int) -> float:
    run()  # warm the page cache and the statement cache
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def time_queries(path: Path, store: MailStore, repeats: int) -> dict[str, tuple[float, float, int]]:
    """Return, per query, (list_messages ms, compiled SQL ms, matching messages)."""
    reader = sqlite3.connect(path)
    results = {}
    for q in QUERIES:
        compiled = compile_query(
            q, resolve_label=store.label_id, now=datetime.now(timezone.utc)
        )
        sql = (
            f"SELECT m.id FROM messages AS m WHERE {compiled.sql}"
            " ORDER BY m.internal_date DESC LIMIT 100"
        )

        def run_sql() -> object:
            return reader.execute(sql, compiled.params).fetchall()

        def run_list() -> object:
            return store.list_messages(q=q, max_results=100)

        total = store.list_messages(q=q, max_results=1)["resultSizeEstimate"]
        results[q] = (median_ms(run_list, repeats), median_ms(run_sql, repeats), total)
    reader.close()
    return results


def build_and_time(size: int, directory: str, repeats: int) -> dict[str, tuple[float, float, int]]:
    path = Path(directory) / f"mailbox-{size}.sqlite"
    MailStore(str(path)).close()  # the store's own schema and system labels
    start = time.perf_counter()
    write_rows(path, synthetic_rows(size))
    print(f"wrote {size:,} messages in {time.perf_counter() - start:.0f} s "
          f"({path.stat().st_size / 1e6:.0f} MB)", file=sys.stderr)
    store = MailStore(str(path))
    try:
        return time_queries(path, store, repeats)
    finally:
        store.close()


def machine_info() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=(2_000, 200_000),
                        metavar=("SMALL", "LARGE"), help="mailbox sizes in messages")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per query")
    args = parser.parse_args()

    print(machine_info())
    with tempfile.TemporaryDirectory(prefix="bench-query-") as directory:
        small, large = (build_and_time(size, directory, args.repeats) for size in args.sizes)
    print(f"median of {args.repeats} runs; list = MailStore.list_messages, "
          "sql = compiled condition with ORDER BY internal_date LIMIT 100")
    for q in QUERIES:
        (list_s, sql_s, n_s), (list_l, sql_l, n_l) = small[q], large[q]
        print(f"{q!r}")
        print(f"  {args.sizes[0]:>7,}: list {list_s:8.2f} ms  sql {sql_s:8.2f} ms  "
              f"{n_s:,} matches")
        print(f"  {args.sizes[1]:>7,}: list {list_l:8.2f} ms  sql {sql_l:8.2f} ms  "
              f"{n_l:,} matches")
        print(f"  ratio large/small: list {list_l / list_s:.1f}x  sql {sql_l / sql_s:.1f}x")


if __name__ == "__main__":
    main()
