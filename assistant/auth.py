"""Google sign-in: the installed-app OAuth flow, the stored token and its refresh.

The user creates a Desktop app OAuth client in Google Cloud and downloads its
``credentials.json``. ``sign_in`` runs Google's loopback flow with it and stores
the resulting token (``Credentials.to_json``) with mode 0600. ``load_credentials``
reads that token for every other command, refreshes it when it has expired and
writes the refreshed token back.

No token reaches a log: ``TokenLogFilter`` masks bearer tokens and token fields
in every record that passes the handlers it is installed on.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import stat
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials

from assistant import paths
from assistant.errors import AuthError

logger = logging.getLogger(__name__)

# Reading mail to find sent invoices and replies needs gmail.readonly; creating
# and sending reminder drafts needs gmail.compose. Nothing broader is requested.
SCOPES: tuple[str, ...] = (
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.compose",
)

CLIENT_FIELDS = ("client_id", "client_secret", "auth_uri", "token_uri")

_PROMPT = "Open this URL in a browser on this computer to sign in to Gmail:\n{url}"
_SUCCESS = "Signed in. You can close this tab and return to the terminal."


def default_credentials_path() -> Path:
    """Return where ``assistant auth`` looks for the downloaded OAuth client file."""
    return paths.config_dir() / "credentials.json"


# -- the stored token -------------------------------------------------------


class StoredCredentials(Credentials):  # type: ignore[misc]
    """User credentials that write themselves back to the token file after a refresh.

    google-auth refreshes an expired access token on its own before a request;
    saving here keeps the file current so the next run needs no refresh.
    """

    token_path: Path | None = None

    def refresh(self, request: Any) -> None:
        super().refresh(request)
        if self.token_path is not None:
            save_token(self, self.token_path)
            logger.debug("Saved the refreshed Google token to %s", self.token_path)


def save_token(credentials: Credentials, token_path: Path) -> None:
    """Write the token JSON to ``token_path`` atomically, readable by the owner only."""
    write_private_file(token_path, credentials.to_json())


def write_private_file(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` through a 0600 temporary file and a rename.

    The temporary file is created with mode 0600 by ``os.open``, so the secret is
    never world-readable, not even between creation and a later chmod. A crash
    leaves either the old file or the new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def load_credentials(
    token_path: Path | None = None,
    *,
    token_uri: str | None = None,
    http: httplib2.Http | None = None,
) -> StoredCredentials:
    """Read the stored token, refreshing and re-saving it when it has expired.

    google-auth ignores the ``token_uri`` stored in the file and refreshes at
    Google's endpoint, so an edited file cannot send the refresh token
    elsewhere; pass ``token_uri`` to refresh at the sandbox's ``/token``.

    Raises AuthError when the token file is missing or invalid, lacks a scope,
    or Google rejects the refresh token.
    """
    install_token_log_filter()
    path = token_path or paths.default_token_path()
    info = _read_token_file(path)
    try:
        credentials = StoredCredentials.from_authorized_user_info(info)
    except ValueError as exc:
        raise AuthError(
            f"invalid Google token file {path}: {exc}; run `assistant auth` to sign in again"
        ) from exc
    if token_uri is not None:
        # The copy google-auth makes here drops the expiry, so carry it over.
        expiry = credentials.expiry
        credentials = credentials.with_token_uri(token_uri)
        credentials.expiry = expiry
    credentials.token_path = path
    _check_scopes(credentials.scopes, path)

    if not credentials.valid:
        refresh_credentials(credentials, http=http)
    return credentials


def refresh_credentials(
    credentials: Credentials, *, http: httplib2.Http | None = None
) -> None:
    """Refresh the access token now, translating Google's refusals to AuthError."""
    request = google_auth_httplib2.Request(http or httplib2.Http(timeout=60))
    try:
        credentials.refresh(request)
    except RefreshError as exc:
        raise auth_error_from_refresh(exc) from exc
    except TransportError as exc:
        raise AuthError(
            f"could not reach Google's token endpoint to refresh the sign-in ({exc}); "
            "check the network connection and try again"
        ) from exc


