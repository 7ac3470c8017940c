"""GmailClient against the sandbox over real HTTP: retries, sends, pacing, errors.

Time is a ManualTime shared by the client's pacer and backoff and by the
sandbox's quota window, so no test sleeps.
"""

from __future__ import annotations

import base64
import logging
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from assistant.errors import GmailError
from assistant.gmail import (
    MEDIA_UPLOAD_THRESHOLD,
    GmailClient,
    HistoryExpired,
    OutcomeUnknown,
    QuotaPacer,
    RetryPolicy,
    _message_payload,
    build_service,
)
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.faults import Fault, FaultInjector
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore

OWNER = "owner@example.com"
CLIENT = "ap@client.example"


class ManualTime:
    """Monotonic seconds that advance only when the code under test sleeps."""

    def __init__(self) -> None:
        self.seconds = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.seconds += seconds


def compose(
    subject: str, *, text: str = "Invoice attached.", attachment: bytes | None = None
) -> bytes:
    message = EmailMessage()
    message["From"] = OWNER
    message["To"] = CLIENT
    message["Subject"] = subject
    message.set_content(text)
    if attachment is not None:
        message.add_attachment(
            attachment, maintype="application", subtype="pdf", filename="invoice.pdf"
        )
    return message.as_bytes()


@pytest.fixture
def mail_clock() -> SandboxClock:
    return SandboxClock()


@pytest.fixture
def store(tmp_path: Path, mail_clock: SandboxClock) -> Iterator[MailStore]:
    mailbox = MailStore(str(tmp_path / "mailbox.db"), clock=mail_clock)
    mailbox.set_user_email(OWNER)
    for number in range(1, 31):
        mailbox.add_message(compose(f"Invoice 2026-{number:03d}"), label_ids=["SENT"])
    yield mailbox
    mailbox.close()


@pytest.fixture
def time_source() -> ManualTime:
    return ManualTime()


