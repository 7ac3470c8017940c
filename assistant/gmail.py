"""The Gmail adapter: the one module that talks to the Gmail API.

The service is built with ``googleapiclient.discovery.build_from_document`` from
the discovery document bundled with google-api-python-client, so no network
call happens to fetch it. For the sandbox the document's ``rootUrl`` is
replaced: the client joins ``rootUrl`` with each method's path, with the
``upload/`` and ``resumable/upload/`` media paths and with ``batchPath``, so all
three reach the sandbox. Setting only ``client_options.api_endpoint`` would
move the plain calls but leave batch requests on Google's host.

``GmailClient`` wraps the service. It paces calls under a quota-unit budget,
retries reads with backoff, never retries a send blindly, and turns library
errors into ``GmailError`` and ``AuthError``. Its methods return Gmail's JSON
resources unchanged, so Gmail's API reference describes their shape.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import random
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import httplib2
from google.auth.exceptions import RefreshError
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload

from assistant.auth import auth_error_from_refresh
from assistant.errors import GmailError
from assistant.quota_pacing import (
    DEFAULT_SAFETY_MARGIN,
    DEFAULT_UNITS_PER_MINUTE,
    QUOTA_UNITS,
    QUOTA_WINDOW_SECONDS,
    UNLISTED_METHOD_UNITS,
    QuotaPacer,
    short_method_id,
)
from assistant.retry import (
    CONNECTION_ERRORS,
    NON_IDEMPOTENT_METHODS,
    RATE_LIMIT_REASONS,
    RETRYABLE_STATUSES,
    Failure,
    RetryPolicy,
    describe_failure,
)

# Pacing and retry names stay importable from here, where callers found them.
__all__ = [
    "BATCH_MAX_CALLS",
    "CONNECTION_ERRORS",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_SAFETY_MARGIN",
    "DEFAULT_UNITS_PER_MINUTE",
    "GMAIL_ROOT_URL",
    "MEDIA_UPLOAD_THRESHOLD",
    "NON_IDEMPOTENT_METHODS",
    "QUOTA_UNITS",
    "QUOTA_WINDOW_SECONDS",
    "RATE_LIMIT_REASONS",
    "RETRYABLE_STATUSES",
    "UNLISTED_METHOD_UNITS",
    "BatchEntry",
    "Failure",
    "GmailClient",
    "HistoryExpired",
    "OutcomeUnknown",
    "PostOnceHttp",
    "QuotaPacer",
    "Resource",
    "RetryPolicy",
    "build_service",
    "decode_base64url",
    "describe_failure",
    "discovery_document",
    "sandbox_document",
    "short_method_id",
]

logger = logging.getLogger(__name__)

GMAIL_ROOT_URL = "https://gmail.googleapis.com/"

Resource = dict[str, Any]


@lru_cache(maxsize=1)
def discovery_document() -> dict[str, Any]:
    """Return the Gmail v1 discovery document shipped with google-api-python-client."""
    text = (
        resources.files("googleapiclient")
        .joinpath("discovery_cache/documents/gmail.v1.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def sandbox_document(root_url: str) -> dict[str, Any]:
    """Return the discovery document pointed at a sandbox base URL."""
    if not root_url.endswith("/"):
        root_url += "/"
    document = json.loads(json.dumps(discovery_document()))
    document["rootUrl"] = root_url
    document["baseUrl"] = root_url + document.get("servicePath", "")
    document["mtlsRootUrl"] = root_url
    return document


class PostOnceHttp(httplib2.Http):
    """httplib2 transport that sends each POST exactly once, on a fresh connection.

    httplib2 re-sends a request by itself when the response is lost on a reused
    connection, on the guess that the connection had gone stale. For a POST
    such as drafts.send the first copy may already have been delivered, so a
    POST goes out once on a new connection and a lost response is an error the
    caller sees. Other methods keep httplib2's behaviour.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Resumable uploads respond to each incomplete chunk with 308, which is
        # not a redirect there (googleapiclient.http.build_http does the same).
        self.redirect_codes = frozenset(httplib2.REDIRECT_CODES) - {308}

    def _conn_request(
        self,
        conn: Any,
        request_uri: str,
        method: str,
        body: Any,
        headers: dict[str, str],
    ) -> tuple[httplib2.Response, bytes]:
        if method != "POST":
            return super()._conn_request(conn, request_uri, method, body, headers)
        # Requesting an uncompressed response keeps httplib2's private
        # decompression step out of this path.
        headers = {**headers, "accept-encoding": "identity"}
        conn.close()
        try:
            conn.connect()
            conn.request(method, request_uri, body, headers)
            response = conn.getresponse()
            content = response.read()
        except OSError as exc:
            conn.close()
            if exc.__class__.__name__ == "gaierror":
                raise httplib2.ServerNotFoundError(
                    f"Unable to find the server at {conn.host}"
                ) from exc
            raise
        except http.client.HTTPException:
            conn.close()
            raise
        return httplib2.Response(response), content


