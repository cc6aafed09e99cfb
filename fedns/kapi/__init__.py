"""kapi: a Kubernetes-style REST API server over a Store.

``kapi.Server(store, registry, token=None)`` serves the kinds of a
:class:`fedns.kapi.registry.Registry` (``fedns.kapi.builtin.registry()`` by default)
the way kube-apiserver does, so that ``kubectl`` and the ``kubernetes`` client work
against it: simulated member clusters now, the federation endpoint later.

Modules: ``server`` (HTTP), ``storage`` (object semantics over the Store),
``registry``/``builtin`` (kinds), ``services`` (cluster IPs), ``discovery``,
``tables``/``printers``, ``patch``/``strategic``, ``selectors``, ``status``.
"""

from fedns.kapi.server import Server

__all__ = ["Server"]
