"""Sign-in, the stored token and its refresh, against the sandbox's token endpoint."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import urllib.parse
import urllib.request
import webbrowser
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httplib2
import pytest
from click.testing import CliRunner

import assistant.cli.auth_commands  # noqa: F401  (registers `assistant auth`)
from assistant.auth import (
    SCOPES,
    TokenLogFilter,
    install_token_log_filter,
    load_credentials,
    mask_secrets,
    read_client_config,
    save_token,
    sign_in,
)
from assistant.cli import cli
from assistant.errors import AuthError
from assistant.gmail import GmailClient
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.server import SandboxServer
from assistant.sandbox.store import MailStore

OWNER = "owner@example.com"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    clock = SandboxClock()
    store = MailStore(None, clock=clock)
    store.set_user_email(OWNER)
    with SandboxServer(store, clock=clock) as server:
        yield server
    store.close()


def write_token(
    path: Path,
    server: SandboxServer,
    *,
    expired: bool,
    scopes: tuple[str, ...] = SCOPES,
) -> dict[str, Any]:
    expiry = datetime.now(UTC) + timedelta(hours=-1 if expired else 1)
    info = {
        "token": "ya29.stale-access-token",
        "refresh_token": "1//stored-refresh-token",
        "token_uri": server.url + "token",
        "client_id": "123-test.apps.googleusercontent.com",
        "client_secret": "test-client-secret",
        "scopes": list(scopes),
        "expiry": expiry.replace(tzinfo=None).isoformat() + "Z",
    }
    path.write_text(json.dumps(info), encoding="utf-8")
    path.chmod(0o600)
    return info


def set_refresh_mode(server: SandboxServer, mode: str) -> None:
    response, _ = httplib2.Http().request(
        server.url + "sandbox/token",
        method="POST",
        body=json.dumps({"refresh": mode}),
        headers={"content-type": "application/json"},
    )
    assert response.status == 200


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- the token file ---------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_saved_token_has_mode_0600(tmp_path: Path, sandbox: SandboxServer) -> None:
    source = tmp_path / "source.json"
    write_token(source, sandbox, expired=False)
    credentials = load_credentials(source, token_uri=sandbox.url + "token")
    target = tmp_path / "config" / "token.json"

    old_umask = os.umask(0o000)  # even a permissive umask must not widen the mode
    try:
        save_token(credentials, target)
    finally:
        os.umask(old_umask)

    assert mode_of(target) == 0o600
    assert json.loads(target.read_text())["refresh_token"] == "1//stored-refresh-token"
    assert sorted(p.name for p in target.parent.iterdir()) == ["token.json"]


def test_expired_token_refreshed_and_saved(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    path = tmp_path / "token.json"
    write_token(path, sandbox, expired=True)

    credentials = load_credentials(path, token_uri=sandbox.url + "token")

    saved = json.loads(path.read_text())
    assert credentials.valid
    assert credentials.token.startswith("ya29.sandbox-")
    assert saved["token"] == credentials.token
    assert saved["refresh_token"] == "1//stored-refresh-token"
    if os.name == "posix":
        assert mode_of(path) == 0o600


def test_refresh_during_api_call_saves_token(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    path = tmp_path / "token.json"
    write_token(path, sandbox, expired=False)
    credentials = load_credentials(path, token_uri=sandbox.url + "token")
    client = GmailClient.connect(sandbox.url, credentials=credentials)
    # The access token expires between two calls of a long run.
    credentials.expiry = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)

    assert client.profile()["emailAddress"] == OWNER
    assert json.loads(path.read_text())["token"] == credentials.token
    assert credentials.token != "ya29.stale-access-token"


def test_invalid_grant_tells_user_to_sign_in_again(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    # Google responds to a revoked or expired refresh token with 400 invalid_grant
    # "Token has been expired or revoked."; refresh tokens of apps in Testing
    # status expire after 7 days (developers.google.com/identity/protocols/oauth2,
    # "Refresh token expiration").
    path = tmp_path / "token.json"
    write_token(path, sandbox, expired=True)
    set_refresh_mode(sandbox, "invalid_grant")

    with pytest.raises(AuthError) as caught:
        load_credentials(path, token_uri=sandbox.url + "token")

    message = str(caught.value)
    assert "assistant auth" in message
    assert '"Testing"' in message
    assert "7 days" in message
    assert caught.value.exit_code == 5


def test_revoked_token_during_api_call_becomes_auth_error(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    path = tmp_path / "token.json"
    write_token(path, sandbox, expired=True)
    credentials = load_credentials(path, token_uri=sandbox.url + "token")
    client = GmailClient.connect(sandbox.url, credentials=credentials)
    assert client.profile()["emailAddress"] == OWNER

    set_refresh_mode(sandbox, "invalid_grant")  # also revokes issued access tokens
    with pytest.raises(AuthError, match="assistant auth"):
        client.profile()


def test_missing_token_file_names_path_and_command(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(AuthError) as caught:
        load_credentials(path)
    assert str(path) in str(caught.value)
    assert "assistant auth" in str(caught.value)


def test_token_without_compose_scope_rejected(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    path = tmp_path / "token.json"
    write_token(path, sandbox, expired=False, scopes=(SCOPES[0],))
    with pytest.raises(AuthError, match="gmail.compose"):
        load_credentials(path, token_uri=sandbox.url + "token")


def test_corrupt_token_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(AuthError, match="not valid JSON"):
        load_credentials(path)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_world_readable_token_tightened(tmp_path: Path, sandbox: SandboxServer) -> None:
    path = tmp_path / "token.json"
    write_token(path, sandbox, expired=False)
    path.chmod(0o644)
    load_credentials(path, token_uri=sandbox.url + "token")
    assert mode_of(path) == 0o600


# -- the client file and the consent flow ----------------------------------------


def test_example_credentials_file_has_desktop_client_shape() -> None:
    config = read_client_config(PROJECT_ROOT / "credentials.example.json")
    installed = config["installed"]
    assert installed["redirect_uris"] == ["http://localhost"]
    assert set(installed) == {
        "client_id",
        "project_id",
        "auth_uri",
        "token_uri",
        "auth_provider_x509_cert_url",
        "client_secret",
        "redirect_uris",
    }


def test_missing_client_file_says_where_to_put_it(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    with pytest.raises(AuthError) as caught:
        read_client_config(path)
    assert str(path) in str(caught.value)
    assert "README" in str(caught.value)
    assert "Desktop app" in str(caught.value)


def test_web_client_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"web": {"client_id": "x"}}), encoding="utf-8")
    with pytest.raises(AuthError, match="Web application"):
        read_client_config(path)


def test_auth_command_reports_missing_client_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    result = CliRunner().invoke(
        cli, ["auth", "--credentials", str(missing), "--no-browser"]
    )
    assert isinstance(result.exception, AuthError)
    assert str(missing) in str(result.exception)


def test_auth_command_refuses_sandbox() -> None:
    result = CliRunner().invoke(cli, ["--gmail-url", "http://127.0.0.1:9/", "auth"])
    assert result.exception is not None
    assert "sandbox needs no sign-in" in str(result.exception)


class ConsentingBrowser(webbrowser.BaseBrowser):
    """Plays the user who approves every scope: calls the redirect URL back."""

    def __init__(self) -> None:
        super().__init__("consenting-test-browser")
        self.authorization_urls: list[str] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.authorization_urls.append(url)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        answer = urllib.parse.urlencode(
            {
                "state": query["state"],
                "code": "4/test-authorization-code",
                "scope": query["scope"],
            }
        )
        callback = f"{query['redirect_uri']}?{answer}"
        threading.Thread(
            target=lambda: urllib.request.urlopen(callback, timeout=10).read(),
            daemon=True,
        ).start()
        return True


def run_consent(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[ConsentingBrowser, Path, Any]:
    """Run sign_in with the sandbox as token endpoint; return browser, token path, result."""
    # oauthlib insists on HTTPS token endpoints; the sandbox is plain HTTP on loopback.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    client_file = tmp_path / "credentials.json"
    example = json.loads((PROJECT_ROOT / "credentials.example.json").read_text())
    example["installed"]["token_uri"] = sandbox.url + "token"
    client_file.write_text(json.dumps(example), encoding="utf-8")
    browser = ConsentingBrowser()
    webbrowser.register(browser.name, None, browser)
    token_path = tmp_path / "config" / "token.json"
    try:
        result: Any = sign_in(client_file, token_path=token_path, browser=browser.name)
    except AuthError as exc:
        result = exc
    return browser, token_path, result


def test_consent_flow_asks_offline_access_for_both_scopes(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser, _, _ = run_consent(tmp_path, sandbox, monkeypatch)

    url = urllib.parse.urlsplit(browser.authorization_urls[0])
    query = dict(urllib.parse.parse_qsl(url.query))
    assert query["scope"].split() == list(SCOPES)
    assert query["access_type"] == "offline"
    assert query["prompt"] == "consent"
    assert query["redirect_uri"].startswith("http://localhost:")


def test_consent_flow_rejects_other_scopes_than_requested(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sandbox's token endpoint grants gmail.modify for any authorization
    # code, as Google does when the grant differs from the request (the user
    # unticked a box): oauthlib then raises "Scope has changed".
    _, token_path, result = run_consent(tmp_path, sandbox, monkeypatch)

    assert isinstance(result, AuthError)
    assert "every permission box" in str(result)
    assert not token_path.exists()


def test_consent_flow_stores_private_token(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The user ticks both boxes: the code exchange grants what was requested.
    response, _ = httplib2.Http().request(
        sandbox.url + "sandbox/token",
        method="POST",
        body=json.dumps({"scope": " ".join(SCOPES)}),
        headers={"content-type": "application/json"},
    )
    assert response.status == 200
    _, token_path, credentials = run_consent(tmp_path, sandbox, monkeypatch)

    assert not isinstance(credentials, AuthError), str(credentials)
    saved = json.loads(token_path.read_text())
    assert saved["refresh_token"] == credentials.refresh_token
    if os.name == "posix":
        assert mode_of(token_path) == 0o600


# -- keeping tokens out of logs ---------------------------------------------------


def test_log_filter_masks_tokens_during_refresh_and_call(
    tmp_path: Path,
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(httplib2, "debuglevel", 0)
    path = tmp_path / "token.json"
    stored = write_token(path, sandbox, expired=True)
    caplog.set_level(logging.DEBUG)
    for name in ("google", "google_auth_httplib2", "googleapiclient", "assistant"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.DEBUG)
    install_token_log_filter()

    credentials = load_credentials(path, token_uri=sandbox.url + "token")
    client = GmailClient.connect(sandbox.url, credentials=credentials)
    client.profile()
    logging.getLogger("assistant.test").debug(
        "headers %s", {"Authorization": f"Bearer {credentials.token}"}
    )

    secrets = [credentials.token, stored["refresh_token"], stored["client_secret"]]
    assert any(r.name.startswith("google") for r in caplog.records), (
        "no library logs seen"
    )
    for record in caplog.records:
        everything = record.getMessage() + repr(record.__dict__)
        for secret in secrets:
            assert secret not in everything, f"{record.name} logged a secret"
    assert secrets[0] not in caplog.text
    assert "Bearer ***" in caplog.text or "Authorization': '***'" in caplog.text


def test_log_filter_masks_extra_fields_and_tracebacks() -> None:
    record = logging.makeLogRecord(
        {
            "msg": "token response %s",
            "args": ('{"access_token": "ya29.secret", "expires_in": 3599}',),
            "httpRequest": {
                "headers": {"Authorization": "Bearer ya29.secret"},
                "url": "u",
            },
        }
    )
    try:
        raise RuntimeError("refresh_token=1//leak")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()

    assert TokenLogFilter().filter(record)

    assert "ya29.secret" not in record.getMessage()
    assert record.httpRequest["headers"]["Authorization"] == "***"  # type: ignore[attr-defined]
    assert record.exc_text is not None
    assert "1//leak" not in record.exc_text


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("Authorization: Bearer ya29.abc", "ya29.abc"),
        ("{'authorization': 'Bearer ya29.abc'}", "ya29.abc"),
        ('{"access_token": "ya29.abc", "expires_in": 3599}', "ya29.abc"),
        ('{"refresh_token": "1//abc"}', "1//abc"),
        (
            "grant_type=refresh_token&refresh_token=1%2F%2Fabc&client_secret=s3cr",
            "s3cr",
        ),
        ("GET /?state=xyz&code=4/0Aabc&scope=x", "4/0Aabc"),
        (
            '{"token": "ya29.abc", "token_uri": "https://oauth2.googleapis.com/token"}',
            "ya29.abc",
        ),
    ],
)
def test_mask_secrets_hides_value(text: str, hidden: str) -> None:
    assert hidden not in mask_secrets(text)


def test_mask_secrets_keeps_ordinary_fields() -> None:
    text = '{"code": 404, "nextPageToken": "p1", "token_uri": "https://x/token"}'
    assert mask_secrets(text) == text
