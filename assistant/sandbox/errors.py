"""Errors the sandbox returns to API clients, shaped as Gmail's error bodies.

Gmail answers a failed call with a JSON body such as::

    {"error": {"code": 404, "message": "Requested entity was not found.",
               "errors": [{"message": "Requested entity was not found.",
                           "domain": "global", "reason": "notFound"}],
               "status": "NOT_FOUND"}}

Store, loader and query code raise these; the HTTP layer turns them into bodies.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error with Gmail's HTTP status, canonical status, reason and domain."""

    code = 500
    status = "INTERNAL"
    reason = "backendError"
    domain = "global"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [
                    {"message": self.message, "domain": self.domain, "reason": self.reason}
                ],
                "status": self.status,
            }
        }


class InvalidArgument(ApiError):
    code = 400
    status = "INVALID_ARGUMENT"
    reason = "invalidArgument"


class FailedPrecondition(ApiError):
    code = 400
    status = "FAILED_PRECONDITION"
    reason = "failedPrecondition"


class NotFound(ApiError):
    code = 404
    status = "NOT_FOUND"
    reason = "notFound"

    def __init__(self, message: str = "Requested entity was not found."):
        super().__init__(message)


class PayloadTooLarge(ApiError):
    code = 413
    status = "INVALID_ARGUMENT"
    reason = "uploadTooLarge"


class RateLimited(ApiError):
    code = 429
    status = "RESOURCE_EXHAUSTED"
    reason = "rateLimitExceeded"
    domain = "usageLimits"


class BackendError(ApiError):
    code = 500
    status = "INTERNAL"
    reason = "backendError"


class Unavailable(ApiError):
    code = 503
    status = "UNAVAILABLE"
    reason = "backendError"


class PermissionDenied(ApiError):
    code = 403
    status = "PERMISSION_DENIED"
    reason = "forbidden"


class Unauthenticated(ApiError):
    """A revoked or unknown access token, with Google's 401 body.

    Google adds where the bad credential was, the Authorization header, to the
    one entry of ``errors``.
    """

    code = 401
    status = "UNAUTHENTICATED"
    reason = "authError"

    def __init__(
        self,
        message: str = (
            "Request had invalid authentication credentials. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project."
        ),
    ) -> None:
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["errors"] = [
            {
                "message": "Invalid Credentials",
                "domain": "global",
                "reason": self.reason,
                "location": "Authorization",
                "locationType": "header",
            }
        ]
        return body


class BatchTooLarge(ApiError):
    """A batch of more calls than the batch endpoint takes.

    Google's batch front end answers with a body that has no ``errors`` list.
    """

    code = 400
    status = "INVALID_ARGUMENT"
    reason = "invalidArgument"

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class AlreadyExists(ApiError):
    # Gmail rejects a duplicate label name with 409 and reason "aborted".
    code = 409
    status = "ALREADY_EXISTS"
    reason = "aborted"
