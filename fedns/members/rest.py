"""Plain REST calls through a ``kubernetes`` ApiClient, without its per-call validation.

The typed API methods validate every argument with pydantic, which costs more CPU
than the request itself; the controller's hot writes (Service status, Events) and the
health probe go through here instead, with the same connection pool, TLS settings and
credentials (refreshed by the client) as the typed calls.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


def request(api: Any, method: str, path: str, body: Any = None, content_type: str = JSON,
            accept: str = JSON, timeout: float = 10.0) -> bytes:
    """Send one request; returns the body, raises ApiException on a non-2xx answer."""
    headers = {"Accept": accept}
    if body is not None:
        headers["Content-Type"] = content_type
    token = api.configuration.get_api_key_with_prefix("BearerToken")
    if token:
        headers["Authorization"] = token  # "Bearer ...", refreshed by the client
    response = api.call_api(method, api.configuration.host + path, header_params=headers,
                            body=body, _request_timeout=timeout)
    data = response.read()
    if not 200 <= response.status < 300:
        raise ApiException(status=response.status, reason=response.reason)
    return bytes(data or b"")


def request_json(api: Any, method: str, path: str, body: Any = None,
                 content_type: str = JSON, timeout: float = 10.0) -> Any:
    return json.loads(request(api, method, path, body, content_type, timeout=timeout) or b"{}")