def _read_token_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthError(
            f"no Google token at {path}; run `assistant auth` to sign in to Gmail"
        ) from None
    except OSError as exc:
        raise AuthError(
            f"cannot read Google token file {path}: {exc.strerror}"
        ) from exc
    _tighten_mode(path)
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AuthError(
            f"Google token file {path} is not valid JSON ({exc.msg}); "
            "run `assistant auth` to sign in again"
        ) from exc
    if not isinstance(info, dict):
        raise AuthError(
            f"Google token file {path} does not hold a JSON object; "
            "run `assistant auth` to sign in again"
        )
    return info


def _tighten_mode(path: Path) -> None:
    # A token copied in by hand may be readable by others; fix that on sight.
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning(
            "Google token file %s had mode %o, readable by other users; setting 0600",
            path,
            mode,
        )
        path.chmod(0o600)


def _check_scopes(granted: Any, path: Path) -> None:
    if not granted:
        return  # An older token file without scopes; Gmail reports a missing scope itself.
    missing = [scope for scope in SCOPES if scope not in set(granted)]
    if missing:
        raise AuthError(
            f"the Google token at {path} lacks the scope(s) {', '.join(missing)}; "
            "run `assistant auth` and leave every permission box ticked"
        )


# -- refresh failures --------------------------------------------------------


def auth_error_from_refresh(exc: RefreshError) -> AuthError:
    """Translate a failed token refresh into the message the user acts on."""
    if _is_invalid_grant(exc):
        # Google documents that a refresh token stops working when the user
        # revokes access, after six months unused, after a password change
        # (for tokens with Gmail scopes), and that "a Google Cloud Platform
        # project with an OAuth consent screen configured for an external user
        # type and a publishing status of 'Testing' is issued a refresh token
        # expiring in 7 days" (https://developers.google.com/identity/protocols/
        # oauth2#expiration, "Refresh token expiration").
        return AuthError(
            "Google rejected the stored sign-in: the refresh token has expired or "
            "been revoked (invalid_grant). Run `assistant auth` to sign in again. "
            "If this happens about a week after every sign-in, your OAuth app is "
            'in "Testing" publishing status, whose refresh tokens Google expires '
            'after 7 days; publish the app ("In production") on the OAuth consent '
            "screen to keep sign-ins longer."
        )
    return AuthError(
        f"could not refresh the Google sign-in: {exc.args[0] if exc.args else exc}; "
        "run `assistant auth` to sign in again if this persists"
    )


def _is_invalid_grant(exc: RefreshError) -> bool:
    for argument in exc.args:
        if isinstance(argument, Mapping) and argument.get("error") == "invalid_grant":
            return True
        if isinstance(argument, str) and argument.startswith("invalid_grant"):
            return True
    return False


# -- the consent flow ---------------------------------------------------------


def read_client_config(credentials_path: Path) -> dict[str, Any]:
    """Read and check a Desktop app OAuth client file downloaded from Google Cloud."""
    try:
        text = credentials_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthError(
            f"no OAuth client file at {credentials_path}. Create a Desktop app OAuth "
            "client in the Google Cloud console, download its JSON file to that path "
            "(or pass --credentials PATH); the README's Gmail sign-in section lists "
            "the steps"
        ) from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AuthError(
            f"OAuth client file {credentials_path} is not valid JSON ({exc.msg}); "
            "download it again from the Google Cloud console"
        ) from exc
    _check_client_config(config, credentials_path)
    return dict(config)


def _check_client_config(config: Any, path: Path) -> None:
    if isinstance(config, dict) and "web" in config and "installed" not in config:
        raise AuthError(
            f"{path} is a Web application OAuth client; create a client of type "
            "Desktop app in the Google Cloud console and download that one"
        )
    installed = config.get("installed") if isinstance(config, dict) else None
    if not isinstance(installed, dict):
        raise AuthError(
            f'{path} has no "installed" section, so it is not a Desktop app OAuth '
            "client file; download one from the Google Cloud console"
        )
    missing = [name for name in CLIENT_FIELDS if not installed.get(name)]
    if missing:
        raise AuthError(
            f"OAuth client file {path} lacks {', '.join(missing)}; "
            "download it again from the Google Cloud console"
        )


def sign_in(
    credentials_path: Path,
    *,
    token_path: Path,
    port: int = 0,
    open_browser: bool = True,
    browser: str | None = None,
) -> Credentials:
    """Run Google's installed-app consent flow and store the token it returns.

    ``port`` 0 lets the system pick a free loopback port, which Desktop app
    clients accept. ``browser`` names a ``webbrowser`` controller; None uses the
    default browser.
    """
    install_token_log_filter()
    config = read_client_config(credentials_path)
    credentials = _run_flow(
        config, port=port, open_browser=open_browser, browser=browser
    )
    _check_granted(credentials)
    save_token(credentials, token_path)
    logger.info("Signed in to Gmail; token saved to %s", token_path)
    return credentials


