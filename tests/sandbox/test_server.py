"""The sandbox server's parts: binding, quota window, faults, uploads, batches, tokens."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import httplib2
import pytest

from assistant.errors import SandboxError
from assistant.sandbox.batch import (
    InnerResponse,
    parse_batch,
    render_batch,
    response_content_id,
)
from assistant.sandbox.errors import (
    BatchTooLarge,
    InvalidArgument,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
)
from assistant.sandbox.faults import Fault, FaultInjector
from assistant.sandbox.oauth import TokenAuthority, TokenError
from assistant.sandbox.quota import QuotaMeter, retry_after_text, unit_cost
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore
from assistant.sandbox.uploads import (
    ResumableSession,
    check_size,
    decode_raw,
    max_upload_size,
    split_multipart,
)
from tests.sandbox.conftest import ManualClock


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_server_rejects_non_loopback_host(store: MailStore, host: str) -> None:
    with pytest.raises(SandboxError, match=host.replace(".", r"\.")):
        SandboxServer(store, host=host)


def test_server_serves_on_ipv6_loopback(store: MailStore, sandbox_clock: Any) -> None:
    try:
        server = SandboxServer(store, host="::1", clock=sandbox_clock).start()
    except SandboxError:
        pytest.skip("no IPv6 loopback on this machine")
    with server:
        assert server.url.startswith("http://[::1]:")
        response, _ = httplib2.Http().request(server.url + "gmail/v1/users/me/profile")
    assert response.status == 200


def test_unknown_path_is_json_404(sandbox: SandboxServer) -> None:
    response, content = httplib2.Http().request(
        sandbox.url + "gmail/v1/users/me/nothing"
    )
    assert response.status == 404
    assert json.loads(content)["error"]["status"] == "NOT_FOUND"


# -- quota -----------------------------------------------------------------------


def test_unit_costs_follow_quota_page() -> None:
    # reference/quota, per-method quota usage table.
    assert unit_cost("gmail.users.messages.send") == 100
    assert unit_cost("gmail.users.drafts.send") == 100
    assert unit_cost("gmail.users.messages.get") == 5
    assert unit_cost("gmail.users.messages.list") == 5
    assert unit_cost("gmail.users.drafts.update") == 15
    assert unit_cost("gmail.users.history.list") == 2
    assert unit_cost("gmail.users.threads.get") == 10
    assert unit_cost("gmail.users.getProfile") == 1


def test_quota_window_slides() -> None:
    clock = ManualClock()
    meter = QuotaMeter(100, clock=clock)
    meter.charge("owner@example.com", 60)
    clock.seconds += 30
    meter.charge("owner@example.com", 40)
    with pytest.raises(RateLimited):
        meter.charge("owner@example.com", 1)
    clock.seconds += 30.5
    meter.charge("owner@example.com", 60)
    assert meter.used("owner@example.com") == 100


def test_rejected_charge_spends_nothing() -> None:
    meter = QuotaMeter(100, clock=ManualClock())
    meter.charge("owner@example.com", 90)
    with pytest.raises(RateLimited):
        meter.charge("owner@example.com", 20)
    assert meter.used("owner@example.com") == 90


def test_quota_is_per_user() -> None:
    meter = QuotaMeter(100, clock=ManualClock())
    meter.charge("a@example.com", 100)
    meter.charge("b@example.com", 100)
    assert meter.used("a@example.com") == 100


def test_retry_after_is_rfc3339_with_milliseconds() -> None:
    now = datetime(2026, 3, 2, 5, 17, 0, 250_000, tzinfo=timezone.utc)
    assert retry_after_text(1.5, now=now) == "2026-03-02T05:17:01.750Z"


# -- faults ----------------------------------------------------------------------


def test_faults_repeat_with_seed() -> None:
    injector_a = FaultInjector(0.3, seed=11)
    injector_b = FaultInjector(0.3, seed=11)
    draws_a = [injector_a.draw() for _ in range(200)]
    assert draws_a == [injector_b.draw() for _ in range(200)]
    assert set(draws_a) == {None, *Fault}


def test_zero_fail_rate_never_fails() -> None:
    injector = FaultInjector(0.0, seed=1)
    assert all(injector.draw() is None for _ in range(100))


def test_fail_rate_outside_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="1.5"):
        FaultInjector(1.5)


# -- uploads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        base64.urlsafe_b64encode(b"\xfb\xff subject?>").decode().rstrip("="),
        base64.urlsafe_b64encode(b"\xfb\xff subject?>").decode(),
        base64.b64encode(b"\xfb\xff subject?>").decode(),
    ],
)
def test_decode_raw_accepts_both_alphabets(text: str) -> None:
    assert decode_raw(text, "raw") == b"\xfb\xff subject?>"


def test_decode_raw_names_field() -> None:
    with pytest.raises(InvalidArgument, match="message.raw"):
        decode_raw("a*b", "message.raw")


def test_max_upload_size_from_discovery() -> None:
    assert max_upload_size("gmail.users.messages.send") == 36_700_160
    assert max_upload_size("gmail.users.messages.insert") == 157_286_400


def test_check_size_rejects_above_limit() -> None:
    check_size("gmail.users.drafts.create", 36_700_160)
    with pytest.raises(PayloadTooLarge):
        check_size("gmail.users.drafts.create", 36_700_161)


def test_split_multipart_keeps_bytes_exact() -> None:
    body = (
        b'--XyZ\nContent-Type: application/json\n\n{"threadId": "t1"}\n'
        b"--XyZ\nContent-Type: message/rfc822\nContent-Transfer-Encoding: binary\n\n"
        b"Subject: a\r\n\r\nline one\r\n\r\n\n--XyZ--\n"
    )
    parts = split_multipart('multipart/related; boundary="XyZ"', body)
    assert [p.headers["Content-Type"] for p in parts] == [
        "application/json",
        "message/rfc822",
    ]
    assert parts[0].body == b'{"threadId": "t1"}'
    assert parts[1].body == b"Subject: a\r\n\r\nline one\r\n\r\n"


def resumable(total: int | None = None) -> ResumableSession:
    return ResumableSession(
        upload_id="u1",
        method_id="gmail.users.messages.send",
        path="/upload/x",
        http_method="POST",
        query=[],
        metadata={},
        total=total,
    )


def test_resumable_session_collects_chunks() -> None:
    session = resumable()
    assert not session.accept("bytes 0-3/10", b"abcd")
    assert not session.accept("bytes 0-3/10", b"abcd")  # a resent chunk is ignored
    assert session.accept("bytes 4-9/10", b"efghij")
    assert bytes(session.received) == b"abcdefghij"


def test_resumable_session_with_unknown_total() -> None:
    session = resumable()
    assert not session.accept("bytes 0-3/*", b"abcd")
    assert session.accept("bytes 4-5/6", b"ef")


def test_resumable_session_rejects_bad_range() -> None:
    with pytest.raises(InvalidArgument, match="Content-Range"):
        resumable().accept("items 0-3/4", b"abcd")


# -- batch -----------------------------------------------------------------------


def batch_body(count: int) -> bytes:
    parts = [
        f"--b\nContent-Type: application/http\nContent-ID: <id + {n}>\n\n"
        f"GET /gmail/v1/users/me/profile?alt=json HTTP/1.1\nHost: x\n\n"
        for n in range(count)
    ]
    return ("".join(parts) + "--b--\n").encode()


def test_parse_batch_reads_calls() -> None:
    calls = parse_batch('multipart/mixed; boundary="b"', batch_body(2))
    assert [c.content_id for c in calls] == ["<id + 0>", "<id + 1>"]
    assert calls[0].method == "GET"
    assert calls[0].target == "/gmail/v1/users/me/profile?alt=json"


def test_parse_batch_rejects_101_calls() -> None:
    with pytest.raises(BatchTooLarge) as caught:
        parse_batch('multipart/mixed; boundary="b"', batch_body(101))
    assert caught.value.body() == {
        "error": {
            "code": 400,
            "message": "Inner request count exceeds the limit. Received: 101, Limit: 100",
            "status": "INVALID_ARGUMENT",
        }
    }


def test_response_content_id_prefix() -> None:
    assert response_content_id("<abc + 7>") == "<response-abc + 7>"
    assert response_content_id(None) is None


def test_render_batch_parts_carry_status() -> None:
    calls = parse_batch('multipart/mixed; boundary="b"', batch_body(1))
    content_type, body = render_batch([(calls[0], InnerResponse(404, b"{}"))])
    assert content_type.startswith("multipart/mixed; boundary=")
    assert b"Content-ID: <response-id + 0>" in body
    assert b"HTTP/1.1 404 Not Found\r\n" in body


# -- tokens ----------------------------------------------------------------------


def test_token_grant_errors_follow_rfc6749() -> None:
    authority = TokenAuthority()
    with pytest.raises(TokenError) as missing:
        authority.grant({"grant_type": "authorization_code"})
    assert missing.value.body()["error"] == "invalid_request"
    with pytest.raises(TokenError) as unsupported:
        authority.grant({"grant_type": "password"})
    assert unsupported.value.body()["error"] == "unsupported_grant_type"


def test_invalid_grant_revokes_issued_tokens() -> None:
    authority = TokenAuthority()
    token = authority.grant({"grant_type": "refresh_token", "refresh_token": "r"})
    authority.check(f"Bearer {token['access_token']}")
    authority.set_refresh("invalid_grant")
    with pytest.raises(Unauthenticated):
        authority.check(f"Bearer {token['access_token']}")
    with pytest.raises(TokenError) as refused:
        authority.grant({"grant_type": "refresh_token", "refresh_token": "r"})
    assert refused.value.body() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }


def test_unknown_and_missing_tokens_pass() -> None:
    authority = TokenAuthority()
    authority.set_refresh("invalid_grant")
    authority.check(None)
    authority.check("Bearer some-other-token")


def test_unauthenticated_body_names_header() -> None:
    error = Unauthenticated().body()["error"]
    assert error["code"] == 401
    assert error["status"] == "UNAUTHENTICATED"
    assert error["errors"][0]["location"] == "Authorization"
