"""Uploads, batches, quota, injected faults and tokens, through the real client.

Sources: the Gmail upload guide (guides/uploads), the batch guide
(guides/batch) and the usage limits page (reference/quota), all under
https://developers.google.com/workspace/gmail/api/.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import google.auth.exceptions
import google.oauth2.credentials
import google_auth_httplib2
import httplib2
import pytest
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload, build_http

from assistant.gmail import build_service
from assistant.sandbox.server import SandboxServer
from tests.sandbox.conftest import ManualClock, b64url, compose
from tests.sandbox.discovery_schema import assert_valid

MIB = 1024 * 1024


def media(
    data: bytes, *, resumable: bool, chunksize: int = 256 * 1024
) -> MediaIoBaseUpload:
    return MediaIoBaseUpload(
        io.BytesIO(data),
        mimetype="message/rfc822",
        resumable=resumable,
        chunksize=chunksize,
    )


def run_upload(request: Any) -> dict[str, Any]:
    """Execute a request, chunk by chunk when its upload is resumable."""
    if request.resumable is None:
        return request.execute()
    response = None
    while response is None:
        _, response = request.next_chunk()
    return response


def stats(server: SandboxServer) -> dict[str, Any]:
    _, content = httplib2.Http().request(server.url + "sandbox/stats")
    return json.loads(content)


def big_message(size: int) -> bytes:
    """Return a plain-text message of at least ``size`` bytes, built without parsing."""
    head = compose("Invoice with timesheet", text="See the timesheet below.")
    line = b"Invoice line item, hours and rate, carried over from the timesheet.\n"
    return head + line * (size // len(line) + 1)


# -- uploads -------------------------------------------------------------------

UPLOAD_CALLS: dict[str, Callable[[Any, MediaIoBaseUpload], Any]] = {
    "messages.send": lambda s, m: s.users().messages().send(userId="me", media_body=m),
    "messages.insert": lambda s, m: (
        s.users()
        .messages()
        .insert(userId="me", body={"labelIds": ["INBOX"]}, media_body=m)
    ),
    "messages.import": lambda s, m: (
        s.users()
        .messages()
        .import_(userId="me", body={"labelIds": ["INBOX"]}, media_body=m)
    ),
    "drafts.create": lambda s, m: (
        s.users().drafts().create(userId="me", body={"message": {}}, media_body=m)
    ),
}


@pytest.mark.parametrize(
    "resumable", [False, True], ids=["multipart-or-media", "resumable"]
)
@pytest.mark.parametrize("method", sorted(UPLOAD_CALLS))
def test_upload_each_protocol(service: Any, method: str, resumable: bool) -> None:
    # guides/uploads: uploadType media or multipart for one request, resumable
    # for a session followed by chunks answered with 308 until the last.
    raw = compose("Invoice 2026-014", text="line\n" * 60_000)
    result = run_upload(UPLOAD_CALLS[method](service, media(raw, resumable=resumable)))
    assert_valid("Draft" if method.startswith("drafts") else "Message", result)
    message_id = result["message"]["id"] if "message" in result else result["id"]
    stored = service.users().messages().get(userId="me", id=message_id, format="raw")
    assert len(stored.execute()["raw"]) > len(raw)


def test_simple_media_upload(service: Any) -> None:
    # With no JSON body the client uses uploadType=media: the body is the message.
    request = (
        service.users()
        .messages()
        .send(userId="me", media_body=media(compose(), resumable=False))
    )
    assert "uploadType=media" in request.uri
    assert "SENT" in request.execute()["labelIds"]


@pytest.mark.parametrize("resumable", [False, True], ids=["single", "resumable"])
def test_draft_update_and_send_by_upload(service: Any, resumable: bool) -> None:
    drafts = service.users().drafts()
    draft = run_upload(
        drafts.create(
            userId="me",
            body={"message": {}},
            media_body=media(compose(), resumable=resumable),
        )
    )
    updated = run_upload(
        drafts.update(
            userId="me",
            id=draft["id"],
            body={"message": {}},
            media_body=media(compose("Reminder v2"), resumable=resumable),
        )
    )
    assert updated["id"] == draft["id"]
    sent = run_upload(
        drafts.send(
            userId="me",
            body={"id": draft["id"]},
            media_body=media(compose("Reminder v3"), resumable=resumable),
        )
    )
    assert_valid("Message", sent)
    assert "SENT" in sent["labelIds"]


def test_ten_megabyte_message_uploads(service: Any) -> None:
    raw = big_message(10 * MIB)
    request = (
        service.users()
        .messages()
        .send(userId="me", media_body=media(raw, resumable=True, chunksize=4 * MIB))
    )
    sent = run_upload(request)
    message = service.users().messages().get(userId="me", id=sent["id"]).execute()
    assert message["sizeEstimate"] >= 10 * MIB


def test_resumable_upload_in_many_chunks(service: Any) -> None:
    # Each chunk but the last is answered 308 with the Range received so far.
    request = (
        service.users()
        .messages()
        .send(
            userId="me",
            media_body=media(compose(text="line\n" * 120_000), resumable=True),
        )
    )
    assert "SENT" in run_upload(request)["labelIds"]


def test_message_over_35_mib_is_rejected(sandbox: SandboxServer, service: Any) -> None:
    # The discovery document's maxSize for messages.send is 36700160 bytes
    # (35 MiB). The client checks it before a media upload, so the server's own
    # check is reached with the message in the JSON raw field.
    raw = big_message(36 * MIB)
    assert len(raw) > 36_700_160
    with pytest.raises(HttpError) as caught:
        service.users().messages().send(
            userId="me", body={"raw": b64url(raw)}
        ).execute()
    assert caught.value.status_code == 413
    assert stats(sandbox)["calls"].get("gmail.users.messages.send") == 1
    listing = service.users().messages().list(userId="me").execute()
    assert listing.get("messages", []) == []


def test_resumable_over_limit_is_rejected_at_start(service: Any) -> None:
    # A declared X-Upload-Content-Length above maxSize fails before any chunk.
    request = (
        service.users()
        .drafts()
        .create(
            userId="me", body={"message": {}}, media_body=media(b"x", resumable=True)
        )
    )
    request.resumable._size = 36_700_161  # what the client declares as the length
    with pytest.raises(HttpError) as caught:
        request.next_chunk()
    assert caught.value.status_code == 413


# -- batch ---------------------------------------------------------------------


def test_batch_of_100_answers_each_call(sandbox: SandboxServer, service: Any) -> None:
    # guides/batch: up to 100 calls; answers are matched by Content-ID.
    sent = (
        service.users()
        .messages()
        .send(userId="me", body={"raw": b64url(compose())})
        .execute()
    )
    answers: dict[str, Any] = {}
    batch = service.new_batch_http_request()
    for n in range(100):
        request = (
            service.users().messages().get(userId="me", id=sent["id"], format="minimal")
        )
        batch.add(
            request,
            request_id=str(n),
            callback=lambda rid, r, e: answers.update({rid: (r, e)}),
        )
    batch.execute()

    assert len(answers) == 100
    assert all(
        error is None and body["id"] == sent["id"] for body, error in answers.values()
    )
    counted = stats(sandbox)
    assert counted["calls"]["gmail.users.messages.get"] == 100
    assert counted["units"]["gmail.users.messages.get"] == 500


def test_batch_of_101_is_rejected(sandbox: SandboxServer, service: Any) -> None:
    # Google's batch front end: 400 "Inner request count exceeds the limit.
    # Received: N, Limit: 100" (logged in GAM-team/got-your-back issue 256).
    batch = service.new_batch_http_request()
    for _ in range(101):
        batch.add(service.users().getProfile(userId="me"))
    with pytest.raises(HttpError) as caught:
        batch.execute()
    assert caught.value.status_code == 400
    body = json.loads(caught.value.content)
    assert body["error"]["message"] == (
        "Inner request count exceeds the limit. Received: 101, Limit: 100"
    )
    assert stats(sandbox)["calls"] == {}


def test_batch_reports_errors_per_call(service: Any) -> None:
    answers: dict[str, Any] = {}
    batch = service.new_batch_http_request(
        callback=lambda rid, r, e: answers.update({rid: e})
    )
    batch.add(service.users().getProfile(userId="me"), request_id="profile")
    batch.add(
        service.users().messages().get(userId="me", id="0000000000000000"),
        request_id="gone",
    )
    batch.execute()
    assert answers["profile"] is None
    assert isinstance(answers["gone"], HttpError)
    assert answers["gone"].status_code == 404


# -- quota and faults ------------------------------------------------------------


def test_quota_exceeded_answers_429(
    start_sandbox: Callable[..., SandboxServer],
) -> None:
    # reference/quota: messages.send costs 100 units. Over the per-user limit
    # Gmail answers 429 rateLimitExceeded, "User-rate limit exceeded.  Retry
    # after <time>" (text logged in bettergov/foiamail issue 36).
    clock = ManualClock()
    server = start_sandbox(quota_per_minute=250, quota_clock=clock)
    client = build_service(server.url)
    body = {"raw": b64url(compose())}
    client.users().messages().send(userId="me", body=body).execute()
    client.users().messages().send(userId="me", body=body).execute()
    with pytest.raises(HttpError) as caught:
        client.users().messages().send(userId="me", body=body).execute()

    assert caught.value.status_code == 429
    error = json.loads(caught.value.content)["error"]
    assert error["message"].startswith("User-rate limit exceeded.  Retry after 20")
    assert error["errors"][0] == {
        "message": error["message"],
        "domain": "usageLimits",
        "reason": "rateLimitExceeded",
    }
    counted = stats(server)
    assert counted["units"]["gmail.users.messages.send"] == 200
    assert counted["rejected"] == {"429": 1}

    clock.seconds += 61
    assert (
        "SENT"
        in client.users().messages().send(userId="me", body=body).execute()["labelIds"]
    )


def test_quota_window_follows_simulated_clock(
    start_sandbox: Callable[..., SandboxServer],
) -> None:
    # While the mail clock is simulated, a client playing simulated weeks
    # spends quota per simulated minute, so the window follows that clock.
    server = start_sandbox(quota_per_minute=250)
    set_clock(server, "2026-03-02T05:00:00Z")
    client = build_service(server.url)
    body = {"raw": b64url(compose())}
    for _ in range(2):
        client.users().messages().send(userId="me", body=body).execute()
    with pytest.raises(HttpError) as caught:
        client.users().messages().send(userId="me", body=body).execute()
    assert caught.value.status_code == 429

    set_clock(server, "2026-03-02T05:01:01Z")
    sent = client.users().messages().send(userId="me", body=body).execute()

    assert sent["labelIds"] == ["SENT"]


def set_clock(server: SandboxServer, now: str) -> None:
    response, _ = httplib2.Http().request(
        server.url + "sandbox/clock",
        method="POST",
        body=json.dumps({"now": now}),
        headers={"content-type": "application/json"},
    )
    assert response.status == 200


def test_quota_counts_batch_calls_one_by_one(
    start_sandbox: Callable[..., SandboxServer],
) -> None:
    # guides/batch: "a set of n requests batched together counts toward your
    # usage limit as n requests, not as one request."
    server = start_sandbox(quota_per_minute=12, quota_clock=ManualClock())
    client = build_service(server.url)
    errors: list[Any] = []
    batch = client.new_batch_http_request(callback=lambda rid, r, e: errors.append(e))
    for _ in range(3):
        batch.add(client.users().messages().list(userId="me"))
    batch.execute()
    assert [e is None for e in errors] == [True, True, False]
    assert errors[2].status_code == 429


def test_faults_follow_seed(start_sandbox: Callable[..., SandboxServer]) -> None:
    def outcomes(seed: int) -> list[str]:
        server = start_sandbox(fail_rate=0.5, seed=seed)
        http = httplib2.Http(timeout=5)
        seen = []
        for _ in range(30):
            try:
                response, _ = http.request(server.url + "gmail/v1/users/me/profile")
                seen.append(str(response.status))
            except (httplib2.HttpLib2Error, ConnectionError, OSError):
                seen.append("dropped")
        return seen

    first = outcomes(7)
    assert first == outcomes(7)
    assert {"200", "500", "503", "429"} <= set(first)
    assert "dropped" in first or first.count("200") < 30


def test_fault_bodies_match_gmail(start_sandbox: Callable[..., SandboxServer]) -> None:
    server = start_sandbox(fail_rate=1.0, seed=3)
    http = httplib2.Http(timeout=5)
    bodies = {}
    for _ in range(40):
        try:
            response, content = http.request(server.url + "gmail/v1/users/me/profile")
        except (httplib2.HttpLib2Error, ConnectionError, OSError):
            continue
        bodies[response.status] = json.loads(content)["error"]
    assert bodies[500]["errors"][0]["reason"] == "backendError"
    assert bodies[429]["message"] == "Too many concurrent requests for user."
    assert bodies[429]["errors"][0]["reason"] == "rateLimitExceeded"
    assert bodies[503]["code"] == 503
    assert sum(stats(server)["rejected"].values()) >= 40


def test_stats_reset(sandbox: SandboxServer, service: Any) -> None:
    service.users().getProfile(userId="me").execute()
    assert stats(sandbox)["total_units"] == 1
    response, content = httplib2.Http().request(
        sandbox.url + "sandbox/stats/reset", "POST"
    )
    assert response.status == 200
    assert stats(sandbox) == {
        "calls": {},
        "units": {},
        "total_units": 0,
        "rejected": {},
    }


# -- tokens ----------------------------------------------------------------------


def credentials(server: SandboxServer) -> google.oauth2.credentials.Credentials:
    return google.oauth2.credentials.Credentials(
        token=None,
        refresh_token="1//sandbox-refresh",
        token_uri=server.url + "token",
        client_id="sandbox-client",
        client_secret="sandbox-secret",
    )


def test_credentials_refresh_against_token_endpoint(sandbox: SandboxServer) -> None:
    # RFC 6749 section 6: refresh_token grant; google-auth posts the form.
    creds = credentials(sandbox)
    client = build_service(sandbox.url, credentials=creds)
    assert client.users().getProfile(userId="me").execute()["emailAddress"]
    assert creds.token.startswith("ya29.")
    assert creds.valid


def test_code_grant_returns_refresh_token(sandbox: SandboxServer) -> None:
    # RFC 6749 section 4.1.3 and 5.1.
    response, content = httplib2.Http().request(
        sandbox.url + "token",
        "POST",
        body="grant_type=authorization_code&code=4/abc&redirect_uri=http://127.0.0.1:1/",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 200
    answer = json.loads(content)
    assert set(answer) == {
        "access_token",
        "expires_in",
        "refresh_token",
        "scope",
        "token_type",
    }
    assert answer["expires_in"] == 3599
    assert answer["token_type"] == "Bearer"


def test_revoked_refresh_and_token(sandbox: SandboxServer) -> None:
    creds = credentials(sandbox)
    client = build_service(sandbox.url, credentials=creds)
    client.users().getProfile(userId="me").execute()

    http = httplib2.Http()
    http.request(
        sandbox.url + "sandbox/token",
        "POST",
        body=json.dumps({"refresh": "invalid_grant"}),
    )

    # The old token is revoked: 401 UNAUTHENTICATED, then google-auth's refresh
    # meets Google's invalid_grant text.
    raw_http = build_http()
    response, content = raw_http.request(
        sandbox.url + "gmail/v1/users/me/profile",
        headers={"Authorization": f"Bearer {creds.token}"},
    )
    assert response.status == 401
    assert json.loads(content)["error"]["status"] == "UNAUTHENTICATED"
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        client.users().getProfile(userId="me").execute()

    http.request(
        sandbox.url + "sandbox/token", "POST", body=json.dumps({"refresh": "ok"})
    )
    fresh = credentials(sandbox)
    authorized = google_auth_httplib2.AuthorizedHttp(fresh, http=httplib2.Http())
    response, _ = authorized.request(sandbox.url + "gmail/v1/users/me/profile")
    assert response.status == 200
