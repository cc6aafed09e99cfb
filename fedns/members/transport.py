"""HTTP to one member's API server: a kubeconfig context turned into one aiohttp session.

The kubeconfig is read by the ``kubernetes`` package's loader, so a context means
exactly what it means to kubectl (server and path prefix, CA, client certificate,
``insecure-skip-tls-verify``, ``tls-server-name``, proxy, token or token refreshed by
an exec/OIDC provider).  Everything after that is aiohttp on the event loop: one
session per member, JSON in and out, a timeout on every request, a non-2xx answer
raised as :class:`StatusError`.  No threads.

Not an API client: no types, no discovery, no watch semantics (the informer owns
those); only connections, credentials, timeouts and connect retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import kubernetes

from fedns import errors

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
CONNECT_TIMEOUT = 5.0
THROTTLED = 10  # answers that say "come back" followed per request (client-go: 10)
MAX_RETRY_AFTER = 10  # seconds waited for one of them at most


class ConfigError(errors.UsageError):
    """The kubeconfig or its context cannot be used."""


class StatusError(errors.FednsError):
    """The API server answered with a non-2xx status."""

    def __init__(self, status: int, reason: str, message: str = "") -> None:
        self.status, self.reason, self.message = status, reason, message
        super().__init__(f"HTTP {status} {reason}" + (f": {message}" if message else ""))


class NotStarted(errors.FednsError):
    """The member's connection is not open (not started yet, or stopped)."""


def load_configuration(kubeconfig: str, context: str = "") -> Any:
    """The ``kubernetes`` Configuration for one context; ConfigError in one line."""
    configuration = kubernetes.client.Configuration()
    if kubeconfig and not os.path.isfile(kubeconfig):
        # the client would say "Invalid kube-config file. No configuration found."
        raise ConfigError(f"kubeconfig {kubeconfig!r}: no such file")
    try:
        kubernetes.config.load_kube_config(
            config_file=kubeconfig, context=context or None,
            client_configuration=configuration, persist_config=False)
    except (kubernetes.config.ConfigException, OSError, KeyError, TypeError) as err:
        raise ConfigError(_where(kubeconfig, context, err)) from err
    return configuration


def ssl_context(configuration: Any) -> ssl.SSLContext:
    """TLS settings of the context: its CA (else the system's), its client certificate,
    and no verification at all only when the kubeconfig says so."""
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def describe(err: BaseException) -> str:
    """One line for any failure (aiohttp's timeouts have no text of their own)."""
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:200]


class Transport:
    """One member's API server over one aiohttp session.  ``await start()`` inside the
    event loop that will use it; ``await close()`` when done."""

    # requests in flight at once: client-go multiplexes up to the server's 250 HTTP/2
    # streams; HTTP/1.1 needs a connection each, and a burst of copies must not queue
    # here behind 32 (measured: bench.propagation)
    def __init__(self, configuration: Any, *, limit: int = 250, retries: int = 2) -> None:
        self.configuration = configuration
        self.base = str(configuration.host).rstrip("/")  # may carry a path prefix
        self.limit = limit
        self.retries = retries
        self._ssl: ssl.SSLContext | None = None
        if self.base.startswith("https:"):
            self._ssl = ssl_context(configuration)
        self._extra: dict[str, Any] = {}
        if getattr(configuration, "tls_server_name", None):
            self._extra["server_hostname"] = configuration.tls_server_name
        if getattr(configuration, "proxy", None):
            self._extra["proxy"] = configuration.proxy
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str, context: str = "", **kw: Any) -> Transport:
        configuration = load_configuration(kubeconfig, context)
        try:
            return cls(configuration, **kw)
        except (ssl.SSLError, OSError, ValueError) as err:
            raise ConfigError(_where(kubeconfig, context, err)) from err

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.limit, ssl=self._ssl or True),
                headers={"User-Agent": "fedns"})

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _headers(self, accept: str, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        # asked per request: the loader's hook refreshes an expired token
        token = self.configuration.get_api_key_with_prefix("BearerToken")
        if token:
            headers["Authorization"] = token
        return headers

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise NotStarted()
        return self._session

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: Any = None, content_type: str = JSON, accept: str = JSON,
                      timeout: float = 10.0, retries: int | None = None) -> bytes:
        """Send one request; returns the body, raises StatusError on a non-2xx answer.

        A connection that cannot be made is retried ``retries`` times (the instance's
        by default; 0 for probes); a request that reached the server is retried only
        when idempotent and the server dropped a kept-alive connection, or when the
        server said to come back: 429, or a 5xx with ``Retry-After`` (API priority and
        fairness), after the seconds it named, up to :data:`THROTTLED` times, as
        client-go does (the server did not act on it, so any method may be sent
        again)."""
        data = None if body is None else json.dumps(body).encode()
        limit = self.retries if retries is None else retries
        client_timeout = aiohttp.ClientTimeout(total=timeout,
                                               sock_connect=min(timeout, CONNECT_TIMEOUT))
        attempt = throttled = 0
        while True:
            try:
                async with self._open().request(
                        method, self.base + path, params=params, data=data,
                        headers=self._headers(accept, content_type if data else None),
                        timeout=client_timeout, **self._extra) as response:
                    content = await response.read()
                    wait = _come_back(response)
                    if wait is not None and limit and throttled < THROTTLED:
                        throttled += 1
                        await asyncio.sleep(wait)
                        continue
                    _check(response, content)
                    return content
            except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as err:
                if attempt >= limit or not _retryable(method, err):
                    raise
            attempt += 1
            await asyncio.sleep(0.05 * 2 ** attempt)

    async def request_json(self, method: str, path: str, **kw: Any) -> Any:
        return json.loads(await self.request(method, path, **kw) or b"{}")

    @contextlib.asynccontextmanager
    async def stream(self, path: str, params: Mapping[str, str],
                     read_timeout: float) -> AsyncIterator[aiohttp.ClientResponse]:
        """A GET whose body is read as it arrives (a watch); ``read_timeout`` bounds the
        silence between two reads, not the whole stream."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT,
                                        sock_read=read_timeout)
        async with self._open().get(self.base + path, params=params,
                                    headers=self._headers(JSON, None), timeout=timeout,
                                    **self._extra) as response:
            if not 200 <= response.status < 300:
                _check(response, await response.read())
            yield response


def _retryable(method: str, err: BaseException) -> bool:
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return False  # a wrong certificate stays wrong
    return isinstance(err, aiohttp.ClientConnectorError) or method in IDEMPOTENT


def _come_back(response: aiohttp.ClientResponse) -> float | None:
    """The seconds a throttled answer asks to wait (429, or a 5xx with Retry-After,
    as client-go's checkWait), capped; None for any other answer."""
    status = response.status
    if status != 429 and status // 100 != 5:
        return None
    try:
        seconds = int(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return float(min(max(seconds, 0), MAX_RETRY_AFTER))


def _check(response: aiohttp.ClientResponse, content: bytes) -> None:
    if 200 <= response.status < 300:
        return
    message = ""
    with contextlib.suppress(ValueError, AttributeError):
        message = str(json.loads(content).get("message") or "")  # a metav1.Status
    raise StatusError(response.status, response.reason or "",
                      message.strip().splitlines()[0][:200] if message.strip() else "")


def _where(kubeconfig: str, context: str, err: BaseException) -> str:
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    return f"kubeconfig {kubeconfig!r}{' context ' + repr(context) if context else ''}: {first}"