def _run_flow(
    config: dict[str, Any], *, port: int, open_browser: bool, browser: str | None
) -> Credentials:
    from google_auth_oauthlib.flow import InstalledAppFlow
    from oauthlib.oauth2.rfc6749.errors import OAuth2Error

    flow = InstalledAppFlow.from_client_config(config, scopes=list(SCOPES))
    try:
        # prompt=consent makes Google issue a new refresh token even when the
        # user granted access before, which is why they run this command again.
        return flow.run_local_server(
            host="localhost",
            port=port,
            open_browser=open_browser,
            browser=browser,
            authorization_prompt_message=_PROMPT,
            success_message=_SUCCESS,
            prompt="consent",
        )
    except OSError as exc:
        raise AuthError(
            f"cannot listen on localhost port {port} for Google's redirect "
            f"({exc.strerror or exc}); pick another port with --port"
        ) from exc
    except OAuth2Error as exc:
        raise AuthError(
            f"Google sign-in failed: {exc.description or exc.error}; "
            "run `assistant auth` to try again"
        ) from exc
    except Warning as exc:
        # oauthlib raises Warning("Scope has changed ...") when the user
        # unticks a permission box on the consent screen.
        raise AuthError(
            f"Google granted fewer permissions than requested ({exc}); run "
            "`assistant auth` again and leave every permission box ticked"
        ) from exc


def _check_granted(credentials: Credentials) -> None:
    if not credentials.refresh_token:
        raise AuthError(
            "Google returned no refresh token, so the sign-in would end within an "
            "hour; remove the app's access at https://myaccount.google.com/permissions "
            "and run `assistant auth` again"
        )
    granted = getattr(credentials, "granted_scopes", None) or credentials.scopes
    _check_scopes(granted, Path("(the new sign-in)"))


# -- keeping tokens out of logs ----------------------------------------------

MASK = "***"

_SECRET_FIELDS = (
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "code_verifier",
    "assertion",
    "token",
)
_SECRET_KEY_NAMES = frozenset(_SECRET_FIELDS) | {"authorization", "code"}

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # An Authorization header's value, in header text or a dict repr.
    (re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,}]+"), r"\1***"),
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"',;}]+"), r"\1 ***"),
    # "access_token": "...", access_token=..., 'token': '...' and the like.
    (
        re.compile(
            r"(?i)([\"']?\b(?:"
            + "|".join(_SECRET_FIELDS)
            + r")\b[\"']?\s*[:=]\s*[\"']?)"
            r"[^\"'&\s,}]+"
        ),
        r"\1***",
    ),
    # The authorization code in a redirect URL or a token request form.
    (re.compile(r"(?i)([?&]code=)[^&\s\"']+"), r"\1***"),
)


def mask_secrets(text: str) -> str:
    """Replace bearer tokens, token fields and authorization codes in ``text``."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, Mapping):
        return {
            key: MASK if str(key).lower() in _SECRET_KEY_NAMES else _mask_value(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_mask_value(item) for item in value)
    return value


_STANDARD_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message"}


class TokenLogFilter(logging.Filter):
    """Mask OAuth secrets in a record's message, traceback and ``extra`` fields.

    google-auth and requests-oauthlib log token requests and responses at DEBUG,
    and google-auth passes request headers as ``extra``; all of those pass here
    before a handler formats them. The filter never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = mask_secrets(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD_RECORD_FIELDS:
                setattr(record, name, _mask_value(value))
        return True


def install_token_log_filter(*loggers: logging.Logger) -> TokenLogFilter:
    """Add the token filter to every handler of the root and ``assistant`` loggers.

    Handler filters see records propagated from every library logger, unlike
    logger filters. Calling this again adds no second filter; handlers added
    later need another call.
    """
    token_filter = _shared_filter
    targets = loggers or (logging.getLogger(), logging.getLogger("assistant"))
    for target in targets:
        for handler in target.handlers:
            if not any(isinstance(item, TokenLogFilter) for item in handler.filters):
                handler.addFilter(token_filter)
    return token_filter


_shared_filter = TokenLogFilter()
