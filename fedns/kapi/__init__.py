"""kapi: a Kubernetes-style REST API server over a Store.

``kapi.Server(store, registry, token=None)`` serves the kinds of a
:class:`fedns.kapi.registry.Registry` (``fedns.kapi.builtin.registry()`` by default)
the way kube-apiserver does, so that ``kubectl`` and the ``kubernetes`` client work
against it: simulated member clusters now, the federation endpoint later.

Modules: ``server`` (HTTP), ``storage`` (object semantics over the Store),
``registry``/``builtin``/``clusterkinds``/``crds`` (kinds), ``services`` (cluster
IPs), ``discovery``, ``openapi``/``schemas``/``fieldvalidation``, ``scale``,
``subresources``, ``reviews``, ``tables``/``printers``/``clusterprinters``,
``patch``/``strategic``, ``selectors``, ``protobuf``, ``status``.  The format modules are pure; ``Server`` is imported lazily so that
importing them does not load aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fedns.kapi.server import Server

__all__ = ["Server"]


def __getattr__(name: str) -> Any:
    if name == "Server":
        from fedns.kapi.server import Server

        return Server
    raise AttributeError(f"module 'fedns.kapi' has no attribute {name!r}")