def build_service(
    gmail_url: str | None = None,
    *,
    credentials: Any = None,
    http: httplib2.Http | None = None,
    timeout: float = 60.0,
) -> Any:
    """Build a Gmail API service object.

    With ``gmail_url`` the service talks to a sandbox and needs no credentials
    (given ones are still sent, so token handling can be tested). Without it,
    ``credentials`` (google.oauth2 credentials) are required.
    """
    transport = http or PostOnceHttp(timeout=timeout)
    if gmail_url is None:
        if credentials is None:
            raise ValueError("credentials are required for real Gmail")
        document = discovery_document()
    else:
        document = sandbox_document(gmail_url)
    if credentials is not None:
        import google_auth_httplib2

        transport = google_auth_httplib2.AuthorizedHttp(credentials, http=transport)
    return build_from_document(document, http=transport)


class HistoryExpired(GmailError):
    """history.list returned 404: the start history id is older than Gmail keeps."""


class OutcomeUnknown(GmailError):
    """A send failed without a response, so it may or may not have been delivered."""


# -- the client -------------------------------------------------------------

BATCH_MAX_CALLS = 100
DEFAULT_BATCH_SIZE = 50
# Gmail's upload guide suggests simple (JSON) uploads for 5 MB or less and
# resumable uploads for larger files
# (https://developers.google.com/workspace/gmail/api/guides/uploads).
MEDIA_UPLOAD_THRESHOLD = 5 * 1024 * 1024

BatchEntry = tuple[Hashable, Any, str]


