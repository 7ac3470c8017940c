"""The sandbox's HTTP server: Gmail's REST paths over a ``MailStore``.

The paths, parameters and JSON shapes are those of the Gmail API v1 discovery
document bundled with google-api-python-client, so the unchanged client talks to
the sandbox as to Gmail. Besides the API it serves the OAuth token endpoint
(``/token``) and a few control endpoints under ``/sandbox/``: call statistics,
the mail clock and the token switch. It binds to loopback only, because it
serves one mailbox to anyone who connects.

Every API call, alone or inside a batch, passes the same steps: route, token
check, owner check, fault draw, quota charge, then the store call.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as NoRoute
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from assistant.clock import parse_instant
from assistant.errors import SandboxError
from assistant.gmail import discovery_document
from assistant.sandbox import batch, gmail_methods
from assistant.sandbox.clock import SandboxClock
from assistant.sandbox.errors import ApiError, InvalidArgument, NotFound, PermissionDenied
from assistant.sandbox.faults import Fault, FaultInjector
from assistant.sandbox.oauth import TokenAuthority, TokenError
from assistant.sandbox.quota import DEFAULT_QUOTA_PER_MINUTE, CallStats, QuotaMeter, unit_cost
from assistant.sandbox.store import MailStore
from assistant.sandbox.uploads import (
    ResumableSessions,
    check_media_type,
    check_size,
    parse_json_object,
    parse_multipart_upload,
)

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
JSON_TYPE = "application/json; charset=UTF-8"
# Above the largest Gmail upload (150 MiB for insert and import) as base64 JSON.
MAX_REQUEST_BYTES = 256 * 1024 * 1024
# How often the serving thread checks for stop(); it bounds how long stop() waits.
SHUTDOWN_POLL_SECONDS = 0.05


@dataclass
class ApiRequest:
    """One Gmail API call as the server received it, alone or inside a batch."""

    method: str
    path: str
    args: MultiDict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class ApiResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False

    @classmethod
    def json(cls, status: int, value: Any) -> ApiResponse:
        return cls(status, json.dumps(value).encode(), [("Content-Type", JSON_TYPE)])

    @classmethod
    def error(cls, error: ApiError) -> ApiResponse:
        return cls.json(error.code, error.body())


def _build_routes() -> tuple[Map, set[str]]:
    """Build one rule per implemented method from the discovery paths."""
    rules = []
    uploadable = set()
    for method_id, method in _discovery_methods():
        if method_id not in gmail_methods.HANDLERS:
            continue
        path = "/" + method["path"].replace("{", "<").replace("}", ">")
        rules.append(Rule(path, methods=[method["httpMethod"]], endpoint=method_id))
        if "mediaUpload" in method:
            uploadable.add(method_id)
    return Map(rules, strict_slashes=False), uploadable


def _discovery_methods() -> Iterable[tuple[str, dict[str, Any]]]:
    pending = [discovery_document()["resources"]]
    while pending:
        for resource in pending.pop().values():
            for method in resource.get("methods", {}).values():
                yield method["id"], method
            pending.append(resource.get("resources", {}))


class GmailApi:
    """Run Gmail API calls against a store, with tokens, quota, faults and stats."""

    def __init__(
        self,
        store: MailStore,
        *,
        quota: QuotaMeter,
        faults: FaultInjector,
        tokens: TokenAuthority,
    ) -> None:
        self.store = store
        self.quota = quota
        self.faults = faults
        self.tokens = tokens
        self.stats = CallStats()
        self.sessions = ResumableSessions()
        self._routes, self._uploadable = _build_routes()

    def call(self, request: ApiRequest) -> ApiResponse:
        """Run one API call and return its response, with any ApiError as an error body."""
        try:
            if "upload_id" in request.args:
                return self._resumable_chunk(request)
            return self._call(request)
        except ApiError as error:
            return ApiResponse.error(error)

    def _call(self, request: ApiRequest) -> ApiResponse:
        upload, path = _split_upload_prefix(request.path)
        method_id, params = self._route(request.method, path)
        if upload and method_id not in self._uploadable:
            raise NotFound(f"{method_id} takes no media upload.")
        self.tokens.check(request.header("Authorization"))
        self._check_owner(params.get("userId", "me"))

        fault = self.faults.draw()
        if fault is not None and fault is not Fault.DROPPED:
            self.stats.record_rejection(fault.value)
            return ApiResponse.error(fault.error())
        units = unit_cost(method_id)
        try:
            self.quota.charge(self.store.user_email.lower(), units)
        except ApiError as error:
            self.stats.record_rejection(str(error.code))
            return ApiResponse.error(error)
        self.stats.record_call(method_id, units)

        response = self._run(method_id, params, request, upload)
        if fault is Fault.DROPPED:
            # The call ran, then its response is lost, as on a real network.
            self.stats.record_rejection(fault.value)
            response.drop = True
        return response

    def _route(self, http_method: str, path: str) -> tuple[str, dict[str, str]]:
        adapter = self._routes.bind("sandbox.local", "/")
        try:
            endpoint, params = adapter.match(path, method=http_method)
        except MethodNotAllowed as exc:
            raise InvalidArgument(f"{http_method} is not allowed on {path}") from exc
        except NoRoute as exc:
            # NOTE: Google's front end returns an HTML 404 page for an unknown path;
            # the sandbox returns a JSON body that names the path.
            raise NotFound(f"No Gmail API method at {http_method} {path}.") from exc
        return str(endpoint), dict(params)

    def _check_owner(self, user_id: str) -> None:
        owner = self.store.user_email
        if user_id == "me" or user_id.lower() == owner.lower():
            return
        # Gmail rejects another account's address with 403 "Delegation denied
        # for <the authenticated user>".
        raise PermissionDenied(f"Delegation denied for {owner}")

    def _run(
        self, method_id: str, params: dict[str, str], request: ApiRequest, upload: str | None
    ) -> ApiResponse:
        upload_type = request.args.get("uploadType")
        if upload_type == "resumable" or upload == "resumable":
            return self._open_session(method_id, request)
        body, media = self._read_body(method_id, request, upload, upload_type)
        call = gmail_methods.Call(method_id, params, request.args, body, media)
        result = gmail_methods.HANDLERS[method_id](self.store, call)
        if result is None:
            return ApiResponse(204)
        return ApiResponse.json(200, result)

    def _read_body(
        self, method_id: str, request: ApiRequest, upload: str | None, upload_type: str | None
    ) -> tuple[dict[str, Any], bytes | None]:
        content_type = request.header("Content-Type") or ""
        if upload is None:
            return parse_json_object(request.body), None
        if upload_type == "media":
            check_media_type(content_type)
            check_size(method_id, len(request.body))
            return {}, request.body
        if upload_type == "multipart":
            metadata, media = parse_multipart_upload(content_type, request.body)
            check_size(method_id, len(media))
            return metadata, media
        raise InvalidArgument(
            f"Invalid uploadType {upload_type!r}; use media, multipart or resumable"
        )

    def _open_session(self, method_id: str, request: ApiRequest) -> ApiResponse:
        declared = request.header("X-Upload-Content-Length")
        if declared is not None and declared.isdigit():
            check_size(method_id, int(declared))
        media_type = request.header("X-Upload-Content-Type")
        if media_type:
            check_media_type(media_type)
        session = self.sessions.open(
            method_id=method_id,
            path=request.path,
            http_method=request.method,
            query=list(request.args.items(multi=True)),
            metadata=parse_json_object(request.body),
            total=int(declared) if declared and declared.isdigit() else None,
        )
        query = urlencode([*session.query, ("upload_id", session.upload_id)])
        location = f"{request.base_url}{request.path}?{query}"
        return ApiResponse(200, b"", [("Location", location), ("Content-Length", "0")])

    def _resumable_chunk(self, request: ApiRequest) -> ApiResponse:
        session = self.sessions.get(request.args["upload_id"])
        complete = session.accept(request.header("Content-Range"), request.body)
        if not complete:
            headers = [("Content-Length", "0")]
            if session.received:
                headers.append(("Range", f"bytes=0-{len(session.received) - 1}"))
            return ApiResponse(308, b"", headers)
        self.sessions.close(session.upload_id)
        _, path = _split_upload_prefix(session.path)
        _, params = self._route(session.http_method, path)
        call = gmail_methods.Call(
            session.method_id, params, MultiDict(session.query), session.metadata,
            bytes(session.received),
        )
        result = gmail_methods.HANDLERS[session.method_id](self.store, call)
        return ApiResponse.json(200, result)


def _split_upload_prefix(path: str) -> tuple[str | None, str]:
    for prefix, mode in (("/resumable/upload/", "resumable"), ("/upload/", "media")):
        if path.startswith(prefix):
            return mode, "/" + path[len(prefix):]
    return None, path


class SandboxApp:
    """The WSGI application: the API, batches, the token endpoint and controls."""

    def __init__(self, api: GmailApi, clock: SandboxClock) -> None:
        self.api = api
        self.clock = clock

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        request.max_content_length = MAX_REQUEST_BYTES
        response = self._dispatch(request)
        log = logger.warning if response.status >= 400 else logger.debug
        log("%s %s -> %d", request.method, request.path, response.status)
        if response.drop:
            _drop_connection(environ)
        wsgi = Response(response.body, status=response.status, headers=response.headers)
        return wsgi(environ, start_response)

    def _dispatch(self, request: Request) -> ApiResponse:
        path = request.path
        try:
            if path in ("/batch", "/batch/gmail/v1") and request.method == "POST":
                return self._batch(request)
            if path == "/token" and request.method == "POST":
                return self._token(request)
            if path.startswith("/sandbox/"):
                return self._control(request)
            return self.api.call(_api_request(request))
        except ApiError as error:
            return ApiResponse.error(error)

    def _batch(self, request: Request) -> ApiResponse:
        calls = batch.parse_batch(request.content_type or "", request.get_data())
        outer = {k.lower(): v for k, v in request.headers.items()}
        answers = []
        for inner in calls:
            response = self.api.call(_inner_request(inner, outer, _base_url(request)))
            if response.drop:
                return response
            answer = batch.InnerResponse(response.status, response.body, response.headers)
            answers.append((inner, answer))
        content_type, body = batch.render_batch(answers)
        return ApiResponse(200, body, [("Content-Type", content_type)])

    def _token(self, request: Request) -> ApiResponse:
        form = {key: request.form[key] for key in request.form}
        try:
            answer = self.api.tokens.grant(form)
        except TokenError as error:
            return ApiResponse.json(error.status, error.body())
        response = ApiResponse.json(200, answer)
        response.headers.append(("Cache-Control", "no-store"))
        return response

    def _control(self, request: Request) -> ApiResponse:
        key = (request.method, request.path.rstrip("/"))
        if key == ("GET", "/sandbox/stats"):
            return ApiResponse.json(200, self.api.stats.snapshot())
        if key == ("POST", "/sandbox/stats/reset"):
            self.api.stats.reset()
            return ApiResponse.json(200, self.api.stats.snapshot())
        if key == ("GET", "/sandbox/clock"):
            return ApiResponse.json(200, self._clock_state())
        if key == ("POST", "/sandbox/clock"):
            return self._set_clock(parse_json_object(request.get_data()))
        if key == ("POST", "/sandbox/token"):
            return self._set_token_mode(parse_json_object(request.get_data()))
        raise NotFound(f"No sandbox control at {request.method} {request.path}.")

    def _clock_state(self) -> dict[str, Any]:
        now = self.clock.now().isoformat().replace("+00:00", "Z")
        return {"now": now, "simulated": self.clock.simulated}

    def _set_clock(self, body: dict[str, Any]) -> ApiResponse:
        if "now" not in body:
            raise InvalidArgument('missing "now": give an ISO 8601 time or null')
        value = body["now"]
        if value is None:
            self.clock.set(None)
        elif isinstance(value, str):
            try:
                self.clock.set(parse_instant(value))
            except ValueError as exc:
                raise InvalidArgument(f'invalid "now": {exc}') from exc
        else:
            raise InvalidArgument(f'invalid "now" {value!r}: give an ISO 8601 string or null')
        return ApiResponse.json(200, self._clock_state())

    def _set_token_mode(self, body: dict[str, Any]) -> ApiResponse:
        """Switch refreshes ("refresh") and the scope granted for a code ("scope")."""
        if "refresh" not in body and "scope" not in body:
            raise InvalidArgument('give "refresh" ("ok" or "invalid_grant") or "scope"')
        try:
            if "refresh" in body:
                self.api.tokens.set_refresh(str(body["refresh"]))
            if "scope" in body:
                self.api.tokens.set_granted_scope(str(body["scope"]))
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from exc
        return ApiResponse.json(200, self.api.tokens.settings())


def _api_request(request: Request) -> ApiRequest:
    method = request.method
    args = MultiDict(request.args.items(multi=True))
    body = request.get_data()
    override = request.headers.get("X-HTTP-Method-Override", "").upper()
    if method == "POST" and override == "GET":
        # google-api-python-client turns a GET whose URL is longer than 2,048
        # characters into a POST carrying the query as a form body, with this
        # header; Google's front end serves it as the GET (googleapiclient/http.py,
        # HttpRequest.execute, MAX_URI_LENGTH).
        method = "GET"
        args.update(MultiDict(_parse_query(body.decode("utf-8", "replace"))))
        body = b""
    return ApiRequest(
        method=method,
        path=request.path,
        args=args,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        base_url=_base_url(request),
    )


def _inner_request(inner: batch.InnerRequest, outer: dict[str, str], base_url: str) -> ApiRequest:
    # Outer headers apply to every call except the Content- ones, and a call's
    # own headers win (Gmail batch guide, "Format of a batch request").
    headers = {k: v for k, v in outer.items() if not k.startswith("content-")}
    headers.update({k.lower(): v for k, v in inner.headers.items()})
    target = urlsplit(inner.target)
    return ApiRequest(
        method=inner.method,
        path=target.path,
        args=MultiDict(_parse_query(target.query)),
        headers=headers,
        body=inner.body,
        base_url=base_url,
    )


def _parse_query(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def _base_url(request: Request) -> str:
    return request.host_url.rstrip("/")


def _drop_connection(environ: dict[str, Any]) -> None:
    connection = environ.get("werkzeug.socket")
    if connection is None:
        return
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        logger.debug("connection already closed before the injected drop")


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler with its per-request INFO lines turned off."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.debug("werkzeug %s: " + message, type, *args)


def quota_time(clock: SandboxClock) -> Callable[[], float]:
    """Return the seconds the quota window counts in: the mail clock's when simulated.

    A client that plays simulated weeks (``--now`` and ``run --until``) spends
    its quota over simulated minutes, so the window follows the simulated
    clock then, and real time otherwise. Both are epoch seconds, so switching
    between them never leaves charges stranded in the window's future.
    """

    def now() -> float:
        if clock.simulated:
            return clock.now().timestamp()
        return time.time()

    return now


class SandboxServer:
    """A threaded Gmail sandbox on a loopback port, for tests and the CLI.

    Use as a context manager, or call ``start`` and ``stop``. ``port`` 0 picks a
    free port; ``url`` gives the base URL to pass to ``build_service``.
    """

    def __init__(
        self,
        store: MailStore,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: SandboxClock | None = None,
        quota_per_minute: int = DEFAULT_QUOTA_PER_MINUTE,
        fail_rate: float = 0.0,
        seed: int | None = None,
        quota_clock: Callable[[], float] | None = None,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise SandboxError(
                f"cannot bind the sandbox to host {host!r}: it serves a mailbox "
                "without authentication, so use 127.0.0.1, localhost or ::1"
            )
        clock = clock if clock is not None else getattr(store, "clock", None)
        if clock is None:
            raise SandboxError("the sandbox needs the store's SandboxClock; pass clock=")
        self.host = host
        self.port = port
        self.api = GmailApi(
            store,
            quota=QuotaMeter(quota_per_minute, clock=quota_clock or quota_time(clock)),
            faults=FaultInjector(fail_rate, seed=seed),
            tokens=TokenAuthority(),
        )
        self.app = SandboxApp(self.api, clock)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise SandboxError("the sandbox is not started; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.server_port}/"

    def start(self) -> SandboxServer:
        try:
            self._server = make_server(
                self.host, self.port, self.app, threaded=True, request_handler=_RequestHandler
            )
        except OSError as exc:
            raise SandboxError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name="gmail-sandbox",
            daemon=True,
        )
        self._thread.start()
        logger.info("Gmail sandbox listening on %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop`` is called from another."""
        if self._server is None:
            self.start()
        assert self._thread is not None
        self._thread.join()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        logger.info("Gmail sandbox stopped")

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
