"""Property test: random event sequences never cause a late, extra or unwanted send.

Each sequence drives full run passes against an in-process sandbox: passes at
the next event or at a planned send, the machine switched off for hours
(missed windows, jumps across daylight-saving changes), payments, client
replies, draft edits and deletions through the API, and crashes at each point
of the send path. After it, Sent is read through the API and checked:

- no reminder uid appears on more than one SENT message;
- nothing went out after the invoice was paid or the client replied;
- every send is on a window day, between the window start and the latest
  catch-up hour, in the client's zone.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant import runner, sending
from assistant.clock import from_epoch_ms
from assistant.errors import GmailError
from assistant.gmail import decode_base64url
from assistant.reminders import APPROVED, DRAFTED, REMINDER_HEADER
from assistant.stopping import record_paid
from tests.test_sending import World, close_world, make_world

EXAMPLES = int(os.environ.get("ASSISTANT_PROPERTY_EXAMPLES", "30"))
# Daylight-saving changes in 2026: the US on 8 March and 1 November, the EU on
# 29 March and 25 October (IANA tz database, via zoneinfo).
DST_DAYS = (date(2026, 3, 8), date(2026, 3, 29), date(2026, 10, 25), date(2026, 11, 1))
ZONES = ("America/New_York", "Europe/Berlin")
POLL = timedelta(hours=12)


class SimulatedCrash(BaseException):
    """Stands in for the process dying; BaseException, so no step handler catches it."""


@dataclass
class Timeline:
    """What happened when, for checking the sends against it."""

    paid_at: datetime | None = None
    replied_at: datetime | None = None
    crash_at: str | None = None
    crashes: int = 0
    passes: int = 0
    sent: int = 0
    notes: list[str] = field(default_factory=list)


actions = st.one_of(
    st.just(("next",)),
    st.just(("to_send",)),
    st.just(("to_send",)),
    st.tuples(st.just("off"), st.integers(min_value=2, max_value=96)),
    st.just(("pay",)),
    st.just(("reply",)),
    st.just(("edit",)),
    st.just(("delete",)),
    st.tuples(st.just("crash"), st.sampled_from(sending.CRASH_POINTS)),
)


@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    return {
        "zone": draw(st.sampled_from(ZONES)),
        "due": draw(st.sampled_from(DST_DAYS)) + timedelta(days=draw(st.integers(-6, 8))),
        "steps": draw(st.lists(actions, min_size=3, max_size=9)),
    }


def _crash_hook(timeline: Timeline) -> Any:
    def hook(point: str) -> None:
        if timeline.crash_at == point:
            timeline.crash_at = None
            timeline.crashes += 1
            raise SimulatedCrash(point)

    return hook


def _pass(world: World, timeline: Timeline, moment: datetime) -> None:
    if moment > world.clock.now():
        world.set_time(moment)
    timeline.passes += 1
    try:
        runner.run_pass(world.ledger, world.gmail, world.config, world.clock)
    except SimulatedCrash as crash:
        timeline.notes.append(f"crashed at {crash} at {world.clock.now().isoformat()}")


def _open_drafts(world: World) -> list[Any]:
    return [r for r in world.ledger.reminders.list([DRAFTED, APPROVED]) if r.draft_id]


def _apply(world: World, timeline: Timeline, step: tuple[Any, ...], mail: dict[str, str]) -> None:
    kind = step[0]
    now = world.clock.now()
    if kind == "next":
        _pass(world, timeline, runner.next_event(world.ledger, world.config, now, POLL).at)
    elif kind == "to_send":
        planned = [r.planned_send_at for r in _open_drafts(world) if r.planned_send_at > now]
        target = min(planned) if planned else now + timedelta(days=1)
        _pass(world, timeline, target)
    elif kind == "off":
        _pass(world, timeline, now + timedelta(hours=step[1]))
    elif kind == "pay" and timeline.paid_at is None:
        record_paid(world.ledger, "INV-1", now.date())
        timeline.paid_at = now
    elif kind == "reply" and timeline.replied_at is None:
        world.set_time(now + timedelta(minutes=1))
        world.client_writes(mail, "Could you send the invoice again?")
        timeline.replied_at = world.clock.now()
    elif kind in ("edit", "delete"):
        _change_draft(world, kind)
    elif kind == "crash":
        # Armed for the next send, which the pass at the planned time makes.
        timeline.crash_at = step[1]
        _apply(world, timeline, ("to_send",), mail)


def _change_draft(world: World, kind: str) -> None:
    drafts = _open_drafts(world)
    if not drafts:
        return
    reminder = drafts[0]
    try:
        if kind == "delete":
            world.gmail.delete_draft(str(reminder.draft_id))
            return
        current = world.gmail.get_draft(str(reminder.draft_id), fmt="raw")
        raw = decode_base64url(current["message"]["raw"]) + b"\r\nP.S. edited by hand.\r\n"
        world.gmail.update_draft(str(reminder.draft_id), raw, current["message"]["threadId"])
    except GmailError as exc:
        if exc.status != 404:
            raise


def _settle(world: World, timeline: Timeline) -> None:
    timeline.crash_at = None
    for _ in range(2):
        _pass(world, timeline, world.clock.now() + sending.SEND_SETTLE_TIME + timedelta(minutes=1))


def _sent_reminders(world: World) -> list[dict[str, Any]]:
    ids = world.gmail.list_message_ids(q="in:sent")
    messages = world.gmail.get_messages(ids, "metadata", [REMINDER_HEADER])
    return [m for m in messages.values() if sending.header_value(m, REMINDER_HEADER)]


def _check(world: World, timeline: Timeline, zone: ZoneInfo) -> int:
    sent = _sent_reminders(world)
    uids = [sending.header_value(m, REMINDER_HEADER) for m in sent]
    assert len(uids) == len(set(uids)), f"duplicate sends: {sorted(uids)}; {timeline.notes}"
    window = world.config.send_window
    for message in sent:
        at = from_epoch_ms(int(message["internalDate"]))
        uid = sending.header_value(message, REMINDER_HEADER)
        if timeline.paid_at is not None:
            # A payment recorded at the very moment of a pass came after it.
            assert at <= timeline.paid_at, f"{uid} sent at {at} after payment {timeline.paid_at}"
        if timeline.replied_at is not None:
            assert at < timeline.replied_at, f"{uid} sent at {at} after reply {timeline.replied_at}"
        local = at.astimezone(zone)
        assert local.weekday() in window.days, f"{uid} sent on {local:%A %Y-%m-%d %H:%M}"
        assert window.start <= local.time() < window.latest_catch_up, (
            f"{uid} sent at {local:%Y-%m-%d %H:%M %Z}, outside the window and catch-up"
        )
    return len(sent)


def _run_scenario(folder: Path, scenario: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Timeline:
    zone = ZoneInfo(scenario["zone"])
    due: date = scenario["due"]
    sent_on = due - timedelta(days=14)
    start = datetime.combine(sent_on + timedelta(days=1), time(12), tzinfo=timezone.utc)
    world = make_world(folder, start=start)
    timeline = Timeline()
    monkeypatch.setattr(sending, "crash_hook", _crash_hook(timeline))
    try:
        world.add_client(timezone=scenario["zone"], auto_approve=True)
        mail = world.add_invoice(sent_on=sent_on, due=due)
        _pass(world, timeline, start)
        for step in scenario["steps"]:
            _apply(world, timeline, step, mail)
        _settle(world, timeline)
        timeline.sent = _check(world, timeline, zone)
    finally:
        close_world(world)
    return timeline


def test_random_event_sequences(tmp_path: Path) -> None:
    ran: list[Timeline] = []
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp_path

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(scenario=scenarios())
    def check(scenario: dict[str, Any]) -> None:
        with pytest.MonkeyPatch.context() as monkeypatch:
            with tempfile.TemporaryDirectory(dir=base) as folder:
                ran.append(_run_scenario(Path(folder), scenario, monkeypatch))

    check()

    crashes = sum(t.crashes for t in ran)
    passes = sum(t.passes for t in ran)
    sent = sum(t.sent for t in ran)
    print(
        f"{len(ran)} sequences ran: {passes} passes, {sent} reminders sent, "
        f"{crashes} crashes injected"
    )
    assert len(ran) >= min(EXAMPLES, 10)

