"""The Gmail adapter: the one module that talks to the Gmail API.

The service is built with ``googleapiclient.discovery.build_from_document`` from
the discovery document bundled with google-api-python-client, so no network
call happens to fetch it. For the sandbox the document's ``rootUrl`` is
replaced: the client joins ``rootUrl`` with each method's path, with the
``upload/`` and ``resumable/upload/`` media paths and with ``batchPath``, so all
three reach the sandbox. Setting only ``client_options.api_endpoint`` would
move the plain calls but leave batch requests on Google's host.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import httplib2
from googleapiclient.discovery import build_from_document

GMAIL_ROOT_URL = "https://gmail.googleapis.com/"


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
    if gmail_url is None:
        if credentials is None:
            raise ValueError("credentials are required for real Gmail")
        return build_from_document(discovery_document(), credentials=credentials)

    document = sandbox_document(gmail_url)
    if credentials is not None:
        import google_auth_httplib2

        authorized = google_auth_httplib2.AuthorizedHttp(
            credentials, http=http or httplib2.Http(timeout=timeout)
        )
        return build_from_document(document, http=authorized)
    return build_from_document(document, http=http or httplib2.Http(timeout=timeout))