@pytest.fixture
def start_sandbox(
    store: MailStore, mail_clock: SandboxClock, time_source: ManualTime
) -> Iterator[Callable[..., SandboxServer]]:
    started: list[SandboxServer] = []

    def start(**options: Any) -> SandboxServer:
        server = SandboxServer(
            store, clock=mail_clock, quota_clock=time_source.clock, **options
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def make_client(
    server: SandboxServer,
    time_source: ManualTime,
    *,
    units_per_minute: int = 6_000,
    max_attempts: int = 8,
) -> GmailClient:
    pacer = QuotaPacer(
        units_per_minute, clock=time_source.clock, sleep=time_source.sleep
    )
    return GmailClient(
        build_service(server.url),
        gmail_url=server.url,
        pacer=pacer,
        retry=RetryPolicy(max_attempts=max_attempts),
        clock=time_source.clock,
        sleep=time_source.sleep,
        rng=random.Random(3),
    )


def stats(server: SandboxServer) -> dict[str, Any]:
    return server.api.stats.snapshot()


def seed_whose_first_fault_is(fault: Fault) -> int:
    """Find a seed for which the sandbox's first draw at fail rate 1.0 is ``fault``."""
    for seed in range(1000):
        if FaultInjector(1.0, seed=seed).draw() is fault:
            return seed
    raise AssertionError(f"no seed below 1000 starts with {fault}")


def read_mailbox(client: GmailClient) -> dict[str, Any]:
    ids = client.list_message_ids(label_ids=["SENT"], page_size=7)
    return {
        "profile": client.profile()["emailAddress"],
        "ids": ids,
        "messages": client.get_messages(ids, "metadata", ["Subject"]),
        "first": client.get_message(ids[0], "raw")["raw"],
        "threads": [thread["id"] for thread in client.list_threads(page_size=9)],
    }


# -- retries -------------------------------------------------------------------


def test_reads_survive_faults_with_same_result(
    start_sandbox: Callable[..., SandboxServer],
    time_source: ManualTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clean = read_mailbox(make_client(start_sandbox(), time_source))

    faulty_server = start_sandbox(fail_rate=0.3, seed=11)
    with caplog.at_level(logging.WARNING, logger="assistant.gmail"):
        faulty = read_mailbox(make_client(faulty_server, time_source))

    assert faulty == clean
    assert len(clean["ids"]) == 30
    rejected = stats(faulty_server)["rejected"]
    assert sum(rejected.values()) > 0, (
        "the seed injected no fault, so nothing was retried"
    )
    assert time_source.sleeps, "a retried call must back off through the injected sleep"
    retry_lines = [
        r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()
    ]
    assert retry_lines
    assert any("messages." in line or "threads." in line for line in retry_lines)


def test_backoff_delays_use_full_jitter_and_stay_bounded() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=8.0)
    rng = random.Random(5)
    delays = [policy.delay(number, rng) for number in range(1, 10) for _ in range(50)]
    assert min(delays) >= 0.0
    assert max(delays) <= 8.0
    first_retry = [policy.delay(1, rng) for _ in range(200)]
    assert max(first_retry) <= 1.0
    assert len(set(first_retry)) > 100, "full jitter draws a fresh delay each time"


def test_read_gives_up_after_max_attempts(
    start_sandbox: Callable[..., SandboxServer], time_source: ManualTime
) -> None:
    server = start_sandbox(fail_rate=1.0, seed=2)
    client = make_client(server, time_source, max_attempts=3)

    with pytest.raises(GmailError) as caught:
        client.profile()

    assert "getProfile" in str(caught.value)
    assert len(time_source.sleeps) == 2


# -- sends ------------------------------------------------------------------


def test_send_draft_not_retried_on_dropped_connection(
    store: MailStore,
    start_sandbox: Callable[..., SandboxServer],
    time_source: ManualTime,
) -> None:
    draft = store.create_draft(compose("Reminder: invoice 2026-001"))
    server = start_sandbox(fail_rate=1.0, seed=seed_whose_first_fault_is(Fault.DROPPED))
    client = make_client(server, time_source)

    with pytest.raises(OutcomeUnknown) as caught:
        client.send_draft(draft["id"])

    assert "check the Sent folder" in str(caught.value)
    assert draft["id"] in str(caught.value)
    server.api.faults = FaultInjector(0.0)
    # The sandbox ran the send and then dropped the connection, as a lost
    # response does; httplib2 alone would have sent the POST a second time.
    assert stats(server)["calls"]["gmail.users.drafts.send"] == 1
    sent = client.list_message_ids(label_ids=["SENT"])
    assert len(sent) == 31
    assert client.list_drafts() == []
    assert time_source.sleeps == []


def test_send_draft_not_retried_on_503(
    store: MailStore,
    start_sandbox: Callable[..., SandboxServer],
    time_source: ManualTime,
) -> None:
    draft = store.create_draft(compose("Reminder: invoice 2026-002"))
    server = start_sandbox(
        fail_rate=1.0, seed=seed_whose_first_fault_is(Fault.UNAVAILABLE)
    )
    client = make_client(server, time_source)

    with pytest.raises(OutcomeUnknown) as caught:
        client.send_draft(draft["id"])

    assert caught.value.status == 503
    server.api.faults = FaultInjector(0.0)
    assert len(client.list_message_ids(label_ids=["SENT"])) == 30
    assert [d["id"] for d in client.list_drafts()] == [draft["id"]]
    assert time_source.sleeps == []


def test_send_draft_returns_sent_message(
    store: MailStore,
    start_sandbox: Callable[..., SandboxServer],
    time_source: ManualTime,
) -> None:
    client = make_client(start_sandbox(), time_source)
    draft = client.create_draft(compose("Reminder: invoice 2026-003"))

    sent = client.send_draft(draft["id"])

    assert "SENT" in sent["labelIds"]
    assert client.list_drafts() == []


# -- pacing -----------------------------------------------------------------


def test_pacer_keeps_burst_under_small_quota(
    start_sandbox: Callable[..., SandboxServer], time_source: ManualTime
) -> None:
    server = start_sandbox(quota_per_minute=200)
    client = make_client(server, time_source, units_per_minute=200)
    ids = client.list_message_ids(label_ids=["SENT"])

    for message_id in ids[:20]:
        client.get_message(message_id, "minimal")
    fetched = client.get_messages(ids, "minimal")

    # 5 + 20 * 5 + 30 * 5 = 255 units, more than one minute's 200.
    assert len(fetched) == 30
    assert stats(server)["rejected"].get("429", 0) == 0
    assert stats(server)["total_units"] == 255
    assert time_source.seconds - 1000.0 >= 60.0


def test_pacer_waits_until_window_has_room() -> None:
    time_source = ManualTime()
    pacer = QuotaPacer(
        100, safety_margin=0.0, clock=time_source.clock, sleep=time_source.sleep
    )

    for _ in range(20):
        pacer.charge(["messages.get"])
    assert time_source.sleeps == []
    time_source.seconds += 10.0
    pacer.charge(["gmail.users.messages.list"])

    assert len(time_source.sleeps) == 1
    assert 50.0 <= time_source.sleeps[0] <= 50.1


def test_pacer_costs_follow_gmail_quota_table() -> None:
    pacer = QuotaPacer()
    assert pacer.cost("gmail.users.messages.get") == 5
    assert pacer.cost("messages.send") == 100
    assert pacer.cost("drafts.send") == 100
    assert pacer.cost("history.list") == 2
    assert pacer.cost("gmail.users.getProfile") == 1
    assert pacer.cost("gmail.users.messages.attachments.get") == 5


def test_batch_size_above_gmail_maximum_rejected(
    start_sandbox: Callable[..., SandboxServer], time_source: ManualTime
) -> None:
    client = make_client(start_sandbox(), time_source)
    with pytest.raises(ValueError, match="batch size must be 1 to 100"):
        client.execute_batch([], batch_size=101)


# -- errors and typed methods --------------------------------------------------


def test_missing_message_names_method_and_id(
    start_sandbox: Callable[..., SandboxServer], time_source: ManualTime
) -> None:
    client = make_client(start_sandbox(), time_source)

    with pytest.raises(GmailError) as caught:
        client.get_message("00000000000fffff")

    assert caught.value.status == 404
    assert caught.value.reason == "notFound"
    assert "messages.get" in str(caught.value)
    assert "00000000000fffff" in str(caught.value)
    assert isinstance(caught.value.__cause__, Exception)
    assert time_source.sleeps == []


def test_get_messages_skips_deleted_ids(
    start_sandbox: Callable[..., SandboxServer], time_source: ManualTime
) -> None:
    client = make_client(start_sandbox(), time_source)
    ids = client.list_message_ids()

    fetched = client.get_messages([ids[0], "00000000000fffff", ids[1]], "minimal")

    assert list(fetched) == [ids[0], ids[1]]


def test_history_older_than_retention_raises_history_expired(
    tmp_path: Path, time_source: ManualTime
) -> None:
    # history.list returns 404 for a start id Gmail no longer keeps; the sync
    # guide (developers.google.com/workspace/gmail/api/guides/sync) says to
    # run a full sync then.
    mail_clock = SandboxClock()
    mailbox = MailStore(
        str(tmp_path / "short.db"), clock=mail_clock, history_retention=2
    )
    mailbox.set_user_email(OWNER)
    start = mailbox.current_history_id()
    for number in range(5):
        mailbox.add_message(compose(f"Note {number}"), label_ids=["INBOX"])
    with SandboxServer(
        mailbox, clock=mail_clock, quota_clock=time_source.clock
    ) as server:
        client = make_client(server, time_source)
        with pytest.raises(HistoryExpired) as caught:
            client.list_history(start)
        current = mailbox.current_history_id()
        records, newest = client.list_history(current - 1)
    mailbox.close()

    assert caught.value.status == 404
    assert "full sync" in str(caught.value)
    assert len(records) == 1
    assert newest == current


def test_attachment_comes_back_as_bytes(
    store: MailStore,
    start_sandbox: Callable[..., SandboxServer],
    time_source: ManualTime,
) -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    added = store.add_message(
        compose("Invoice 2026-099", attachment=pdf), label_ids=["SENT"]
    )
    client = make_client(start_sandbox(), time_source)

    message = client.get_message(added["id"])
    parts = [
        p for p in message["payload"]["parts"] if p.get("filename") == "invoice.pdf"
    ]
    attachment_id = parts[0]["body"]["attachmentId"]

    assert client.get_attachment(added["id"], attachment_id) == pdf


def test_large_draft_goes_through_media_upload(
    start_sandbox: Callable[..., SandboxServer], time_source: ManualTime
) -> None:
    # Gmail's upload guide suggests simple uploads up to about 5 MB and
    # resumable uploads above (developers.google.com/workspace/gmail/api/guides/uploads).
    raw = compose(
        "Invoice 2026-100 with scans",
        attachment=b"\x00scan" * (MEDIA_UPLOAD_THRESHOLD // 4),
    )
    body, media = _message_payload(raw, None)
    assert media is not None
    assert "raw" not in body["message"]
    client = make_client(start_sandbox(), time_source)

    draft = client.create_draft(raw)
    stored = client.get_draft(draft["id"], fmt="raw")

    stored_raw = base64.urlsafe_b64decode(stored["message"]["raw"] + "==")
    assert b"Subject: Invoice 2026-100 with scans" in stored_raw
    assert len(stored_raw) >= len(raw)


def test_small_draft_sent_as_json_raw() -> None:
    body, media = _message_payload(b"Subject: hi\r\n\r\nbody\r\n", "thread-1")
    assert media is None
    assert body["message"]["threadId"] == "thread-1"
    assert (
        base64.urlsafe_b64decode(body["message"]["raw"])
        == b"Subject: hi\r\n\r\nbody\r\n"
    )


def test_update_draft_keeps_draft_id(
    start_sandbox: Callable[..., SandboxServer], time_source: ManualTime
) -> None:
    client = make_client(start_sandbox(), time_source)
    draft = client.create_draft(compose("Reminder: first wording"))

    updated = client.update_draft(draft["id"], compose("Reminder: second wording"))
    fetched = client.get_draft(draft["id"], fmt="metadata")

    assert updated["id"] == draft["id"]
    headers = {h["name"]: h["value"] for h in fetched["message"]["payload"]["headers"]}
    assert headers["Subject"] == "Reminder: second wording"
    client.delete_draft(draft["id"])
    assert client.list_drafts() == []


def test_send_as_lists_owner(
    start_sandbox: Callable[..., SandboxServer], time_source: ManualTime
) -> None:
    client = make_client(start_sandbox(), time_source)
    addresses = [entry["sendAsEmail"] for entry in client.send_as()]
    assert OWNER in addresses


def test_sandbox_clock_is_set_and_reset(
    start_sandbox: Callable[..., SandboxServer], time_source: ManualTime
) -> None:
    client = make_client(start_sandbox(), time_source)
    moment = datetime(2026, 3, 3, 6, 15, tzinfo=UTC)

    state = client.sandbox_set_clock(moment)
    draft = client.create_draft(compose("Reminder: dated"))
    message = client.get_draft(draft["id"], fmt="minimal")["message"]
    reset = client.sandbox_set_clock(None)

    assert state == {"now": "2026-03-03T06:15:00Z", "simulated": True}
    assert int(message["internalDate"]) == int(moment.timestamp() * 1000)
    assert reset["simulated"] is False


def test_sandbox_clock_rejected_on_real_gmail(time_source: ManualTime) -> None:
    client = GmailClient(object(), sleep=time_source.sleep, clock=time_source.clock)
    with pytest.raises(GmailError, match="only be set on the sandbox"):
        client.sandbox_set_clock(None)