class GmailClient:
    """Gmail API calls for the assistant, paced, retried and with typed errors.

    ``clock`` (monotonic seconds), ``sleep`` and ``rng`` are injected so tests
    control time and jitter; the defaults are the real ones.
    """

    def __init__(
        self,
        service: Any,
        *,
        gmail_url: str | None = None,
        pacer: QuotaPacer | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.service = service
        self.gmail_url = gmail_url
        self.pacer = pacer or QuotaPacer(clock=clock, sleep=sleep)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()

    @classmethod
    def connect(
        cls, gmail_url: str | None = None, *, credentials: Any = None, **options: Any
    ) -> GmailClient:
        """Build the service for Gmail, or for the sandbox at ``gmail_url``, and wrap it."""
        service = build_service(gmail_url, credentials=credentials)
        return cls(service, gmail_url=gmail_url, **options)

    # -- execution ----------------------------------------------------------

    def execute(
        self,
        request: Any,
        *,
        method_id: str | None = None,
        idempotent: bool = True,
        target: str = "",
    ) -> Any:
        """Run one request, retrying a read on 429, 5xx and dropped connections.

        ``method_id`` defaults to the request's own; ``target`` names the ids
        involved for error messages, such as "draft r123". messages.send and
        drafts.send are never retried, whatever the value of ``idempotent``.
        """
        method = short_method_id(method_id or request.methodId)
        may_retry = idempotent and method not in NON_IDEMPOTENT_METHODS
        attempt = 1
        while True:
            self.pacer.charge([method])
            try:
                return request.execute(num_retries=0)
            except RefreshError as exc:
                raise auth_error_from_refresh(exc) from exc
            except (HttpError, *CONNECTION_ERRORS) as exc:
                failure = describe_failure(exc)
                if (
                    not (may_retry and failure.retryable)
                    or attempt >= self.retry.max_attempts
                ):
                    raise self._error(
                        method, target, failure, attempt, may_retry
                    ) from exc
            self._wait_before_retry(method, target, failure, attempt)
            attempt += 1

    def _wait_before_retry(
        self, method: str, target: str, failure: Failure, attempt: int
    ) -> None:
        delay = self.retry.delay(attempt, self._rng)
        if failure.retry_after is not None:
            delay = max(delay, min(failure.retry_after, self.retry.max_delay))
        logger.warning(
            "Gmail %s%s failed with %s; retrying in %.1f s (attempt %d of %d)",
            method,
            f" for {target}" if target else "",
            failure.label,
            delay,
            attempt + 1,
            self.retry.max_attempts,
        )
        self._sleep(delay)

    def _error(
        self, method: str, target: str, failure: Failure, attempts: int, may_retry: bool
    ) -> GmailError:
        subject = f"Gmail {method}" + (f" for {target}" if target else "")
        if not may_retry and (failure.status is None or failure.retryable):
            return OutcomeUnknown(
                f"{subject} failed with {failure.label}: {failure.message}. It may or "
                "may not have taken effect, so check the Sent folder before trying again",
                status=failure.status,
                reason=failure.reason or "outcomeUnknown",
            )
        if method == "history.list" and failure.status == 404:
            return HistoryExpired(
                f"{subject} failed: Gmail no longer keeps history that old "
                f"({failure.message}); a full sync is needed",
                status=404,
                reason=failure.reason,
            )
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return GmailError(
            f"{subject} failed{tries}: {failure.label}: {failure.message}",
            status=failure.status,
            reason=failure.reason,
        )

    def execute_batch(
        self, requests: Iterable[BatchEntry], *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> dict[Hashable, Any]:
        """Run (key, request, method_id) entries as batch requests.

        Returns each key's result, or the GmailError it ended with. Failed
        idempotent calls are retried with backoff, in later batches.
        """
        if not 1 <= batch_size <= BATCH_MAX_CALLS:
            # Gmail takes at most 100 calls a batch and recommends no more than
            # 50 to avoid rate limiting (https://developers.google.com/
            # workspace/gmail/api/guides/batch).
            raise ValueError(
                f"batch size must be 1 to {BATCH_MAX_CALLS}, got {batch_size}"
            )
        pending = [
            (key, request, short_method_id(method)) for key, request, method in requests
        ]
        attempts = {key: 0 for key, _, _ in pending}
        if len(attempts) < len(pending):
            raise ValueError("batch entries need distinct keys")
        results: dict[Hashable, Any] = {}
        round_number = 1
        while pending:
            failed: list[tuple[BatchEntry, Failure]] = []
            batch_lost = False
            for chunk in self._chunks(pending, batch_size):
                outcomes, lost = self._send_chunk(chunk)
                failed.extend(self._settle(chunk, outcomes, lost, attempts, results))
                batch_lost = batch_lost or lost
            pending = [entry for entry, _ in failed]
            if failed:
                if batch_lost:
                    # A lost batch request takes every call in it down, so the
                    # retry goes out in smaller batches.
                    batch_size = max(1, min(batch_size, len(failed)) // 2)
                self._wait_before_batch_retry(failed, round_number)
                round_number += 1
        return results

    def _chunks(
        self, entries: list[BatchEntry], size: int
    ) -> Iterator[list[BatchEntry]]:
        # A chunk must also fit the pacer's budget, since it reaches Gmail at once.
        chunk: list[BatchEntry] = []
        units = 0
        for entry in entries:
            cost = self.pacer.cost(entry[2])
            if chunk and (len(chunk) >= size or units + cost > self.pacer.budget):
                yield chunk
                chunk, units = [], 0
            chunk.append(entry)
            units += cost
        if chunk:
            yield chunk

    def _settle(
        self,
        chunk: list[BatchEntry],
        outcomes: list[Any],
        lost: bool,
        attempts: dict[Hashable, int],
        results: dict[Hashable, Any],
    ) -> list[tuple[BatchEntry, Failure]]:
        """Store results and final errors; return the calls to retry.

        A call lost with a whole batch of several calls keeps its attempt,
        because another call may have broken the batch. The batch size halves
        after each such loss, so this adds at most seven rounds.
        """
        failed = []
        for entry, outcome in zip(chunk, outcomes):
            key, _, method = entry
            if not isinstance(outcome, BaseException):
                results[key] = outcome
                continue
            if not lost:
                attempts[key] += 1
            failure = describe_failure(outcome)
            may_retry = method not in NON_IDEMPOTENT_METHODS
            if (
                may_retry
                and failure.retryable
                and attempts[key] < self.retry.max_attempts
            ):
                failed.append((entry, failure))
            else:
                results[key] = self._error(
                    method, f"batch entry {key!r}", failure, attempts[key], may_retry
                )
        return failed

    def _send_chunk(self, chunk: list[BatchEntry]) -> tuple[list[Any], bool]:
        """Send one batch request; return each call's result or exception, in order.

        The flag is True when the batch request itself failed with several calls
        in it, so that every call shares one exception.
        """
        outcomes: list[Any] = [None] * len(chunk)

        def collect(
            request_id: str, response: Any, exception: BaseException | None
        ) -> None:
            outcomes[int(request_id)] = exception if exception is not None else response

        self.pacer.charge([method for _, _, method in chunk])
        batch = self.service.new_batch_http_request(callback=collect)
        for index, (_, request, _) in enumerate(chunk):
            batch.add(request, request_id=str(index))
        try:
            batch.execute()
        except RefreshError as exc:
            raise auth_error_from_refresh(exc) from exc
        except (HttpError, *CONNECTION_ERRORS) as exc:
            return [exc] * len(chunk), len(chunk) > 1
        return outcomes, False

    def _wait_before_batch_retry(
        self, failed: list[tuple[BatchEntry, Failure]], round_number: int
    ) -> None:
        delay = self.retry.delay(round_number, self._rng)
        hints = [failure.retry_after for _, failure in failed if failure.retry_after]
        if hints:
            delay = max(delay, min(max(hints), self.retry.max_delay))
        logger.warning(
            "%d Gmail batch call(s) (%s) failed with %s; retrying in %.1f s (round %d)",
            len(failed),
            ", ".join(sorted({entry[2] for entry, _ in failed})),
            ", ".join(sorted({failure.label for _, failure in failed})),
            delay,
            round_number + 1,
        )
        self._sleep(delay)

    # -- reads --------------------------------------------------------------

    @property
    def _users(self) -> Any:
        return self.service.users()

    def profile(self) -> Resource:
        """users.getProfile: emailAddress, messagesTotal, threadsTotal, historyId."""
        return self.execute(self._users.getProfile(userId="me"))

    def send_as(self) -> list[Resource]:
        """settings.sendAs.list: the addresses the user sends as, with signatures."""
        response = self.execute(self._users.settings().sendAs().list(userId="me"))
        return list(response.get("sendAs", []))

    def list_message_ids(
        self,
        q: str | None = None,
        label_ids: Sequence[str] | None = None,
        page_size: int = 500,
        *,
        include_spam_trash: bool = False,
    ) -> list[str]:
        """messages.list over all pages; return the ids, newest first."""
        _check_page_size(page_size)
        pages = self._pages(
            self._users.messages().list,
            {
                "userId": "me",
                "q": q,
                "labelIds": list(label_ids) if label_ids else None,
                "maxResults": page_size,
                "includeSpamTrash": include_spam_trash,
            },
            target=f"query {q!r}" if q else "",
        )
        return [item["id"] for page in pages for item in page.get("messages", [])]

    def get_message(
        self,
        message_id: str,
        fmt: str = "full",
        metadata_headers: Sequence[str] | None = None,
    ) -> Resource:
        """messages.get in format minimal, full, metadata or raw."""
        request = self._users.messages().get(
            userId="me",
            id=message_id,
            format=fmt,
            metadataHeaders=list(metadata_headers) if metadata_headers else None,
        )
        return self.execute(request, target=f"message {message_id}")

    def get_messages(
        self,
        message_ids: Iterable[str],
        fmt: str = "full",
        metadata_headers: Sequence[str] | None = None,
    ) -> dict[str, Resource]:
        """messages.get for many ids through batch requests.

        Messages deleted meanwhile (404) are left out of the result. Any other
        failure, after retries, raises the first GmailError.
        """
        unique = list(dict.fromkeys(message_ids))
        headers = list(metadata_headers) if metadata_headers else None
        entries = [
            (
                message_id,
                self._users.messages().get(
                    userId="me", id=message_id, format=fmt, metadataHeaders=headers
                ),
                "messages.get",
            )
            for message_id in unique
        ]
        results = self.execute_batch(entries)
        return _successes(results, unique, "message")

    def get_attachment(self, message_id: str, attachment_id: str) -> bytes:
        """messages.attachments.get; return the decoded attachment bytes."""
        request = (
            self._users.messages()
            .attachments()
            .get(userId="me", messageId=message_id, id=attachment_id)
        )
        body = self.execute(
            request, target=f"attachment {attachment_id} of message {message_id}"
        )
        return decode_base64url(body.get("data", ""))

    def list_history(
        self,
        start_history_id: int | str,
        history_types: Sequence[str] | None = None,
        *,
        label_id: str | None = None,
    ) -> tuple[list[Resource], int]:
        """history.list over all pages; return the records and the new history id.

        Raises HistoryExpired when Gmail no longer keeps history that old. The
        sync guide says history ids usually stay valid for at least a week and
        that a 404 calls for a full sync
        (https://developers.google.com/workspace/gmail/api/guides/sync).
        """
        pages = list(
            self._pages(
                self._users.history().list,
                {
                    "userId": "me",
                    "startHistoryId": str(start_history_id),
                    "historyTypes": list(history_types) if history_types else None,
                    "labelId": label_id,
                    "maxResults": 500,
                },
                target=f"start history id {start_history_id}",
            )
        )
        records = [record for page in pages for record in page.get("history", [])]
        new_history_id = int(pages[-1].get("historyId", start_history_id))
        return records, new_history_id

    def get_thread(
        self,
        thread_id: str,
        fmt: str = "full",
        metadata_headers: Sequence[str] | None = None,
    ) -> Resource:
        request = self._users.threads().get(
            userId="me",
            id=thread_id,
            format=fmt,
            metadataHeaders=list(metadata_headers) if metadata_headers else None,
        )
        return self.execute(request, target=f"thread {thread_id}")

    def list_threads(
        self,
        q: str | None = None,
        label_ids: Sequence[str] | None = None,
        page_size: int = 100,
    ) -> list[Resource]:
        """threads.list over all pages: id, snippet and historyId of each thread."""
        _check_page_size(page_size)
        pages = self._pages(
            self._users.threads().list,
            {
                "userId": "me",
                "q": q,
                "labelIds": list(label_ids) if label_ids else None,
                "maxResults": page_size,
            },
            target=f"query {q!r}" if q else "",
        )
        return [thread for page in pages for thread in page.get("threads", [])]

    def _pages(
        self, method: Callable[..., Any], params: dict[str, Any], *, target: str
    ) -> Iterator[Resource]:
        arguments = {name: value for name, value in params.items() if value is not None}
        page_token = None
        while True:
            if page_token:
                arguments["pageToken"] = page_token
            page = self.execute(method(**arguments), target=target)
            yield page
            page_token = page.get("nextPageToken")
            if not page_token:
                return

    # -- drafts -------------------------------------------------------------

    def create_draft(self, raw: bytes, thread_id: str | None = None) -> Resource:
        """drafts.create from RFC 822 bytes; return the draft (id, message)."""
        body, media = _message_payload(raw, thread_id)
        request = self._users.drafts().create(userId="me", body=body, media_body=media)
        # NOTE: a create retried after a lost response can leave a second,
        # unused draft behind; only the returned draft id is ever sent.
        return self.execute(request, target=f"thread {thread_id}" if thread_id else "")

    def update_draft(
        self, draft_id: str, raw: bytes, thread_id: str | None = None
    ) -> Resource:
        """drafts.update: replace the draft's message; the draft id stays."""
        body, media = _message_payload(raw, thread_id)
        body["id"] = draft_id
        request = self._users.drafts().update(
            userId="me", id=draft_id, body=body, media_body=media
        )
        return self.execute(request, target=f"draft {draft_id}")

    def get_draft(self, draft_id: str, fmt: str = "full") -> Resource:
        request = self._users.drafts().get(userId="me", id=draft_id, format=fmt)
        return self.execute(request, target=f"draft {draft_id}")

    def list_drafts(self, q: str | None = None, page_size: int = 100) -> list[Resource]:
        """drafts.list over all pages: each draft's id and message id and thread id."""
        _check_page_size(page_size)
        pages = self._pages(
            self._users.drafts().list,
            {"userId": "me", "q": q, "maxResults": page_size},
            target=f"query {q!r}" if q else "",
        )
        return [draft for page in pages for draft in page.get("drafts", [])]

    def delete_draft(self, draft_id: str) -> None:
        self.execute(
            self._users.drafts().delete(userId="me", id=draft_id),
            target=f"draft {draft_id}",
        )

    def send_draft(self, draft_id: str) -> Resource:
        """drafts.send; return the sent message. Never retried.

        Raises OutcomeUnknown when the answer is lost or Gmail failed midway;
        the caller then looks for the message in Sent before sending again.
        """
        request = self._users.drafts().send(userId="me", body={"id": draft_id})
        return self.execute(request, idempotent=False, target=f"draft {draft_id}")

    # -- sandbox ------------------------------------------------------------

    def sandbox_set_clock(self, now: datetime | None) -> Resource:
        """Set the sandbox's mail clock (POST /sandbox/clock); None returns it to real time."""
        if self.gmail_url is None:
            raise GmailError(
                "the mail clock can only be set on the sandbox, not on Gmail"
            )
        value = None if now is None else now.isoformat().replace("+00:00", "Z")
        response, content = PostOnceHttp(timeout=30).request(
            self.gmail_url.rstrip("/") + "/sandbox/clock",
            method="POST",
            body=json.dumps({"now": value}),
            headers={"content-type": "application/json"},
        )
        if response.status != 200:
            raise GmailError(
                f"the sandbox rejected the clock time {value}: HTTP {response.status} "
                f"{content.decode('utf-8', 'replace')}",
                status=response.status,
            )
        return json.loads(content)


def _message_payload(raw: bytes, thread_id: str | None) -> tuple[dict[str, Any], Any]:
    """Build a draft body, sending large messages through the upload endpoint."""
    message: dict[str, Any] = {"threadId": thread_id} if thread_id else {}
    if len(raw) <= MEDIA_UPLOAD_THRESHOLD:
        message["raw"] = base64.urlsafe_b64encode(raw).decode("ascii")
        return {"message": message}, None
    media = MediaIoBaseUpload(
        io.BytesIO(raw), mimetype="message/rfc822", resumable=True
    )
    return {"message": message}, media


def _successes(
    results: Mapping[Hashable, Any], ids: list[str], kind: str
) -> dict[str, Resource]:
    found: dict[str, Resource] = {}
    errors = []
    for item_id in ids:
        outcome = results[item_id]
        if isinstance(outcome, GmailError):
            if outcome.status == 404:
                logger.info("Gmail %s %s no longer exists; skipped", kind, item_id)
            else:
                errors.append(outcome)
        else:
            found[item_id] = outcome
    if errors:
        raise errors[0]
    return found


def _check_page_size(page_size: int) -> None:
    if not 1 <= page_size <= 500:
        raise ValueError(
            f"page size must be 1 to 500 (Gmail's maximum), got {page_size}"
        )


def decode_base64url(data: str) -> bytes:
    """Decode Gmail's base64url text, which may lack its '=' padding."""
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
